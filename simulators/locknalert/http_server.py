"""A small HTTP/1.1 server with the limits of an embedded device (asyncio + h11).

A bridge is a small box: it serves a few connections, small requests, and it hangs up on clients
that dawdle. The emulator needs that behaviour (and the freedom to misbehave on purpose, e.g. to
drop a connection after reading a request), which a general-purpose ASGI server does not give.
So this module owns the socket and the HTTP/1.1 framing (h11 parses, we decide):

* the whole request head must arrive within ``head_timeout`` of the connection (or, on a
  keep-alive connection, of its first byte): a slowloris client gets ``408`` and is closed,
  while every other connection is served concurrently in the meantime;
* a head larger than ``max_head_bytes`` gets ``431``, a body larger than ``max_body_bytes`` gets
  ``413`` without being read, malformed HTTP gets ``400``, an HTTP version other than 1.0/1.1
  gets ``505``;
* beyond ``max_connections`` concurrent connections a new one gets ``503`` and is closed at once;
* a handler may raise :class:`DropConnection` to close without any answer (a fault mode).

Handlers never see the framing; they get a :class:`Request` and return a :class:`Response`.
An exception in a handler is logged and answered with 500: that is our bug, never the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import h11

__all__ = ["DropConnection", "HttpServer", "Limits", "Request", "Response", "json_response"]

LOG = logging.getLogger("locknalert.http")
READ_CHUNK = 4096
SERVER_HEADER = "LocknAlert-Bridge-Emulator"


@dataclass(frozen=True)
class Limits:
    """Resource limits; the defaults are those of a careful embedded web server."""

    max_head_bytes: int = 8 * 1024
    max_body_bytes: int = 16 * 1024
    head_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 30.0
    write_timeout: float = 10.0
    max_connections: int = 32
    tls_handshake_timeout: float = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    peer: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode())


class DropConnection(Exception):
    """Raised by a handler: close the connection without sending anything."""


Handler = Callable[[Request], Awaitable[Response]]


class _Reject(Exception):
    """Answer ``status`` and close (framing problems found before the handler runs)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class _Timeout(Exception):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


class HttpServer:
    """Serves ``handler`` on one socket (plain or TLS) until :meth:`close`.

    Args:
        handler: the application.
        limits: see :class:`Limits`.
        ssl_context: a server context for HTTPS, or None.
        name: used in log lines.
    """

    def __init__(self, handler: Handler, *, limits: Limits | None = None, ssl_context: ssl.SSLContext | None = None,
                 name: str = "http") -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self.ssl_context = ssl_context
        self.name = name
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Bind and listen; returns the bound port. OSError (e.g. address in use) propagates."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self._server = await asyncio.start_server(
            self._accept,
            sock=sock,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.limits.tls_handshake_timeout if self.ssl_context else None,
            backlog=128,
        )
        self.port = sock.getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    # -- per connection --------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.limits.max_connections:
            LOG.info("%s: connection limit (%d) reached, refusing", self.name, self.limits.max_connections)
            await self._send_raw(writer, 503, "too many connections")
            await self._close(writer)
            return
        self._tasks.add(task)
        connection = _Connection(reader, writer, self.limits)
        try:
            await self._serve(connection)
        except DropConnection:
            writer.transport.abort()
        except _Reject as reject:
            LOG.info("%s: %s %d %s", self.name, connection.peer, reject.status, reject.error)
            await self._send_raw(writer, reject.status, reject.error)
        except (ConnectionError, ssl.SSLError, _Timeout, asyncio.IncompleteReadError):
            pass  # the peer went away or stopped reading: nothing left to say to it
        finally:
            self._tasks.discard(task)
            await self._close(writer)

    async def _serve(self, c: _Connection) -> None:
        first = True
        while True:
            request = await self._read_request(c, first=first)
            if request is None:
                return
            first = False
            try:
                response = await self.handler(request)
            except DropConnection:
                raise
            except Exception:  # a bug of ours: log it, answer 500, keep serving others
                LOG.exception("%s: handler failed for %s %s", self.name, request.method, request.path)
                response = json_response(500, {"error": "internal error"})
            LOG.info("%s: %s %s %s -> %d", self.name, c.peer, request.method, request.path, response.status)
            await self._send(c, request, response)
            if c.h11.our_state is h11.MUST_CLOSE or c.h11.their_state is h11.MUST_CLOSE:
                return
            try:
                c.h11.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read(self, c: _Connection, deadline: float) -> bytes:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise _Timeout()
        try:
            return await asyncio.wait_for(c.reader.read(READ_CHUNK), remaining)
        except TimeoutError:
            raise _Timeout() from None

    def _next_event(self, c: _Connection) -> Any:
        try:
            return c.h11.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
            if "too long" in str(exc).lower() or "too big" in str(exc).lower():
                status = 431
            raise _Reject(status, f"bad request: {exc}") from None

    async def _read_request(self, c: _Connection, *, first: bool) -> Request | None:
        loop = asyncio.get_running_loop()
        # The first head is timed from the accept (slowloris); a later one from its first byte,
        # after an idle keep-alive wait.
        received = False
        deadline = loop.time() + (self.limits.head_timeout if first else self.limits.idle_timeout)
        while True:
            event = self._next_event(c)
            if isinstance(event, h11.Request):
                break
            if isinstance(event, h11.ConnectionClosed):
                return None
            try:
                data = await self._read(c, deadline)
            except _Timeout:
                if received:
                    raise _Reject(408, "request head not received in time") from None
                return None  # nothing was sent: close quietly
            if data and not received:
                received = True
                if not first:
                    deadline = loop.time() + self.limits.head_timeout
            c.h11.receive_data(data)
        if event.http_version not in (b"1.0", b"1.1"):
            raise _Reject(505, f"HTTP/{event.http_version.decode('latin-1')} is not supported")
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        length = headers.get("content-length")
        if length is not None and int(length.split(",")[0]) > self.limits.max_body_bytes:
            raise _Reject(413, f"body larger than {self.limits.max_body_bytes} bytes")
        if c.h11.they_are_waiting_for_100_continue:
            c.writer.write(c.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        deadline = loop.time() + self.limits.body_timeout
        while True:
            part = self._next_event(c)
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > self.limits.max_body_bytes:
                    raise _Reject(413, f"body larger than {self.limits.max_body_bytes} bytes")
                continue
            if isinstance(part, h11.EndOfMessage):
                break
            if isinstance(part, h11.ConnectionClosed):
                raise ConnectionResetError("closed during the body")
            try:
                data = await self._read(c, deadline)
            except _Timeout:
                raise _Reject(408, "request body not received in time") from None
            c.h11.receive_data(data)
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        return Request(event.method.decode("latin-1").upper(), path, query, headers, bytes(body), c.peer)

    async def _send(self, c: _Connection, request: Request, response: Response) -> None:
        headers = [("server", SERVER_HEADER), ("cache-control", "no-store")]
        if response.content_type is not None:
            headers.append(("content-type", response.content_type))
        headers.append(("content-length", str(len(response.body))))
        headers.extend(response.headers)
        try:
            reason = HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        out = c.h11.send(h11.Response(status_code=response.status, headers=headers, reason=reason)) or b""
        if response.body and request.method != "HEAD":
            out += c.h11.send(h11.Data(data=response.body)) or b""
        out += c.h11.send(h11.EndOfMessage()) or b""
        c.writer.write(out)
        await self._drain(c.writer)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(writer.drain(), self.limits.write_timeout)
        except TimeoutError:
            raise _Timeout() from None

    async def _send_raw(self, writer: asyncio.StreamWriter, status: int, error: str) -> None:
        """A complete response outside h11's state machine, for answers that end a connection."""
        body = json.dumps({"error": error}).encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER_HEADER}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(ConnectionError, ssl.SSLError, RuntimeError, _Timeout):
            writer.write(head + body)
            await self._drain(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
