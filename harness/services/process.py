"""The process backend (the default): each service is a local subprocess.

Guarantees, and how they are kept:

* **Own process group** (``process_group=0``): stop signals the whole group, so helpers a service
  forks die with it, and a Ctrl-C in the terminal reaches hil, which then stops services in order.
* **Dies with us, even on SIGKILL**: the child is exec'd through ``setpriv --pdeathsig KILL``, so
  the kernel kills it when its parent dies. PDEATHSIG follows the *thread* that forked, not the
  process, so every child is forked by one launcher thread that lives as long as the process:
  a service (re)started from a short-lived worker thread must not die with that thread.
  ``setpriv`` costs one exec of a small binary, far less than a Python watchdog.
* **Free ports picked by hil**, with a retry when the service reports "address in use".
* **Output** goes through a pipe into the per-service log file (see :mod:`logstream`).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from hil.errors import PortInUse, ServiceError, ServiceExited, StartupTimeout
from hil.services.base import Service, ServiceSpec, ServiceState
from hil.services.logstream import HIL_MARKER, LogStream
from hil.services.ports import pick_free_port
from hil.services.readiness import Deadline, Readiness
from hil.services.tracking import current_tracker

__all__ = ["ProcessBackend", "ProcessService"]

PORT_RETRIES = 5
_SETPRIV = shutil.which("setpriv")


class _Launcher:
    """The one thread that forks every service process (see the module docstring: PDEATHSIG)."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = (
            queue.Queue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def spawn(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="hil-launcher", daemon=True)
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((make, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            make, future = self._requests.get()
            try:
                future.set_result(make())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it in its own thread
                future.set_exception(exc)


_LAUNCHER = _Launcher()


class ProcessService(Service):
    """A service run as a local subprocess. Create it through :class:`ProcessBackend`."""

    def __init__(self, spec: ServiceSpec, workdir: Path, log_path: Path) -> None:
        super().__init__(spec, workdir, log_path)
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: LogStream | None = None
        self._starts = 0
        self._lock = threading.Lock()

    @property
    def log(self) -> LogStream | None:
        return self._log

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def exited(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    # -- life cycle ------------------------------------------------------------------------
    def start(self, readiness: Readiness, *, timeout: float = 15.0) -> None:
        self._require(ServiceState.NEW, ServiceState.STOPPED, action="start")
        deadline = Deadline(timeout)
        for attempt in range(1, PORT_RETRIES + 1):
            self._ports = {name: pick_free_port(self.host) for name in self.spec.ports}
            try:
                self._launch(readiness, deadline)
                return
            except PortInUse:
                if attempt == PORT_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def restart(self, readiness: Readiness, *, timeout: float = 15.0) -> None:
        self._require(ServiceState.RUNNING, ServiceState.PAUSED, ServiceState.STOPPED, action="restart")
        self.stop()
        self._launch(readiness, Deadline(timeout))

    def pause(self) -> None:
        """SIGSTOP to the whole process group: the kernel freezes it, sockets stay open."""
        self._require(ServiceState.RUNNING, action="pause")
        assert self._popen is not None
        self._signal(self._popen, signal.SIGSTOP)
        self.state = ServiceState.PAUSED

    def resume(self) -> None:
        self._require(ServiceState.PAUSED, action="resume")
        assert self._popen is not None
        self._signal(self._popen, signal.SIGCONT)
        self.state = ServiceState.RUNNING

    def _launch(self, readiness: Readiness, deadline: Deadline) -> None:
        self.state = ServiceState.STARTING
        argv = list(self.spec.command(self.ports, self.workdir))
        if not argv or shutil.which(argv[0]) is None:
            # Checked here because behind setpriv an exec failure would look like a crash.
            self.state = ServiceState.STOPPED
            raise ServiceError(self.name, f"cannot run {argv[0] if argv else '(empty command)'!r}: not found or not executable")
        if _SETPRIV is not None:
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        self._starts += 1
        log = LogStream(self.log_path)
        log.feed(f"{HIL_MARKER} start #{self._starts}: {' '.join(argv)}\n".encode())
        try:
            env = current_tracker().child_env(dict(self.spec.env))
            popen = _LAUNCHER.spawn(
                lambda: subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env=env,
                    process_group=0,
                )
            )
        except OSError as exc:
            log.close()
            self.state = ServiceState.STOPPED
            raise ServiceError(self.name, f"cannot run {argv[0]!r}: {exc.strerror}", log_path=self.log_path) from None
        assert popen.stdout is not None
        current_tracker().add_process(popen.pid, self.name)
        self._popen, self._log = popen, log
        log.follow(popen.stdout, self.name)
        try:
            readiness.wait(self, deadline)
        except (StartupTimeout, ServiceExited) as exc:
            self.stop()
            if log.search(self.spec.port_in_use) is not None:
                raise PortInUse(self.name, f"port taken: {self.ports}", log_path=self.log_path) from None
            raise exc from None
        except BaseException:
            self.stop()
            raise
        self.state = ServiceState.RUNNING

    def stop(self, *, timeout: float = 5.0) -> None:
        with self._lock:
            popen = self._popen
            if popen is None or self.state is ServiceState.STOPPED:
                return  # never started, or already stopped: stop() is idempotent
            if popen.poll() is None:
                self._signal(popen, signal.SIGTERM)
                self._signal(popen, signal.SIGCONT)  # a paused group acts on SIGTERM only once continued
                try:
                    popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal(popen, signal.SIGKILL)
                    popen.wait()
            # The group may hold children that outlive the leader: end them too.
            self._signal(popen, signal.SIGKILL)
            if self._log is not None:
                self._log.join()
                self._log.close()
            if popen.stdout is not None:
                popen.stdout.close()
            self.state = ServiceState.STOPPED

    @staticmethod
    def _signal(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class ProcessBackend:
    """Creates :class:`ProcessService` instances whose files live under ``root``.

    Args:
        root: a private directory (normally a subdirectory of the run directory); each service
            gets ``root/<name>/`` as working directory and ``root/<name>/<name>.log`` as its log.
    """

    name = "process"

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, spec: ServiceSpec) -> ProcessService:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", spec.name):
            raise ServiceError(spec.name, "service names may only use letters, digits, '.', '_' and '-'")
        workdir = self.root / spec.name
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return ProcessService(spec, workdir, workdir / f"{spec.name}.log")
