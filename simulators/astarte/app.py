"""Assemble the simulated Astarte: one realm, its data updater, and the HTTP APIs under prefixes.

``/pairing``, ``/appengine`` and ``/realmmanagement`` serve the real routes (so an SDK's
``pairing_base_url`` is ``https://host:port/pairing``); ``/_sim`` is the simulator's own control
API, described (with every real route) by ``GET /_sim/openapi.json``; ``/_sim/responses`` makes
chosen answers deviate (:mod:`hil.simulators.response_injection`) and ``/_sim/clock`` moves the
clock Pairing judges certificates at (:mod:`.clock_api`). Anything unmatched is a JSON 404; an
unexpected exception is a JSON 500 (a bug, never the answer to bad input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from hil.simulators.astarte.appengine_api import appengine_routes
from hil.simulators.astarte.broker_link import BackOffice
from hil.pki import HarnessPKI
from hil.simulators.astarte.certificate_faults import certificate_maker
from hil.simulators.astarte.clock_api import clock_routes
from hil.simulators.astarte.control_api import control_routes
from hil.simulators.astarte.data_updater import DataUpdater
from hil.simulators.astarte.pairing_api import pairing_routes
from hil.simulators.astarte.realm import Realm
from hil.simulators.astarte.realm_management_api import RealmManagementApi, realm_management_routes
from hil.simulators.astarte.web import catch_all
from hil.simulators.destiny.clock import SimClock
from hil.simulators.response_injection import ResponseInjection
from hil.simulators.openapi_description import describe, DESCRIPTION_PATH, Operation

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals as JSON: a path no route pattern matches (a ``%0A`` in it defeats
    even the catch-all's ``.*``) is otherwise a plain-text 404."""
    assert isinstance(exc, HTTPException)
    detail = "Not found" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"errors": {"detail": detail}}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(_request: Request, exc: Exception) -> Response:
    _log.error("unexpected error: %r", exc, exc_info=exc)
    return JSONResponse({"errors": {"detail": "Internal server error"}}, status_code=500)


def create_app(
    realm: Realm,
    updater: DataUpdater,
    *,
    pki_dir: Path,
    back_office: Callable[[], BackOffice | None],
    private_key: Path | None,
    reinstall: Callable[[RealmManagementApi], None],
) -> tuple[Starlette, RealmManagementApi]:
    """The ASGI app and the Realm Management API object (to install start-up interfaces)."""
    rm_routes, rm_api = realm_management_routes(realm)
    clock = SimClock()

    def health() -> bool:
        session = back_office()
        return session is not None and session.ready

    async def openapi(_request: Request) -> Response:
        return JSONResponse(describe("Astarte simulator: Pairing, AppEngine, Realm Management, /_sim",
                                     _operations(routes)))

    routes: list[BaseRoute] = [
        Route(DESCRIPTION_PATH, openapi, methods=["GET"]),
        Mount("/pairing", routes=pairing_routes(realm, pki_dir, clock)),
        Mount("/appengine", routes=appengine_routes(realm, back_office)),
        Mount("/realmmanagement", routes=rm_routes),
        *clock_routes(clock),
        Mount("/_sim", routes=control_routes(realm, updater, private_key, lambda: reinstall(rm_api), health)),
        catch_all("Not found"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _internal_error})
    pki: list[HarnessPKI] = []

    def loaded_pki() -> HarnessPKI:
        if not pki:
            pki.append(HarnessPKI.load(pki_dir))
        return pki[0]

    # Fault injection on every route (its control routes: /_sim/responses), outside the app so
    # an injected answer never reaches a handler.
    app.add_middleware(ResponseInjection, prefix="/_sim/responses",
                       makers={"certificate": certificate_maker(loaded_pki, realm.name)})
    return app, rm_api


def _operations(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[Operation]:
    """Every method of every route below the mounts; the catch-all 404s are not operations."""
    for item in routes:
        if isinstance(item, Mount):
            yield from _operations(item.routes, prefix + item.path)
        elif isinstance(item, Route) and not item.path.startswith("/{rest"):
            for method in sorted(item.methods or ()):
                yield Operation(method, prefix + item.path, control_query=prefix == "/_sim",
                                json_body=method in ("POST", "PUT", "PATCH"))
