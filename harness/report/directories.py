"""One report directory per command run, and ``latest`` pointing at the newest.

Why: a run record is the product of a run, and a later command must never destroy it (``hil fuzz``
after ``hil run`` used to replace the conformance record with its own 10 checks). So every command
that writes a record gets a fresh directory named by its start time and its command, e.g.
``reports/20261206T041500Z-run/``, and ``reports/latest`` (a relative symlink, replaced in one
step) names the newest one for people and CI scripts that want "the last report".
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from hil.errors import ReportError
from hil.report.atomic_file import make_public_dirs

__all__ = ["LATEST", "new_report_dir", "point_latest"]

LATEST: Final = "latest"
_COMMAND: Final = re.compile(r"[^a-z0-9-]+")


def new_report_dir(base: Path, command: str, now: datetime | None = None) -> Path:
    """Create and return ``base/<UTC time>-<command>``; a second one in the same second gets ``-2``...

    Raises:
        ReportError: the directory cannot be created.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    name = f"{moment:%Y%m%dT%H%M%SZ}-{_COMMAND.sub('-', command.lower()).strip('-') or 'run'}"
    try:
        make_public_dirs(Path(base))
        for attempt in range(1, 1000):
            candidate = Path(base) / (name if attempt == 1 else f"{name}-{attempt}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            candidate.chmod(0o755)
            return candidate
    except OSError as exc:
        raise ReportError(f"cannot create a report directory in {base}: {exc.strerror or exc}") from None
    raise ReportError(f"{base}: too many report directories named {name}")


def point_latest(base: Path, run_dir: Path) -> Path:
    """Make ``base/latest`` a relative symlink to ``run_dir`` (atomically); return the link.

    Raises:
        ReportError: the link cannot be made (e.g. ``latest`` exists and is a real directory).
    """
    link = Path(base) / LATEST
    if link.exists() and not link.is_symlink():
        raise ReportError(f"{link} exists and is not a symlink; move it away so hil can point it at the newest report")
    temp = Path(base) / f".{LATEST}.{os.getpid()}.tmp"
    try:
        temp.unlink(missing_ok=True)
        temp.symlink_to(os.path.relpath(run_dir, base), target_is_directory=True)
        os.replace(temp, link)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ReportError(f"cannot point {link} at {run_dir}: {exc.strerror or exc}") from None
    return link
