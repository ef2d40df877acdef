"""The container backend: the same service specs, run in containers through ``testcontainers``.

The engine is the one :mod:`hil.services.engine` picks (the user's, the system's, or a
private ``dockerd`` that hil starts as root); the images are hil's own, built locally
(:mod:`hil.services.images`), or a user's. Containers use the host network, so the ports hil
picks, the certificates it issued for ``localhost``/``127.0.0.1`` and the readiness checks are
those of the process backend; the service's working directory is mounted at the same path, the
spec's ``mounts`` (the run's PKI) read-only, so config files written by the spec's command
builder are valid inside too. The simulators image also gets the project's sources, read-only.

Every container carries the labels ``hil.session`` and ``hil.service``. Nothing is left behind:
``stop`` removes the container; the session's reaper (:mod:`hil.services.reaper`, hil's
Ryuk) removes its containers if the test process dies; and the session's leak audit names and
removes any container of the session still there, then gives the engine back (a private engine
used by no other session stops). testcontainers' own Ryuk stays disabled: it needs a pull.

Faults are realised by the engine: ``pause``/``resume`` freeze the container's cgroup,
``restart`` stops and starts the same container (same ports, same configuration).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hil.errors import PortInUse, ServiceError, ServiceExited, StartupTimeout
from hil.services.base import Service, ServiceSpec, ServiceState
from hil.services.engine import EngineLease, docker_unavailable_reason, lease_engine
from hil.package_data import cache_dir, link_tree, source_dirs
from hil.services.images import IMAGE_PYTHON, PROJECT_ROOT, SIMULATORS_IMAGE, resolve_image
from hil.services.logstream import HIL_MARKER, LogStream
from hil.services.ports import pick_free_port
from hil.services.readiness import Deadline, Readiness
from hil.services.reaper import OWNER_LABEL, SESSION_LABEL, owner, remove_orphans, remove_session_containers
from hil.services.tracking import ENV_MARKER, ResourceTracker, current_tracker

__all__ = ["ContainerBackend", "ContainerService", "docker_available", "docker_unavailable_reason"]



def docker_available() -> bool:
    return docker_unavailable_reason() is None


class _Session:
    """One tracker's use of the engine: its lease, its reaper, and its audit."""

    def __init__(self, tracker: ResourceTracker) -> None:
        self.tracker = tracker
        self.lease: EngineLease = lease_engine()
        self.client: Any = self.lease.engine.client()
        remove_orphans(self.client)  # of sessions killed together with their reaper
        env = {k: v for k, v in os.environ.items() if k != ENV_MARKER}
        self.reaper = subprocess.Popen(
            [sys.executable, "-m", "hil.services.reaper", tracker.session_id, self.lease.engine.url],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=PROJECT_ROOT)
        tracker.add_audit(self.audit)

    def audit(self) -> list[str]:
        with _sessions_lock:
            _sessions.pop(id(self.tracker), None)
        try:
            leaks = remove_session_containers(self.client, self.tracker.session_id)
        finally:
            self.client.close()
        leaks += self.lease.release()
        assert self.reaper.stdin is not None
        self.reaper.stdin.close()  # the reaper finds nothing left and ends
        try:
            self.reaper.wait(30)
        except subprocess.TimeoutExpired:
            self.reaper.kill()
            leaks.append(f"container reaper {self.reaper.pid} did not end")
        return leaks


_sessions: dict[int, _Session] = {}
_sessions_lock = threading.Lock()


def _session() -> _Session:
    tracker = current_tracker()
    with _sessions_lock:
        session = _sessions.get(id(tracker))
        if session is None:
            session = _sessions[id(tracker)] = _Session(tracker)
        return session


class ContainerService(Service):
    """A service run in a container. Create it through :class:`ContainerBackend`."""

    def __init__(self, spec: ServiceSpec, workdir: Path, log_path: Path) -> None:
        super().__init__(spec, workdir, log_path)
        self._container: Any = None
        self._log: LogStream | None = None
        self._status: int | None = None
        self._starts = 0
        self._image: str | None = None

    @property
    def log(self) -> LogStream | None:
        return self._log

    @property
    def container_id(self) -> str | None:
        return self._container.get_wrapped_container().id if self._container is not None else None

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
        self._image = self._resolve()  # an engine start or an image build is not start-up time
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
        """The engine stops and starts the same container: same ports, same configuration."""
        self._require(ServiceState.RUNNING, ServiceState.PAUSED, ServiceState.STOPPED, action="restart")
        if self._container is None:
            self._launch(readiness, Deadline(timeout))
            return
        wrapped = self._container.get_wrapped_container()
        self.state = ServiceState.STARTING
        self._close_log()
        wrapped.reload()
        if wrapped.status == "paused":
            wrapped.unpause()
        wrapped.stop(timeout=5)
        since = time.time()
        wrapped.start()
        self._follow(wrapped, since)
        self._await(readiness, Deadline(timeout))

    def pause(self) -> None:
        """Freeze every process of the container (the engine's cgroup freezer)."""
        self._require(ServiceState.RUNNING, action="pause")
        self._container.get_wrapped_container().pause()
        self.state = ServiceState.PAUSED

    def resume(self) -> None:
        self._require(ServiceState.PAUSED, action="resume")
        self._container.get_wrapped_container().unpause()
        self.state = ServiceState.RUNNING

    def _launch(self, readiness: Readiness, deadline: Deadline) -> None:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        testcontainers_config.ryuk_disabled = True  # hil's reaper does its job; Ryuk needs a pull

        session = _session()
        image = self._image or self._resolve()
        self.state = ServiceState.STARTING
        argv = list(self.spec.command(self.ports, self.workdir))
        mounts = list(self.spec.mounts)
        env = dict(self.spec.env)
        if self.spec.image == SIMULATORS_IMAGE:
            # This checkout's hil comes first on the path, as a tree of links to its folders (the
            # image's editable-install finder names the checkout the image was built from, which
            # need not be this one); the folders the links point at, and the generated protos in
            # hil's cache, are mounted at the same paths.
            tree = link_tree(self.workdir / "pythonpath")
            mounts += [*source_dirs().values(), cache_dir() / "protos"]
            if argv and argv[0] == sys.executable:
                argv[0] = str(IMAGE_PYTHON)  # the image's copy of this virtual environment
            env["PYTHONPATH"] = str(tree)
        container = DockerContainer(image, docker_client_kw={"environment": {"DOCKER_HOST": session.lease.engine.url}})
        container = container.with_command(argv).with_volume_mapping(str(self.workdir), str(self.workdir), "rw")
        for mount in mounts:
            container = container.with_volume_mapping(str(mount), str(mount), "ro")
        for mount in self.spec.writable:
            container = container.with_volume_mapping(str(mount), str(mount), "rw")
        for key, value in env.items():
            container = container.with_env(key, value)
        container = container.with_env(ENV_MARKER, session.tracker.session_id).with_kwargs(
            # init: a process as pid 1 ignores SIGTERM unless it handles it; docker's init
            # forwards it, so `stop` ends a service at once instead of after the kill timeout.
            network_mode="host", working_dir=str(self.workdir), init=True,
            labels={SESSION_LABEL: session.tracker.session_id, "hil.service": self.name, OWNER_LABEL: owner()})
        self._starts += 1
        try:
            container.start()
        except Exception as exc:  # noqa: BLE001
            self.state = ServiceState.STOPPED
            raise ServiceError(self.name, f"container did not start: {str(exc).splitlines()[0][:300]}",
                               log_path=self.log_path) from None
        self._container = container
        self._follow(container.get_wrapped_container(), None, image)
        self._await(readiness, deadline)

    def _resolve(self) -> str:
        """The image to run: built now if it does not exist yet (see :mod:`images`)."""
        return resolve_image(self.spec.image or "", _session().lease.engine)

    def _follow(self, wrapped: Any, since: float | None, image: str | None = None) -> None:
        self._log = LogStream(self.log_path)
        what = f"image {image}" if image else "restart by the engine"
        self._log.feed(f"{HIL_MARKER} start #{self._starts}: container {wrapped.short_id} ({what})\n".encode())
        kwargs = {"since": since} if since is not None else {}
        self._log.follow(wrapped.logs(stream=True, follow=True, **kwargs), self.name)

    def _await(self, readiness: Readiness, deadline: Deadline) -> None:
        assert self._log is not None
        try:
            readiness.wait(self, deadline)
        except (StartupTimeout, ServiceExited) as exc:
            in_use = self._log.search(self.spec.port_in_use) is not None
            self.stop()
            if in_use:
                raise PortInUse(self.name, f"port taken: {self.ports}", log_path=self.log_path) from None
            raise exc from None
        except BaseException:
            self.stop()
            raise
        self.state = ServiceState.RUNNING

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop and remove the container (idempotent)."""
        if self._container is None:
            return
        container, self._container = self._container, None
        wrapped = container.get_wrapped_container()
        try:
            wrapped.reload()
            if wrapped.status == "paused":
                wrapped.unpause()
            wrapped.stop(timeout=int(timeout))
            wrapped.reload()
            self._status = int(wrapped.attrs.get("State", {}).get("ExitCode", 0))
            wrapped.remove(force=True)
        except Exception:  # already gone: stop's promise holds  # noqa: BLE001
            self._status = self._status if self._status is not None else -1
        if self._log is not None:
            self._log.join()
        self._close_log()
        self.state = ServiceState.STOPPED


class ContainerBackend:
    """Creates :class:`ContainerService` instances; same layout as the process backend.

    A spec without an image runs as a process of a :class:`ProcessBackend` on the same root, so
    one backend serves a whole target.
    """

    name = "container"

    def __init__(self, root: Path) -> None:
        from hil.services.process import ProcessBackend

        reason = docker_unavailable_reason()
        if reason is not None:
            raise ServiceError("container-backend", reason)
        self.root = root
        self._processes = ProcessBackend(root)

    def create(self, spec: ServiceSpec) -> Service:
        if spec.image is None:
            return self._processes.create(spec)
        service = self._processes.create(spec)  # validates the name and makes the working directory
        return ContainerService(spec, service.workdir, service.log_path)
