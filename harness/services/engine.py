"""The Docker engine the container backend talks to: one already running, or a private one.

Which engine, in this order, and why:

1. ``DOCKER_HOST``, when set: the user chose it. It must answer, or the backend is unavailable.
2. The system engine (``/var/run/docker.sock``) when it answers a ping.
3. A **private** ``dockerd`` that hil starts itself, when the user is root and Debian's
   ``docker.io`` is installed (``scripts/setup`` installs it). It has no network side effects
   (``--bridge=none --iptables=false``: no docker0 bridge, no iptables rules; containers use the
   host network and the loopback ports hil picks) and keeps everything under hil's cache
   directory (``$XDG_CACHE_HOME/hil/engine`` or ``~/.cache/hil/engine``): data root (so built
   images survive between runs), exec root, pid file and socket.

An engine hil did not start is used and left alone. The private engine is shared by the hil
sessions running at the same time on this machine (parallel test runs, a ``hil`` command inside
a pytest session): each session holds a *shared* ``flock`` on ``users.lock`` while it uses the
engine, and the session that releases last (it can take the lock *exclusively*) stops the
daemon. A lock dies with its process, so a killed session never keeps the engine alive; its
reaper (:mod:`hil.services.reaper`) stops the engine when nobody else uses it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any
from collections.abc import Iterator

from hil.errors import ServiceError

__all__ = [
    "Engine",
    "EngineLease",
    "cache_dir",
    "engine_choice",
    "lease_engine",
    "private_engine_pid",
    "stop_private_engine_if_unused",
]

SYSTEM_SOCKET = Path("/var/run/docker.sock")
START_TIMEOUT = 30.0


def cache_dir() -> Path:
    """hil's cache directory: kept between runs, never in the checkout (a fresh clone reuses it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hil"


def _engine_dir() -> Path:
    return cache_dir() / "engine"


def _socket() -> Path:
    return _engine_dir() / "docker.sock"


def _pidfile() -> Path:
    return _engine_dir() / "dockerd.pid"


def _dockerd() -> str | None:
    return shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")


@dataclass(frozen=True)
class Engine:
    """An engine that answers: its API address and, in words, why it is the one used."""

    url: str
    origin: str  # "DOCKER_HOST", "system" or "private"
    why: str

    def client(self, timeout: float = 30.0) -> Any:
        """A docker-py client of this engine (the caller closes it)."""
        import docker  # lazily: only the container backend needs the client library

        return docker.DockerClient(base_url=self.url, timeout=int(timeout), version="auto")


def _ping(url: str, timeout: float = 3.0) -> str | None:
    """None when the engine at ``url`` answers a ping, else why not (one line)."""
    try:
        import docker

        client = docker.DockerClient(base_url=url, timeout=int(max(timeout, 1)), version="auto")
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the engine means "does not answer"  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    return None


@cache
def engine_choice() -> tuple[Engine | None, str]:
    """The engine hil would use, without starting anything, and why (for ``hil doctor``).

    Returns ``(engine, why)``: ``engine`` is None when hil would have to start the private one
    (``why`` then says whether it can) or when no engine can be had at all.
    """
    host = os.environ.get("DOCKER_HOST")
    if host:
        failure = _ping(host)
        if failure is None:
            return Engine(host, "DOCKER_HOST", f"DOCKER_HOST={host} answers"), ""
        return None, f"DOCKER_HOST={host} does not answer a ping ({failure})"
    if SYSTEM_SOCKET.exists() and _ping(f"unix://{SYSTEM_SOCKET}") is None:
        return Engine(f"unix://{SYSTEM_SOCKET}", "system", f"the system engine answers on {SYSTEM_SOCKET}"), ""
    if _socket().exists() and _ping(f"unix://{_socket()}") is None:
        return (Engine(f"unix://{_socket()}", "private",
                       f"hil's private dockerd already runs on {_socket()} (another hil session started it)"), "")
    if os.geteuid() != 0:
        return None, "no engine answers (no DOCKER_HOST, no /var/run/docker.sock) and hil starts its own only as root"
    if _dockerd() is None:
        return None, "no engine answers and dockerd is not installed (run scripts/setup: it installs docker.io)"
    return None, f"no engine answers; hil starts a private dockerd (no bridge, no iptables) on {_socket()}"


def docker_unavailable_reason() -> str | None:
    """None when the container backend can have an engine (one answering, or a private one)."""
    engine, why = engine_choice()
    if engine is not None or why.startswith("no engine answers; hil starts"):
        return None
    return why


@contextmanager
def _start_lock() -> Iterator[None]:
    """Serialises starting and stopping the private engine between sessions and reapers."""
    _engine_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(_engine_dir() / "start.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EngineLease:
    """One session's use of an engine; :meth:`release` stops a private engine used by nobody else."""

    def __init__(self, engine: Engine, users: IO[str] | None) -> None:
        self.engine = engine
        self._users = users

    def release(self) -> list[str]:
        """Give the engine back; returns leak lines (a private engine that would not stop)."""
        if self._users is None:
            return []
        users, self._users = self._users, None
        users.close()  # drops our shared lock
        return stop_private_engine_if_unused()


def lease_engine() -> EngineLease:
    """An engine that answers, for one session: the user's or the system's, else a private one."""
    engine, why = engine_choice()
    if engine is not None and engine.origin != "private":
        return EngineLease(engine, None)
    if docker_unavailable_reason() is not None:
        raise ServiceError("docker-engine", why)
    with _start_lock():
        users = open(_engine_dir() / "users.lock", "a")  # noqa: SIM115
        fcntl.flock(users, fcntl.LOCK_SH)
        if _ping(f"unix://{_socket()}") is not None:
            try:
                _start_private()
            except BaseException:
                users.close()
                raise
    url = f"unix://{_socket()}"
    return EngineLease(Engine(url, "private", f"hil's private dockerd on {_socket()}"), users)


def _start_private() -> None:
    directory = _engine_dir()
    binary = _dockerd()
    assert binary is not None
    _socket().unlink(missing_ok=True)
    log = open(directory / "dockerd.log", "ab")  # noqa: SIM115
    argv = [
        binary,
        "--bridge=none", "--iptables=false", "--ip-masq=false", "--userland-proxy=false",
        f"--data-root={directory / 'data'}",
        f"--exec-root={directory / 'exec'}",
        f"--pidfile={_pidfile()}",
        f"-H=unix://{_socket()}",
        "--log-level=warn",
    ]
    # Its own session: neither a Ctrl-C of the terminal nor the death of this session ends it
    # (another session may share it); no HIL_SESSION_ID marker, for the same reason.
    env = {k: v for k, v in os.environ.items() if k != "HIL_SESSION_ID" and k != "DOCKER_HOST"}
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                             start_new_session=True, close_fds=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    # Readiness is the API ping on the socket; dockerd exiting ends the wait at once.
    while (failure := _ping(f"unix://{_socket()}", timeout=2)) is not None:
        if popen.poll() is not None:
            raise ServiceError("docker-engine", f"dockerd exited with status {popen.returncode}; see {directory / 'dockerd.log'}")
        if time.monotonic() > deadline:
            popen.kill()
            raise ServiceError("docker-engine", f"dockerd did not answer within {START_TIMEOUT:.0f} s ({failure})")
        time.sleep(0.05)  # back-off between pings of a socket that is not bound yet


def private_engine_pid() -> int | None:
    """The pid of hil's private dockerd if it runs, else None."""
    try:
        pid = int(_pidfile().read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if b"dockerd" in cmdline and str(_engine_dir()).encode() in cmdline else None


def stop_private_engine_if_unused(timeout: float = 20.0) -> list[str]:
    """Stop hil's private dockerd when no session holds it; returns leak lines if it would not stop."""
    if private_engine_pid() is None:
        return []
    with _start_lock(), open(_engine_dir() / "users.lock", "a") as users:
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # another session uses it: it stops it when it is done
        pid = private_engine_pid()
        if pid is None:
            return []
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _unmount_leftovers()
                return [f"private dockerd {pid} did not stop within {timeout:.0f} s (killed)"]
            time.sleep(0.05)  # a non-child cannot be waited for: poll its /proc entry
        _unmount_leftovers()
    return []


def _unmount_leftovers() -> None:
    """Unmount what a stopped dockerd leaves mounted in its roots (20.10 keeps the bind mount
    of its default network namespace under the exec root), so that nothing of it outlives it."""
    prefix = f"{_engine_dir()}/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reaps it when it is our child
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
