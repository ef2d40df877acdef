"""The Astarte Message Hub component: ``python -m hil.simulators.message_hub`` as a harness Service.

The hub is itself one Astarte device: the component registers it through the simulated Pairing
API (agent route, like any device), and the hub obtains its certificate and broker URL from
Pairing when it starts. Node data therefore reaches the realm over the broker like any device
traffic, judged by the realm's oracle and readable through AppEngine, and server data for the hub
device comes back over MQTT to the nodes that declared the interface.

Tests get a :class:`MessageHubSim`: the gRPC address for ``DeviceGrpc(server_addr, node_uuid)``,
the hub device id (for AppEngine), and waits on the hub's control API (``wait_attached``), because
the SDK reports "connected" before the hub has processed its Attach.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from hil.components import component
from hil.targets.protocols import MessageHubControl, MessageHubEndpoint
from hil.services import AllOf, GrpcChannelReady, HttpStatus, LogLine, make_backend, Service, ServiceSpec
from hil.services.images import SIMULATORS_IMAGE

if TYPE_CHECKING:
    from hil.targets import SimulatedTarget

__all__ = ["HUB_NAMESPACE", "MessageHubComponent", "MessageHubSim", "hub_device_id", "message_hub_spec"]

READY_PATTERN: Final = r"^message hub simulator listening on grpc://"
HUB_NAMESPACE: Final = uuid.UUID("6f1c8a52-5b1e-4f0e-9a57-8d3f3c1b7e21")


def hub_device_id(name: str = "hil-message-hub") -> str:
    """A stable Astarte device id for a hub (UUIDv5 bytes, URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(uuid.uuid5(HUB_NAMESPACE, name).bytes).rstrip(b"=").decode("ascii")


SECRET_ENV = "HIL_MESSAGE_HUB_CREDENTIALS_SECRET"


@dataclass(frozen=True)
class HubIdentity:
    """How the hub gets its Astarte identity: Pairing (``pairing_url`` + secret) or a certificate."""

    realm: str
    device_id: str
    ca_path: Path
    pairing_url: str | None = None
    credentials_secret: str | None = None
    broker_url: str | None = None
    cert_path: Path | None = None
    key_path: Path | None = None

    def env(self) -> dict[str, str]:
        return {SECRET_ENV: self.credentials_secret} if self.credentials_secret else {}

    def arguments(self) -> list[str]:
        """Command-line options for the hub, each as ``--name=value``.

        A device id is URL-safe base64, and one in 64 starts with ``-``: given as a separate
        word, argparse would read it as an option and the hub would exit with a usage error.
        """
        argv = [f"--realm={self.realm}", f"--device-id={self.device_id}", f"--ca-file={self.ca_path}"]
        if self.pairing_url is not None:
            # The secret goes through the environment (see env()): a command line ends up in logs.
            return [*argv, f"--pairing-url={self.pairing_url}"]
        return [*argv, f"--broker-url={self.broker_url or ''}", f"--cert={self.cert_path}", f"--key={self.key_path}"]


def message_hub_spec(name: str, store_dir: Path, identity: HubIdentity | None, *, discard: bool = False) -> ServiceSpec:
    """The hub as a Service spec: ports ``grpc`` and ``control``; ``identity`` None needs ``discard``."""

    def command(ports: Mapping[str, int], _workdir: Path) -> list[str]:
        argv = [sys.executable, "-m", "hil.simulators.message_hub", "--host", "127.0.0.1",
                "--port", str(ports["grpc"]), "--control-port", str(ports["control"]), "--store-dir", str(store_dir)]
        if discard:
            return [*argv, "--discard"]
        assert identity is not None
        return argv + identity.arguments()

    env = identity.env() if identity is not None and not discard else {}
    files = [identity.ca_path, identity.cert_path, identity.key_path] if identity is not None and not discard else []
    mounts = tuple(sorted({path.parent for path in files if path is not None}))
    return ServiceSpec(name=name, command=command, ports=("grpc", "control"), env=env, image=SIMULATORS_IMAGE,
                       mounts=mounts, writable=(store_dir,))


def readiness() -> AllOf:
    return AllOf(LogLine(READY_PATTERN), GrpcChannelReady("grpc"), HttpStatus("control", "/health", 200))


class MessageHubSim(MessageHubEndpoint, MessageHubControl):
    """A handle on a running hub: where nodes connect and how to observe the hub."""

    def __init__(self, service: Service, realm: str, device_id: str, identity: HubIdentity | None = None) -> None:
        self.service = service
        self.realm = realm
        self.device_id = device_id
        self.identity = identity

    @property
    def grpc_address(self) -> str:
        """``host:port`` for ``DeviceGrpc(server_addr, node_uuid)``."""
        return f"{self.service.host}:{self.service.port('grpc')}"

    @property
    def control_url(self) -> str:
        return f"http://{self.service.host}:{self.service.port('control')}"

    def state(self) -> dict[str, Any]:
        with httpx.Client(timeout=10.0) as http:
            response = http.get(f"{self.control_url}/_sim/state")
        response.raise_for_status()
        return dict(response.json())

    def wait_attached(self, node_id: str | uuid.UUID, timeout: float = 5.0) -> dict[str, Any] | None:
        """The node as the hub sees it once attached (long poll), or None after ``timeout``."""
        return self._wait(node_id, timeout, attached=True)

    def wait_detached(self, node_id: str | uuid.UUID, timeout: float = 5.0) -> bool:
        return self._wait(node_id, timeout, attached=False) is not None

    def _wait(self, node_id: str | uuid.UUID, timeout: float, *, attached: bool) -> dict[str, Any] | None:
        with httpx.Client(timeout=timeout + 10.0) as http:
            response = http.get(f"{self.control_url}/_sim/nodes/{node_id}",
                                params={"wait": timeout, "attached": str(attached).lower()})
        return dict(response.json()) if response.status_code == 200 else None

    def restart(self, timeout: float = 20.0) -> None:
        """Stop and start on the same ports, keeping the store (nodes must re-attach)."""
        self.service.restart(readiness(), timeout=timeout)


class MessageHubComponent:
    def __init__(self, sim: MessageHubSim) -> None:
        self.sim = sim

    def describe(self) -> list[tuple[str, str]]:
        sim = self.sim
        return [
            ("Astarte Message Hub (gRPC, proto of the installed SDK)", sim.grpc_address),
            ("Message Hub device (realm/device id)", f"{sim.realm}/{sim.device_id}"),
            ("Message Hub control API", f"{sim.control_url}/_sim/state"),
            ("try", f"DeviceGrpc('{sim.grpc_address}', '<node uuid>')"),
            ("Message Hub log", str(sim.service.log_path)),
        ]

    def services(self) -> list[Service]:
        return [self.sim.service]

    def provide(self, protocol: type) -> MessageHubSim:
        return self.sim

    def stop(self) -> None:
        self.sim.service.stop()


@component("message_hub", requires=("astarte",), provides=(MessageHubEndpoint, MessageHubControl))
def start_message_hub(target: SimulatedTarget) -> MessageHubComponent:
    client = target.component("astarte").client
    device_id = hub_device_id()
    registered = client.register_device(device_id)
    identity = HubIdentity(realm=client.realm, device_id=device_id, ca_path=client.ca_path,
                           pairing_url=client.pairing_base_url, credentials_secret=registered.credentials_secret)
    store = target.run_dir.sub("message-hub-store")
    service = make_backend(target.backend_name, target.run_dir.sub("services")).create(
        message_hub_spec("message-hub", store, identity)
    )
    service.start(readiness(), timeout=30.0)
    return MessageHubComponent(MessageHubSim(service, client.realm, device_id, identity))
