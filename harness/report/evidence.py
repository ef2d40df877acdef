"""Evidence files: written next to the run record, redacted, hashed, world-readable.

Every piece of evidence a check leaves (its decoded traffic, the exception and traceback, the
service log excerpts) goes through :func:`write_evidence`, which is why each of these holds at
once: secrets are removed before the bytes reach the disk (``hil.report.redaction``), the
file is 0644 inside a 0755 folder, and the returned :class:`Evidence` carries the SHA-256 of
exactly the bytes written, so a report can be verified after it was handed on.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Final

from hil.report.atomic_file import write_atomically
from hil.report.record import Evidence
from hil.report.redaction import redact

__all__ = ["EVIDENCE_DIR", "check_slug", "sha256_of", "write_evidence"]

EVIDENCE_DIR: Final = "evidence"


def check_slug(nodeid: str) -> str:
    """A folder name for one check's evidence (file-system safe, bounded)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150] or "check"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def write_evidence(report_dir: Path, nodeid: str, name: str, text: str, *, kind: str, description: str = "") -> Evidence:
    """Write ``text`` (redacted) as ``evidence/<check>/<name>`` under ``report_dir``.

    Raises:
        ReportError: the file cannot be written.
    """
    data = redact(text).encode("utf-8", "replace")
    relative = Path(EVIDENCE_DIR) / check_slug(nodeid) / name
    write_atomically(Path(report_dir) / relative, data)
    return Evidence(relative.as_posix(), kind, description, hashlib.sha256(data).hexdigest())
