"""How the DESTINY simulator is served: see :mod:`hil.simulators.asgi_serving`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hil.simulators.asgi_serving import serve as _serve

__all__ = ["READY_PREFIX", "serve"]

READY_PREFIX = "destiny simulator listening on "


def serve(app: FastAPI, host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    _serve(app, host, port, ready_prefix=READY_PREFIX, tls_cert=tls_cert, tls_key=tls_key)
