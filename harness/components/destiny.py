"""The DESTINY repository component: ``python -m hil.simulators.destiny`` as a harness Service.

Besides the repository's own robot API, the simulator has a control API under ``/_sim/``
(robots, work, clock); :class:`DestinySim` is the typed handle on both that tests and
``hil up`` users get.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx

from hil.components import component
from hil.pki import CertificateFiles
from hil.services import LogLine, make_backend, Service, ServiceSpec
from hil.targets.protocols import DestinyControl, DestinyRepository, SeededWork
from hil.services.images import SIMULATORS_IMAGE

if TYPE_CHECKING:
    from hil.targets import SimulatedTarget

__all__ = ["DestinyComponent", "DestinyRobot", "DestinySim", "SimulatedRepository", "destiny_spec"]

READY_PATTERN = r"^destiny simulator listening on https?://"


def destiny_spec(
    name: str = "destiny", seed_file: Path | None = None, storage_tls: CertificateFiles | None = None
) -> ServiceSpec:
    """The simulator as a Service spec, ready on its stdout line.

    Port ``http`` is the API. With ``storage_tls`` the batch files are served over TLS on port
    ``storage`` (``https`` blob URLs, as from the real repository); without it, from the API port.
    """

    def command(ports: Mapping[str, int], _workdir: Path) -> list[str]:
        argv = [sys.executable, "-m", "hil.simulators.destiny", "--host", "127.0.0.1", "--port", str(ports["http"])]
        if storage_tls is not None:
            argv += ["--storage-port", str(ports["storage"]), "--storage-tls-cert", str(storage_tls.cert_path),
                     "--storage-tls-key", str(storage_tls.key_path)]
        if seed_file is not None:
            argv += ["--seed-file", str(seed_file)]
        return argv

    files = [seed_file] + ([storage_tls.cert_path, storage_tls.key_path] if storage_tls is not None else [])
    mounts = tuple(dict.fromkeys(path.parent for path in files if path is not None))
    return ServiceSpec(name=name, command=command, ports=("http", "storage") if storage_tls else ("http",),
                       image=SIMULATORS_IMAGE, mounts=mounts)


@dataclass(frozen=True)
class DestinyRobot:
    """A robot registered on the simulator: what a RobotClient needs."""

    client_id: UUID
    secret: str = field(repr=False)  # never in a log, an assertion message or a report
    name: str


class DestinySim:
    """A thin handle on a running simulator: its base URL and its ``/_sim`` control API."""

    def __init__(self, base_url: str, storage_ca: Path | None = None) -> None:
        self.base_url = base_url
        self.storage_ca = storage_ca
        """The CA file that verifies the blob storage's TLS certificate (None: plain HTTP storage)."""
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, *, json: object = None,
              params: Mapping[str, str] | None = None) -> httpx.Response:
        response = self.http.request(method, path, json=json, params=params)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        self._call("POST", "/_sim/reset")

    def create_robot(self, name: str = "robot", secret: str | None = None) -> DestinyRobot:
        body: dict[str, object] = {"name": name}
        if secret is not None:
            body["secret"] = secret
        data = self._call("POST", "/_sim/robots", json=body).json()
        return DestinyRobot(client_id=UUID(data["client_id"]), secret=data["client_secret"], name=data["name"])

    def enqueue(self, robot_id: UUID, *, count: int | None = None, reference_ids: list[UUID] | None = None) -> dict[str, Any]:
        """Create an enhancement request for ``robot_id`` (``count`` new references by default)."""
        body: dict[str, object] = {"robot_id": str(robot_id)}
        if reference_ids is not None:
            body["reference_ids"] = [str(r) for r in reference_ids]
        else:
            body["count"] = count or 1
        created: dict[str, Any] = self._call("POST", "/_sim/enhancement-requests", json=body).json()
        return created

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/_sim/clock/advance", json={"seconds": seconds})

    def run_expiry_job(self) -> dict[str, int]:
        """Run the repository's lease-expiry job now: ``{"expired": n, "replaced_with": m}``."""
        counts: dict[str, int] = self._call("POST", "/_sim/jobs/expire-leases").json()
        return counts

    def run_imports(self) -> list[UUID]:
        """End every result import under way now; the batches imported."""
        return [UUID(b) for b in self._call("POST", "/_sim/jobs/import-results").json()["imported"]]

    def batch(self, batch_id: UUID) -> dict[str, Any]:
        batch: dict[str, Any] = self._call("GET", f"/_sim/batches/{batch_id}").json()
        return batch

    def pending(self, robot_id: UUID | None = None) -> list[dict[str, Any]]:
        params = {"robot_id": str(robot_id)} if robot_id else None
        pending: list[dict[str, Any]] = self._call("GET", "/_sim/pending-enhancements", params=params).json()
        return pending

    def journal(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self._call("GET", "/_sim/requests").json()
        return journal


class SimulatedRepository(DestinyRepository):
    """The simulator as a plain repository: one robot (registered through ``/_sim`` on first use,
    as a repository administrator would register it) and work seeded through ``/_sim``."""

    def __init__(self, base_url: str, storage_ca: Path | None = None) -> None:
        self.base_url = base_url
        self.storage_ca = storage_ca
        self._robot: DestinyRobot | None = None

    @property
    def robot(self) -> DestinyRobot:
        if self._robot is None:
            sim = DestinySim(self.base_url, self.storage_ca)
            try:
                self._robot = sim.create_robot("hil-bench-robot")
            finally:
                sim.close()
        return self._robot

    def seed_pending(self, count: int = 1) -> SeededWork:
        sim = DestinySim(self.base_url, self.storage_ca)
        try:
            request = sim.enqueue(self.robot.client_id, count=count)
        finally:
            sim.close()
        return SeededWork(UUID(request["id"]), [UUID(str(r)) for r in request["reference_ids"]])


    def request_status(self, request_id: UUID, settled: set[str], *, timeout: float = 60.0) -> str:
        """As on a real repository, after the simulator's pending imports end now: the simulated
        clock, not the wall clock, decides when an import ends (see the store)."""
        sim = DestinySim(self.base_url, self.storage_ca)
        try:
            sim.run_imports()
        finally:
            sim.close()
        return super().request_status(request_id, settled, timeout=timeout)


class DestinyComponent(DestinyControl):
    def __init__(self, service: Service, storage_ca: Path | None = None) -> None:
        self.service = service
        self.base_url = f"http://{service.host}:{service.port('http')}"
        self.storage_ca = storage_ca
        self._repository = SimulatedRepository(self.base_url, storage_ca)

    def provide(self, protocol: type) -> object:
        return self._repository if protocol is DestinyRepository else self

    def client(self) -> DestinySim:
        """A new handle (the caller closes it)."""
        return DestinySim(self.base_url, self.storage_ca)

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("DESTINY repository (robot API)", f"{self.base_url}/v1/"),
            ("DESTINY control API (robots, work, clock, jobs)", f"{self.base_url}/_sim/"),
            ("create a robot", f"curl -s -X POST {self.base_url}/_sim/robots -H 'content-type: application/json' -d '{{\"name\": \"me\"}}'"),
            *([("DESTINY blob storage CA file (https batch URLs)", str(self.storage_ca))] if self.storage_ca else []),
            ("DESTINY log", str(self.service.log_path)),
        ]

    def services(self) -> list[Service]:
        return [self.service]

    def stop(self) -> None:
        self.service.stop()


@component("destiny", provides=(DestinyRepository, DestinyControl))
def start_destiny(target: SimulatedTarget) -> DestinyComponent:
    storage_tls = target.pki.issue_server("destiny-storage")
    service = make_backend(target.backend_name, target.run_dir.sub("services")).create(
        destiny_spec(storage_tls=storage_tls)
    )
    service.start(LogLine(READY_PATTERN), timeout=20.0)
    return DestinyComponent(service, target.pki.ca_cert_path)
