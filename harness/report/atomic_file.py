"""Writing report files so that a reader never sees half of one.

A run record is read by CI steps, by ``hil report merge`` and by people while a run may still be
going; a crash or a full disk mid-write must leave either the old file or the new one, never a
truncated mix. Writing to a temporary file in the same directory and renaming it over the target
gives that on POSIX (``os.replace`` is atomic within one file system).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hil.errors import ReportError

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step, creating parent directories as needed.

    Raises:
        ReportError: the file could not be written (message names the path and the OS reason).
    """
    path = Path(path)
    temp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
