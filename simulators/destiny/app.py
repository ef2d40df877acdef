"""Assemble the simulator: real ``/v1`` robot routes, ``/_sim`` control routes, error answers.

Error bodies follow the repository: FastAPI's ``{"detail": "..."}`` for HTTP errors, 401 for every
authentication failure, its not-found rule (404 when the missing id appears in the URL path,
otherwise 422, text ``<Model> with id <value> does not exist.``), FastAPI's default 404/405, and
FastAPI's list-form 422 for request validation.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from simulators.destiny.blobs import BlobStore
from simulators.destiny.body_limit import STORAGE_BODY_LIMIT, BodyLimitMiddleware
from simulators.destiny.clock import SimClock
from simulators.destiny.control_api import build_control_router, build_storage_router
from simulators.destiny.hmac_auth import AuthFailure
from simulators.destiny.journal import Journal, JournalMiddleware
from simulators.destiny.robot_api import build_robot_router
from simulators.destiny.store import NotFound, Store

__all__ = ["create_app", "new_store"]


def _finite_json(value: object) -> object:
    """Replace NaN/Infinity (which JSON cannot carry) by their names, recursively.

    FastAPI's default 422 echoes the offending input; for a body such as ``{"seconds": NaN}``
    (Python's json accepts the token) rendering that echo fails and the answer becomes a 500, on
    the real repository too. We answer the 422 with the value spelled as a string instead.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_json(v) for v in value]
    return value


def new_store() -> Store:
    """An empty store on a fresh clock."""
    return Store(SimClock(), BlobStore())


def create_app(store: Store | None = None, journal: Journal | None = None) -> FastAPI:
    """The ASGI app; pass ``store`` to share state with in-process tests or a seed loader."""
    store = store or new_store()
    journal = journal or Journal()
    app = FastAPI(title="DESTINY repository simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.journal = journal

    @app.exception_handler(AuthFailure)
    async def auth_failed(_request: Request, exc: AuthFailure) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _finite_json(jsonable_encoder(exc.errors()))}, status_code=422)

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
