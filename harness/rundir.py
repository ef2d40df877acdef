"""The per-run temporary directory: keys, configs and logs of one run, removed at teardown.

It is private (0700, from mkdtemp) because it holds private keys, and it is recorded with the
session tracker so the leak audit notices one that teardown forgot.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from hil.services.tracking import current_tracker

__all__ = ["RunDirectory"]


class RunDirectory:
    """A private temporary directory with named subdirectories, removed by :meth:`remove`."""

    def __init__(self, prefix: str = "hil-run-") -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
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
