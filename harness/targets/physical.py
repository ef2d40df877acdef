"""Physical targets: real servers on a bench, reached through their public APIs only.

Each adapter implements one capability protocol from what the bench file says; nothing is
started, only reached. :meth:`PhysicalTarget.probe` reaches each of them once (the health gate
and ``hil bench check``).
"""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from hil.mqtt.broker import Broker, BrokerEndpoint
from hil.errors import TargetError, TargetUnreachable
from hil.services.readiness import ClientIdentity
from hil.targets.protocols import (
    AppEngine,
    AstartePairing,
    Capability,
    DestinyRepository,
    DeviceIdentity,
    IdentityMint,
    LocknAlertBridgeAccess,
    MessageHubEndpoint,
    MqttBroker,
    RealmManagement,
    SeededWork,
)
from hil.targets.target import Probe, Target

__all__ = ["BenchBroker", "BenchDestinyRepository", "BenchLocknAlert", "BenchMessageHub", "PairedDevice",
           "PairingIdentityMint", "PhysicalTarget"]


@dataclass(frozen=True)
class BenchBroker(Broker):
    """A broker described by the bench file; the admin identity is optional."""

    _endpoint: BrokerEndpoint
    _admin: ClientIdentity | None
    target: str
    _admin_endpoint: BrokerEndpoint | None = None  # a back-office listener, when not the devices' one

    @property
    def endpoint(self) -> BrokerEndpoint:
        return self._endpoint

    @property
    def admin_endpoint(self) -> BrokerEndpoint:
        return self._admin_endpoint or self._endpoint

    @property
    def admin_identity(self) -> ClientIdentity:
        if self._admin is None:
            raise TargetError(self.target, "has no broker admin identity in its bench file")
        return self._admin


@dataclass(frozen=True)
class PairedDevice(DeviceIdentity):
    """The one pre-paired device certificate of the bench file (whatever id a check asks for)."""

    identity_: ClientIdentity
    realm: str
    device_id: str

    def identity(self, realm: str, device_id: str) -> ClientIdentity:
        return self.identity_


class PairingIdentityMint(IdentityMint):
    """Device identities minted the way a device gets one: register it through Pairing, then have
    Pairing sign a CSR (``CN=<realm>/<device_id>``) with its credentials secret. Needs only the
    realm's Pairing API and a token, so a real Astarte offers it too."""

    def __init__(self, astarte: Any, broker_ca: Path, target: str) -> None:
        self.astarte = astarte
        self.broker_ca = broker_ca
        self.target = target
        self._dir: Any = None

    def identity(self, realm: str, device_id: str) -> ClientIdentity:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from hil.rundir import RunDirectory

        if realm != self.astarte.realm:
            raise TargetError(self.target, f"can mint identities in realm {self.astarte.realm!r} only, not {realm!r}")
        secret = self.astarte.register_device(device_id).credentials_secret
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{realm}/{device_id}")]))
               .sign(key, hashes.SHA256()))
        with self.astarte.http(token=secret) as client:
            issued = client.post(f"{self.astarte.pairing_base_url}/v1/{realm}/devices/{device_id}/protocols/"
                                 "astarte_mqtt_v1/credentials",
                                 json={"data": {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}})
        if issued.status_code != 201:
            raise TargetError(self.target, f"Pairing refused a CSR for {device_id}: HTTP {issued.status_code}")
        if self._dir is None:
            self._dir = RunDirectory("hil-identities-")
        folder = self._dir.sub(device_id.replace("/", "_"))
        cert_path, key_path = folder / "device.crt", folder / "device.key"
        cert_path.write_text(issued.json()["data"]["client_crt"])
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return ClientIdentity(cert_path, key_path, self.broker_ca, f"{realm}/{device_id}")

    def close(self) -> None:
        if self._dir is not None:
            self._dir.remove()
            self._dir = None


@dataclass(frozen=True)
class BenchMessageHub(MessageHubEndpoint):
    """A Message Hub's gRPC address and the Astarte device its nodes' data lands on."""

    address: str
    realm: str
    device_id: str
    tls: bool = False
    node_id: str | None = None

    @property
    def grpc_address(self) -> str:
        return self.address


@dataclass
class BenchDestinyRepository(DestinyRepository):
    """A DESTINY repository: its robot API, one robot, and seeding through the robot-signed
    ``POST /v1/enhancement-requests/`` route (references named by the bench file)."""

    base_url: str
    robot_: Any
    seed: str = "enhancement-requests"
    seed_reference_ids: list[UUID] = field(default_factory=list)
    target: str = "destiny"
    _next: int = 0  # references are handed out in turn, so each seeding names fresh ones

    @property
    def robot(self) -> Any:
        return self.robot_

    def seed_pending(self, count: int = 1) -> SeededWork:
        from destiny_sdk.client import HMACSigningAuth

        if self.seed == "none":
            raise TargetError(self.target, "its bench file says work cannot be seeded (destiny.seed = 'none')")
        if self._next + count > len(self.seed_reference_ids):
            raise TargetError(self.target, f"its bench file lists {len(self.seed_reference_ids)} seed references, "
                                           f"and {self._next} are used: add more to destiny.seed_reference_ids")
        references = self.seed_reference_ids[self._next:self._next + count]
        self._next += count
        body = {"robot_id": str(self.robot.client_id), "reference_ids": [str(r) for r in references],
                "source": "hil"}
        auth = HMACSigningAuth(self.robot.secret, self.robot.client_id)
        with httpx.Client(base_url=self.base_url, timeout=10.0, auth=auth) as client:
            response = client.post("/v1/enhancement-requests/", content=json.dumps(body),
                                   headers={"Content-Type": "application/json"})
        if response.status_code >= 400:
            raise TargetError(self.target, f"seeding {count} enhancement(s) failed: HTTP {response.status_code} "
                                           f"{response.text[:200]}")
        return SeededWork(UUID(response.json()["id"]), references)


@dataclass(frozen=True)
class BenchLocknAlert(LocknAlertBridgeAccess):
    bridge_: Any

    def bridge(self) -> Any:
        return self.bridge_


def _tcp(host: str, port: int, timeout: float = 5.0) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _tls(endpoint: BrokerEndpoint, timeout: float = 5.0) -> None:
    context = ssl.create_default_context(cafile=str(endpoint.ca_path))
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=endpoint.server_hostname):
        pass


def _status(response: httpx.Response, what: str) -> str:
    if response.status_code in (401, 403):
        raise TargetUnreachable("", f"{what}: our credentials are refused (HTTP {response.status_code})")
    if response.status_code >= 500:
        raise TargetUnreachable("", f"{what}: HTTP {response.status_code}")
    return f"{what}: HTTP {response.status_code}"


class PhysicalTarget(Target):
    """A target on a bench, described by a bench file: nothing is started, only reached."""

    kind = "physical"

    def __init__(self, name: str, description: str, implementations: dict[type[Capability], Any]) -> None:
        self.name = name
        self.description = description
        self._implementations = dict(implementations)

    def offers(self, protocol: type[Capability]) -> bool:
        return protocol in self._implementations

    def _implementation(self, protocol: type[Capability]) -> Any:
        return self._implementations[protocol]

    # -- the health gate ---------------------------------------------------------------------
    def _probers(self) -> dict[type[Capability], Callable[[Any], str]]:
        def broker(b: BenchBroker) -> str:
            _tls(b.endpoint)
            return f"TLS handshake with {b.endpoint.host}:{b.endpoint.port} verified"

        def pairing(a: Any) -> str:
            with a.http() as client:
                return _status(client.get(f"{a.pairing_base_url}/v1/{a.realm}/version"), "Pairing version")

        def appengine(a: Any) -> str:
            return _status(a.appengine("GET", "devices", params={"limit": 1}), "AppEngine devices")

        def realm_management(a: Any) -> str:
            return _status(a.realm_management("GET", "interfaces"), "Realm Management interfaces")

        def hub(h: BenchMessageHub) -> str:
            host, _, port = h.address.rpartition(":")
            _tcp(host, int(port))
            return f"gRPC port {h.address} open"

        def destiny(d: BenchDestinyRepository) -> str:
            from destiny_sdk.client import HMACSigningAuth

            auth = HMACSigningAuth(d.robot.secret, d.robot.client_id)
            with httpx.Client(base_url=d.base_url, timeout=10.0, auth=auth) as client:
                response = client.get(f"/v1/enhancement-requests/{uuid.uuid4()}/")
            return _status(response, "robot-signed request")

        def bridge(b: BenchLocknAlert) -> str:
            _tcp(b.bridge().host, b.bridge().port)
            return f"bridge API port {b.bridge().host}:{b.bridge().port} open"

        return {MqttBroker: broker, AstartePairing: pairing, AppEngine: appengine,
                RealmManagement: realm_management, MessageHubEndpoint: hub, DestinyRepository: destiny,
                LocknAlertBridgeAccess: bridge}

    def probe(self) -> list[Probe]:
        probes: list[Probe] = []
        for protocol, prober in self._probers().items():
            if not self.offers(protocol):
                continue
            try:
                probes.append(Probe(protocol, True, prober(self._implementations[protocol])))
            except TargetUnreachable as exc:
                probes.append(Probe(protocol, False, str(exc).split(": ", 1)[-1]))
            except (OSError, httpx.HTTPError, ssl.SSLError) as exc:
                probes.append(Probe(protocol, False, f"unreachable: {exc or type(exc).__name__}"))
        return probes

    def close(self) -> None:
        for implementation in self._implementations.values():
            if isinstance(implementation, PairingIdentityMint):
                implementation.close()

    def describe(self) -> list[tuple[str, str]]:
        lines = super().describe()
        for protocol in self.offered():
            lines.append(("offers", protocol.name()))
        return lines
