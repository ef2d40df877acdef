"""The container backend: the same service specs, run through ``testcontainers``.

It is used only where a Docker engine answers a ping (:func:`docker_available`); this machine kind
has only the Docker client, so tests of this backend skip with the reason. Containers use the host
network so that the ports hil picks, the certificates it issued for ``localhost``/``127.0.0.1`` and
the readiness checks are the same as for processes; the service's working directory is mounted at
the same path (and the spec's ``mounts``, such as the PKI, read-only), so config files written by
the spec's command builder are valid inside too. Specs without an image run as processes.
Ryuk (testcontainers' reaper) is disabled because it needs an image pull; hil stops its own
containers, and the leak audit still covers ports and directories.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

from hil.errors import PortInUse, ServiceError, ServiceExited, StartupTimeout
from hil.services.base import Service, ServiceSpec, ServiceState
from hil.services.logstream import LogStream
from hil.services.ports import pick_free_port
from hil.services.process import ProcessBackend
from hil.services.readiness import Deadline, Readiness
from hil.services.tracking import ENV_MARKER, current_tracker

__all__ = ["ContainerBackend", "ContainerService", "docker_available", "docker_unavailable_reason"]


@cache
def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers a ping, else why not (one line, for skip reasons)."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return "no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock does not exist"
    try:
        import docker  # imported lazily: the client library is optional at run time

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means "not available"
        return f"Docker engine did not answer a ping: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return None


def docker_available() -> bool:
    return docker_unavailable_reason() is None


class ContainerService(Service):
    """A service run in a container. Create it through :class:`ContainerBackend`."""

    def __init__(self, spec: ServiceSpec, workdir: Path, log_path: Path) -> None:
        super().__init__(spec, workdir, log_path)
        if spec.image is None:
            raise ServiceError(spec.name, "has no container image; it can only run as a process")
        self._image: str = spec.image
        self._container: Any = None
        self._log: LogStream | None = None
        self._status: int | None = None

    @property
    def log(self) -> LogStream | None:
        return self._log

    def exited(self) -> int | None:
        if self._container is None:
            return self._status
        wrapped = self._container.get_wrapped_container()
        try:
            wrapped.reload()
        except Exception:  # noqa: BLE001 - an engine that cannot report the container has lost it
            return -1
        if wrapped.status in ("exited", "dead"):
            return int(wrapped.attrs.get("State", {}).get("ExitCode", -1))
        return None

    def start(self, readiness: Readiness, *, timeout: float = 60.0) -> None:
        self._require(ServiceState.NEW, ServiceState.STOPPED, action="start")
        deadline = Deadline(timeout)
        for _ in range(5):
            self._ports = {name: pick_free_port(self.host) for name in self.spec.ports}
            try:
                self._launch(readiness, deadline)
                return
            except PortInUse:
                continue
        raise PortInUse(self.name, "no free port after 5 attempts", log_path=self.log_path)

    def restart(self, readiness: Readiness, *, timeout: float = 60.0) -> None:
        self.stop()
        self._launch(readiness, Deadline(timeout))

    def _launch(self, readiness: Readiness, deadline: Deadline) -> None:
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        from testcontainers.core.container import DockerContainer

        self.state = ServiceState.STARTING
        argv = list(self.spec.command(self.ports, self.workdir))
        container = (
            DockerContainer(self._image)
            .with_command(argv)
            .with_volume_mapping(str(self.workdir), str(self.workdir), "rw")
        )
        for mount in self.spec.mounts:
            container = container.with_volume_mapping(str(mount), str(mount), "ro")
        for key, value in self.spec.env.items():
            container = container.with_env(key, value)
        # The session marker, as on processes, and as a label: `docker ps --filter
        # label=hil.session=<id>` finds what a killed run left behind.
        session = current_tracker().session_id
        container = container.with_env(ENV_MARKER, session).with_kwargs(
            network_mode="host", labels={"hil.session": session, "hil.service": self.name})
        self._log = LogStream(self.log_path)
        try:
            container.start()
        except Exception as exc:  # noqa: BLE001 - docker, requests and urllib3 errors alike: it did not start
            self._log.close()
            self.state = ServiceState.STOPPED
            raise ServiceError(self.name, f"container did not start: {exc}", log_path=self.log_path) from None
        self._container = container
        stream = container.get_wrapped_container().logs(stream=True, follow=True)
        self._log.follow(stream, self.name)
        try:
            readiness.wait(self, deadline)
        except (StartupTimeout, ServiceExited) as exc:
            self.stop()
            if self._log.search(self.spec.port_in_use) is not None:
                raise PortInUse(self.name, f"port taken: {self.ports}", log_path=self.log_path) from None
            raise exc from None
        self.state = ServiceState.RUNNING

    def stop(self, *, timeout: float = 5.0) -> None:
        if self._container is None:
            return
        container, self._container = self._container, None
        stopper = threading.Thread(target=container.stop, daemon=True)
        stopper.start()
        stopper.join(timeout + 5)
        self._status = 0
        if self._log is not None:
            self._log.close()
        self.state = ServiceState.STOPPED


class ContainerBackend:
    """Creates :class:`ContainerService` instances; same layout as the process backend.

    A spec without an image (hil's own simulators, which run from this checkout and its
    virtual environment) runs as a process of the :class:`ProcessBackend` on the same root, so
    one backend serves a whole target: the broker in a container, the simulators beside it.
    """

    name = "container"

    def __init__(self, root: Path) -> None:
        reason = docker_unavailable_reason()
        if reason is not None:
            raise ServiceError("container-backend", reason)
        self.root = root
        self._processes = ProcessBackend(root)

    def create(self, spec: ServiceSpec) -> Service:
        if spec.image is None:
            return self._processes.create(spec)
        workdir = self.root / spec.name
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return ContainerService(spec, workdir, workdir / f"{spec.name}.log")
