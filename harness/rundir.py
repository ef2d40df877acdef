"""The per-run temporary directory: keys, configs and logs of one run, removed at teardown.

It is private (0700, from mkdtemp) because it holds private keys, and it is recorded with the
session tracker so the leak audit notices one that teardown forgot.

Teardown does not run when the owner is SIGKILLed, so each directory is labelled in its name with
its owner's pid and session (``hil-run-<pid>-<session>-XXXXXXXX``): the next hil start removes
those whose owner is dead (:func:`remove_orphaned_run_dirs`), and until then the leak audit of
the session they belong to names them (:func:`orphaned_run_dirs`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from hil.services.tracking import current_tracker, ENV_MARKER

__all__ = ["RunDirectory", "orphaned_run_dirs", "remove_orphaned_run_dirs"]

#: ``hil-<kind>-<pid>-<session>-<random>``, as :class:`RunDirectory` names them.
_LABEL: Final = re.compile(r"^hil-[a-z]+-(?P<pid>\d+)-(?P<session>[0-9a-f]{12})-")


def _session_label() -> str:
    """The session a directory belongs to: the inherited marker of a child, else our own."""
    return (os.environ.get(ENV_MARKER) or current_tracker().session_id)[:12]


class RunDirectory:
    """A private temporary directory with named subdirectories, removed by :meth:`remove`."""

    def __init__(self, prefix: str = "hil-run-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-{_session_label()}-"))
        current_tracker().add_dir(self.path)

    def sub(self, name: str) -> Path:
        """A subdirectory (created, private) such as ``pki`` or ``services/broker``."""
        path = self.path / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def remove(self) -> None:
        """Delete everything; idempotent."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def orphaned_run_dirs(session_id: str | None = None) -> list[Path]:
    """Labelled run directories in the temp dir whose owner is dead (of one session, if given).

    A pid reused by a live process hides its orphan until that process ends: the safe side.
    """
    orphans: list[Path] = []
    try:
        entries = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return []
    for entry in entries:
        label = _LABEL.match(entry.name)
        if label is None or (session_id is not None and label["session"] != session_id[:12]):
            continue
        if not _alive(int(label["pid"])) and entry.is_dir() and not entry.is_symlink():
            orphans.append(entry)
    return sorted(orphans)


def remove_orphaned_run_dirs() -> list[Path]:
    """Remove what SIGKILLed owners left behind (keys included); returns what it removed."""
    removed = []
    for path in orphaned_run_dirs():
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed
