"""The ``faults`` fixture: steps recorded under their check, and always removed, pass or fail."""

from __future__ import annotations

import json

import pytest


def run_child(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={pytester.path / 'reports'}",
                                         *args)


def test_steps_are_recorded_and_removed_even_when_the_check_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_fails_under_faults(faults):
            faults.latency("broker", 100)
            faults.down("broker")
            host, port = faults.proxied_address("broker")
            socket.create_connection((host, port), timeout=5)   # refused: the proxy is down

        def test_after(faults):
            proxy = faults.client.proxy(faults.proxy_name("broker"))
            assert proxy["enabled"] and proxy["toxics"] == [], proxy
            with faults.slicer("broker", 10):
                pass
        """
    )
    result = run_child(pytester)
    result.assert_outcomes(passed=1, failed=1)
    record = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    checks = {c["name"]: c for c in record["checks"]}
    applied = checks["test_fails_under_faults"]["faults"]
    assert [(s["step"], s["service"]) for s in applied] == [("latency", "broker"), ("down", "broker")]
    assert applied[0]["attributes"]["latency"] == 100
    assert all(s["removed_at"] for s in applied)
    assert [s["step"] for s in checks["test_after"]["faults"]] == ["slicer"]


def test_a_fault_left_behind_fails_the_checks_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_bypasses_the_steps(faults):
            faults.client.add_toxic(faults.proxy_name("broker"), "latency", attributes={"latency": 5})

        def test_next_check_starts_clean(faults):
            assert faults.leftovers() == []
        """
    )
    result = run_child(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*faults outlived the check: toxic latency_downstream on hil-broker*"])


def test_pause_freezes_the_broker_and_teardown_resumes_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from hil.mqtt.client import MqttSession

        def _connects(broker):
            session = MqttSession(broker.admin_endpoint, broker.admin_identity)
            try:
                return session.connect(timeout=2).accepted
            except Exception:
                return False
            finally:
                session.close()

        def test_paused(faults, hil_broker):
            assert _connects(hil_broker)
            faults.pause("broker")
            assert not _connects(hil_broker)   # frozen: no CONNACK
            raise AssertionError("the check fails while the broker is paused")

        def test_resumed(hil_broker):
            assert _connects(hil_broker)
        """
    )
    result = run_child(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the check fails while the broker is paused*"])
