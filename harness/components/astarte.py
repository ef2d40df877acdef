"""The simulated Astarte component: Pairing, AppEngine and Realm Management for one realm.

Starts ``python -m hil.simulators.astarte`` as a harness Service next to the broker (the realm's
back-office session uses the broker's admin identity; forced disconnects use the device
listener), with the test interfaces of ``interfaces/`` installed. Tests get an
:class:`AstarteClient`: the base URLs, realm name, a JWT, the CA file, and helpers that go
through the *real* routes (device registration is the Pairing agent call an SDK or agent makes)
or through ``/_sim`` for what only a simulator can show (device errors, raw messages).
"""

from __future__ import annotations

import base64
import ssl
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from hil.astarte.realm_jwt import mint_realm_token
from hil.components import component
from hil.errors import TargetError
from hil.package_data import interfaces_dir
from hil.targets.protocols import AppEngine, AstartePairing, RealmManagement, RealmMessageLog
from hil.services.backends import make_backend
from hil.services.images import SIMULATORS_IMAGE
from hil.services.base import ServiceSpec
from hil.services.readiness import AllOf, HttpStatus, LogLine

if TYPE_CHECKING:
    from hil.services.base import Service
    from hil.targets import SimulatedTarget

__all__ = ["DEFAULT_REALM", "AstarteClient", "AstarteComponent", "RegisteredDevice", "SimulatedAstarteClient",
           "random_device_id"]

DEFAULT_REALM: Final = "hil"
READY_PATTERN: Final = r"^astarte simulator listening on https://"
INTERFACES_DIR: Final = interfaces_dir()


def random_device_id() -> str:
    """A fresh Astarte device id (UUIDv4 bytes, URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class RegisteredDevice:
    """A device registered through Pairing: what an SDK needs to pair (with the client's URLs)."""

    device_id: str
    credentials_secret: str = field(repr=False)  # never in a log, an assertion message or a report


class AstarteClient(AstartePairing, AppEngine, RealmManagement):
    """An Astarte 1.2 realm through its public APIs only: Pairing, AppEngine, Realm Management.

    Works against the simulator and against a real Astarte alike: give it each API's base URL
    (or one ``base_url`` laid out as Astarte's ``/pairing``, ``/appengine``, ``/realmmanagement``),
    the realm, and a realm JWT or the realm private key to mint one.

    Attributes:
        realm: the realm name.
        pairing_base_url: give it to an SDK as is (``https://host/pairing``).
        appengine_url / realm_management_url: API bases (append ``/v1/<realm>/...``).
        ca_path: the CA the HTTPS and MQTT servers chain to (None: the system trust store).
        token: a realm JWT valid for every API used.
    """

    def __init__(self, *, realm: str, ca_path: Path | None, base_url: str | None = None,
                 pairing_url: str | None = None, appengine_url: str | None = None,
                 realm_management_url: str | None = None, private_key_path: Path | None = None,
                 token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.realm = realm
        self.ca_path = ca_path
        self.private_key_path = private_key_path
        if token is None:
            if private_key_path is None:
                raise TargetError("astarte", "needs a realm JWT or the realm private key")
            token = mint_realm_token(private_key_path)
        self.token = token
        urls = {"pairing": pairing_url, "appengine": appengine_url, "realmmanagement": realm_management_url}
        for api, url in urls.items():
            if url is None and self.base_url is None:
                raise TargetError("astarte", f"needs a base URL or the {api} URL")
        self.pairing_base_url = (pairing_url or f"{self.base_url}/pairing").rstrip("/")
        self.appengine_url = (appengine_url or f"{self.base_url}/appengine").rstrip("/")
        self.realm_management_url = (realm_management_url or f"{self.base_url}/realmmanagement").rstrip("/")

    def __repr__(self) -> str:  # the token stays out of logs and reports
        return f"{type(self).__name__}(realm={self.realm!r}, pairing={self.pairing_base_url!r})"

    # -- tokens and HTTP -------------------------------------------------------------------
    def mint_token(self, claims: Mapping[str, Sequence[str]] | None = None, *, ttl: int | None = 3600,
                   extra: Mapping[str, Any] | None = None) -> str:
        """Another realm JWT (default: every API); needs the realm private key."""
        if self.private_key_path is None:
            raise TargetError("astarte", "has no realm private key to mint tokens with (only a JWT)")
        return mint_realm_token(self.private_key_path, claims=claims, ttl=ttl, extra=extra)

    def _verify(self) -> ssl.SSLContext:
        if self.ca_path is None:
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=str(self.ca_path))

    def trust_environment(self) -> dict[str, str]:
        """``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE`` for an SDK (paho and requests read them)."""
        if self.ca_path is None:
            return {}
        return {"SSL_CERT_FILE": str(self.ca_path), "REQUESTS_CA_BUNDLE": str(self.ca_path)}

    def http(self, *, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        """An HTTPS client trusting :attr:`ca_path`, authorised with ``token`` (default: :attr:`token`)."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(verify=self._verify(), headers=headers, timeout=timeout)

    def appengine(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``<appengine>/v1/<realm>/<path>`` with the all-access token."""
        with self.http() as client:
            return client.request(method, f"{self.appengine_url}/v1/{self.realm}/{path.lstrip('/')}", **kwargs)

    def realm_management(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.http() as client:
            return client.request(method, f"{self.realm_management_url}/v1/{self.realm}/{path.lstrip('/')}", **kwargs)

    # -- devices through the real Pairing route --------------------------------------------
    def register_device(self, device_id: str | None = None, *,
                        initial_introspection: Mapping[str, Mapping[str, int]] | None = None) -> RegisteredDevice:
        """Register a device with the agent route; returns its id and credentials secret."""
        device_id = device_id or random_device_id()
        data: dict[str, Any] = {"hw_id": device_id}
        if initial_introspection is not None:
            data["initial_introspection"] = {k: dict(v) for k, v in initial_introspection.items()}
        with self.http() as client:
            response = client.post(f"{self.pairing_base_url}/v1/{self.realm}/agent/devices", json={"data": data})
        if response.status_code != 201:
            raise TargetError("astarte", f"device registration failed: HTTP {response.status_code} {response.text[:200]}")
        return RegisteredDevice(device_id, response.json()["data"]["credentials_secret"])

    # -- observation through AppEngine -----------------------------------------------------
    def wait_for_introspection(self, device_id: str, interface: str, *, timeout: float = 5.0) -> bool:
        """True once AppEngine lists ``interface`` in the device's introspection.

        A device (or hub) learns that its introspection was delivered to the broker, not that the
        realm has processed it; AppEngine answers 404 for an interface until it has. AppEngine has
        no long poll, so this polls it (every 50 ms, bounded by ``timeout``).
        """
        deadline = time.monotonic() + timeout
        while True:
            response = self.appengine("GET", f"devices/{device_id}")
            if response.status_code == 200 and interface in response.json()["data"].get("introspection", {}):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # polling a public API that offers no wait; not a synchronisation guess

    def exchanged_messages(self, device_id: str, interface: str) -> int:
        """How many messages the realm counted on ``interface`` of the device (AppEngine's
        ``exchanged_msgs``): read before acting, so a check sees *its* message land, never a
        value an earlier run left behind."""
        response = self.appengine("GET", f"devices/{device_id}")
        if response.status_code != 200:
            return 0
        return int(response.json()["data"].get("introspection", {}).get(interface, {}).get("exchanged_msgs", 0))

    def wait_exchanged(self, device_id: str, interface: str, more_than: int, *, timeout: float = 5.0) -> bool:
        """True once the realm counted more than ``more_than`` messages on ``interface``."""
        deadline = time.monotonic() + timeout
        while self.exchanged_messages(device_id, interface) <= more_than:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # polling a public API that offers no wait
        return True

    def wait_status(self, device_id: str, predicate: Any, *, timeout: float = 5.0) -> dict[str, Any] | None:
        """The device's AppEngine status once ``predicate(status)`` holds (None after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.appengine("GET", f"devices/{device_id}")
            if response.status_code == 200 and predicate(response.json()["data"]):
                return dict(response.json()["data"])
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)  # polling a public API that offers no wait

    def wait_connected(self, device_id: str, connected: bool, *, timeout: float = 5.0) -> bool:
        """True once AppEngine's ``connected`` flag of the device is ``connected``."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.appengine("GET", f"devices/{device_id}")
            if response.status_code == 200 and bool(response.json()["data"].get("connected")) is connected:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # polling a public API that offers no wait

    def wait_value(self, device_id: str, interface: str, path: str, predicate: Any, *,
                   timeout: float = 5.0, params: Mapping[str, Any] | None = None) -> Any:
        """The ``data`` of ``GET devices/<id>/interfaces/<interface><path>`` once ``predicate(data)``
        holds (None after ``timeout``): how a check sees that a device's message has landed. A
        404 (nothing stored there) is given to ``predicate`` as ``None``."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.appengine("GET", f"devices/{device_id}/interfaces/{interface}{path}", params=params)
            if response.status_code in (200, 404):
                data = response.json().get("data") if response.status_code == 200 else None
                if predicate(data):
                    return data if data is not None else {}
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)  # polling a public API that offers no wait


class SimulatedAstarteClient(AstarteClient, RealmMessageLog):
    """The simulated Astarte: its public APIs plus the simulator-only ``/_sim`` view.

    Attributes:
        control_url: the simulator's ``/_sim`` API (absent on a real Astarte).
    """

    def __init__(self, *, base_url: str, realm: str, ca_path: Path, private_key_path: Path | None,
                 token: str) -> None:
        super().__init__(base_url=base_url, realm=realm, ca_path=ca_path, private_key_path=private_key_path,
                         token=token)
        self.control_url = f"{self.base_url}/_sim"

    # -- /_sim (simulator only) ------------------------------------------------------------
    def _control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        timeout = float(kwargs.get("params", {}).get("timeout", 0)) + 10.0
        with httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca_path)), timeout=timeout) as client:
            response = client.request(method, f"{self.control_url}/{path}", **kwargs)
        response.raise_for_status()
        return response

    def _listing(self, what: str, device_id: str | None, min_count: int, timeout: float) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"min_count": min_count, "timeout": timeout}
        if device_id is not None:
            params["device_id"] = device_id
        return list(self._control("GET", what, params=params).json()["data"])

    def device_errors(self, device_id: str | None = None, *, min_count: int = 0,
                      timeout: float = 0.0) -> list[dict[str, Any]]:
        """``device_error`` events (waits up to ``timeout`` s for ``min_count`` of them)."""
        return self._listing("errors", device_id, min_count, timeout)

    def device_messages(self, device_id: str | None = None, *, since: int = 0, min_count: int = 0,
                        timeout: float = 0.0) -> list[dict[str, Any]]:
        """Raw device messages the realm received (``topic``, ``qos``, ``payload_hex``, ...), from
        number ``since`` on (numbered from 0, per device); waits up to ``timeout`` s until at least
        ``min_count`` of them are there.

        Raises :class:`TargetError` when some asked for were dropped (the simulated realm keeps the
        latest 20,000): an index into a shorter list than the caller believes would be a lie.
        """
        first, messages = self.message_page(device_id, since=since, min_count=min_count, timeout=timeout)
        if first > since:
            raise TargetError("astarte", f"the realm no longer keeps messages {since}..{first - 1} of "
                                         f"{device_id or 'its devices'}: read them sooner (pass since=)")
        return messages

    def message_page(self, device_id: str | None = None, *, since: int = 0, min_count: int = 0,
                     timeout: float = 0.0) -> tuple[int, list[dict[str, Any]]]:
        """``(first, messages)``: what the realm still keeps from number ``since`` on, ``first``
        being the number of ``messages[0]`` (past ``since`` when older ones were dropped). For
        readers that follow the latest events: the next ``since`` is ``first + len(messages)``."""
        params: dict[str, Any] = {"since": since, "min_count": min_count, "timeout": timeout}
        if device_id is not None:
            params["device_id"] = device_id
        answer = self._control("GET", "messages", params=params).json()
        return int(answer.get("first", since)), list(answer["data"])

    def message_count(self, device_id: str | None = None) -> int:
        """How many messages the realm has received (from ``device_id``): the ``since`` of the next."""
        params: dict[str, Any] = {"since": 2**62}
        if device_id is not None:
            params["device_id"] = device_id
        return int(self._control("GET", "messages", params=params).json()["total"])

    def disconnections(self, device_id: str | None = None, *, min_count: int = 0,
                       timeout: float = 0.0) -> list[dict[str, Any]]:
        """Forced disconnects the realm asked for (``reason`` = error name)."""
        return self._listing("disconnections", device_id, min_count, timeout)

    def device_sessions(self, device_id: str | None = None, *, min_count: int = 0,
                        timeout: float = 0.0) -> list[dict[str, Any]]:
        """Device broker sessions as the realm followed them: ``event`` ``connected`` (with ``ip``)
        or ``disconnected``, oldest first (waits up to ``timeout`` s for ``min_count``)."""
        return self._listing("sessions", device_id, min_count, timeout)

    def publish_to_device(self, device_id: str, path: str, payload: bytes, qos: int = 2) -> None:
        """Publish raw ``payload`` on ``<realm>/<device_id><path>`` as the realm does (simulator
        only): for server messages AppEngine would never send, such as malformed ones."""
        self._control("POST", f"devices/{device_id}/publish",
                      json={"path": path, "payload_hex": payload.hex(), "qos": qos})

    def wait_device_disconnected(self, device_id: str, *, timeout: float = 5.0) -> bool:
        """True once the realm has followed the end of the device's broker session (its last
        session event is ``disconnected``, or it never had one)."""
        deadline = time.monotonic() + timeout
        events = self.device_sessions(device_id)
        while events and events[-1]["event"] != "disconnected":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            events = self.device_sessions(device_id, min_count=len(events) + 1, timeout=remaining)
        return True

    def mark_disconnected(self, device_id: str) -> None:
        """Kept for older callers: the realm now follows disconnects itself; this only waits for it."""
        self.wait_device_disconnected(device_id)

    def wait_for_message(self, device_id: str, topic_suffix: str, *, timeout: float = 5.0) -> dict[str, Any] | None:
        """The first raw message of ``device_id`` whose topic ends with ``topic_suffix``, or None."""
        deadline = time.monotonic() + timeout
        since = 0
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            first, messages = self.message_page(device_id, since=since, min_count=1, timeout=remaining)
            for message in messages:
                if message["topic"].endswith(topic_suffix):
                    return message
            if not messages:
                return None
            since = first + len(messages)

    def wait_for_introspection_message(self, device_id: str, interface: str, *, timeout: float = 5.0) -> bool:
        """True once the realm has handled an introspection of ``device_id`` naming ``interface``.

        A device (or hub) learns that its introspection was delivered to the broker, not that the
        realm has processed it; AppEngine answers 404 for an interface until it has.
        """
        topic = f"{self.realm}/{device_id}"
        deadline = time.monotonic() + timeout
        since = 0
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            first, messages = self.message_page(device_id, since=since, min_count=1, timeout=remaining)
            if not messages:
                return False
            since = first + len(messages)
            # Only the latest introspection counts: an earlier one may name an interface that a
            # later one (a detached node's) has dropped.
            latest = [m for m in messages if m["topic"] == topic][-1:]
            if latest:
                names = bytes.fromhex(latest[0]["payload_hex"]).decode("ascii", "replace").split(";")
                if any(entry.split(":", 1)[0] == interface for entry in names):
                    return True

    def reset(self, devices: Sequence[str] | None = None) -> None:
        """Forget devices, data and events; installed interfaces stay.

        Args:
            devices: forget only these devices. A whole reset also forgets devices that other
                components registered (the message hub's own device), so shared runs use this.
        """
        self._control("POST", "reset", json={} if devices is None else {"devices": list(devices)})


class AstarteComponent:
    def __init__(self, service: Service, client: AstarteClient, token_hint: str) -> None:
        self.service = service
        self.client = client
        self._token_hint = token_hint

    def describe(self) -> list[tuple[str, str]]:
        c = self.client
        return [
            ("Astarte realm", c.realm),
            ("Astarte Pairing API (pairing_base_url)", c.pairing_base_url),
            ("Astarte AppEngine API", c.appengine_url),
            ("Astarte Realm Management API", c.realm_management_url),
            ("Astarte CA file (HTTPS and MQTT)", str(c.ca_path)),
            ("Astarte realm JWT (all APIs, 24 h)", c.token),
            ("mint another JWT", self._token_hint),
            ("Astarte simulator log", str(self.service.log_path)),
        ]

    def services(self) -> list[Service]:
        return [self.service]

    def provide(self, protocol: type) -> Any:
        return self.client

    def stop(self) -> None:
        self.service.stop()


@component("astarte", requires=("broker",), provides=(AstartePairing, AppEngine, RealmManagement, RealmMessageLog))
def start_astarte(target: SimulatedTarget) -> AstarteComponent:
    broker = target.component("broker").broker
    pki = target.pki
    realm = DEFAULT_REALM
    keys = pki.realm_keypair(realm)
    admin = broker.admin_identity

    def command(ports: Mapping[str, int], _workdir: Path) -> list[str]:
        return [
            sys.executable, "-m", "hil.simulators.astarte",
            "--host", "127.0.0.1", "--port", str(ports["https"]),
            "--pki-dir", str(pki.directory),
            "--realm", realm,
            "--realm-public-key", str(keys.public_key_path),
            "--realm-private-key", str(keys.private_key_path),
            "--broker-url", broker.endpoint.url,
            "--broker-admin-host", broker.admin_endpoint.host,
            "--broker-admin-port", str(broker.admin_endpoint.port),
            "--admin-cert", str(admin.cert_path), "--admin-key", str(admin.key_path),
            "--device-broker-host", broker.endpoint.host,
            "--device-broker-port", str(broker.endpoint.port),
            "--interfaces-dir", str(INTERFACES_DIR),
        ]

    service = make_backend(target.backend_name, target.run_dir.sub("services")).create(
        # The simulator issues its own server certificate into the PKI directory.
        ServiceSpec(name="astarte", command=command, ports=("https",), image=SIMULATORS_IMAGE,
                    writable=(pki.directory,))
    )
    service.start(AllOf(LogLine(READY_PATTERN), HttpStatus("https", "/pairing/version", 200, pki.ca_cert_path)),
                  timeout=20.0)
    token = mint_realm_token(keys.private_key_path)
    client = SimulatedAstarteClient(base_url=f"https://localhost:{service.port('https')}", realm=realm,
                           ca_path=pki.ca_cert_path, private_key_path=keys.private_key_path, token=token)
    hint = (f"python -c \"from hil.astarte.realm_jwt import mint_realm_token as m; from pathlib import Path; "
            f"print(m(Path('{keys.private_key_path}')))\"  or  POST {client.control_url}/token")
    return AstarteComponent(service, client, hint)
