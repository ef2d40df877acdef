"""Capability protocols: one small ABC per thing a check may ask of a target (the labgrid model).

A check or fixture never asks "is this the simulator?"; it asks the target for a protocol,
``target.get(AppEngine)``, and gets an object implementing it, or a :class:`MissingCapability`
naming the target and the protocol, which fixtures turn into a skip with that reason. The
simulated components implement these protocols, and so do the real-server adapters a bench file
describes (:mod:`hil.targets.physical`), so the same check runs on both.

Two families, kept apart:

* **public** protocols: what a real server offers through its public API (an MQTT broker, Astarte
  Pairing, AppEngine, Realm Management, a Message Hub's gRPC endpoint, a DESTINY repository's
  robot API, a LocknAlert bridge and whatever its bench can do to it);
* **simulator-only** protocols (subclasses of :class:`SimulatorOnly`): what only a simulator can
  show or do (the realm's raw message log with exact QoS and bytes, forced disconnects, clock
  control, fault injection, scenario certificates signed by the realm CA). A check that needs one
  declares it with ``@pytest.mark.hil_requires(RealmMessageLog)`` and skips on a bench.

Protocols are abstract base classes rather than :class:`typing.Protocol` so that a target can
check an implementation really is one (``isinstance``) before handing it out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

if TYPE_CHECKING:
    import httpx

    from hil.mqtt.broker import BrokerEndpoint
    from hil.components.astarte import RegisteredDevice
    from hil.components.destiny import DestinyRobot
    from hil.locknalert.bridge import LocknAlertBridge
    from hil.services.readiness import ClientIdentity

__all__ = [
    "PUBLIC_PROTOCOLS",
    "SIMULATOR_ONLY_PROTOCOLS",
    "AppEngine",
    "AstartePairing",
    "BrokerAdmin",
    "Capability",
    "DestinyControl",
    "DestinyRepository",
    "DeviceIdentity",
    "FaultInjection",
    "IdentityMint",
    "LocknAlertBridgeAccess",
    "LocknAlertEmulator",
    "MessageHubControl",
    "MessageHubEndpoint",
    "MqttBroker",
    "RealmManagement",
    "RealmMessageLog",
    "ScenarioCertificates",
    "SeededWork",
    "SimulatorOnly",
]


class Capability(ABC):  # noqa: B024 - a marker base: each protocol below declares its abstract methods
    """Base of every capability protocol; ``label`` is how skip reasons and ``hil bench check`` name it."""

    label: ClassVar[str] = ""

    @classmethod
    def name(cls) -> str:
        return cls.label or cls.__name__


# -- public protocols ---------------------------------------------------------------------------
class MqttBroker(Capability):
    """An MQTT broker devices connect to with mutual TLS."""

    label = "MQTT broker"

    @property
    @abstractmethod
    def endpoint(self) -> BrokerEndpoint: ...


class BrokerAdmin(Capability):
    """A back-office identity on the broker that sees every topic (a capture, the server side)."""

    label = "broker admin identity"

    @property
    @abstractmethod
    def admin_endpoint(self) -> BrokerEndpoint: ...

    @property
    @abstractmethod
    def admin_identity(self) -> ClientIdentity: ...


class DeviceIdentity(Capability):
    """At least one device certificate the broker accepts (possibly one pre-paired device only)."""

    label = "device identity"

    @abstractmethod
    def identity(self, realm: str, device_id: str) -> ClientIdentity:
        """A certificate for ``realm/device_id``; a bench with one pre-paired device returns that one."""


class IdentityMint(DeviceIdentity):
    """Any number of device identities, for any device id (a CA or a Pairing API mints them)."""

    label = "device identity mint"


class AstartePairing(Capability):
    """Astarte's Pairing API: device registration with the agent route, what an SDK pairs with."""

    label = "Astarte Pairing API"

    realm: str
    pairing_base_url: str
    ca_path: Path | None

    @abstractmethod
    def register_device(self, device_id: str | None = None, *,
                        initial_introspection: Mapping[str, Mapping[str, int]] | None = None) -> RegisteredDevice:
        """Register a device (a fresh valid id by default); returns its id and credentials secret."""

    @abstractmethod
    def trust_environment(self) -> dict[str, str]:
        """What an SDK process needs in its environment to trust the servers (``SSL_CERT_FILE``...)."""


class AppEngine(Capability):
    """Astarte's AppEngine API: device status, interface values, server-owned writes."""

    label = "Astarte AppEngine API"

    @abstractmethod
    def appengine(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``<appengine>/v1/<realm>/<path>`` with a realm token."""

    def device_status(self, device_id: str) -> dict[str, Any]:
        """``GET devices/<id>``'s ``data``: ``connected``, ``introspection``, ``total_received_msgs``..."""
        response = self.appengine("GET", f"devices/{device_id}")
        response.raise_for_status()
        return dict(response.json()["data"])


class RealmManagement(Capability):
    """Astarte's Realm Management API: the realm's interfaces."""

    label = "Astarte Realm Management API"

    @abstractmethod
    def realm_management(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``<realmmanagement>/v1/<realm>/<path>`` with a realm token."""

    def interface_names(self) -> list[str]:
        response = self.realm_management("GET", "interfaces")
        response.raise_for_status()
        return list(response.json()["data"])


class MessageHubEndpoint(Capability):
    """An Astarte Message Hub's gRPC endpoint, and the Astarte device its nodes' data lands on."""

    label = "Astarte Message Hub"

    realm: str
    device_id: str

    @property
    @abstractmethod
    def grpc_address(self) -> str:
        """``host:port`` for ``DeviceGrpc(server_addr, node_uuid)``."""


@dataclass(frozen=True)
class SeededWork:
    """Pending enhancements created for a robot: the enhancement request and its references."""

    request_id: UUID
    reference_ids: list[UUID]


class DestinyRepository(Capability):
    """A DESTINY repository's robot API, one robot's credentials, and a way to give it work."""

    label = "DESTINY repository"

    base_url: str
    storage_ca: Path | None = None
    """The CA of the https batch-file URLs the repository hands out (None: the system trust store,
    as for a real repository's Azure storage)."""

    def storage(self) -> httpx.Client:
        """An HTTP client for the batch files' storage URLs, trusting :attr:`storage_ca`."""
        import ssl

        import httpx

        verify: ssl.SSLContext | bool = (ssl.create_default_context(cafile=str(self.storage_ca))
                                         if self.storage_ca is not None else True)
        return httpx.Client(verify=verify, timeout=30.0)

    @property
    @abstractmethod
    def robot(self) -> DestinyRobot: ...

    @abstractmethod
    def seed_pending(self, count: int = 1) -> SeededWork:
        """Create ``count`` pending enhancements for :attr:`robot` (fresh references each time)."""

    def request_status(self, request_id: UUID, settled: set[str], *, timeout: float = 60.0) -> str:
        """The enhancement request's status once it is one of ``settled``, or the last one seen at
        ``timeout``. A repository imports results asynchronously and its robot API has no way to
        wait, so the robot asks again, as a real robot learns an outcome."""
        import time

        import httpx
        from destiny_sdk.client import HMACSigningAuth

        deadline = time.monotonic() + timeout
        auth = HMACSigningAuth(self.robot.secret, self.robot.client_id)
        with httpx.Client(base_url=self.base_url, timeout=10.0, auth=auth) as client:
            while True:
                answer = client.get(f"/v1/enhancement-requests/{request_id}/").raise_for_status()
                status = str(answer.json()["request_status"])
                if status in settled or time.monotonic() >= deadline:
                    return status
                time.sleep(0.05)  # polling a public API that offers no wait; not a synchronisation guess


class LocknAlertBridgeAccess(Capability):
    """A LocknAlert bridge's HTTPS API, its serial, and a control for what only its owner can do
    (press the pairing button, reset it): :class:`hil.locknalert.control.BridgeControl`."""

    label = "LocknAlert bridge"

    @abstractmethod
    def bridge(self) -> LocknAlertBridge: ...


PUBLIC_PROTOCOLS: tuple[type[Capability], ...] = (
    MqttBroker, BrokerAdmin, DeviceIdentity, IdentityMint, AstartePairing, AppEngine, RealmManagement,
    MessageHubEndpoint, DestinyRepository, LocknAlertBridgeAccess,
)


# -- simulator-only protocols -------------------------------------------------------------------
class SimulatorOnly(Capability):
    """Marks a protocol no real server offers: checks that need one skip on a bench, saying so."""


class RealmMessageLog(SimulatorOnly):
    """The simulated realm's raw view: every device message with its QoS and bytes, the errors the
    realm logged, broker sessions, forced disconnects, raw publishes to a device, resets."""

    label = "simulated realm message log"

    @abstractmethod
    def device_messages(self, device_id: str | None = None, *, since: int = 0, min_count: int = 0,
                        timeout: float = 0.0) -> list[dict[str, Any]]: ...

    @abstractmethod
    def message_count(self, device_id: str | None = None) -> int: ...

    @abstractmethod
    def device_errors(self, device_id: str | None = None, *, min_count: int = 0,
                      timeout: float = 0.0) -> list[dict[str, Any]]: ...

    @abstractmethod
    def device_sessions(self, device_id: str | None = None, *, min_count: int = 0,
                        timeout: float = 0.0) -> list[dict[str, Any]]: ...

    @abstractmethod
    def publish_to_device(self, device_id: str, path: str, payload: bytes, qos: int = 2) -> None: ...

    @abstractmethod
    def reset(self, devices: Sequence[str] | None = None) -> None: ...


class ScenarioCertificates(SimulatorOnly):
    """Client certificates that are expired, not yet valid, or from a foreign CA."""

    label = "scenario certificates"

    @abstractmethod
    def scenario_identity(self, scenario: str, common_name: str) -> ClientIdentity: ...


class MessageHubControl(SimulatorOnly):
    """The simulated hub's own view (attached nodes, its introspection) and a restart."""

    label = "simulated Message Hub control"

    @abstractmethod
    def state(self) -> dict[str, Any]: ...

    @abstractmethod
    def wait_attached(self, node_id: Any, timeout: float = 5.0) -> dict[str, Any] | None: ...

    @abstractmethod
    def wait_detached(self, node_id: Any, timeout: float = 5.0) -> bool: ...

    @abstractmethod
    def restart(self, timeout: float = 20.0) -> None: ...


class DestinyControl(SimulatorOnly):
    """The simulated repository's control: robots, work, its clock, the request journal."""

    label = "simulated DESTINY control"

    @abstractmethod
    def client(self) -> Any:
        """A new :class:`hil.components.destiny.DestinySim` handle (the caller closes it)."""


class FaultInjection(SimulatorOnly):
    """The powers behind the ``faults`` fixture: where a fault proxy must forward to reach a
    service, what can be done to a service under a running check, the response injector of a
    simulator, and its clock. (A bench routes through its own Toxiproxy; that is not this.)"""

    label = "fault injection (simulator only)"

    @abstractmethod
    def upstream(self, service: str) -> str:
        """``host:port`` a proxy in front of ``service`` forwards to."""

    @abstractmethod
    def service_control(self) -> Any:
        """A :class:`hil.faults.steps.ServiceControl` for this target's services."""

    @abstractmethod
    def response_injector(self, service: str) -> Any:
        """A :class:`hil.faults.responses.ResponseInjector` for ``service``'s simulator."""

    @abstractmethod
    def move_clock(self, service: str, seconds: float) -> None:
        """Move ``service``'s simulated clock by ``seconds`` (negative: back)."""


class LocknAlertEmulator(SimulatorOnly):
    """The LocknAlert emulator itself (its state, restarts), for the emulator's own tests."""

    label = "LocknAlert emulator"


SIMULATOR_ONLY_PROTOCOLS: tuple[type[Capability], ...] = (
    RealmMessageLog, ScenarioCertificates, MessageHubControl, DestinyControl, LocknAlertEmulator, FaultInjection,
)
