"""hil's fault proxy: TCP proxies with toxics, driven by Toxiproxy's HTTP API.

Toxiproxy's own server cannot be installed on the machines hil runs on (not packaged, not on
PyPI, no images), so hil brings this one. It speaks Toxiproxy 2's API, so one client
(:mod:`hil.faults.client`) drives it and a user's real Toxiproxy on a bench alike::

    GET    /proxies                           {name: proxy}
    POST   /proxies                           {"name", "listen", "upstream", "enabled"} -> 201 proxy
    POST   /populate                          [proxy, ...] -> 201 {"proxies": [...]}
    GET    /proxies/{name}                    proxy (with its "toxics")
    POST   /proxies/{name}                    {"enabled": false} takes it down, or new listen/upstream
    DELETE /proxies/{name}                    204
    GET    /proxies/{name}/toxics             [toxic, ...]
    POST   /proxies/{name}/toxics             toxic (see hil.faults.toxics) -> 200 toxic
    GET    /proxies/{name}/toxics/{toxic}     toxic
    POST   /proxies/{name}/toxics/{toxic}     new attributes / toxicity -> 200 toxic
    DELETE /proxies/{name}/toxics/{toxic}     204
    POST   /reset                             every proxy enabled, every toxic removed -> 204
    GET    /version                           text

Errors are Toxiproxy's shape, ``{"error": "<one line>", "status": <code>}``: 400 for a bad
specification, 404 for an unknown proxy or toxic, 409 for a name already taken.

A disabled proxy ("down") closes its listener and every connection through it, so a client
sees "connection refused" until it is enabled again, on the same port. Proxies listen on
loopback only: hil never exposes a service on the network.

Everything runs on one asyncio loop in a thread of the process that starts the server
(:class:`FaultProxyServer`), so a check's fault is in place the moment the API call returns.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hil.errors import FaultError
from hil.faults.toxics import Toxic, parse_toxic, update_toxic

__all__ = ["VERSION", "FaultProxyServer"]

VERSION: Final = "hil-fault-proxy 1 (Toxiproxy 2 API)"
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
_CHUNK: Final = 32 * 1024


def _split_address(text: Any, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a pair; a bad one is a 400 line naming the field."""
    if not isinstance(text, str) or ":" not in text:
        raise FaultError(f"bad request body: {what} must be 'host:port', got {text!r}")
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise FaultError(f"bad request body: {what} port must be 0-65535, got {port_text!r}")
    return host, int(port_text)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Link:
    """One client connection through a proxy: two pipes and the timers of its toxics."""

    def __init__(self, proxy: _Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.server_writer: asyncio.StreamWriter | None = None
        self._draws: dict[str, bool] = {}  # toxic name -> does it apply to this link (toxicity)
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._closed = asyncio.Event()
        self._passed = {"upstream": 0, "downstream": 0}

    def applies(self, toxic: Toxic) -> bool:
        if toxic.name not in self._draws:
            self._draws[toxic.name] = random.random() < toxic.toxicity
        return self._draws[toxic.name]

    def active(self, stream: str) -> list[Toxic]:
        return [t for t in self.proxy.toxics.values() if t.stream == stream and self.applies(t)]

    def toxics_changed(self, removed: str | None = None) -> None:
        """Start or cancel the timers of ``timeout`` and ``reset_peer`` toxics."""
        if removed is not None:
            self._draws.pop(removed, None)
            timer = self._timers.pop(removed, None)
            if timer is not None:
                timer.cancel()
        for toxic in list(self.proxy.toxics.values()):
            if toxic.name in self._timers or not self.applies(toxic):
                continue
            if toxic.type == "reset_peer":
                self._timers[toxic.name] = asyncio.ensure_future(self._after(toxic.attributes["timeout"], reset=True))
            elif toxic.type == "timeout" and toxic.attributes["timeout"] > 0:
                self._timers[toxic.name] = asyncio.ensure_future(self._after(toxic.attributes["timeout"], reset=False))

    async def _after(self, milliseconds: int, *, reset: bool) -> None:
        await asyncio.sleep(milliseconds / 1000)
        self.close(reset=reset)

    async def run(self) -> None:
        host, port = _split_address(self.proxy.upstream, "upstream")
        try:
            server_reader, self.server_writer = await asyncio.open_connection(host, port)
        except OSError:
            self.close(reset=False)  # as Toxiproxy: the client sees its connection closed
            return
        self.toxics_changed()
        pipes = [asyncio.ensure_future(self._pipe(self.client_reader, self.server_writer, "upstream")),
                 asyncio.ensure_future(self._pipe(server_reader, self.client_writer, "downstream"))]
        await self._closed.wait()
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: str) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._forward(data, writer, stream)
        except (OSError, asyncio.IncompleteReadError):
            pass
        for toxic in self.active(stream):
            if toxic.type == "slow_close":
                await asyncio.sleep(toxic.attributes["delay"] / 1000)
        self.close(reset=False)

    async def _forward(self, data: bytes, writer: asyncio.StreamWriter, stream: str) -> None:
        pieces = [data]
        for toxic in self.active(stream):
            a = toxic.attributes
            if toxic.type == "timeout":
                return  # nothing gets through while it is there
            if toxic.type == "packet_loss" and random.random() * 100 < a["probability"]:
                return
            if toxic.type == "latency":
                jitter = random.randint(-a["jitter"], a["jitter"]) if a["jitter"] else 0
                await asyncio.sleep(max(a["latency"] + jitter, 0) / 1000)
            elif toxic.type == "bandwidth" and a["rate"] > 0:
                await asyncio.sleep(len(data) / (a["rate"] * 1000))
            elif toxic.type == "limit_data":
                room = a["bytes"] - self._passed[stream]
                if room <= 0:
                    self.close(reset=False)
                    return
                pieces = _truncate(pieces, room)
            elif toxic.type == "slicer" and a["average_size"] > 0:
                pieces = _slice(b"".join(pieces), a["average_size"], a["size_variation"])
        delay = next((t.attributes["delay"] for t in self.active(stream) if t.type == "slicer"), 0)
        for index, piece in enumerate(pieces):
            if index and delay:
                await asyncio.sleep(delay / 1_000_000)
            writer.write(piece)
            await writer.drain()
            self._passed[stream] += len(piece)
        limit = next((t.attributes["bytes"] for t in self.active(stream) if t.type == "limit_data"), None)
        if limit is not None and self._passed[stream] >= limit:
            self.close(reset=False)

    def close(self, *, reset: bool) -> None:
        """End the connection on both sides; ``reset`` sends TCP RST instead of FIN."""
        if self._closed.is_set():
            return
        self._closed.set()
        for timer in self._timers.values():
            timer.cancel()
        for writer in (self.client_writer, self.server_writer):
            if writer is None:
                continue
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                writer.transport.abort()
            else:
                writer.close()
        self.proxy.links.discard(self)


def _truncate(pieces: list[bytes], room: int) -> list[bytes]:
    data = b"".join(pieces)
    return [data[:room]]


def _slice(data: bytes, average: int, variation: int) -> list[bytes]:
    pieces: list[bytes] = []
    while data:
        size = max(1, average + (random.randint(-variation, variation) if variation else 0))
        pieces.append(data[:size])
        data = data[size:]
    return pieces


class _Proxy:
    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxics.values()]}

    async def start(self) -> None:
        if self._server is not None:
            return
        host, port = _split_address(self.listen, "listen")
        if host not in _LOOPBACK:
            raise FaultError(f"bad request body: listen host must be loopback (127.0.0.1, localhost, ::1), got {host!r}")
        try:
            self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        except OSError as exc:
            raise FaultError(f"proxy {self.name}: cannot listen on {self.listen}: {exc.strerror or exc}",
                             status=500) from None
        bound = self._server.sockets[0].getsockname()
        self.listen = _join(host if host != "localhost" else "127.0.0.1", bound[1])
        self.enabled = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before the proxy went down: down means closed
            writer.close()
            return
        link = _Link(self, (reader, writer))
        self.links.add(link)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await link.run()
        finally:
            link.close(reset=False)
            if task is not None:
                self._tasks.discard(task)

    async def stop(self) -> None:
        """Down: no listener, no connection (clients are closed, as Toxiproxy does)."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for link in list(self.links):
            link.close(reset=False)
        # No ``await server.wait_closed()``: since Python 3.12 it waits for every connection's
        # transport to be gone, which a peer that does not read can hold up; the listening
        # socket itself is closed by ``close()`` already, which is what "down" means.

    def toxics_changed(self, removed: str | None = None) -> None:
        for link in list(self.links):
            link.toxics_changed(removed)


class _Api:
    """Toxiproxy's routes over the proxies of one server (all on the server's loop)."""

    def __init__(self) -> None:
        self.proxies: dict[str, _Proxy] = {}

    def _get(self, name: str) -> _Proxy:
        if name not in self.proxies:
            raise FaultError("proxy not found", status=404)
        return self.proxies[name]

    async def _create(self, data: Any) -> _Proxy:
        if not isinstance(data, dict):
            raise FaultError("bad request body: expected a JSON object")
        unknown = sorted(set(data) - {"name", "listen", "upstream", "enabled"})
        if unknown:
            raise FaultError(f"bad request body: unknown field {unknown[0]!r}")
        name, upstream = data.get("name"), data.get("upstream")
        if not isinstance(name, str) or not name:
            raise FaultError("missing required field: name")
        if not isinstance(upstream, str) or not upstream:
            raise FaultError("missing required field: upstream")
        _split_address(upstream, "upstream")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise FaultError(f"bad request body: enabled must be true or false, got {enabled!r}")
        if name in self.proxies:
            raise FaultError("proxy already exists", status=409)
        proxy = _Proxy(name, data.get("listen") or "127.0.0.1:0", upstream)
        _split_address(proxy.listen, "listen")
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def index(self, _request: Request) -> Any:
        return {name: proxy.to_json() for name, proxy in self.proxies.items()}

    async def create(self, request: Request) -> Any:
        return 201, (await self._create(await _body(request))).to_json()

    async def populate(self, request: Request) -> Any:
        data = await _body(request)
        if isinstance(data, dict) and isinstance(data.get("proxies"), list):
            data = data["proxies"]
        if not isinstance(data, list):
            raise FaultError("bad request body: expected a JSON array of proxies")
        created: list[_Proxy] = []
        for entry in data:
            name = entry.get("name") if isinstance(entry, dict) else None
            existing = self.proxies.get(name) if isinstance(name, str) else None
            if existing is not None and entry.get("upstream") == existing.upstream \
                    and entry.get("listen") in (None, existing.listen):
                created.append(existing)
                continue
            if existing is not None:
                await existing.stop()
                del self.proxies[existing.name]
            created.append(await self._create(entry))
        return 201, {"proxies": [p.to_json() for p in created]}

    async def show(self, request: Request) -> Any:
        return self._get(request.path_params["proxy"]).to_json()

    async def update(self, request: Request) -> Any:
        proxy = self._get(request.path_params["proxy"])
        data = await _body(request)
        if not isinstance(data, dict):
            raise FaultError("bad request body: expected a JSON object")
        unknown = sorted(set(data) - {"name", "listen", "upstream", "enabled"})
        if unknown:
            raise FaultError(f"bad request body: unknown field {unknown[0]!r}")
        enabled = data.get("enabled", proxy.enabled)
        if not isinstance(enabled, bool):
            raise FaultError(f"bad request body: enabled must be true or false, got {enabled!r}")
        listen, upstream = data.get("listen", proxy.listen), data.get("upstream", proxy.upstream)
        _split_address(listen, "listen")
        _split_address(upstream, "upstream")
        if (listen, upstream) != (proxy.listen, proxy.upstream) or not enabled:
            await proxy.stop()
        proxy.listen, proxy.upstream = listen, upstream
        if enabled:
            await proxy.start()
        return proxy.to_json()

    async def delete(self, request: Request) -> Any:
        proxy = self._get(request.path_params["proxy"])
        await proxy.stop()
        del self.proxies[proxy.name]
        return 204, None

    async def toxic_index(self, request: Request) -> Any:
        return [t.to_json() for t in self._get(request.path_params["proxy"]).toxics.values()]

    async def toxic_create(self, request: Request) -> Any:
        proxy = self._get(request.path_params["proxy"])
        toxic = parse_toxic(await _body(request))
        if toxic.name in proxy.toxics:
            raise FaultError("toxic already exists", status=409)
        proxy.toxics[toxic.name] = toxic
        proxy.toxics_changed()
        return toxic.to_json()

    def _toxic(self, request: Request) -> tuple[_Proxy, Toxic]:
        proxy = self._get(request.path_params["proxy"])
        toxic = proxy.toxics.get(request.path_params["toxic"])
        if toxic is None:
            raise FaultError("toxic not found", status=404)
        return proxy, toxic

    async def toxic_show(self, request: Request) -> Any:
        return self._toxic(request)[1].to_json()

    async def toxic_update(self, request: Request) -> Any:
        proxy, toxic = self._toxic(request)
        update_toxic(toxic, await _body(request))
        proxy.toxics_changed(removed=toxic.name)  # redraw toxicity and restart timers
        return toxic.to_json()

    async def toxic_delete(self, request: Request) -> Any:
        proxy, toxic = self._toxic(request)
        del proxy.toxics[toxic.name]
        proxy.toxics_changed(removed=toxic.name)
        return 204, None

    async def reset(self, _request: Request) -> Any:
        for proxy in self.proxies.values():
            removed = list(proxy.toxics)
            proxy.toxics.clear()
            for name in removed:
                proxy.toxics_changed(removed=name)
            await proxy.start()
        return 204, None

    async def version(self, _request: Request) -> Response:
        return PlainTextResponse(VERSION)

    async def close_all(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop()
        self.proxies.clear()


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FaultError(f"bad request body: not JSON ({exc})") from None


def _endpoint(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except FaultError as exc:
            return JSONResponse({"error": str(exc), "status": exc.status}, status_code=exc.status)
        if isinstance(result, Response):
            return result
        status, body = result if isinstance(result, tuple) else (200, result)
        if status == 204:
            return Response(status_code=204)
        return JSONResponse(body, status_code=status)

    return endpoint


def _app(api: _Api) -> Starlette:
    def route(path: str, handler: Callable[[Request], Awaitable[Any]], method: str) -> Route:
        return Route(path, _endpoint(handler), methods=[method])

    return Starlette(routes=[
        route("/reset", api.reset, "POST"),
        route("/version", api.version, "GET"),
        route("/populate", api.populate, "POST"),
        route("/proxies", api.index, "GET"),
        route("/proxies", api.create, "POST"),
        route("/proxies/{proxy}", api.show, "GET"),
        route("/proxies/{proxy}", api.update, "POST"),
        route("/proxies/{proxy}", api.update, "PATCH"),
        route("/proxies/{proxy}", api.delete, "DELETE"),
        route("/proxies/{proxy}/toxics", api.toxic_index, "GET"),
        route("/proxies/{proxy}/toxics", api.toxic_create, "POST"),
        route("/proxies/{proxy}/toxics/{toxic}", api.toxic_show, "GET"),
        route("/proxies/{proxy}/toxics/{toxic}", api.toxic_update, "POST"),
        route("/proxies/{proxy}/toxics/{toxic}", api.toxic_update, "PATCH"),
        route("/proxies/{proxy}/toxics/{toxic}", api.toxic_delete, "DELETE"),
    ])


class _Server(uvicorn.Server):
    """uvicorn that says when it listens (off the main thread it leaves signals alone)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._announce = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._announce.set()


class FaultProxyServer:
    """The fault proxy and its API, on a loop in a thread of this process.

    Usage::

        with FaultProxyServer() as server:
            client = ToxiproxyClient(server.url)
            ...

    ``stop`` closes every proxy and connection and the API port: nothing is left behind.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._api = _Api()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if not self._port:
            raise FaultError("the fault proxy is not running", status=500)
        return f"http://{_join(self.host, self._port)}"

    def start(self, *, timeout: float = 10.0) -> None:
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name="hil-fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._failure is not None:
            self.stop()
            raise FaultError(f"the fault proxy did not start: {self._failure or 'timed out'}", status=500)

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # noqa: BLE001 - reported to start(); the thread must not die silently
            self._failure = exc
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        config = uvicorn.Config(_app(self._api), log_level="warning", lifespan="off", access_log=False)
        server = _Server(config, self._ready)
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        await self._stop.wait()
        await self._api.close_all()
        server.should_exit = True
        await serving
        sock.close()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout=10)
        self._port = 0

    def __enter__(self) -> FaultProxyServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
