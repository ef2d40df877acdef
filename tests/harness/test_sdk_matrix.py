"""The SDK version matrix: set files, their environments, and the merge of version-tied findings.

The environment test builds a real older set (astarte-device-sdk 0.13.4 on paho-mqtt 1.6.1) from
PyPI into the hil cache, keyed by the set's digest, and runs a few real checks there: the first
run on a machine costs the venv + pip install (about 1-2 minutes on 2 busy cores), every later
run only the checks (about 30 s).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hil.cli.main import main
from hil.report import load_record
from hil.report.record import RunRecorder, SdkSetInfo, SdkVersion, Target
from hil.report.writing import write_reports
from hil.sdk_sets import hil_requirements, load_set, load_sets, pip_reason, set_constraints

ROOT = Path(__file__).resolve().parents[2]
FINDING = {"requirement": "ASTARTE-MQTT-PURGE-01", "reason": "little-endian size header",
           "sdk": "astarte-device-sdk==0.14.0"}


# -- set files ---------------------------------------------------------------------------------
def test_every_shipped_set_pins_exact_sdk_versions() -> None:
    sets = {s.name: s for s in load_sets(ROOT / "sdk-sets")}
    assert {"current", "previous", "astarte-0.13", "astarte-0.12", "aiolocknalert-0.1.6"} <= set(sets)
    assert sets["current"].pins()["astarte-message-hub-proto"] == "0.7.0"
    assert sets["astarte-0.13"].pins() == {"astarte-device-sdk": "0.13.4", "astarte-message-hub-proto": "0.6.2",
                                           "paho-mqtt": "1.6.1", "destiny-sdk": "0.17.6"}
    assert "aiolocknalert" not in sets["astarte-0.12"].pins()


def test_a_set_wins_over_the_lock_for_what_it_pins_and_sdks_come_only_from_sets() -> None:
    older = load_set(ROOT / "sdk-sets" / "astarte-0.13.txt")
    constraints = set_constraints(ROOT / "constraints.txt", older)
    assert "paho-mqtt==" not in constraints and "astarte_message_hub_proto==" not in constraints
    assert "grpcio==" in constraints  # everything else stays locked
    wanted = hil_requirements(ROOT / "pyproject.toml", older)
    names = " ".join(wanted)
    assert "paho-mqtt" not in names and "aiolocknalert" not in names and "astarte-device-sdk" not in names
    assert any(line.startswith("grpcio") for line in wanted) and any(line.startswith("pytest-timeout") for line in wanted)


def test_unknown_set_and_pip_options_are_one_line_errors(tmp_path: Path) -> None:
    from hil.errors import ConfigError

    with pytest.raises(ConfigError, match="no SDK set nope"):
        load_sets(ROOT / "sdk-sets", ["nope"])
    bad = tmp_path / "bad.txt"
    bad.write_text("--index-url http://example.invalid\n")
    with pytest.raises(ConfigError, match="package pins only"):
        load_set(bad)


def test_pip_reason_names_the_culprit_of_a_resolution_failure() -> None:
    output = (
        "Collecting aiolocknalert==0.1.6\n"
        "ERROR: Cannot install aiolocknalert==0.1.6 because these package versions have conflicting dependencies.\n"
        "\nThe conflict is caused by:\n    aiolocknalert 0.1.6 depends on aiohttp>=3.15.5\n"
        "    The user requested (constraint) aiohttp==3.14.5\n\nTo fix this you could try to:\n"
    )
    assert pip_reason(output).endswith("aiolocknalert 0.1.6 depends on aiohttp>=3.15.5; The user requested (constraint) aiohttp==3.14.5")
    plain = "ERROR: No matching distribution found for aiohttp>=3.15.5 (from versions: 3.14.4, 3.14.5)\n"
    assert pip_reason(plain) == "No matching distribution found for aiohttp>=3.15.5"


# -- merge with version-tied findings ----------------------------------------------------------
def _record(directory: Path, set_name: str, outcome: str, message: str = "") -> Path:
    check = SimpleNamespace(nodeid="t.py::test_purge", name="test_purge", requirement_ids=["ASTARTE-MQTT-PURGE-01"],
                            finding=FINDING, outcome=outcome, duration=0.1, message=message, evidence=[])
    other = SimpleNamespace(nodeid="t.py::test_tls", name="test_tls", requirement_ids=["ASTARTE-MQTT-TLS-01"],
                            finding=None, outcome="passed", duration=0.1, message="", evidence=[])
    paths = write_reports(directory, target=SimpleNamespace(name="sim", kind="simulator", description=""),
                          checks=[check, other], seeds={}, sdk_names=["astarte-device-sdk"], started_at=0.0,
                          sdk_set=SdkSetInfo(set_name))
    return paths[0]


def _not_installable(directory: Path) -> Path:
    record = RunRecorder(target=Target("sim", "simulator"), sdk_names=[]).finish()
    record = dataclasses.replace(record, sdks=(SdkVersion("aiolocknalert", "0.1.6"),),
                                 sdk_set=SdkSetInfo("aiolocknalert-0.1.6", False, "aiolocknalert 0.1.6 depends on aiohttp>=3.15.5"))
    from hil.report import write_record

    write_record(record, directory / "run-record.json")
    return directory / "run-record.json"


def test_merge_shows_a_finding_fixed_in_another_version_and_an_uninstallable_set(tmp_path: Path) -> None:
    current = _record(tmp_path / "current", "current", "xfailed")
    older = _record(tmp_path / "older", "older", "fixed", "does not reproduce: astarte-device-sdk 0.13.4 is outside")
    broken = _not_installable(tmp_path / "broken")
    out = tmp_path / "merged"
    assert main(["report", "merge", str(current), str(older), str(broken), "--output", str(out)]) == 0
    merged = json.loads((out / "merged.json").read_text())
    assert {group["sdk_set"] for group in merged["groups"]} == {"current", "older", "aiolocknalert-0.1.6"}
    change = merged["changes"]["ASTARTE-MQTT-PURGE-01"]
    assert sorted(change.values()) == ["finding", "fixed", "not-installable"]
    assert "ASTARTE-MQTT-TLS-01" not in merged["changes"]  # passing in both: nothing changed
    page = (out / "matrix.html").read_text()
    changes = page[page.index("What changed between versions"):page.index("All requirements")]
    assert "ASTARTE-MQTT-PURGE-01" in changes and "ASTARTE-MQTT-TLS-01" not in changes
    assert "aiohttp&gt;=3.15.5" in page
    assert load_record(older).checks[0].outcome == "fixed"


# -- one older set, built and run for real ------------------------------------------------------
def test_an_older_set_runs_checks_in_its_own_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """astarte-device-sdk 0.13.4 + paho-mqtt 1.6.1 + proto 0.6.2: MQTT through hil's paho seam,
    gRPC through the hub regenerated from 0.6.2, aiolocknalert not applicable beside paho 1.6."""
    keyword = ("test_first_connection_declares_the_introspection_then_resyncs or "
               "test_connect_attaches_the_node_with_its_interfaces or test_info_names_the_bridge or "
               "test_broker_refuses_a_certificate_from_another_ca or test_device_publishes_only_on_its_own_topic_tree")
    status = main(["matrix", "--project", str(ROOT), "--sets", "astarte-0.13", "--reports", str(tmp_path), "-k", keyword])
    printed = capsys.readouterr().out
    assert status == 0, printed + (tmp_path / "matrix" / "astarte-0.13" / "pytest.log").read_text()[-3000:]
    record = load_record(tmp_path / "matrix" / "astarte-0.13" / "latest" / "run-record.json")
    assert {str(sdk) for sdk in record.sdks} == {"astarte-device-sdk==0.13.4", "destiny-sdk==0.17.6"}
    assert record.sdk_set == SdkSetInfo("astarte-0.13")
    outcomes = {check.name: check.outcome for check in record.checks}
    assert outcomes == {
        "test_first_connection_declares_the_introspection_then_resyncs": "passed",
        "test_connect_attaches_the_node_with_its_interfaces": "passed",
        "test_info_names_the_bridge_over_https_with_its_self_signed_certificate": "not-applicable",
        # hil's own paho code on paho 1.6.1: a TLS alert is a refusal, a PUBACK reason is seen
        "test_broker_refuses_a_certificate_from_another_ca": "passed",
        "test_device_publishes_only_on_its_own_topic_tree": "passed",
    }
    assert (tmp_path / "matrix" / "matrix.html").is_file()
    summary = json.loads((tmp_path / "matrix" / "summary.json").read_text())
    print(f"astarte-0.13 environment {summary[0]['environment_s']}s (cached: {summary[0]['cached']}), checks {summary[0]['run_s']}s")
