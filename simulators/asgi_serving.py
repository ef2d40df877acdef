"""Serve an ASGI simulator with uvicorn, announce readiness on stdout, stop cleanly on signals.

Shared by the HTTP simulators. The harness starts a simulator as a process and waits for one
stdout line, ``<ready prefix><scheme>://HOST:PORT``, printed only once the listening socket
accepts connections (after uvicorn's start-up completed). Port 0 picks a free port and the line
names the real one. Logs go to stderr. uvicorn re-raises a caught SIGTERM after shutting down,
which would end the process with -15; our own handlers make a requested stop exit 0.

uvicorn times out only idle keep-alive connections: a client that sends half a request head and
stops holds a connection (and its memory) for as long as it likes. Each request must therefore
arrive whole within :data:`REQUEST_TIMEOUT` of the connection opening or of the previous response.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Final

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["REQUEST_TIMEOUT", "serve"]

#: Seconds a client has to send one whole request (head and body); then the connection is closed.
REQUEST_TIMEOUT: Final = 5.0
#: Seconds an idle keep-alive connection stays open (uvicorn's default, said here on purpose).
KEEP_ALIVE_TIMEOUT: Final = 5


class _RequestDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on receiving each request (module docstring)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in (or the connection is over)

    def on_response_complete(self) -> None:
        self._arm()  # before the next (possibly pipelined) request is handled
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


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


def serve(
    app: ASGIApp, host: str, port: int, *, ready_prefix: str, tls_cert: Path | None = None, tls_key: Path | None = None
) -> None:
    """Serve until a stop signal; raises OSError when the address cannot be bound.

    Args:
        ready_prefix: the start of the ready line, e.g. ``"destiny simulator listening on "``;
            the URL with the real port follows it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it. Without it a TLS response goes out as two records (headers,
    # body) and Nagle holds the body until the client's delayed ACK: 40 ms on every request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    scheme = "https" if tls_cert else "http"
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(
        app,
        log_config=None,  # uvicorn's default sends access logs to stdout; ours all go to stderr
        access_log=True,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        lifespan="off",
        timeout_graceful_shutdown=3,
        http=_RequestDeadlineProtocol,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
    )
    server = _AnnouncingServer(config, f"{ready_prefix}{scheme}://{shown_host}:{bound_port}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
