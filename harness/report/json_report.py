"""The run record as a JSON file: the canonical artefact of a run.

Every other output (JUnit, HTML, summaries) can be regenerated from this file, so it is written
only after validation and atomically: a file named ``*.json`` in a report directory is always a
complete, valid record.
"""

from __future__ import annotations

import json
from pathlib import Path

from hil.errors import ReportError
from hil.report.atomic_file import write_atomically
from hil.report.record import RunRecord
from hil.report.schema import validate_record

__all__ = ["load_record", "write_record"]


def write_record(record: RunRecord, path: Path) -> None:
    """Validate ``record`` and write it to ``path`` as indented UTF-8 JSON.

    Raises:
        ReportError: the record does not validate (nothing is written), or the write failed.
    """
    data = record.to_dict()
    validate_record(data)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomically(Path(path), text.encode("utf-8"))


def load_record(path: Path) -> RunRecord:
    """Read and validate a run record file.

    Raises:
        ReportError: the file is missing, not JSON, or not a valid record; the message names the
            file and, for schema problems, the JSON path.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read run record {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a JSON run record ({exc})") from None
    try:
        return RunRecord.from_dict(data)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from None
