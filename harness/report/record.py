"""The run record: the one canonical account of a run that every report is projected from.

A run produces exactly one :class:`RunRecord` (schema version ``2.0``; ``1.0`` records are still
read, upgraded with "unknown" where they lack a field). The JSON file, the JUnit
XML and the HTML page are all *projections* of it, never independent outputs, so they cannot
disagree. That is why the record carries more than any single projection needs: exact SDK
versions, interpreter, platform, seeds (to reproduce), and the whole requirement registry (so a
report can show the requirements no check exercised).

Life cycle (driven by the pytest plugin)::

    recorder = RunRecorder(target=Target("sim-astarte", "simulator"),
                           sdk_names=["astarte-device-sdk"], seeds={"hypothesis": 1234})
    recorder.add(CheckRecord.from_test(nodeid=..., name=..., requirement_ids=[...],
                                       outcome="passed", duration_s=0.12))
    record = recorder.finish()

Projections defined here: :func:`coverage` (per requirement: which checks, what status) and
:func:`merge_records` (several targets / SDK versions side by side, no check dropped).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

from hil.errors import ReportError
from hil.report.outcome import classify_outcome, Outcome as Outcome, OUTCOMES, skip_kind, SkipKind
from hil.report.schema import validate_record
from hil.requirements import Level, RequirementRegistry, default_registry

__all__ = [
    "SCHEMA_VERSION",
    "CheckRecord",
    "CoverageStatus",
    "Evidence",
    "Finding",
    "MergedRuns",
    "Outcome",
    "PlatformInfo",
    "Provenance",
    "PythonInfo",
    "RequirementCoverage",
    "RequirementSummary",
    "RunKey",
    "RunRecord",
    "RunRecorder",
    "SdkVersion",
    "Target",
    "classify_outcome",
    "coverage",
    "installed_sdk_versions",
    "merge_records",
    "summarize_longrepr",
]

SCHEMA_VERSION: Final = "2.0"
#: Versions :meth:`RunRecord.from_dict` reads (older ones are upgraded on load).
READABLE_VERSIONS: Final = ("1.0", "2.0")

CoverageStatus = Literal["covered-passing", "failing", "finding", "skipped", "not-checked"]

#: Who a check judges: an SDK (``tests/conformance``) or one of hil's simulators (hil's own tests,
#: whose requirement markers say which server behaviour the simulator reproduces faithfully).
CheckKind = Literal["sdk", "simulator"]
CHECK_KINDS: Final[tuple[str, ...]] = get_args(CheckKind)

SeedValue = int | str

#: A failure message is a hint for a human scanning a table, not the traceback (that stays in
#: the evidence / pytest output); long texts make JUnit viewers and HTML tables unreadable.
_MESSAGE_LIMIT: Final = 500


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: one spelling, so records from different hosts compare."""
    if moment.tzinfo is None:
        raise ReportError(f"timestamp {moment.isoformat()} has no time zone; use UTC")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical_package_name(name: str) -> str:
    """PEP 503 normalisation, so ``destiny_sdk`` and ``destiny-sdk`` name the same SDK."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------- environment parts


@dataclass(frozen=True, slots=True)
class Target:
    """What the checks ran against: ``kind`` is e.g. ``simulator`` or ``physical``."""

    name: str
    kind: str
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(data["name"], data["kind"], data.get("description", ""))


@dataclass(frozen=True, slots=True, order=True)
class SdkVersion:
    """An SDK package and the exact version that was installed during the run."""

    name: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SdkVersion:
        return cls(data["name"], data["version"])

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def installed_sdk_versions(names: Iterable[str]) -> tuple[SdkVersion, ...]:
    """The installed version of each named distribution, read from its metadata.

    Read from ``importlib.metadata`` rather than from configuration because a report must say
    what actually ran, not what someone meant to install.

    Raises:
        ReportError: a named package is not installed.
    """
    versions: list[SdkVersion] = []
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise ReportError(f"SDK package {name!r} is not installed in this environment") from None
        versions.append(SdkVersion(_canonical_package_name(name), version))
    return tuple(versions)


@dataclass(frozen=True, slots=True)
class PythonInfo:
    """The interpreter the checks ran in."""

    version: str
    implementation: str
    executable: str

    @classmethod
    def current(cls) -> PythonInfo:
        return cls(platform.python_version(), platform.python_implementation(), sys.executable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "implementation": self.implementation,
            "executable": self.executable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PythonInfo:
        return cls(data["version"], data["implementation"], data["executable"])


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """The host the harness ran on (timing-sensitive results depend on it)."""

    system: str
    release: str
    machine: str
    cpus: int

    @classmethod
    def current(cls) -> PlatformInfo:
        return cls(platform.system(), platform.release(), platform.machine(), os.cpu_count() or 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "release": self.release,
            "machine": self.machine,
            "cpus": self.cpus,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlatformInfo:
        return cls(data["system"], data["release"], data["machine"], data["cpus"])


@dataclass(frozen=True, slots=True)
class RequirementSummary:
    """The part of a :class:`~hil.requirements.Requirement` a report needs.

    Copied into the record (not referenced) so a record stays readable after the catalog moves on.
    """

    id: str
    title: str
    level: Level
    source: str
    section: str = ""
    document: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "source": self.source,
            "section": self.section,
            "document": self.document,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequirementSummary:
        return cls(
            data["id"], data["title"], data["level"], data["source"],
            data.get("section", ""), data.get("document", ""),
        )

    @classmethod
    def of_registry(cls, registry: Iterable[Any]) -> tuple[RequirementSummary, ...]:
        return tuple(cls(r.id, r.title, r.level, r.source, r.section, r.document) for r in registry)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a record comes from, so a report handed to a customer can be checked and re-made.

    Attributes:
        hil_commit: the git commit of hil's source, or ``unknown`` (an installed wheel).
        hil_tree: ``clean``, ``dirty`` (uncommitted changes: the commit alone does not reproduce
            the run) or ``unknown``.
        spec_revision: SHA-256 over the requirement catalog the run was judged by (ids, titles,
            levels, sources, documents): two runs with the same value used the same requirements.
        bench_file: the bench file's path as given, or empty for the built-in target.
        bench_sha256: SHA-256 of that file's bytes, or ``None``.
    """

    hil_commit: str = "unknown"
    hil_tree: str = "unknown"
    spec_revision: str = "unknown"
    bench_file: str = ""
    bench_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hil_commit": self.hil_commit,
            "hil_tree": self.hil_tree,
            "spec_revision": self.spec_revision,
            "bench_file": self.bench_file,
            "bench_sha256": self.bench_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        return cls(
            data["hil_commit"], data["hil_tree"], data["spec_revision"], data["bench_file"], data["bench_sha256"]
        )

    @classmethod
    def current(cls, registry: Iterable[Any], bench: os.PathLike[str] | str | None = None) -> Provenance:
        """Provenance of this process: hil's checkout (if it is one), the catalog, the bench file."""
        commit, tree = _git_state()
        bench_hash = None
        if bench is not None:
            try:
                bench_hash = hashlib.sha256(open(bench, "rb").read()).hexdigest()  # noqa: SIM115 - small file
            except OSError:
                bench_hash = None
        return cls(commit, tree, spec_revision(registry), "" if bench is None else str(bench), bench_hash)


def spec_revision(registry: Iterable[Any]) -> str:
    """SHA-256 over the requirements (in id order), each as its fields joined by tabs."""
    digest = hashlib.sha256()
    for requirement in sorted(registry, key=lambda r: r.id):
        fields = (requirement.id, requirement.title, requirement.level, requirement.source,
                  getattr(requirement, "section", ""), getattr(requirement, "document", ""))
        digest.update(("\t".join(fields) + "\n").encode())
    return digest.hexdigest()


def _git_state() -> tuple[str, str]:
    """hil's commit and whether its tree is clean, when hil runs from a git checkout."""
    source = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.exists(os.path.join(source, ".git")):
        return "unknown", "unknown"
    try:
        commit = subprocess.run(["git", "-C", source, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", source, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", "unknown"
    return commit or "unknown", "dirty" if status.strip() else "clean"


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Finding:
    """A recorded SDK deviation (``@pytest.mark.finding``): the check is expected to fail."""

    requirement: str
    reason: str
    sdk: str

    def __post_init__(self) -> None:
        # Checked when the marker is read, not when the record is written at the end of the run:
        # a finding without a reason is a mistake in the test file and should point there.
        if not self.requirement:
            raise ReportError("a finding must name the requirement it deviates from")
        if not self.reason.strip():
            raise ReportError(f"finding for {self.requirement}: reason= must say what deviates")

    def to_dict(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "reason": self.reason, "sdk": self.sdk}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(data["requirement"], data["reason"], data["sdk"])


@dataclass(frozen=True, slots=True)
class Evidence:
    """A file a check left behind (decoded traffic, service log, traceback, counterexample capsule).

    ``path`` is relative to the report directory so the report folder can be moved or archived.
    """

    path: str
    kind: str
    description: str = ""
    sha256: str | None = None
    """Of the file's bytes, so a report handed on can be verified; ``None`` only in 1.0 records."""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "description": self.description, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(data["path"], data["kind"], data.get("description", ""), data.get("sha256"))


def summarize_longrepr(longrepr: str, limit: int = _MESSAGE_LIMIT) -> str:
    """One short line out of pytest's long representation.

    Takes pytest's first ``E   `` line (the assertion or exception) over the traceback, else
    the last line; strips the ``Skipped:`` prefix of skip reasons, and truncates.
    """
    lines = [line.rstrip() for line in longrepr.splitlines() if line.strip()]
    if not lines:
        return ""
    error_lines = [line[1:].strip() for line in lines if line.startswith("E ")]
    text = error_lines[0] if error_lines else lines[-1].strip()
    text = text.removeprefix("Skipped: ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """The result of one check (one pytest item).

    Attributes:
        id: the pytest nodeid, unique within a run.
        name: the test name as shown to humans (function name with parameters).
        requirement_ids: what the check claims to verify (``@pytest.mark.requirement``).
        outcome: see :data:`Outcome`.
        duration_s: wall time of setup + call + teardown, seconds.
        message: one short text explaining a non-pass (may be empty).
        finding: the recorded deviation this check expects, if any.
        evidence: files the check produced, relative to the report directory.
        faults: the fault steps applied under the check (``step``, ``service``, ``attributes``,
            ``applied_at``, ``removed_at``), oldest first; absent from the JSON when none.
        kind: ``sdk`` (a conformance check) or ``simulator`` (a fidelity test of hil's own).
        skip_kind: why a skipped check was skipped (capability missing, operator declined,
            other); ``None`` unless the outcome is ``skipped``.
        reproduce: one command line that re-runs just this check (``pytest path::test``).
    """

    id: str
    name: str
    requirement_ids: tuple[str, ...]
    outcome: Outcome
    duration_s: float
    message: str = ""
    finding: Finding | None = None
    evidence: tuple[Evidence, ...] = ()
    faults: tuple[Mapping[str, Any], ...] = ()
    kind: CheckKind = "sdk"
    skip_kind: SkipKind | None = None
    reproduce: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ReportError(
                f"check {self.id!r}: outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}"
            )
        if self.kind not in CHECK_KINDS:
            raise ReportError(f"check {self.id!r}: kind {self.kind!r} is not one of {', '.join(CHECK_KINDS)}")
        if self.outcome == "skipped" and self.skip_kind is None:
            object.__setattr__(self, "skip_kind", skip_kind(self.message))
        if not self.reproduce:
            object.__setattr__(self, "reproduce", f"pytest '{self.id}'")
        if self.duration_s < 0:
            raise ReportError(f"check {self.id!r}: negative duration {self.duration_s}")

    @classmethod
    def from_test(
        cls,
        *,
        nodeid: str,
        name: str,
        requirement_ids: Iterable[str],
        outcome: Outcome,
        duration_s: float,
        longrepr: str = "",
        finding: Finding | Mapping[str, str] | None = None,
        evidence: Iterable[Evidence] = (),
        kind: CheckKind = "sdk",
    ) -> CheckRecord:
        """Build a record from what a pytest hook has at hand.

        Args:
            finding: a :class:`Finding` or the marker data as a mapping with ``requirement``,
                ``reason`` and ``sdk``.
            longrepr: pytest's text for the failure/skip; summarised into ``message``.
        """
        if finding is not None and not isinstance(finding, Finding):
            finding = Finding(
                str(finding["requirement"]), str(finding.get("reason", "")), str(finding.get("sdk", ""))
            )
        return cls(
            id=nodeid,
            name=name,
            requirement_ids=tuple(dict.fromkeys(requirement_ids)),
            outcome=outcome,
            duration_s=max(0.0, float(duration_s)),
            message="" if outcome == "passed" else summarize_longrepr(longrepr),
            finding=finding,
            evidence=tuple(evidence),
            kind=kind,
        )

    @property
    def covered_ids(self) -> tuple[str, ...]:
        """Requirement ids this check speaks about: its markers plus its finding's requirement."""
        ids = list(self.requirement_ids)
        if self.finding is not None and self.finding.requirement not in ids:
            ids.append(self.finding.requirement)
        return tuple(ids)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "name": self.name,
            "requirement_ids": list(self.requirement_ids),
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            "message": self.message,
            "finding": None if self.finding is None else self.finding.to_dict(),
            "evidence": [item.to_dict() for item in self.evidence],
            "kind": self.kind,
            "skip_kind": self.skip_kind,
            "reproduce": self.reproduce,
        }
        if self.faults:
            data["faults"] = [dict(step) for step in self.faults]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckRecord:
        finding = data.get("finding")
        return cls(
            id=data["id"],
            name=data["name"],
            requirement_ids=tuple(data["requirement_ids"]),
            outcome=cast(Outcome, data["outcome"]),
            duration_s=float(data["duration_s"]),
            message=data.get("message", ""),
            finding=None if finding is None else Finding.from_dict(finding),
            evidence=tuple(Evidence.from_dict(item) for item in data.get("evidence", [])),
            faults=tuple(dict(step) for step in data.get("faults", [])),
            kind=cast(CheckKind, data.get("kind", "sdk")),
            skip_kind=data.get("skip_kind"),
            reproduce=data.get("reproduce", ""),
        )


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything known about one run of the checks against one target. See the module docstring."""

    run_id: str
    started_at: str
    finished_at: str
    hil_version: str
    target: Target
    sdks: tuple[SdkVersion, ...]
    python: PythonInfo
    platform: PlatformInfo
    seeds: Mapping[str, SeedValue]
    checks: tuple[CheckRecord, ...]
    requirements: tuple[RequirementSummary, ...]
    schema_version: str = SCHEMA_VERSION
    command: str = "pytest"
    provenance: Provenance = Provenance()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, keys in a stable, readable order."""
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "hil_version": self.hil_version,
            "target": self.target.to_dict(),
            "sdks": [sdk.to_dict() for sdk in self.sdks],
            "python": self.python.to_dict(),
            "platform": self.platform.to_dict(),
            "seeds": dict(self.seeds),
            "provenance": self.provenance.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "requirements": [requirement.to_dict() for requirement in self.requirements],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Rebuild a record from JSON data, validating it first.

        A ``1.0`` record (before provenance, check kinds and evidence hashes) is validated
        against its own schema and upgraded: what it lacks reads ``unknown``.

        Raises:
            ReportError: the data does not match the schema (message names the JSON path), or
                its schema version is one this hil cannot read (one line saying which).
        """
        version = data.get("schema_version") if isinstance(data, Mapping) else None
        if version not in READABLE_VERSIONS:
            raise ReportError(
                f"run record schema version {version!r} is not one this hil reads ({', '.join(READABLE_VERSIONS)})"
            )
        validate_record(data)
        return cls(
            schema_version=SCHEMA_VERSION,
            command=data.get("command", "unknown"),
            provenance=Provenance.from_dict(data["provenance"]) if "provenance" in data else Provenance(),
            run_id=data["run_id"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            hil_version=data["hil_version"],
            target=Target.from_dict(data["target"]),
            sdks=tuple(SdkVersion.from_dict(item) for item in data["sdks"]),
            python=PythonInfo.from_dict(data["python"]),
            platform=PlatformInfo.from_dict(data["platform"]),
            seeds=dict(data["seeds"]),
            checks=tuple(CheckRecord.from_dict(item) for item in data["checks"]),
            requirements=tuple(RequirementSummary.from_dict(item) for item in data["requirements"]),
        )

    @property
    def key(self) -> RunKey:
        """What distinguishes this run from others in a merge: target and SDK versions."""
        return RunKey(self.target.name, tuple(sorted(self.sdks)))

    def counts(self) -> dict[str, int]:
        """Number of checks per outcome (every outcome present, zeros included)."""
        totals = dict.fromkeys(OUTCOMES, 0)
        for check in self.checks:
            totals[check.outcome] += 1
        return totals


class RunRecorder:
    """Collects checks during a run and produces the :class:`RunRecord` at the end.

    The recorder snapshots the environment (SDK versions, interpreter, platform, registry) when
    it is created, i.e. at the start of the run, which is what the checks actually ran with.

    Args:
        target: the target, or its fields as a mapping (``name``, ``kind``, ``description``).
        sdk_names: distribution names of the SDKs under test; versions are read from metadata.
        seeds: random seeds that make the run reproducible; more can be added with :meth:`add_seed`.
        registry: the requirement registry (default: the shipped catalog).
        run_id: defaults to a random UUID.
        started_at: when the run began, if earlier than now (the recorder may be created late).
        clock: returns an aware ``datetime``; injectable so tests are deterministic.
        command: what produced the run (``run``, ``fuzz``, ``pytest``...), shown in the report.
        bench: the bench file, hashed into the provenance.

    The record lists the requirements *in play*: those of every source document (catalog) that
    at least one check names. A user's five tests against their own catalog get a report about
    their catalog, not hil's 320 requirements; a hil run still shows every requirement of the
    documents it checks, covered or not.

    Raises:
        ReportError: an SDK is not installed.
    """

    def __init__(
        self,
        *,
        target: Target | Mapping[str, str],
        sdk_names: Sequence[str],
        seeds: Mapping[str, SeedValue] | None = None,
        registry: RequirementRegistry | None = None,
        run_id: str | None = None,
        started_at: datetime | None = None,
        clock: Callable[[], datetime] = _utc_now,
        command: str = "pytest",
        bench: os.PathLike[str] | str | None = None,
    ) -> None:
        self._target = target if isinstance(target, Target) else Target.from_dict(target)
        self._sdks = installed_sdk_versions(sdk_names)
        self._seeds: dict[str, SeedValue] = dict(seeds or {})
        self._registry = registry if registry is not None else default_registry()
        self._run_id = run_id or str(uuid.uuid4())
        self._clock = clock
        self._started_at = _iso(started_at if started_at is not None else clock())
        self._python = PythonInfo.current()
        self._platform = PlatformInfo.current()
        self._hil_version = _hil_version()
        self._checks: dict[str, CheckRecord] = {}
        self._command = command
        self._provenance = Provenance.current(self._registry, bench)

    @property
    def registry(self) -> RequirementRegistry:
        return self._registry

    def add_seed(self, name: str, value: SeedValue) -> None:
        """Record a seed learnt after the run started (e.g. Hypothesis' global seed)."""
        self._seeds[name] = value

    def add(self, check: CheckRecord) -> None:
        """Add the final result of one check.

        Raises:
            ReportError: the nodeid was already recorded, or the check names a requirement the
                registry does not know (the plugin rejects those at collection; this guards
                other callers).
        """
        if check.id in self._checks:
            raise ReportError(f"check {check.id!r} recorded twice; add each check once, when it ends")
        for requirement_id in check.covered_ids:
            if requirement_id not in self._registry:
                close = self._registry.suggestions(requirement_id, limit=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ReportError(
                    f"check {check.id!r}: unknown requirement id {requirement_id!r}{hint}"
                )
        self._checks[check.id] = check

    def __len__(self) -> int:
        return len(self._checks)

    def finish(self) -> RunRecord:
        """The record of the run so far, stamped with the current time as ``finished_at``."""
        return RunRecord(
            run_id=self._run_id,
            started_at=self._started_at,
            finished_at=_iso(self._clock()),
            hil_version=self._hil_version,
            target=self._target,
            sdks=self._sdks,
            python=self._python,
            platform=self._platform,
            seeds=dict(self._seeds),
            checks=tuple(self._checks.values()),
            requirements=RequirementSummary.of_registry(self._in_play()),
            command=self._command,
            provenance=self._provenance,
        )

    def _in_play(self) -> list[Any]:
        named = {rid for check in self._checks.values() for rid in check.covered_ids}
        sources = {r.source for r in self._registry if r.id in named}
        return [r for r in self._registry if r.source in sources]


def _hil_version() -> str:
    try:
        return importlib.metadata.version("hil")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0+unknown"


# --------------------------------------------------------------------------- projections


@dataclass(frozen=True, slots=True)
class RequirementCoverage:
    """How one requirement fared in a run: the checks that speak about it and the verdict."""

    requirement: RequirementSummary
    check_ids: tuple[str, ...]
    status: CoverageStatus


def _status_of(requirement_id: str, checks: Sequence[CheckRecord]) -> CoverageStatus:
    """Worst news first: a failure hides a pass, a known finding hides a pass, skips prove nothing.

    An xfailed check only counts against the requirement its finding names: a check covering A
    and B that is expected to fail because of A says nothing about B.
    """
    verdicts: set[str] = set()
    for check in checks:
        if check.outcome in ("failed", "error", "xpassed"):
            # xpassed: the finding is stale (the SDK was fixed, or the check is wrong) - either
            # way the record no longer describes reality, which is a failure to look at.
            verdicts.add("failing")
        elif check.outcome == "xfailed":
            if check.finding is None or check.finding.requirement == requirement_id:
                verdicts.add("finding")
        elif check.outcome == "passed":
            verdicts.add("covered-passing")
        elif check.outcome == "skipped":
            verdicts.add("skipped")
    for status in ("failing", "finding", "covered-passing", "skipped"):
        if status in verdicts:
            return cast(CoverageStatus, status)
    return "not-checked"


def _coverage_of(
    requirements: Iterable[RequirementSummary], checks: Iterable[CheckRecord]
) -> list[RequirementCoverage]:
    checks_by_requirement: dict[str, list[CheckRecord]] = {}
    for check in checks:
        for requirement_id in check.covered_ids:
            checks_by_requirement.setdefault(requirement_id, []).append(check)
    result = []
    for requirement in requirements:
        related = checks_by_requirement.get(requirement.id, [])
        result.append(
            RequirementCoverage(
                requirement=requirement,
                check_ids=tuple(check.id for check in related),
                status=_status_of(requirement.id, related),
            )
        )
    return result


def coverage(record: RunRecord) -> list[RequirementCoverage]:
    """Per requirement of the record's registry (all of them, in id order): checks and status.

    Status is ``failing`` if any related check failed, errored or unexpectedly passed; else
    ``finding`` if a known deviation was confirmed; else ``covered-passing`` if a check passed;
    else ``skipped`` if its only checks were skipped (the reason is on the checks); else
    ``not-checked`` (no check names it).
    """
    return _coverage_of(record.requirements, record.checks)


@dataclass(frozen=True, slots=True, order=True)
class RunKey:
    """Identifies a column of a merged report: one target with one set of SDK versions."""

    target: str
    sdks: tuple[SdkVersion, ...]

    @property
    def label(self) -> str:
        versions = ", ".join(str(sdk) for sdk in self.sdks)
        return f"{self.target} [{versions}]" if versions else self.target


@dataclass(frozen=True, slots=True)
class MergedRuns:
    """Several run records side by side, grouped by :class:`RunKey`.

    The records are kept whole (nothing is summarised away), so any projection of a single run
    can still be made from a merge; two runs with the same key (e.g. a suite split in shards)
    stay separate records under the same key.
    """

    runs: Mapping[RunKey, tuple[RunRecord, ...]]
    requirements: tuple[RequirementSummary, ...]

    @property
    def keys(self) -> tuple[RunKey, ...]:
        return tuple(self.runs)

    def checks(self, key: RunKey) -> tuple[CheckRecord, ...]:
        """Every check of every run under ``key``, in run order."""
        return tuple(check for record in self.runs[key] for check in record.checks)

    def all_checks(self) -> tuple[tuple[RunKey, CheckRecord], ...]:
        return tuple((key, check) for key in self.runs for check in self.checks(key))

    def coverage(self) -> dict[str, dict[RunKey, CoverageStatus]]:
        """Requirement id -> status per run key: the cross-target coverage matrix."""
        matrix: dict[str, dict[RunKey, CoverageStatus]] = {r.id: {} for r in self.requirements}
        for key in self.runs:
            for item in _coverage_of(self.requirements, self.checks(key)):
                matrix[item.requirement.id][key] = item.status
        return matrix

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "groups": [
                {
                    "target": key.target,
                    "sdks": [sdk.to_dict() for sdk in key.sdks],
                    "runs": [record.to_dict() for record in records],
                }
                for key, records in self.runs.items()
            ],
            "requirements": [requirement.to_dict() for requirement in self.requirements],
        }


def merge_records(records: Iterable[RunRecord]) -> MergedRuns:
    """Combine runs of several targets / SDK versions into one structure keyed by (target, SDKs).

    Requirements are the union of the runs' registries (a later run's title wins if the catalog
    changed between runs). Keys are sorted; runs under one key keep their start-time order.

    Raises:
        ReportError: no records, or the same run id given twice.
    """
    records = list(records)
    if not records:
        raise ReportError("nothing to merge: no run records given")
    seen: set[str] = set()
    grouped: dict[RunKey, list[RunRecord]] = {}
    requirements: dict[str, RequirementSummary] = {}
    for record in sorted(records, key=lambda r: r.started_at):
        if record.run_id in seen:
            raise ReportError(f"run {record.run_id!r} given twice to merge")
        seen.add(record.run_id)
        grouped.setdefault(record.key, []).append(record)
        for requirement in record.requirements:
            requirements[requirement.id] = requirement
    return MergedRuns(
        runs={key: tuple(grouped[key]) for key in sorted(grouped)},
        requirements=tuple(requirements[i] for i in sorted(requirements)),
    )
