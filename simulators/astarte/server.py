"""How the Astarte simulator is served (HTTPS only): see :mod:`hil.simulators.asgi_serving`.

The realm's broker session is up before uvicorn starts, so the ready line means the whole
simulator serves.
"""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp

from hil.simulators.asgi_serving import serve as _serve

__all__ = ["READY_PREFIX", "serve"]

READY_PREFIX = "astarte simulator listening on "


def serve(app: ASGIApp, host: str, port: int, tls_cert: Path, tls_key: Path) -> None:
    _serve(app, host, port, ready_prefix=READY_PREFIX, tls_cert=tls_cert, tls_key=tls_key)
