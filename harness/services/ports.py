"""Free TCP ports for services that cannot bind port 0 themselves (mosquitto cannot).

The port is found by binding port 0 and closing the socket again, so another process can take it
before the service binds it: the process backend detects "address in use" and retries with a new
port. Every port handed out is recorded for the leak audit.
"""

from __future__ import annotations

import socket

from hil.services.tracking import current_tracker

__all__ = ["pick_free_port"]


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    current_tracker().add_port(port)
    return port
