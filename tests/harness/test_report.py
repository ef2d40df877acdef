"""The run record and its projections: schema validation, JSON round trip, JUnit, merge, coverage."""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hil.errors import ReportError
from hil.report import (
    CheckRecord,
    Evidence,
    Finding,
    RunRecord,
    RunRecorder,
    Target,
    classify_outcome,
    coverage,
    installed_sdk_versions,
    load_record,
    merge_records,
    validate_record,
    write_junit,
    write_record,
)
from hil.report.junit import junit_tree
from hil.report.record import summarize_longrepr
from hil.report.writing import write_reports
from hil.requirements import Requirement, RequirementRegistry, default_registry

SDKS = ["astarte-device-sdk", "destiny-sdk", "aiolocknalert"]
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)

REGISTRY = RequirementRegistry(
    Requirement(rid, f"title of {rid}", "MUST", "Test spec", "S", "example/repo:spec.md")
    for rid in ("REQ-A-01", "REQ-B-01", "REQ-C-01", "REQ-D-01", "REQ-E-01")
)


def ticking_clock(start: datetime = T0) -> Callable[[], datetime]:
    """A clock advancing one second per reading: deterministic timestamps, no sleeping."""
    moments: Iterator[datetime] = (start + timedelta(seconds=n) for n in range(10**6))
    return lambda: next(moments)


def check(
    nodeid: str, outcome: str = "passed", requirements: tuple[str, ...] = ("REQ-A-01",), **extra: Any
) -> CheckRecord:
    return CheckRecord.from_test(
        nodeid=nodeid, name=nodeid.rsplit("::", 1)[-1], requirement_ids=requirements,
        outcome=outcome, duration_s=0.25, **extra,  # type: ignore[arg-type]
    )


def make_record(
    checks: list[CheckRecord], *, target: str = "sim", sdks: list[str] | None = None,
    run_id: str | None = None, start: datetime = T0,
) -> RunRecord:
    recorder = RunRecorder(
        target=Target(target, "simulator", "loopback servers"),
        sdk_names=SDKS if sdks is None else sdks,
        seeds={"hil": 42, "hypothesis": "0x1f"},
        registry=REGISTRY,
        run_id=run_id,
        clock=ticking_clock(start),
    )
    for item in checks:
        recorder.add(item)
    return recorder.finish()


@pytest.fixture
def mixed_record() -> RunRecord:
    """One check per outcome, plus evidence and a finding: every branch of every projection."""
    finding = {"requirement": "REQ-B-01", "reason": "SDK sends QoS 1", "sdk": "astarte-device-sdk==0.14.0"}
    return make_record([
        check("tests/c/test_mqtt.py::test_ok", "passed"),
        check("tests/c/test_mqtt.py::TestTls::test_bad[ec]", "failed", ("REQ-A-01", "REQ-C-01"),
              longrepr="    def test():\n>       assert qos == 2\nE       assert 1 == 2\nE        +  where 1 = f()\n",
              evidence=[Evidence("evidence/test_bad/broker.log", "service-log", "broker log", "0" * 64)]),
        check("tests/c/test_mqtt.py::test_skip", "skipped", ("REQ-D-01",), longrepr="Skipped: no broker"),
        check("tests/c/test_mqtt.py::test_known", "xfailed", ("REQ-B-01",), finding=finding),
        check("tests/c/test_mqtt.py::test_fixed", "xpassed", ("REQ-B-01",), finding=finding),
        check("tests/c/test_mqtt.py::test_setup", "error", ("REQ-A-01",), longrepr="E   OSError: port taken"),
    ])


# --------------------------------------------------------------------------- the record


def test_recorded_run_validates_and_has_exact_sdk_versions(mixed_record: RunRecord) -> None:
    data = mixed_record.to_dict()
    validate_record(data)
    assert data["sdks"] == [
        {"name": name, "version": importlib.metadata.version(name)} for name in SDKS
    ]
    assert data["schema_version"] == "2.0"
    assert data["started_at"] == "2026-11-24T10:00:00.000Z"
    assert data["finished_at"] == "2026-11-24T10:00:01.000Z"
    assert data["hil_version"] == importlib.metadata.version("hil")
    assert data["seeds"] == {"hil": 42, "hypothesis": "0x1f"}
    assert len(data["checks"]) == 6


def test_record_lists_the_requirements_of_the_documents_in_play() -> None:
    """A run that names an MQTT requirement lists every MQTT one (covered or not), and no other document's."""
    recorder = RunRecorder(target=Target("sim", "simulator"), sdk_names=[])
    assert recorder.finish().requirements == ()
    recorder.add(CheckRecord.from_test(nodeid="t.py::test_tls", name="test_tls",
                                       requirement_ids=["ASTARTE-MQTT-TLS-01"], outcome="passed", duration_s=0.1))
    record = recorder.finish()
    mqtt = [r.id for r in default_registry() if r.source == default_registry().get("ASTARTE-MQTT-TLS-01").source]
    assert [r.id for r in record.requirements] == mqtt
    assert not any(r.id.startswith("DESTINY-") for r in record.requirements)
    validate_record(record.to_dict())


def test_sdk_names_are_normalised_and_missing_ones_refused() -> None:
    (sdk,) = installed_sdk_versions(["Destiny_SDK"])
    assert (sdk.name, sdk.version) == ("destiny-sdk", importlib.metadata.version("destiny-sdk"))
    with pytest.raises(ReportError, match="'no-such-sdk-hil' is not installed"):
        installed_sdk_versions(["no-such-sdk-hil"])


def test_recorder_refuses_duplicates_and_unknown_requirements() -> None:
    recorder = RunRecorder(target=Target("sim", "simulator"), sdk_names=[], registry=REGISTRY)
    recorder.add(check("t.py::a"))
    with pytest.raises(ReportError, match="recorded twice"):
        recorder.add(check("t.py::a"))
    with pytest.raises(ReportError, match="did you mean 'REQ-A-01'"):
        recorder.add(check("t.py::b", requirements=("REQ-A-1",)))
    assert len(recorder) == 1


def test_finding_needs_a_reason() -> None:
    with pytest.raises(ReportError, match="reason"):
        Finding("REQ-A-01", " ", "sdk==1")


def test_message_is_the_short_assertion_line(mixed_record: RunRecord) -> None:
    messages = {c.name: c.message for c in mixed_record.checks}
    assert messages["test_bad[ec]"] == "assert 1 == 2"
    assert messages["test_skip"] == "no broker"
    assert messages["test_ok"] == ""
    assert len(summarize_longrepr("E   " + "x" * 2000)) == 500


@pytest.mark.parametrize(
    ("when", "outcome", "wasxfail", "longrepr", "expected"),
    [
        ("call", "passed", None, "", "passed"),
        ("call", "failed", None, "E assert 0", "failed"),
        ("setup", "failed", None, "E OSError", "error"),
        ("teardown", "failed", None, "E OSError", "error"),
        ("setup", "skipped", None, "Skipped: x", "skipped"),
        ("call", "skipped", "finding REQ-A-01", "", "xfailed"),
        ("call", "passed", "plain xfail", "", "xpassed"),
        ("call", "failed", None, "[XPASS(strict)] finding REQ-A-01", "xpassed"),
    ],
)
def test_classify_outcome(when: str, outcome: str, wasxfail: str | None, longrepr: str, expected: str) -> None:
    assert classify_outcome(when=when, outcome=outcome, wasxfail=wasxfail, longrepr=longrepr) == expected


# --------------------------------------------------------------------------- schema


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


_DELETE = object()

INVALID = {
    "bad outcome": ("checks.0.outcome", "passd", "$.checks[0].outcome"),
    "extra top-level key": ("colour", "red", "$"),
    "missing target kind": ("target.kind", _DELETE, "$.target"),
    "naive timestamp": ("started_at", "2026-11-24T10:00:00", "$.started_at"),
    "not a date": ("finished_at", "yesterday Z", "$.finished_at"),
    "schema version": ("schema_version", "3.0", "$.schema_version"),
    "negative duration": ("checks.1.duration_s", -1, "$.checks[1].duration_s"),
    "absolute evidence": ("checks.1.evidence.0.path", "/etc/passwd", "$.checks[1].evidence[0].path"),
    "escaping evidence": ("checks.1.evidence.0.path", "a/../../x", "$.checks[1].evidence[0].path"),
    "bad level": ("requirements.0.level", "MUSTN'T", "$.requirements[0].level"),
    "seed not scalar": ("seeds.hil", [1], "$.seeds.hil"),
    "finding without reason": ("checks.3.finding.reason", _DELETE, "$.checks[3].finding"),
    "unlisted requirement": ("checks.0.requirement_ids", ["REQ-Z-01"], "$.checks[0].requirement_ids[0]"),
    "duplicate check id": ("checks.1.id", "tests/c/test_mqtt.py::test_ok", "$.checks[1].id"),
}


@pytest.mark.parametrize(("where", "value", "path"), INVALID.values(), ids=INVALID.keys())
def test_invalid_record_is_rejected_with_its_path(
    mixed_record: RunRecord, where: str, value: Any, path: str
) -> None:
    data = copy.deepcopy(mixed_record.to_dict())
    _set(data, where, value)
    with pytest.raises(ReportError) as caught:
        validate_record(data)
    message = str(caught.value)
    assert message.startswith(f"run record invalid at {path}: ")
    assert "\n" not in message


# --------------------------------------------------------------------------- JSON file


def test_json_round_trip(tmp_path: Path, mixed_record: RunRecord) -> None:
    path = tmp_path / "out" / "run-record.json"
    write_record(mixed_record, path)
    assert load_record(path) == mixed_record
    assert [p.name for p in path.parent.iterdir()] == ["run-record.json"]  # no temp file left


def test_invalid_record_is_not_written(tmp_path: Path, mixed_record: RunRecord) -> None:
    path = tmp_path / "run-record.json"
    write_record(mixed_record, path)
    before = path.read_bytes()
    broken = RunRecord(**{**{f: getattr(mixed_record, f) for f in RunRecord.__slots__}, "started_at": "soon"})
    with pytest.raises(ReportError, match=r"\$\.started_at"):
        write_record(broken, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run-record.json"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{not json", "not a JSON run record"), ('{"schema_version": "1.0"}', "run record invalid at $")],
)
def test_load_names_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportError) as caught:
        load_record(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read run record"):
        load_record(tmp_path / "absent.json")


# --------------------------------------------------------------------------- JUnit


def test_junit_has_one_case_per_check_and_right_counts(tmp_path: Path, mixed_record: RunRecord) -> None:
    path = tmp_path / "junit.xml"
    write_junit(mixed_record, path)
    suites = ET.parse(path).getroot()
    (suite,) = suites.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(mixed_record.checks)
    assert (suite.get("name"), suite.get("tests")) == ("sim", "6")
    # failed + xpassed finding -> 2 failures; error -> 1; skipped + xfailed finding -> 2 skipped
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("2", "1", "2")
    assert len(suite.findall("testcase/failure")) == 2
    assert len(suite.findall("testcase/error")) == 1
    assert len(suite.findall("testcase/skipped")) == 2
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(set(names)) == len(names)
    assert ("sim.tests.c.test_mqtt.TestTls", "test_bad[ec]") in names


def test_junit_explains_findings_and_lists_requirements(mixed_record: RunRecord, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(mixed_record, path)
    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}
    known = cases["test_known"].find("skipped")
    assert known is not None and known.get("type") == "finding"
    assert "REQ-B-01" in known.get("message", "") and "SDK sends QoS 1" in known.get("message", "")
    fixed = cases["test_fixed"].find("failure")
    assert fixed is not None and "no longer reproduces" in fixed.get("message", "")
    out = cases["test_bad[ec]"].findtext("system-out") or ""
    assert "requirements: REQ-A-01, REQ-C-01" in out.splitlines()
    assert "[[ATTACHMENT|evidence/test_bad/broker.log]]" in out.splitlines()


def test_junit_properties_carry_the_run_metadata(mixed_record: RunRecord, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(mixed_record, path)
    props = {p.get("name"): p.get("value") for p in ET.parse(path).getroot().iter("property")}
    for name in SDKS:
        assert props[f"sdk.{name}"] == importlib.metadata.version(name)
    assert props["target.name"] == "sim"
    assert props["hil.schema_version"] == "2.0"
    assert props["seed.hil"] == "42"
    assert (props["python"] or "").endswith(mixed_record.python.version)


def test_junit_survives_control_characters(tmp_path: Path) -> None:
    record = make_record([check("t.py::test_x", "failed", longrepr="E   got b'\x00\x1b[31m'")])
    path = tmp_path / "junit.xml"
    write_junit(record, path)
    failure = ET.parse(path).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "\ufffd" in failure.get("message", "")


# --------------------------------------------------------------------------- projections


def test_coverage_statuses(mixed_record: RunRecord) -> None:
    by_id = {item.requirement.id: item for item in coverage(mixed_record)}
    assert [item.requirement.id for item in coverage(mixed_record)] == [r.id for r in REGISTRY]
    assert by_id["REQ-A-01"].status == "failing"  # one pass does not hide a failure
    assert by_id["REQ-B-01"].status == "failing"  # the finding no longer reproduces (xpassed)
    assert by_id["REQ-C-01"].status == "failing"
    assert by_id["REQ-D-01"].status == "skipped"  # only skipped: its check says why
    assert by_id["REQ-D-01"].check_ids == ("tests/c/test_mqtt.py::test_skip",)
    assert by_id["REQ-E-01"].status == "not-checked"
    assert by_id["REQ-E-01"].check_ids == ()


def test_coverage_of_findings_and_passes() -> None:
    finding = {"requirement": "REQ-A-01", "reason": "deviates", "sdk": "x==1"}
    record = make_record([
        check("t.py::test_pass", "passed", ("REQ-C-01",)),
        check("t.py::test_known", "xfailed", ("REQ-A-01", "REQ-B-01"), finding=finding),
    ])
    status = {item.requirement.id: item.status for item in coverage(record)}
    assert status == {
        "REQ-A-01": "finding",
        "REQ-B-01": "not-checked",  # expected to fail because of REQ-A-01: proves nothing about B
        "REQ-C-01": "covered-passing",
        "REQ-D-01": "not-checked",
        "REQ-E-01": "not-checked",
    }


def test_merge_keeps_every_check() -> None:
    sim_new = make_record([check("t.py::a"), check("t.py::b", "failed")], target="sim", run_id="r1")
    sim_old = make_record([check("t.py::a", "failed")], target="sim", sdks=["aiolocknalert"], run_id="r2")
    rack = make_record([check("t.py::a")], target="rack", run_id="r3")
    shard = make_record([check("t.py::c")], target="sim", run_id="r4", start=T0 + timedelta(hours=1))
    merged = merge_records([sim_new, sim_old, rack, shard])

    assert len(merged.all_checks()) == 5
    assert len(merged.keys) == 3
    assert [k.target for k in merged.keys] == ["rack", "sim", "sim"]
    (sim_key,) = [k for k in merged.keys if k.target == "sim" and len(k.sdks) == 3]
    assert [r.run_id for r in merged.runs[sim_key]] == ["r1", "r4"]
    assert [c.id for c in merged.checks(sim_key)] == ["t.py::a", "t.py::b", "t.py::c"]
    assert "astarte-device-sdk==" in sim_key.label
    assert merged.coverage()["REQ-A-01"] == {
        merged.keys[0]: "covered-passing", merged.keys[1]: "failing", merged.keys[2]: "failing",
    }
    json.dumps(merged.to_dict())  # the merge is itself JSON-ready
    with pytest.raises(ReportError, match="given twice"):
        merge_records([rack, rack])
    with pytest.raises(ReportError, match="nothing to merge"):
        merge_records([])


# --------------------------------------------------------------------------- end-of-run writer


def test_write_reports_from_plugin_state(tmp_path: Path) -> None:
    collected = [
        SimpleNamespace(nodeid="t.py::test_a", name="test_a", requirement_ids=["REQ-A-01"], finding=None,
                        outcome="passed", duration=0.1, message="", evidence=[]),
        SimpleNamespace(nodeid="t.py::test_b", name="test_b", requirement_ids=["REQ-B-01"],
                        finding={"requirement": "REQ-B-01", "reason": "r", "sdk": "s==1"},
                        outcome="xfailed", duration=0.2, message="finding REQ-B-01",
                        evidence=[{"path": "evidence/b/log", "kind": "service-log", "description": "d"}]),
    ]
    target = SimpleNamespace(name="sim", kind="simulated", description="loopback")
    (tmp_path / "evidence" / "b").mkdir(parents=True)
    (tmp_path / "evidence" / "b" / "log").write_text("broker log\n")
    paths = write_reports(tmp_path, target=target, checks=collected, seeds={"hil": 7, "hypothesis": None},
                          sdk_names=SDKS, started_at=T0.timestamp(), registry=REGISTRY)
    record = load_record(paths[0])
    assert record.seeds == {"hil": 7}
    assert record.started_at == "2026-11-24T10:00:00.000Z"
    assert [c.outcome for c in record.checks] == ["passed", "xfailed"]
    assert record.checks[1].evidence[0].path == "evidence/b/log"
    assert record.checks[1].evidence[0].sha256 == hashlib.sha256(b"broker log\n").hexdigest()
    assert len(ET.parse(paths[1]).getroot().findall("testsuite/testcase")) == 2


def test_junit_names_stay_unique_when_nodeids_collide(tmp_path: Path) -> None:
    record = make_record([check("a/b.py::test_x"), check("a.b.py::test_x")])
    path = tmp_path / "junit.xml"
    write_junit(record, path)
    names = [(c.get("classname"), c.get("name")) for c in ET.parse(path).getroot().iter("testcase")]
    assert len(set(names)) == 2


def test_failed_write_keeps_nothing_half_written(tmp_path: Path, mixed_record: RunRecord) -> None:
    blocked = tmp_path / "run-record.json"
    blocked.mkdir()  # a directory where the file should go: the final rename must fail
    with pytest.raises(ReportError, match=f"cannot write {blocked}"):
        write_record(mixed_record, blocked)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-record.json"]
    assert blocked.is_dir()


def test_junit_cases_carry_requirements_sdk_sets_and_evidence_paths(tmp_path: Path) -> None:
    evidence = Evidence("evidence/t/hub.log", "service-log", "hub log", "0" * 64)
    record = make_record([check("t.py::test_x", "failed", ("REQ-A-01", "REQ-B-01"), evidence=[evidence],
                                longrepr="E   assert 1 == 2")])
    case = junit_tree(record, name_sdks=True).find("testsuite/testcase")
    assert case is not None
    assert [p.get("value") for p in case.findall("properties/property[@name='requirement']")] == ["REQ-A-01", "REQ-B-01"]
    assert "[aiolocknalert==" in case.get("classname", "") and "astarte-device-sdk==" in case.get("classname", "")
    failure = case.find("failure")
    assert failure is not None and "evidence: evidence/t/hub.log" in (failure.text or "")
    assert "[" not in (junit_tree(record).find("testsuite/testcase").get("classname", ""))  # type: ignore[union-attr]


def test_merge_reads_a_schema_1_0_record_and_refuses_unknown_versions_in_one_line(tmp_path: Path) -> None:
    data = make_record([check("t.py::test_x")]).to_dict()
    old = {key: value for key, value in data.items() if key not in ("command", "provenance")}
    old["schema_version"] = "1.0"
    for item in old["checks"]:
        for key in ("kind", "skip_kind", "reproduce"):
            item.pop(key)
    for requirement in old["requirements"]:
        requirement.pop("section"), requirement.pop("document")
    (tmp_path / "old.json").write_text(json.dumps(old))
    record = load_record(tmp_path / "old.json")
    assert record.schema_version == "2.0" and record.provenance.hil_commit == "unknown"
    assert record.checks[0].kind == "sdk" and record.checks[0].reproduce == "pytest 't.py::test_x'"
    old["schema_version"] = "0.9"
    (tmp_path / "older.json").write_text(json.dumps(old))
    with pytest.raises(ReportError, match=r"schema version '0.9' is not one this hil reads \(1.0, 2.0\)$"):
        load_record(tmp_path / "older.json")
