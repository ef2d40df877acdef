"""``hil fleet``: a handful of real SDK devices over worker processes, the floor, and Locust.

Small numbers, no timed assertion: the checks are that every device paired and connected, that
the realm received every value each device sent (guaranteed reliability: nothing lost), on both
phases, that the figures derive from what was measured, and that Locust's master spread its SDK
users over both workers and the realm got what they sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hil.cli.main import build_parser, main
from hil.errors import ConfigError
from hil.fleet import run as fleet
from hil.fleet.distributed import realm_received, run_locust

DEVICES = 3


@pytest.fixture(scope="module")
def fleet_result(hil_target: Any) -> dict[str, Any]:
    progress: list[tuple[str, int, int, int]] = []
    result = fleet.measure(DEVICES, rate=5.0, duration=1.0, progress=lambda *a: progress.append(a), target=hil_target)
    result["_progress"] = progress
    return result


@pytest.mark.parametrize("phase", ["sdk", "floor"])
def test_every_device_connects_and_nothing_is_lost(fleet_result: dict[str, Any], phase: str) -> None:
    figures = fleet_result[phase]
    assert figures["connect"] == {**figures["connect"], "devices": DEVICES, "connected": DEVICES, "failed": 0}
    messages = figures["messages"]
    assert messages["sent"] >= DEVICES  # every device sent at least once in its second
    assert messages["received"] == messages["sent"] and messages["lost"] == 0
    assert messages["missed_in_realm_log"] == 0
    lag = messages["realm_lag_ms"]
    assert 0 <= lag["p50"] <= lag["p99"]
    assert messages["accepted_msgs_per_s"] > 0 and figures["connect"]["connect_rate_per_s"] > 0


def test_report_derives_from_the_phases(fleet_result: dict[str, Any]) -> None:
    sdk, floor = fleet_result["sdk"], fleet_result["floor"]
    assert fleet_result["ratio"] == round(sdk["messages"]["accepted_msgs_per_s"] / floor["messages"]["accepted_msgs_per_s"], 3)
    assert fleet_result["meets_goal"] is (fleet_result["ratio"] >= fleet.GOAL_RATIO)
    assert fleet_result["at_goal_scale"] is False and fleet_result["realm_device_errors"] == 0
    assert sdk["memory"]["per_device_kb"] > 0 and sdk["kind"] == "sdk" and floor["kind"] == "paho"
    # The progress callback saw every device of both phases connect, counting up.
    assert [p[1] for p in fleet_result["_progress"] if p[0] == "sdk"] == list(range(1, DEVICES + 1))
    assert [p[1] for p in fleet_result["_progress"] if p[0] == "paho"] == list(range(1, DEVICES + 1))
    json.dumps({k: v for k, v in fleet_result.items() if k != "_progress"})  # savable as is


def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["fleet", "--devices", "5", "--rate", "2", "--duration", "3"])
    assert (args.devices, args.rate, args.duration, args.locust_workers) == (5, 2.0, 3.0, None)
    with pytest.raises(ConfigError, match="--devices"):
        fleet.measure(0)
    assert main(["fleet", "--devices", "2", "--rate", "0"]) == 2
    err = capsys.readouterr().err
    assert "--rate and --duration must be positive" in err and "Traceback" not in err


def test_locust_master_spreads_sdk_users_over_two_workers(astarte: Any, hil_pki: Any, tmp_path: Path) -> None:
    outcome = run_locust(astarte, hil_pki.trust_environment(), users=4, rate=5.0, duration=2.0, workers=2,
                         log_dir=tmp_path, connect_allowance=5.0)
    assert outcome.master_returncode == 0, (tmp_path / "locust-master.log").read_text()[-2000:]
    assert all(outcome.devices_per_worker), f"a worker ran no device: {outcome.devices_per_worker}"
    devices = [d for ids in outcome.devices_per_worker for d in ids]
    assert len(devices) == len(set(devices)) == 4
    # Locust's master may print its totals before the workers' last stats report reaches it; the
    # users' own counts and the realm are the ground truth.
    assert outcome.failures == 0 and 0 < outcome.requests <= sum(outcome.sent.values())
    assert sorted(outcome.sent) == sorted(devices)
    assert realm_received(astarte, devices) == outcome.sent
