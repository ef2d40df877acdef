"""Writing report files so that a reader never sees half of one.

A run record is read by CI steps, by ``hil report merge`` and by people while a run may still be
going; a crash or a full disk mid-write must leave either the old file or the new one, never a
truncated mix. Writing to a temporary file in the same directory and renaming it over the target
gives that on POSIX (``os.replace`` is atomic within one file system).

Reports are meant to be read by others (a CI artifact server, an auditor's account), so files are
0644 and the folders made for them 0755, whatever the umask; ``mkstemp`` alone would leave 0600.
Keys never go through here: they are written by ``hil.pki`` and stay 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hil.errors import ReportError

__all__ = ["PUBLIC_DIR_MODE", "PUBLIC_FILE_MODE", "make_public_dirs", "write_atomically"]

PUBLIC_FILE_MODE = 0o644
PUBLIC_DIR_MODE = 0o755


def make_public_dirs(path: Path) -> None:
    """Create ``path`` and missing parents, each new one world-readable (0755)."""
    missing = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(PUBLIC_DIR_MODE)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step, creating parent directories as needed.

    Raises:
        ReportError: the file could not be written (message names the path and the OS reason).
    """
    path = Path(path)
    temp_name: str | None = None
    try:
        make_public_dirs(path.parent)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, PUBLIC_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
        temp_name = None
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
