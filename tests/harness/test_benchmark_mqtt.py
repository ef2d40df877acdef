"""``hil benchmark mqtt`` runs end to end with small numbers and saves sound results.

No figure is asserted against a speed (benchmarks are never timed assertions): the checks are
that every QoS was measured on both sides, nothing sent at QoS 1 or 2 was lost, and the saved
ratios and verdict follow from the saved rates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.benchmarks import mqtt
from hil.cli.main import main
from hil.errors import ConfigError


def test_bench_mqtt_runs_and_saves_sound_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "mqtt", "--runs", "1", "--messages", "30", "--output", str(tmp_path)]) == 0
    [saved] = tmp_path.glob("mqtt-*.json")
    result = json.loads(saved.read_text())
    assert result["benchmark"] == "mqtt" and result["messages_per_round"] == 30
    assert set(result["qos"]) == {"0", "1", "2"}
    for qos, entry in result["qos"].items():
        assert entry["mapping"] == f"{mqtt.INTERFACE}{mqtt.PATHS[int(qos)]}"
        realm, floor = entry["realm_path"], entry["floor"]
        assert realm["median_msgs_per_s"] > 0 and floor["median_msgs_per_s"] > 0
        assert len(realm["samples"]) == len(floor["samples"]) == 1
        assert entry["ratio"] == round(realm["median_msgs_per_s"] / floor["median_msgs_per_s"], 3)
        if qos != "0":
            assert realm["lost"] == 0 and floor["lost"] == 0, f"QoS {qos} lost messages"
    assert result["lost_guaranteed"] == 0
    expected = all(e["ratio"] >= mqtt.GOAL_RATIO for e in result["qos"].values())
    assert result["meets_goal"] is expected
    out = capsys.readouterr().out
    assert "QoS 2 (unique)" in out and ("meets the goal" in out or "MISSES the goal" in out)


def test_zero_messages_is_one_line_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="--messages"):
        mqtt.measure(1, 0)
    assert main(["benchmark", "mqtt", "--messages", "0"]) == 2
    err = capsys.readouterr().err
    assert "--runs and --messages must be at least 1" in err and "Traceback" not in err
