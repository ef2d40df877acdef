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
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["REQUEST_TIMEOUT", "Listener", "bind_listener", "serve", "serve_listeners"]


class _ServerGroup:
    """Servers of one process that start, announce and stop together."""

    def __init__(self, ready_lines: list[str]) -> None:
        self.servers: list[_AnnouncingServer] = []
        self._ready_lines = ready_lines
        self._started = 0

    def started(self) -> None:
        """Called by each server once it accepts; the lines go out when the last one does."""
        self._started += 1
        if self._started == len(self.servers):
            for line in self._ready_lines:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def request_exit(self) -> None:
        for server in self.servers:
            server.should_exit = True

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
    def __init__(self, config: uvicorn.Config, group: _ServerGroup) -> None:
        super().__init__(config)
        self._group = group
        group.servers.append(self)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._group.started()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def request_exit(_sig: int, _frame: FrameType | None) -> None:
            self._group.request_exit()

        previous = {sig: signal.signal(sig, request_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class Listener:
    """A bound listening socket, the app it serves and the URL it is reached at."""

    sock: socket.socket
    url: str
    tls_cert: Path | None = None
    tls_key: Path | None = None


def bind_listener(host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None) -> Listener:
    """Bind (and listen on) ``host:port``; raises OSError when the address cannot be bound.

    Listening at once lets a client that connects before the server loop runs wait in the
    backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it. Without it a TLS response goes out as two records (headers,
    # body) and Nagle holds the body until the client's delayed ACK: 40 ms on every request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    scheme = "https" if tls_cert else "http"
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    return Listener(sock, f"{scheme}://{shown_host}:{bound_port}", tls_cert, tls_key)


def serve_listeners(served: Sequence[tuple[ASGIApp, Listener, str]]) -> None:
    """Serve each ``(app, listener, ready prefix)`` until a stop signal, then close the sockets.

    Every ready line (prefix + URL, in the order given) is printed once all servers accept, so
    the last line tells a waiting harness that the whole process is ready.
    """
    group = _ServerGroup([f"{prefix}{listener.url}" for _app, listener, prefix in served])
    for app, listener, _prefix in served:
        config = uvicorn.Config(
            app,
            log_config=None,  # uvicorn's default sends access logs to stdout; ours all go to stderr
            access_log=True,
            ssl_certfile=str(listener.tls_cert) if listener.tls_cert else None,
            ssl_keyfile=str(listener.tls_key) if listener.tls_key else None,
            lifespan="off",
            timeout_graceful_shutdown=3,
            http=_RequestDeadlineProtocol,
            timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        )
        _AnnouncingServer(config, group)

    async def run_all() -> None:
        await asyncio.gather(*(s.serve(sockets=[listener.sock])
                               for s, (_app, listener, _prefix) in zip(group.servers, served, strict=True)))

    try:
        asyncio.run(run_all())
    finally:
        for _app, listener, _prefix in served:
            listener.sock.close()


def serve(
    app: ASGIApp, host: str, port: int, *, ready_prefix: str, tls_cert: Path | None = None, tls_key: Path | None = None
) -> None:
    """Serve until a stop signal; raises OSError when the address cannot be bound.

    Args:
        ready_prefix: the start of the ready line, e.g. ``"destiny simulator listening on "``;
            the URL with the real port follows it.
    """
    serve_listeners([(app, bind_listener(host, port, tls_cert, tls_key), ready_prefix)])
