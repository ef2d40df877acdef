"""The end-of-run step: build the run record from what the pytest plugin collected, write all projections.

The plugin keeps its own light per-test state while the run is going (pytest spreads one test over
three reports); this module is the one place that turns that state into a :class:`RunRecord` and
writes every output format from it, so adding a format (HTML) means adding one line here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from hil.report.atomic_file import write_atomically
from hil.report.evidence import sha256_of
from hil.report.html import write_html
from hil.report.json_report import write_record
from hil.report.junit import write_junit
from hil.report.record import CheckRecord, Evidence, Finding, RunRecorder, Target
from hil.requirements import RequirementRegistry

__all__ = ["HTML_FILE", "JUNIT_FILE", "RECORD_FILE", "RECORD_HASH_FILE", "write_reports"]

RECORD_FILE: Final = "run-record.json"
#: ``sha256sum`` format, so ``sha256sum -c run-record.json.sha256`` verifies a report handed on.
RECORD_HASH_FILE: Final = "run-record.json.sha256"
JUNIT_FILE: Final = "junit.xml"
HTML_FILE: Final = "report.html"


class TargetLike(Protocol):
    """What a report needs of a target (``hil.targets.Target`` satisfies it)."""

    name: str
    kind: str
    description: str


class CollectedCheck(Protocol):
    """What the plugin collects per test (``hil.fixtures.recording._Check`` satisfies it).

    ``kind``, ``skip_kind`` and ``reproduce`` are optional (read with defaults): older callers
    collect without them.
    """

    # Read-only: a mutable ``list`` attribute of the plugin's check satisfies a ``Sequence`` one.
    @property
    def nodeid(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def requirement_ids(self) -> Sequence[str]: ...
    @property
    def finding(self) -> Mapping[str, str] | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def message(self) -> str: ...
    @property
    def evidence(self) -> Sequence[Evidence | Mapping[str, str]]: ...


def write_reports(
    report_dir: Path,
    *,
    target: TargetLike,
    checks: Iterable[CollectedCheck],
    seeds: Mapping[str, Any],
    sdk_names: Sequence[str],
    started_at: float | datetime,
    registry: RequirementRegistry | None = None,
    command: str = "pytest",
    bench: Path | None = None,
) -> list[Path]:
    """Write ``run-record.json``, ``junit.xml`` and ``report.html`` into ``report_dir``; return their paths.

    Args:
        started_at: when the run began, as an aware ``datetime`` or a POSIX timestamp.
        seeds: seeds whose value is ``None`` (e.g. Hypothesis without ``--hypothesis-seed``) are
            left out: there is nothing to reproduce with.

    Raises:
        ReportError: the record is invalid (nothing is written) or a file cannot be written.
    """
    start = started_at if isinstance(started_at, datetime) else datetime.fromtimestamp(started_at, UTC)
    recorder = RunRecorder(
        target=Target(target.name, target.kind, getattr(target, "description", "") or ""),
        sdk_names=sdk_names,
        seeds={name: value for name, value in seeds.items() if value is not None},
        registry=registry,
        started_at=start,
        command=command,
        bench=bench,
    )
    for check in checks:
        recorder.add(_check_record(check, Path(report_dir)))
    record = recorder.finish()

    record_path = Path(report_dir) / RECORD_FILE
    junit_path = Path(report_dir) / JUNIT_FILE
    html_path = Path(report_dir) / HTML_FILE
    hash_path = Path(report_dir) / RECORD_HASH_FILE
    write_record(record, record_path)
    record_hash = sha256_of(record_path)
    write_atomically(hash_path, f"{record_hash}  {RECORD_FILE}\n".encode())
    write_junit(record, junit_path)
    write_html(record, html_path, record_sha256=record_hash)
    return [record_path, junit_path, html_path]


def _evidence(item: Evidence | Mapping[str, str], report_dir: Path) -> Evidence:
    """Evidence as recorded; a plain mapping (a caller of our own) is hashed from the file on disk."""
    if isinstance(item, Evidence):
        return item
    digest = item.get("sha256")
    if not digest and (report_dir / item["path"]).is_file():
        digest = sha256_of(report_dir / item["path"])
    return Evidence(item["path"], item.get("kind", "file"), item.get("description", ""), digest or None)


def _check_record(check: CollectedCheck, report_dir: Path) -> CheckRecord:
    finding = check.finding
    return CheckRecord(
        id=check.nodeid,
        name=check.name,
        requirement_ids=tuple(dict.fromkeys(check.requirement_ids)),
        outcome=check.outcome,  # type: ignore[arg-type]  # CheckRecord validates it
        duration_s=max(0.0, float(check.duration)),
        message=check.message or "",
        finding=None if finding is None else Finding(
            str(finding["requirement"]), str(finding.get("reason", "")), str(finding.get("sdk", ""))
        ),
        evidence=tuple(_evidence(item, report_dir) for item in check.evidence),
        kind=getattr(check, "kind", "sdk"),  # CheckRecord validates it
        skip_kind=getattr(check, "skip_kind", None),
        reproduce=getattr(check, "reproduce", ""),
        faults=tuple(
            step.to_dict() if hasattr(step, "to_dict") else dict(step) for step in getattr(check, "faults", ())
        ),
    )

