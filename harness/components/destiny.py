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
from typing import TYPE_CHECKING
from uuid import UUID

import httpx

from hil.components import component
from hil.services import LogLine, Service, ServiceSpec, make_backend
from hil.services.images import SIMULATORS_IMAGE

if TYPE_CHECKING:
    from hil.targets import SimulatedTarget

__all__ = ["DestinyComponent", "DestinyRobot", "DestinySim", "destiny_spec"]

READY_PATTERN = r"^destiny simulator listening on https?://"


def destiny_spec(name: str = "destiny", seed_file: Path | None = None) -> ServiceSpec:
    """The simulator as a Service spec: one port named ``http``, ready on its stdout line."""

    def command(ports: Mapping[str, int], _workdir: Path) -> list[str]:
        argv = [sys.executable, "-m", "hil.simulators.destiny", "--host", "127.0.0.1", "--port", str(ports["http"])]
        if seed_file is not None:
            argv += ["--seed-file", str(seed_file)]
        return argv

    mounts = (seed_file.parent,) if seed_file is not None else ()
    return ServiceSpec(name=name, command=command, ports=("http",), image=SIMULATORS_IMAGE, mounts=mounts)


@dataclass(frozen=True)
class DestinyRobot:
    """A robot registered on the simulator: what a RobotClient needs."""

    client_id: UUID
    secret: str = field(repr=False)  # never in a log, an assertion message or a report
    name: str


class DestinySim:
    """A thin handle on a running simulator: its base URL and its ``/_sim`` control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
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

    def enqueue(self, robot_id: UUID, *, count: int | None = None, reference_ids: list[UUID] | None = None) -> dict:
        """Create an enhancement request for ``robot_id`` (``count`` new references by default)."""
        body: dict[str, object] = {"robot_id": str(robot_id)}
        if reference_ids is not None:
            body["reference_ids"] = [str(r) for r in reference_ids]
        else:
            body["count"] = count or 1
        return self._call("POST", "/_sim/enhancement-requests", json=body).json()

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/_sim/clock/advance", json={"seconds": seconds})

    def batch(self, batch_id: UUID) -> dict:
        return self._call("GET", f"/_sim/batches/{batch_id}").json()

    def pending(self, robot_id: UUID | None = None) -> list[dict]:
        params = {"robot_id": str(robot_id)} if robot_id else None
        return self._call("GET", "/_sim/pending-enhancements", params=params).json()

    def journal(self) -> list[dict]:
        return self._call("GET", "/_sim/requests").json()



class DestinyComponent:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.base_url = f"http://{service.host}:{service.port('http')}"

    def client(self) -> DestinySim:
        """A new handle (the caller closes it)."""
        return DestinySim(self.base_url)

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("DESTINY repository (robot API)", f"{self.base_url}/v1/"),
            ("DESTINY control API (robots, work, clock)", f"{self.base_url}/_sim/"),
            ("create a robot", f"curl -s -X POST {self.base_url}/_sim/robots -H 'content-type: application/json' -d '{{\"name\": \"me\"}}'"),
            ("DESTINY log", str(self.service.log_path)),
        ]

    def services(self) -> list[Service]:
        return [self.service]

    def stop(self) -> None:
        self.service.stop()


@component("destiny", provides=("destiny.repository", "destiny.control"))
def start_destiny(target: SimulatedTarget) -> DestinyComponent:
    service = make_backend(target.backend_name, target.run_dir.sub("services")).create(destiny_spec())
    service.start(LogLine(READY_PATTERN), timeout=20.0)
    return DestinyComponent(service)
