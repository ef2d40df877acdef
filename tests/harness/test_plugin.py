"""The pytest plugin as a user's project sees it: markers, options, the run record, the audit."""

from __future__ import annotations

import importlib.metadata
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from hil.report import validate_record


def run_child(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={pytester.path / 'reports'}", *args)


def test_an_unknown_requirement_id_is_refused_at_collection(pytester):
    pytester.makepyfile(
        test_typo=textwrap.dedent(
            """
            import pytest

            @pytest.mark.requirement("ASTARTE-MQTT-INTROSPECTON-01")
            def test_x():
                pass
            """
        )
    )
    result = run_child(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo.py::test_x*ASTARTE-MQTT-INTROSPECTON-01*ASTARTE-MQTT-INTROSPECTION-01*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_the_run_record_validates_and_names_exact_sdk_versions(pytester):
    pytester.makepyfile(
        test_checks=textwrap.dedent(
            """
            import pytest

            @pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
            def test_passes():
                pass

            @pytest.mark.requirement("ASTARTE-MQTT-TOPICS-01")
            def test_fails():
                assert 1 == 2, "the broker said no"

            @pytest.mark.finding("ASTARTE-MQTT-INTROSPECTION-01", reason="known deviation",
                                 sdk="astarte-device-sdk==0.14.0")
            def test_known_finding():
                assert False

            from hil.fixtures.plugin import hil_requires
            from hil.targets.protocols import Capability

            class Teleporter(Capability):
                label = "teleporter"

            @hil_requires(Teleporter)
            def test_needs_more():
                pass
            """
        )
    )
    result = run_child(pytester, "--hil-seed=1234")
    result.assert_outcomes(passed=1, failed=1, xfailed=1, skipped=1)
    data = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    validate_record(data)
    versions = {sdk["name"]: sdk["version"] for sdk in data["sdks"]}
    for name in ("astarte-device-sdk", "destiny-sdk", "aiolocknalert"):
        assert versions[name] == importlib.metadata.version(name)
    assert data["target"]["name"] == "sim"
    assert data["seeds"]["hil"] == 1234
    outcomes = {check["name"]: check for check in data["checks"]}
    assert outcomes["test_passes"]["outcome"] == "passed"
    assert outcomes["test_passes"]["requirement_ids"] == ["ASTARTE-MQTT-TLS-01"]
    assert outcomes["test_fails"]["outcome"] == "failed" and "the broker said no" in outcomes["test_fails"]["message"]
    assert outcomes["test_known_finding"]["outcome"] == "xfailed"
    assert outcomes["test_known_finding"]["finding"]["sdk"] == "astarte-device-sdk==0.14.0"
    assert outcomes["test_needs_more"]["outcome"] == "skipped"
    assert "teleporter (Teleporter)" in outcomes["test_needs_more"]["message"]
    suite = ET.parse(pytester.path / "reports" / "latest" / "junit.xml").getroot()
    assert len(suite.findall(".//testcase")) == 4
    assert len(suite.findall(".//failure")) == 1


def test_a_fixed_finding_fails_the_run(pytester):
    pytester.makepyfile(
        test_fixed=textwrap.dedent(
            """
            import pytest

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="used to fail", sdk="astarte-device-sdk==0.14.0")
            def test_now_passes():
                pass
            """
        )
    )
    result = run_child(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*XPASS(strict)*finding ASTARTE-MQTT-TLS-01*"])


def test_only_the_deviation_itself_reproduces_a_finding(pytester):
    """A harness that breaks (a dead simulator, a bug of ours) must not pass for a reproduced finding."""
    pytester.makepyfile(
        test_findings=textwrap.dedent(
            """
            import pytest
            from hil.errors import ServiceExited

            SDK = "astarte-device-sdk==0.14.0"

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="the check fails", sdk=SDK)
            def test_check_fails():
                assert False, "the SDK disagrees"

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="the check fails", sdk=SDK)
            def test_check_fails_explicitly():
                pytest.fail("the SDK disagrees")

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="the SDK raises", sdk=SDK, raises=ValueError)
            def test_sdk_exception_named_by_the_marker():
                int("x")

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="the check fails", sdk=SDK)
            def test_simulator_died():
                raise ServiceExited("service 'realm': output ended (status 2)")

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="the SDK raises", sdk=SDK, raises=ValueError)
            def test_another_exception():
                {}["missing"]
            """
        )
    )
    result = run_child(pytester)
    result.assert_outcomes(xfailed=3, failed=2)
    result.stdout.fnmatch_lines(["FAILED *test_simulator_died*", "FAILED *test_another_exception*"])


def test_a_finding_marker_without_reason_is_refused(pytester):
    pytester.makepyfile(
        test_bad=textwrap.dedent(
            """
            import pytest

            @pytest.mark.finding("ASTARTE-MQTT-TLS-01")
            def test_x():
                assert False
            """
        )
    )
    result = run_child(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*finding marker needs (requirement, reason=..., sdk=...)*"])


def test_a_requirement_marker_without_ids_is_refused(pytester):
    """An empty marker would list a check in the report under no requirement at all."""
    pytester.makepyfile(test_bad="import pytest\n\n@pytest.mark.requirement()\ndef test_x():\n    pass\n")
    result = run_child(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*requirement marker needs at least one requirement id*"])


def test_an_unknown_target_is_one_line_with_a_suggestion(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = run_child(pytester, "--hil-target=simm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown target 'simm'*did you mean 'sim'?*"])
    assert "Traceback" not in result.stderr.str()


def test_failing_checks_carry_service_logs_as_evidence(pytester):
    pytester.makepyfile(
        test_evidence=textwrap.dedent(
            """
            def test_fails_with_the_broker_running(hil_broker):
                assert hil_broker.endpoint.port == 0
            """
        )
    )
    result = run_child(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*hil service log: mosquitto (tail)*", "*mosquitto version * running*"])
    data = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    evidence = data["checks"][0]["evidence"]
    assert evidence and evidence[0]["kind"] == "service-log"
    assert "mosquitto version" in (pytester.path / "reports" / "latest" / evidence[0]["path"]).read_text()


def test_each_run_keeps_its_own_report_directory_and_latest_points_at_the_newest(pytester):
    """Nothing overwrites another command's record; listing the checks (``--co``) writes nothing."""
    pytester.makepyfile(test_x='import pytest\n\n@pytest.mark.requirement("ASTARTE-MQTT-TLS-01")\ndef test_x():\n    pass\n')
    reports = pytester.path / "reports"
    run_child(pytester, "--co").assert_outcomes()
    assert not reports.exists()
    run_child(pytester, "--hil-command=run").assert_outcomes(passed=1)
    run_child(pytester, "--hil-command=fuzz").assert_outcomes(passed=1)
    runs = sorted(p.name for p in reports.iterdir() if p.name != "latest")
    assert len(runs) == 2 and runs[0].endswith("-run") and runs[1].endswith("-fuzz")
    assert (reports / "latest").is_symlink() and (reports / "latest").resolve().name == runs[1]
    first = json.loads((reports / runs[0] / "run-record.json").read_text())
    assert first["command"] == "run" and first["checks"][0]["outcome"] == "passed"
    for path in [reports / runs[1], *(reports / runs[1]).iterdir()]:  # a CI artifact server can serve them
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


def test_an_unrelated_project_sees_no_trace_of_hil(pytester):
    """No report folder, no hil header, no hil requirements: the project neither uses hil nor asks."""
    pytester.makepyfile(test_plain="def test_one():\n    assert 1\n\ndef test_two():\n    assert 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*hil:*")
    assert not (pytester.path / "reports").exists()


def test_a_user_catalog_s_ids_work_and_only_requirements_in_play_are_listed(pytester):
    (pytester.path / "catalog").mkdir()
    (pytester.path / "catalog" / "acme.toml").write_text(textwrap.dedent(
        """
        [[requirement]]
        id = "ACME-BOOT-01"
        title = "The board boots in under a second"
        level = "MUST"
        source = "ACME board spec"
        section = "Boot"
        document = "acme/spec.md"

        [[requirement]]
        id = "ACME-BOOT-02"
        title = "The board logs its version at boot"
        level = "SHOULD"
        source = "ACME board spec"
        section = "Boot"
        document = "acme/spec.md"
        """
    ))
    pytester.makeini("[pytest]\nhil_catalogs = catalog\n")
    pytester.makepyfile(test_board=textwrap.dedent(
        """
        import pytest

        @pytest.mark.requirement("ACME-BOOT-01")
        def test_boots():
            pass

        def test_unrelated():
            pass
        """
    ))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    data = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    assert [r["id"] for r in data["requirements"]] == ["ACME-BOOT-01", "ACME-BOOT-02"]
    page = (pytester.path / "reports" / "latest" / "report.html").read_text()
    assert "ACME-BOOT-02" in page and "ASTARTE-" not in page
    pytester.makepyfile(test_board='import pytest\n\n@pytest.mark.requirement("ACME-BOOT-03")\ndef test_x():\n    pass\n')
    typo = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR
    typo.stderr.fnmatch_lines(["*ACME-BOOT-03*did you mean*ACME-BOOT-0*"])


def test_a_failed_service_of_the_test_s_own_is_evidence_too(pytester):
    """A service the target does not know (started by the test) still leaves its log behind."""
    pytester.makepyfile(
        test_own_service=textwrap.dedent(
            """
            import sys
            from hil.services import LogLine, ProcessBackend, ServiceSpec

            def test_fails_starting_its_own_service(tmp_path):
                spec = ServiceSpec("own-helper", command=lambda ports, wd: [
                    sys.executable, "-c", "print('own-helper: cannot read its config'); raise SystemExit(2)"])
                ProcessBackend(tmp_path).create(spec).start(LogLine("never"), timeout=20)
            """
        )
    )
    result = run_child(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*hil service log: own-helper (tail)*", "own-helper: cannot read its config"])
    data = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    check = data["checks"][0]
    assert check["message"].endswith("it said: own-helper: cannot read its config")
    own = [e for e in check["evidence"] if e["path"].endswith("own-helper.log")]
    assert own and "cannot read its config" in (pytester.path / "reports" / "latest" / own[0]["path"]).read_text()


def test_plugin_is_installed_through_the_pytest11_entry_point():
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.name == "hil" and ep.value == "hil.fixtures.plugin" for ep in entry_points)


def test_hil_requires_takes_protocol_classes_not_names(pytester):
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.hil_requires("broker.admin")
            def test_x():
                pass
            """
        )
    )
    result = run_child(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hil_requires takes capability protocol classes*not 'broker.admin'*"])
