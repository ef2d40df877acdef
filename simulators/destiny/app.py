"""Assemble the simulator: real ``/v1`` robot routes, ``/_sim`` control routes, error answers.

Error bodies follow the repository: FastAPI's ``{"detail": "..."}`` for HTTP errors, 401 for every
authentication failure, its not-found rule (404 when the missing id appears in the URL path,
otherwise 422, text ``<Model> with id <value> does not exist.``), FastAPI's default 404/405, and
FastAPI's list-form 422 for request validation (a malformed UUID worded as the repository's
pydantic-core words it, see :func:`_uuid_error_as_deployed`).
"""

from __future__ import annotations

import math
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hil.simulators.destiny.blobs import BlobStore
from hil.simulators.destiny.body_limit import STORAGE_BODY_LIMIT, BodyLimitMiddleware
from hil.simulators.destiny.clock import SimClock
from hil.simulators.destiny.control_api import build_control_router
from hil.simulators.destiny.hmac_auth import AuthFailure
from hil.simulators.destiny.journal import Journal, JournalMiddleware
from hil.simulators.destiny.robot_api import build_robot_router
from hil.simulators.destiny.store import DEFAULT_EXPIRY_INTERVAL, DEFAULT_IMPORT_SECONDS, NotFound, Store
from hil.simulators.destiny.storage_api import build_storage_router, FALLBACK_PREFIX
from hil.simulators.response_injection import ResponseInjection

__all__ = ["create_app", "new_store"]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _renderable_json(value: object) -> object:
    """Make a 422 echo something JSON can carry, recursively (keys included).

    FastAPI's default 422 echoes the offending input, and Starlette renders it with
    ``json.dumps(..., allow_nan=False).encode("utf-8")``. Python's json decodes two things into a
    body that this rendering cannot write back: the tokens ``NaN``/``Infinity`` (``ValueError``)
    and escapes of lone surrogates such as ``"\\ud800"`` (``UnicodeEncodeError``). Either way the
    real repository answers 500 instead of its 422. We answer the 422, spelling a non-finite
    number as its name and each lone surrogate as U+FFFD, the replacement character, so the body
    stays valid UTF-8 JSON that any client's parser accepts.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_renderable_json(k): _renderable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_renderable_json(v) for v in value]
    return value


_UUID_BAD_CHARACTER = re.compile(r"invalid character: found `(.+)` at (\d+)$", re.DOTALL)


def _uuid_error_as_deployed(error: dict[str, object]) -> dict[str, object]:
    """Word a ``uuid_parsing`` error as the repository's pydantic-core does.

    The text comes from the Rust ``uuid`` crate inside pydantic-core. The repository's build
    says ``invalid character: expected an optional prefix of `urn:uuid:` followed by
    [0-9a-fA-F-], found `x` at 1`` (the position counted from 1); ours says ``invalid character:
    found `x` at 0``. Only that case is rewritten: the other wordings (length, group count) were
    not observed on the real server, so they are left as our pydantic-core writes them.
    """
    ctx = error.get("ctx")
    if error.get("type") != "uuid_parsing" or not isinstance(ctx, dict):
        return error
    match = _UUID_BAD_CHARACTER.match(str(ctx.get("error", "")))
    if match is None:
        return error
    text = (f"invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], "
            f"found `{match[1]}` at {int(match[2]) + 1}")
    return {**error, "msg": f"Input should be a valid UUID, {text}", "ctx": {**ctx, "error": text}}


def new_store(
    expiry_interval: float | None = DEFAULT_EXPIRY_INTERVAL, import_seconds: float = DEFAULT_IMPORT_SECONDS
) -> Store:
    """An empty store on a fresh clock (job timings: see :mod:`hil.simulators.destiny.store`)."""
    return Store(SimClock(), BlobStore(), expiry_interval=expiry_interval, import_seconds=import_seconds)


def create_app(store: Store | None = None, journal: Journal | None = None, storage_base: str | None = None) -> FastAPI:
    """The ASGI app; pass ``store`` to share state with in-process tests or a seed loader.

    ``storage_base`` is the URL of the storage listener (``https://host:port``) that blob URLs
    point at; without it the app serves the blobs itself under ``/_sim/storage/``.
    """
    store = store or new_store()
    journal = journal or Journal()
    # The description is served under /_sim (hil fuzzes every route it lists), never as /openapi.json.
    app = FastAPI(title="DESTINY repository simulator", openapi_url="/_sim/openapi.json",
                  docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.journal = journal

    @app.exception_handler(AuthFailure)
    async def auth_failed(_request: Request, exc: AuthFailure) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_uuid_error_as_deployed(e) for e in jsonable_encoder(exc.errors())]
        return JSONResponse({"detail": _renderable_json(errors)}, status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        in_path = exc.value_text in request.url.path
        return JSONResponse({"detail": exc.detail}, status_code=404 if in_path else 422)

    app.include_router(build_robot_router(store, storage_base))
    app.include_router(build_control_router(store, journal))
    if storage_base is None:
        app.include_router(build_storage_router(store, FALLBACK_PREFIX))
    app.add_middleware(JournalMiddleware, journal=journal)
    app.add_middleware(BodyLimitMiddleware, limits=[(FALLBACK_PREFIX + "/", STORAGE_BODY_LIMIT)])
    # Outermost: an injected answer (see hil.simulators.response_injection) replaces or changes what
    # the routes answer; its control routes are /_sim/responses.
    app.add_middleware(ResponseInjection, prefix="/_sim/responses")
    return app
