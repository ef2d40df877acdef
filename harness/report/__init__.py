"""Run records and their projections.

One canonical, schema-versioned :class:`RunRecord` per run (``record``); everything else is a
projection of it, one module per output format: ``json_report`` (the record itself), ``junit``
(CI), and later ``html``. ``schema`` validates records read back from disk.
"""

from __future__ import annotations

from hil.report.json_report import load_record, write_record
from hil.report.junit import write_junit
from hil.report.record import (
    SCHEMA_VERSION,
    CheckRecord,
    Evidence,
    Finding,
    MergedRuns,
    RequirementCoverage,
    RunKey,
    RunRecord,
    RunRecorder,
    SdkVersion,
    Target,
    classify_outcome,
    coverage,
    installed_sdk_versions,
    merge_records,
)
from hil.report.schema import validate_record

__all__ = [
    "SCHEMA_VERSION",
    "CheckRecord",
    "Evidence",
    "Finding",
    "MergedRuns",
    "RequirementCoverage",
    "RunKey",
    "RunRecord",
    "RunRecorder",
    "SdkVersion",
    "Target",
    "classify_outcome",
    "coverage",
    "installed_sdk_versions",
    "load_record",
    "merge_records",
    "validate_record",
    "write_junit",
    "write_record",
]
