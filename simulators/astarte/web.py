"""The HTTP plumbing shared by the simulated APIs: one request in, one JSON answer out.

A route handler is plain synchronous code taking a :class:`Call` and returning a :class:`Reply`
(or raising :class:`~hil.simulators.astarte.api_errors.ApiError`); :func:`route` wraps it into a
Starlette endpoint that reads and parses the body first (a body that is not JSON is 400 before
anything else, as Phoenix's parser plug runs before authentication), then runs the handler in a
worker thread (handlers take the realm lock and may wait for MQTT acknowledgements).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hil.simulators.astarte.api_errors import ApiError, bad_request, detail
from hil.simulators.request_bounds import control_query, OutOfBounds

__all__ = ["NO_BODY", "Call", "Reply", "catch_all", "route"]

#: Phoenix's Plug.Parsers default length limit.
BODY_LIMIT: Final = 8_000_000
ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Final = _NoBody()


@dataclass(frozen=True)
class Call:
    """What a handler sees of a request."""

    method: str
    path: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    authorization: list[str]
    body: Any
    client_ip: str
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The control query parameters (``timeout``, ``min_count``, ...), checked: see :func:`route`.
    bounded: Mapping[str, float | int] = field(default_factory=dict)

    def data(self) -> Any:
        """The body's ``data`` value; a missing one is 400 (no controller clause matches)."""
        if not isinstance(self.body, dict) or "data" not in self.body:
            raise bad_request()
        return self.body["data"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    empty: bool = False


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, headers=dict(headers or {}), media_type="application/json")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > BODY_LIMIT:
        raise detail(413, "Request entity too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise detail(413, "Request entity too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return NO_BODY
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request() from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def route(path: str, handler: Callable[[Call], Reply], methods: list[str], *, control: bool = False) -> Route:
    """A Starlette route running ``handler`` as described in the module docstring.

    Args:
        control: a ``/_sim`` route: its shared query parameters (waits, counts) are checked
            here, before the handler runs, and one that is not a finite number within its
            bounds is 400 ``Bad request`` (as a malformed query is on the real APIs).
    """

    async def endpoint(request: Request) -> Response:
        try:
            try:
                bounded = control_query(request.query_params) if control else {}
            except OutOfBounds:
                raise bad_request() from None
            body = _parse(await _read_body(request)) if request.method in ("POST", "PUT", "PATCH") else NO_BODY
            call = Call(
                method=request.method,
                path=request.url.path,
                path_params=dict(request.path_params),
                query=dict(request.query_params),
                authorization=request.headers.getlist("authorization"),
                body=body,
                client_ip=request.client.host if request.client else "",
                headers=dict(request.headers),
                bounded=bounded,
            )
            reply = await run_in_threadpool(handler, call)
        except ApiError as exc:
            return _json_response(exc.status, exc.body)
        if reply.empty:
            return Response(b"", status_code=reply.status, headers=dict(reply.headers))
        return _json_response(reply.status, reply.body, reply.headers)

    return Route(path, endpoint, methods=methods)


def catch_all(text: str) -> Route:
    """The last route of an API: anything unmatched is 404 with ``text`` (Phoenix has no 405)."""

    async def endpoint(_request: Request) -> Response:
        return _json_response(404, {"errors": {"detail": text}})

    return Route("/{rest:path}", endpoint, methods=ALL_METHODS)


def json_error_response(status: int, body: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status)
