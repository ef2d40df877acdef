"""The bridge's HTTPS API: ``GET /api/info`` and ``POST /api/mqtt/bootstrap``, plus fault modes.

Status codes (the aiolocknalert client maps them to its exceptions):

==========================================  ======  ==========================================
condition                                   status  client exception
==========================================  ======  ==========================================
info / successful bootstrap                 200     (result)
wrong serial number                         401     LocknAlertInvalidAuth
provisioned, token missing or not current   403     LocknAlertAlreadyProvisioned
unprovisioned and window closed             409     LocknAlertPairingRequired
malformed body (not JSON, wrong types...)   400     LocknAlertCannotConnect("HTTP 400")
unknown path / wrong method                 404/405 LocknAlertCannotConnect
body over the limit                         413     LocknAlertCannotConnect
content type not application/json           415     LocknAlertCannotConnect
broker unreachable while provisioning       503     LocknAlertCannotConnect
==========================================  ======  ==========================================

Every answer is a JSON object (``{"error": ..., "detail": ...}`` for refusals), except what a
fault mode deliberately breaks. A fault answers *before* any state changes, so a check that
provokes one leaves the bridge as it was.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hil.locknalert.control import Fault
from hil.simulators.locknalert.emulator import BridgeEmulator
from hil.simulators.locknalert.http_server import DropConnection, Request, Response, json_response

__all__ = ["MAX_SERIAL_LENGTH", "MAX_TOKEN_LENGTH", "BridgeApi"]

MAX_SERIAL_LENGTH = 64
MAX_TOKEN_LENGTH = 256
_ROUTES = {"/api/info": ("GET", "HEAD"), "/api/mqtt/bootstrap": ("POST",)}


def _refuse(status: int, error: str, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return Response(status, body, headers=headers)


def _is_json_media_type(value: str | None) -> bool:
    if value is None:
        return False
    media_type, *params = (part.strip() for part in value.split(";"))
    if media_type.lower() != "application/json":
        return False
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


class _BadRequest(Exception):
    pass


def _parse_bootstrap(request: Request) -> tuple[str, str | None]:
    try:
        data: Any = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _BadRequest("body is not JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    serial = data.get("serial_number")
    if not isinstance(serial, str) or not serial.strip():
        raise _BadRequest("serial_number must be a non-empty string")
    if len(serial) > MAX_SERIAL_LENGTH or not serial.isprintable():
        raise _BadRequest(f"serial_number must be at most {MAX_SERIAL_LENGTH} printable characters")
    token = data.get("pairing_token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isprintable()):
        raise _BadRequest(f"pairing_token must be a string of at most {MAX_TOKEN_LENGTH} printable characters")
    return serial, token


class BridgeApi:
    """The request handler of the bridge port."""

    def __init__(self, emulator: BridgeEmulator) -> None:
        self.emulator = emulator

    async def __call__(self, request: Request) -> Response:
        fault = self.emulator.fault
        if fault is Fault.SLOW and self.emulator.fault_delay > 0:
            await asyncio.sleep(self.emulator.fault_delay)  # the bridge is slow: that is the fault
        if fault is Fault.DROP:
            raise DropConnection()
        if fault is Fault.BUSY:
            return _refuse(503, "busy", "bridge busy (fault mode)")
        methods = _ROUTES.get(request.path)
        if methods is None:
            return _refuse(404, "not_found", f"no such endpoint: {request.path[:100]}")
        if request.method not in methods:
            return _refuse(405, "method_not_allowed", f"use {', '.join(methods)}",
                           headers=(("allow", ", ".join(methods)),))
        broken = self._broken_body(fault, request.path)
        if broken is not None:
            return broken
        if request.path == "/api/info":
            return json_response(200, self.emulator.info())
        return await self._bootstrap(request)

    async def _bootstrap(self, request: Request) -> Response:
        if not _is_json_media_type(request.header("content-type")):
            return _refuse(415, "unsupported_media_type", "send the request body as application/json")
        try:
            serial, token = _parse_bootstrap(request)
        except _BadRequest as exc:
            return _refuse(400, "bad_request", str(exc))
        outcome = await self.emulator.bootstrap(serial, token)
        headers: tuple[tuple[str, str], ...] = ()
        if outcome.status == 401:
            headers = (("www-authenticate", 'LocknAlert realm="bridge serial number"'),)
        return Response(outcome.status, json.dumps(outcome.body).encode(), headers=headers)

    def _broken_body(self, fault: Fault, path: str) -> Response | None:
        """The deliberately wrong 200 answers of the content fault modes."""
        if fault is Fault.INVALID_JSON:
            return Response(200, b'{"bridge_serial": "' + self.emulator.serial.encode() + b'", "host": ')
        if fault is Fault.NOT_JSON:
            return Response(200, b"<html><body><h1>Bridge</h1></body></html>", content_type="text/html")
        if fault is Fault.NON_OBJECT:
            return json_response(200, [{"bridge_serial": self.emulator.serial}])
        if fault is Fault.UNDECODABLE:
            return Response(200, b'{"bridge_serial": "\xff\xfe\xfa"}')
        if path != "/api/mqtt/bootstrap":
            return None
        if fault is Fault.INCOMPLETE_BOOTSTRAP:
            return json_response(200, {"host": self.emulator.broker.host, "port": self.emulator.broker.port,
                                       "username": "incomplete"})
        if fault is Fault.MALFORMED_BOOTSTRAP:
            return json_response(200, {"host": self.emulator.broker.host, "port": "eighteen-eighty-three",
                                       "username": "malformed", "password": "x", "pairing_token": "x"})
        return None
