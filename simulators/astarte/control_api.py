"""``/_sim``: the simulator's own control and inspection API (no real Astarte has it).

Why it exists: conformance checks judge a device SDK by what the *server* saw and did, and a real
Astarte shows that only through triggers, logs and a database a test cannot reach. The simulator
records it and exposes it here, apart from the real routes so no check mistakes it for Astarte:

* ``GET /_sim/errors``, ``/_sim/messages``, ``/_sim/disconnections``, ``/_sim/sessions``: the
  ``device_error`` events (what Astarte's triggers would carry), every raw device message (topic,
  QoS, payload hex, time), every forced disconnect, and every device broker session start
  (``connected``, with the ip) and end (``disconnected``) as the realm followed them; filter with
  ``device_id=``, and pass ``min_count=N&timeout=S`` to wait (server side, on a condition) until at
  least N entries exist; messages are numbered for good (per device with ``device_id=``), so a
  reader passes ``since=N`` to get only the new ones, and ``first``/``total`` in the answer say
  whether any it asked for were dropped (the realm keeps the latest 20,000);
* ``POST /_sim/devices/<id>/publish`` ``{"path": "/<interface><path>", "payload_hex": "...", "qos": 2}``:
  publish raw bytes to the device as the realm does (tagged as the realm's own, so the data
  updater does not take it for the device's): fault injection of malformed server messages;
  204 once the QoS flow completed, 504 when the broker did not acknowledge it;
* ``POST /_sim/token``: mint a realm JWT (``{"claims": {...}, "ttl": s}``), for ``hil up`` users
  and tests without the key at hand; 404 when the simulator was not given the private key;
* ``POST /_sim/reset``: forget devices, data and events (``{"devices": [id, ...]}`` forgets only
  those devices; ``{"interfaces": true}`` also reinstalls
  only the start-up interfaces);
* ``GET /_sim/health``: whether the realm's broker session is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from hil.astarte.realm_jwt import mint_realm_token
from hil.errors import PKIError
from hil.simulators.astarte.api_errors import detail
from hil.simulators.astarte.data_updater import DataUpdater
from hil.simulators.astarte.device_ids import normalise_device_id
from hil.simulators.astarte.realm import MessageLog, Realm
from hil.simulators.astarte.web import Call, Reply, catch_all, route
from hil.simulators.request_bounds import OutOfBounds, integer

#: MQTT topics are UTF-8 strings of at most 65,535 bytes (MQTT 3.1.1, 1.5.3).
_MAX_TOPIC_BYTES: Final = 65_535
#: The longest realm token ``/token`` mints: ten years.
_MAX_TOKEN_TTL: Final = 10 * 365 * 24 * 3600

__all__ = ["control_routes"]

class ControlApi:
    def __init__(self, realm: Realm, updater: DataUpdater, private_key: Path | None,
                 reinstall: Callable[[], None], health: Callable[[], bool]) -> None:
        self.realm = realm
        self.updater = updater
        self.private_key = private_key
        self._reinstall = reinstall
        self._health = health

    def _listing(self, call: Call, source: Callable[[], list[Any]]) -> Reply:
        device_id = call.query.get("device_id")
        min_count = int(call.bounded.get("min_count", 0))
        timeout = float(call.bounded.get("timeout", 0.0))
        self.updater.wait_idle(timeout=max(timeout, 1.0))

        def selected() -> list[Any]:
            return [e for e in source() if device_id is None or e.device_id == device_id]

        deadline = time.monotonic() + timeout
        with self.realm.changed:
            found = selected()
            while len(found) < min_count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.realm.changed.wait(remaining)
                found = selected()
            return Reply(200, {"data": [e.as_json() for e in found]})

    def errors(self, call: Call) -> Reply:
        return self._listing(call, lambda: list(self.realm.errors))

    def disconnections(self, call: Call) -> Reply:
        return self._listing(call, lambda: list(self.realm.disconnections))

    def sessions(self, call: Call) -> Reply:
        return self._listing(call, lambda: list(self.realm.sessions))

    def messages(self, call: Call) -> Reply:
        """Messages numbered from 0 (per device with ``device_id=``); ``since=N`` returns those
        from number N on and ``min_count`` counts from there. ``first`` is the number of
        ``data[0]`` (above ``since`` when older ones were dropped), ``total`` how many arrived."""
        device_id = call.query.get("device_id")
        since = int(call.bounded.get("since", 0))
        min_count = int(call.bounded.get("min_count", 0))
        timeout = float(call.bounded.get("timeout", 0.0))
        self.updater.wait_idle(timeout=max(timeout, 1.0))

        def log() -> MessageLog:
            if device_id is None:
                return self.realm.raw_messages
            return self.realm.device_messages.get(device_id) or MessageLog()

        deadline = time.monotonic() + timeout
        with self.realm.changed:
            while log().total - since < min_count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.realm.changed.wait(remaining)
            current = log()
            found = current.since(since)
            first = max(since, current.first)
            return Reply(200, {"data": [m.as_json() for m in found], "first": first, "total": current.total})

    def publish(self, call: Call) -> Reply:
        device_id = normalise_device_id(call.path_params["device_id"])
        body = call.body if isinstance(call.body, dict) else {}
        path, payload_hex, qos = body.get("path"), body.get("payload_hex", ""), body.get("qos", 2)
        if not (isinstance(path, str) and path.startswith("/") and isinstance(payload_hex, str)
                and qos in (0, 1, 2) and not isinstance(qos, bool)):
            raise detail(422, 'expected {"path": "/...", "payload_hex": "...", "qos": 0|1|2}')
        if not _publishable_topic(f"{self.realm.name}/{device_id or ''}{path}"):
            raise detail(422, f"path must make an MQTT topic: no '+', '#' or NUL, at most {_MAX_TOPIC_BYTES} bytes")
        try:
            payload = bytes.fromhex(payload_hex)
        except ValueError:
            raise detail(422, "payload_hex is not hexadecimal") from None
        back_office = self.updater.back_office
        if device_id is None or back_office is None:
            raise detail(404, "Device not found" if device_id is None else "no broker session")
        outcome = back_office.publish(f"{self.realm.name}/{device_id}{path}", payload, qos)
        return Reply(204, empty=True) if outcome.acknowledged else Reply(504, {"errors": {"detail": "not acknowledged"}})

    def token(self, call: Call) -> Reply:
        if self.private_key is None:
            raise detail(404, "this simulator was started without --realm-private-key")
        body = call.body if isinstance(call.body, dict) else {}
        claims = body.get("claims")
        ttl = body.get("ttl", 24 * 3600)
        if claims is not None and not (isinstance(claims, dict) and all(
                isinstance(v, list) and all(isinstance(e, str) for e in v) for v in claims.values())):
            raise detail(422, "claims must map claim names to lists of strings")
        try:
            ttl = None if ttl is None else integer(ttl, name="ttl", low=1, high=_MAX_TOKEN_TTL)
        except OutOfBounds:
            raise detail(422, f"ttl must be an integer number of seconds from 1 to {_MAX_TOKEN_TTL}, or null") from None
        try:
            token = mint_realm_token(self.private_key, claims=claims, ttl=ttl)
        except PKIError as exc:
            raise detail(409, str(exc)) from None
        return Reply(200, {"data": {"token": token, "realm": self.realm.name}})

    def reset(self, call: Call) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        self.updater.wait_idle(timeout=5.0)
        reinstall = bool(body.get("interfaces", False))
        only = body.get("devices")
        if isinstance(only, list):
            # Forget just these devices: other suites' devices (the message hub's) stay.
            with self.realm.lock:
                for device_id in only:
                    self.realm.devices.pop(str(device_id), None)
            return Reply(204, empty=True)
        self.realm.reset(keep_interfaces=not reinstall)
        if reinstall:
            self._reinstall()
        return Reply(204, empty=True)

    def health(self, call: Call) -> Reply:
        return Reply(200, {"data": {"realm": self.realm.name, "broker_session": self._health()}})


def _publishable_topic(topic: str) -> bool:
    """A topic a broker takes in a PUBLISH: valid UTF-8 within the length limit, no wildcard, no NUL."""
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False
    return size <= _MAX_TOPIC_BYTES and not any(c in topic for c in "+#\x00")


def control_routes(realm: Realm, updater: DataUpdater, private_key: Path | None,
                   reinstall: Callable[[], None], health: Callable[[], bool]) -> list[Any]:
    api = ControlApi(realm, updater, private_key, reinstall, health)
    return [
        route("/health", api.health, ["GET"], control=True),
        route("/errors", api.errors, ["GET"], control=True),
        route("/messages", api.messages, ["GET"], control=True),
        route("/disconnections", api.disconnections, ["GET"], control=True),
        route("/sessions", api.sessions, ["GET"], control=True),
        route("/devices/{device_id}/publish", api.publish, ["POST"], control=True),
        route("/token", api.token, ["POST"], control=True),
        route("/reset", api.reset, ["POST"], control=True),
        catch_all("Not found"),
    ]
