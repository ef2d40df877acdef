"""The emulator's control routes, on their own loopback port (never on the bridge API port).

These are the emulator's side of :class:`hil.locknalert.control.BridgeControl`; on a physical
bench an operator does the same by hand. Routes (JSON in, JSON out)::

    GET  /_sim/health                          200 {"ok": true}
    GET  /_sim/state                           the emulator's state (diagnostics only)
    GET  /_sim/openapi.json                    this list as an OpenAPI description
    POST /_sim/window/open   {"seconds"?: n}   open the onboarding window (button press)
    POST /_sim/window/close                    close it
    POST /_sim/reset                           factory reset (revokes MQTT credentials)
    POST /_sim/fault         {"mode", "delay"?} set a fault mode (hil.locknalert.control.Fault)
    POST /_sim/mqtt-tls      {"required": b}   point the next bootstraps at the TLS listener
    POST /_sim/alert         {"zone", "kind"?} publish an alert event
"""

from __future__ import annotations

import json
from typing import Any

from hil.locknalert.control import Fault
from hil.errors import HilError
from hil.simulators.locknalert.emulator import BridgeEmulator
from hil.simulators.locknalert.http_server import Request, Response, json_response
from hil.simulators.openapi_description import describe, DESCRIPTION_PATH, Operation
from hil.simulators.request_bounds import number, OutOfBounds

__all__ = ["ControlApi"]

MAX_WINDOW_SECONDS = 3600.0
MAX_FAULT_DELAY = 60.0


OPERATIONS = (
    Operation("GET", "/_sim/health", "liveness"),
    Operation("GET", "/_sim/state", "the emulator's state"),
    Operation("GET", DESCRIPTION_PATH, "this description"),
    *(Operation("POST", f"/_sim/{name}", summary, json_body=True) for name, summary in (
        ("window/open", "open the onboarding window"), ("window/close", "close it"),
        ("reset", "factory reset"), ("fault", "set a fault mode"),
        ("mqtt-tls", "point the next bootstraps at the TLS listener"), ("alert", "publish an alert event"))),
)


class _Invalid(Exception):
    pass


def _number(data: dict[str, Any], key: str, low: float, high: float, default: float | None) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    try:
        return number(value, name=key, low=low, high=high)
    except OutOfBounds as exc:
        raise _Invalid(str(exc)) from None


class ControlApi:
    def __init__(self, emulator: BridgeEmulator) -> None:
        self.emulator = emulator

    async def __call__(self, request: Request) -> Response:
        route = (request.method, request.path)
        if route == ("GET", "/_sim/health"):
            return json_response(200, {"ok": True})
        if route == ("GET", "/_sim/state"):
            return json_response(200, self.emulator.state())
        if route == ("GET", DESCRIPTION_PATH):
            return json_response(200, describe("LocknAlert emulator control API", OPERATIONS))
        if request.method != "POST" or not request.path.startswith("/_sim/"):
            return json_response(404, {"error": "not_found"})
        try:
            data = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            return json_response(400, {"error": "body is not JSON"})
        if not isinstance(data, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        try:
            return await self._post(request.path, data)
        except _Invalid as exc:
            return json_response(422, {"error": str(exc)})
        except HilError as exc:
            return json_response(503, {"error": str(exc)})

    async def _post(self, path: str, data: dict[str, Any]) -> Response:
        emulator = self.emulator
        if path == "/_sim/window/open":
            emulator.onboarding.open_window(_number(data, "seconds", 0.0, MAX_WINDOW_SECONDS, None))
        elif path == "/_sim/window/close":
            emulator.onboarding.close_window()
        elif path == "/_sim/reset":
            await emulator.factory_reset()
        elif path == "/_sim/fault":
            try:
                fault = Fault(data.get("mode", ""))
            except ValueError:
                raise _Invalid(f"mode must be one of {', '.join(f.value for f in Fault)}") from None
            emulator.set_fault(fault, _number(data, "delay", 0.0, MAX_FAULT_DELAY, 0.0) or 0.0)
        elif path == "/_sim/mqtt-tls":
            if not isinstance(data.get("required"), bool):
                raise _Invalid("required must be true or false")
            try:
                emulator.set_mqtt_tls(data["required"])
            except ValueError as exc:
                raise _Invalid(str(exc)) from None
        elif path == "/_sim/alert":
            zone, kind = data.get("zone"), data.get("kind", "intrusion")
            if isinstance(zone, bool) or not isinstance(zone, int) or not 1 <= zone <= 999:
                raise _Invalid("zone must be an integer from 1 to 999")
            if not isinstance(kind, str) or not 0 < len(kind) <= 32 or not kind.isprintable():
                raise _Invalid("kind must be a short string")
            return json_response(200, {"published": emulator.link.alert(zone, kind)})
        else:
            return json_response(404, {"error": "not_found"})
        return json_response(200, emulator.state())
