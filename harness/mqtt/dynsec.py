"""A client for Mosquitto's Dynamic Security plugin, driven over MQTT.

The plugin takes JSON commands on ``$CONTROL/dynamic-security/v1`` and answers on
``.../v1/response``; this module turns that into blocking method calls so a provisioner can
create an MQTT account, give it a role, and delete it again at run time, without a SIGHUP and
without ``mosquitto_ctrl`` (which costs a process and ~100 ms per command).

Why over MQTT: a deleted client is kicked by the broker at once ("disconnected by administrative
action"), which is exactly what a bridge's factory reset must do to the credentials it handed out.

Every command carries a ``correlationData`` of our own; the answer is matched on it, so several
threads can share one session. The session reconnects by itself (a broker restart keeps the
plugin's JSON file, so accounts survive it) and re-subscribes to the response topic before any
command is sent again.

Facts used (checked against mosquitto 2.0.11, see the environment reference section 1): the
``dynsec.json`` layout with PBKDF2-SHA512 password hashes, and that 2.0.11 role ACLs do not expand
``%u``, so every ACL here is a literal topic filter.

Usage::

    with DynamicSecurityClient("127.0.0.1", port, "hil-admin", password) as dynsec:
        dynsec.create_role("client", [Acl("subscribePattern", "lna/S1/#")])
        dynsec.create_client("u1", "secret", roles=("client",))
        dynsec.delete_client("u1")      # a connected u1 is disconnected by the broker
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt

from hil.errors import DynamicSecurityError, ServiceError
from hil.mqtt.paho import new_client

__all__ = ["Acl", "DynamicSecurityClient", "DynamicSecurityError", "initial_config"]

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
# mosquitto_ctrl's own choice; the plugin accepts any iteration count stored in the file.
PASSWORD_ITERATIONS = 101


@dataclass(frozen=True)
class Acl:
    """One role ACL: ``acltype`` is publishClientSend, publishClientReceive, subscribePattern, ..."""

    acltype: str
    topic: str
    allow: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow}


def initial_config(admin_username: str, admin_password: str) -> dict[str, Any]:
    """The plugin's JSON file with one admin account, as ``mosquitto_ctrl dynsec init`` writes it.

    Written by us so the harness needs only the broker binary. The admin role may use the
    control topics and *see* every topic (for captures), but may not publish application
    messages; everyone else is denied publish and subscribe unless a role allows it.
    """
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", admin_password.encode(), salt, PASSWORD_ITERATIONS)
    control = "$CONTROL/dynamic-security/#"
    acls = [
        Acl("publishClientSend", control),
        Acl("publishClientReceive", control),
        Acl("subscribePattern", control),
        Acl("publishClientReceive", "$SYS/#"),
        Acl("subscribePattern", "$SYS/#"),
        Acl("publishClientReceive", "#"),
        Acl("subscribePattern", "#"),
        Acl("unsubscribePattern", "#"),
    ]
    return {
        "clients": [
            {
                "username": admin_username,
                "textName": "hil broker administrator",
                "password": base64.b64encode(digest).decode(),
                "salt": base64.b64encode(salt).decode(),
                "iterations": PASSWORD_ITERATIONS,
                "roles": [{"rolename": "admin"}],
            }
        ],
        "roles": [{"rolename": "admin", "acls": [acl.as_json() for acl in acls]}],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


class _Pending:
    """One command waiting for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: dict[str, Any] = {}


class DynamicSecurityClient:
    """A blocking admin session on the plugin's control topic.

    Args:
        host, port: the broker listener to use (loopback plain TCP, or TLS with ``ca_path``).
        username, password: the plugin's admin account.
        ca_path: the CA of a TLS listener; None for plain TCP.
        name: names the broker in errors.
        timeout: how long :meth:`execute` waits for the connection and for an answer.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        ca_path: Path | None = None,
        name: str = "mosquitto",
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._ready = threading.Event()
        self._refused: str | None = None
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._client = new_client(client_id=f"hil-dynsec-{uuid.uuid4().hex[:12]}", protocol=mqtt.MQTTv5)
        self._client.username_pw_set(username, password)
        if ca_path is not None:
            self._client.tls_set_context(ssl.create_default_context(cafile=str(ca_path)))
        # A broker restart must not cost the provisioner a second: retry fast, capped at 1 s.
        # paho annotates the delays as int, but waits float seconds.
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=1)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host, self._port = host, port
        self._started = False

    # -- life cycle ------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and wait until commands can be sent; raises ServiceError on refusal/timeout."""
        if not self._started:
            try:  # the first connect is synchronous: an unreachable broker fails at once
                self._client.connect(self._host, self._port, keepalive=30)
            except OSError as exc:
                raise ServiceError(self.name, f"cannot reach {self._host}:{self._port}: {exc.strerror or exc}") from None
            self._started = True
            self._client.loop_start()
        self._wait_ready()

    def close(self) -> None:
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _wait_ready(self) -> None:
        if not self._ready.wait(self.timeout):
            detail = f" ({self._refused})" if self._refused else ""
            raise ServiceError(self.name, f"dynamic security admin session not ready after {self.timeout:g}s{detail}")

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            return
        self._refused = None
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if reasons and not reasons[0].is_failure:
            self._ready.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self._ready.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        for response in responses:
            correlation = response.get("correlationData") if isinstance(response, dict) else None
            with self._lock:
                pending = self._pending.get(str(correlation))
            if pending is not None:
                pending.response = response
                pending.done.set()

    # -- commands --------------------------------------------------------------------------
    def execute(self, commands: Sequence[dict[str, Any]], *, tolerate: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Send ``commands`` in one message and return the plugin's answers, in order.

        Raises DynamicSecurityError for the first answer with an ``error`` not in ``tolerate``
        (e.g. ``Role already exists`` when re-creating what a broker restart kept).
        """
        self.connect()
        tolerated = set(tolerate)
        tagged: list[tuple[dict[str, Any], _Pending]] = []
        with self._lock:
            for command in commands:
                correlation = uuid.uuid4().hex
                pending = _Pending()
                self._pending[correlation] = pending
                tagged.append(({**command, "correlationData": correlation}, pending))
        try:
            info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": [c for c, _ in tagged]}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise ServiceError(self.name, f"dynamic security publish failed: {mqtt.error_string(info.rc)}")
            answers: list[dict[str, Any]] = []
            for command, pending in tagged:
                if not pending.done.wait(self.timeout):
                    raise ServiceError(self.name, f"dynamic security {command['command']}: no answer in {self.timeout:g}s")
                error = pending.response.get("error")
                if error and error not in tolerated:
                    raise DynamicSecurityError(self.name, str(command["command"]), str(error))
                answers.append(pending.response)
            return answers
        finally:
            with self._lock:
                for command, _ in tagged:
                    self._pending.pop(command["correlationData"], None)

    def create_role(self, rolename: str, acls: Sequence[Acl], *, exist_ok: bool = True) -> None:
        """Create ``rolename`` with ``acls``; an existing role gets exactly these ACLs."""
        answer = self.execute(
            [{"command": "createRole", "rolename": rolename, "acls": [acl.as_json() for acl in acls]}],
            tolerate=("Role already exists",) if exist_ok else (),
        )
        if answer[0].get("error"):
            role = self.execute([{"command": "getRole", "rolename": rolename}])[0].get("data", {}).get("role", {})
            for acl in role.get("acls", []):
                self.execute([{"command": "removeRoleACL", "rolename": rolename, "acltype": acl["acltype"],
                               "topic": acl["topic"]}])
            for acl in acls:
                self.execute([{"command": "addRoleACL", "rolename": rolename, **acl.as_json()}])

    def create_client(self, username: str, password: str, *, roles: Sequence[str] = ()) -> None:
        self.execute(
            [{"command": "createClient", "username": username, "password": password,
              "roles": [{"rolename": role} for role in roles]}]
        )

    def set_client_password(self, username: str, password: str) -> None:
        self.execute([{"command": "setClientPassword", "username": username, "password": password}])

    def delete_client(self, username: str, *, missing_ok: bool = True) -> None:
        """Delete ``username``; the broker disconnects its live sessions at once."""
        self.execute(
            [{"command": "deleteClient", "username": username}],
            tolerate=("Client not found",) if missing_ok else (),
        )

    def client_exists(self, username: str) -> bool:
        answer = self.execute([{"command": "getClient", "username": username}], tolerate=("Client not found",))
        return not answer[0].get("error")
