"""What a hil session owns, and the leak audit that proves it was all given back.

Every child process hil starts carries ``HIL_SESSION_ID=<id>`` in its environment, so the audit
finds it (and anything *it* started) by reading ``/proc/<pid>/environ``: a marker survives
double forks and re-parenting, unlike a list of PIDs. Every port the harness picks and every
temporary directory it creates is recorded here too, and a run directory left by a SIGKILLed
process of the session is found by its label (``hil.rundir``). The audit runs at the end of
every pytest session and every ``hil`` command; whatever it finds is reported by name and then
cleaned up, so one leak does not poison the next run.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hil.errors import HarnessLeak

__all__ = ["ENV_MARKER", "LeakReport", "ResourceTracker", "current_tracker", "own_tracker"]

ENV_MARKER = "HIL_SESSION_ID"
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass
class LeakReport:
    processes: list[tuple[int, str]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    temp_dirs: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"process {pid} ({cmd})" for pid, cmd in self.processes]
            + [f"listening port 127.0.0.1:{port}" for port in self.ports]
            + [f"temp dir {path}" for path in self.temp_dirs]
        )

    def __bool__(self) -> bool:
        return bool(self.processes or self.ports or self.temp_dirs)


class ResourceTracker:
    """The resources of one session. One per process: see :func:`current_tracker`."""

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id or uuid.uuid4().hex
        self._ports: set[int] = set()
        self._dirs: set[Path] = set()
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()
        self._audits: list[Callable[[], list[str]]] = []

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a child process: ours, plus the session marker, plus ``extra``."""
        env = dict(os.environ)
        env.update(extra or {})
        env[ENV_MARKER] = self.session_id
        return env

    def add_process(self, pid: int, name: str) -> None:
        """Remember which service a pid belongs to, so a leak report can name it."""
        with self._lock:
            self._names[pid] = name

    def add_port(self, port: int) -> None:
        with self._lock:
            self._ports.add(port)

    def add_dir(self, path: Path) -> None:
        with self._lock:
            self._dirs.add(path)

    def add_audit(self, audit: Callable[[], list[str]]) -> None:
        """An audit of resources outside this module's view (containers, a private engine).

        Called once, at :meth:`audit`: it gives back what the session still holds and returns
        a line for each thing it found left behind (and removed).
        """
        with self._lock:
            self._audits.append(audit)

    # -- the audit ---------------------------------------------------------------------------
    def find_leaks(self) -> LeakReport:
        """What is still there: marked processes, our ports, our temp dirs, and the run
        directories of this session's processes that died without removing them (SIGKILL)."""
        from hil.rundir import orphaned_run_dirs  # rundir records its directories here

        with self._lock:
            ports, dirs, names = set(self._ports), set(self._dirs), dict(self._names)
        return LeakReport(
            processes=[
                (pid, f"service {names[pid]}: {cmd}" if pid in names else cmd)
                for pid, cmd in _marked_processes(self.session_id)
            ],
            ports=sorted(ports & _listening_ports()),
            temp_dirs=sorted({d for d in dirs if d.exists()} | set(orphaned_run_dirs(self.session_id))),
        )

    def audit(self, *, clean_up: bool = True) -> None:
        """Raise :class:`HarnessLeak` naming everything that outlived its run.

        Args:
            clean_up: after reporting, kill leaked processes and remove leaked directories,
                so that the next run starts clean.
        """
        with self._lock:
            audits, self._audits = self._audits, []
        extra = [line for audit in audits for line in audit()]
        report = self.find_leaks()
        if not report and not extra:
            return
        lines = report.lines() + extra
        if clean_up:
            for pid, _ in report.processes:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for path in report.temp_dirs:
                shutil.rmtree(path, ignore_errors=True)
        raise HarnessLeak(lines)


def _marked_processes(session_id: str) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose environment carries our session marker."""
    needle = f"{ENV_MARKER}={session_id}".encode()
    own = os.getpid()
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue  # already dead, only waiting to be reaped
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(entry.name), cmd[:120]))
    return found


def _listening_ports() -> set[int]:
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 3 and cols[3] == _LISTEN:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


_current: ResourceTracker | None = None
_current_lock = threading.Lock()


def current_tracker() -> ResourceTracker:
    """The tracker of this process's session (created on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = ResourceTracker()
        return _current


@contextmanager
def own_tracker() -> Iterator[ResourceTracker]:
    """Run a block with a tracker of its own, so its audit judges only what the block started.

    A ``hil`` command called in-process (from a test, or from another tool) must neither report
    nor kill the services of its caller's session.
    """
    global _current
    with _current_lock:
        previous, _current = _current, ResourceTracker()
        tracker = _current
    try:
        yield tracker
    finally:
        with _current_lock:
            _current = previous
