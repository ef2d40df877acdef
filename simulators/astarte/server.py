"""Serve the app over HTTPS with uvicorn; announce readiness on stdout; stop cleanly on signals.

The harness waits for one stdout line, ``astarte simulator listening on https://HOST:PORT``,
printed once uvicorn accepts connections (the realm's broker session is up before uvicorn even
starts). Logs go to stderr. SIGTERM/SIGINT end the process with status 0.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Generator
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["READY_PREFIX", "serve"]

READY_PREFIX = "astarte simulator listening on "


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self._ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            sys.stdout.write(self._ready_line + "\n")
            sys.stdout.flush()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def request_exit(_sig: int, _frame: FrameType | None) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, request_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: ASGIApp, host: str, port: int, tls_cert: Path, tls_key: Path) -> None:
    """Serve until a stop signal; raises OSError when the address cannot be bound."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=True, ssl_certfile=str(tls_cert),
                            ssl_keyfile=str(tls_key), lifespan="off", timeout_graceful_shutdown=3)
    shown = f"[{host}]" if ":" in host else host
    server = _AnnouncingServer(config, f"{READY_PREFIX}https://{shown}:{bound}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
