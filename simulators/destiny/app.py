"""Assemble the simulator: real ``/v1`` robot routes, ``/_sim`` control routes, error answers.

Error bodies follow the repository: FastAPI's ``{"detail": "..."}`` for HTTP errors, 401 for every
authentication failure, its not-found rule (404 when the missing id appears in the URL path,
otherwise 422, text ``<Model> with id <value> does not exist.``), FastAPI's default 404/405, and
FastAPI's list-form 422 for request validation.
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
from hil.simulators.destiny.control_api import build_control_router, build_storage_router
from hil.simulators.destiny.hmac_auth import AuthFailure
from hil.simulators.destiny.journal import Journal, JournalMiddleware
from hil.simulators.destiny.robot_api import build_robot_router
from hil.simulators.destiny.store import NotFound, Store

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


def new_store() -> Store:
    """An empty store on a fresh clock."""
    return Store(SimClock(), BlobStore())


def create_app(store: Store | None = None, journal: Journal | None = None) -> FastAPI:
    """The ASGI app; pass ``store`` to share state with in-process tests or a seed loader."""
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
        return JSONResponse({"detail": _renderable_json(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        in_path = exc.value_text in request.url.path
        return JSONResponse({"detail": exc.detail}, status_code=404 if in_path else 422)

    app.include_router(build_robot_router(store))
    app.include_router(build_control_router(store, journal))
    app.include_router(build_storage_router(store))
    app.add_middleware(JournalMiddleware, journal=journal)
    app.add_middleware(BodyLimitMiddleware, limits=[("/_sim/storage/", STORAGE_BODY_LIMIT)])
    return app
