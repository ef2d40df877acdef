"""Counterexample capsules: lossless values, round trip, one-line errors, and ``hil replay``."""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.cli.main import main
from hil.errors import ConfigError
from hil.fuzzing.capsules import Capsule, read_capsule, write_capsule
from hil.fuzzing.jsonvalues import from_json, to_json
from hil.fuzzing.properties import INTERFACE_ACCEPTANCE, SEND_VALIDATION_OFFLINE, request_to_json
from hil.fuzzing.requests import SendRequest

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text() | st.binary()
    | st.datetimes(timezones=st.just(_dt.UTC) | st.none()) | st.dates() | st.binary().map(bytearray),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(value=_values)
def test_payload_values_survive_json(value: object) -> None:
    assert _same(from_json(json.loads(json.dumps(to_json(value)))), value)


def _capsule(**changes: object) -> Capsule:
    fields: dict[str, object] = dict(
        property=SEND_VALIDATION_OFFLINE, requirement="ASTARTE-PAYLOAD-PATH-01", direction="accepts-invalid",
        sdk="astarte-device-sdk==0.14.0", summary="s",
        example={"interface": {"interface_name": "a.A", "version_major": 1, "version_minor": 0,
                               "type": "datastream", "ownership": "device",
                               "mappings": [{"endpoint": "/a", "type": "integer"}]},
                 "request": request_to_json(SendRequest("send", "a.A", "/a\n", 0))},
        seed=7, reproduce_failure="@reproduce_failure('6.170.15', b'AA==')",
    )
    fields.update(changes)
    return Capsule(**fields)  # type: ignore[arg-type]


def test_capsule_round_trip_and_stable_file_name(tmp_path: Path) -> None:
    capsule = _capsule()
    path = write_capsule(capsule, tmp_path / "findings")
    assert path.name == f"ASTARTE-PAYLOAD-PATH-01-{capsule.fingerprint}.json"
    assert read_capsule(path) == capsule
    assert write_capsule(_capsule(seed=8), tmp_path / "findings") == path  # same finding, same file


@pytest.mark.parametrize("content, message", [
    ("{not json", "bad JSON"),
    ('{"format": "other"}', "format is not"),
    ('{"format": "hil-finding/1", "property": "x"}', "lacks requirement"),
])
def test_bad_capsules_are_one_config_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_capsule(path)


def test_replay_reproduces_a_standing_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_capsule(_capsule(), tmp_path)
    assert main(["replay", str(path)]) == 1
    out = capsys.readouterr().out
    assert "reproduced: SDK accepts invalid [ASTARTE-PAYLOAD-PATH-01]" in out
    assert "known finding send-accepts-path-with-trailing-newline" in out


def test_replay_says_when_the_sdk_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agreeing = _capsule(property=INTERFACE_ACCEPTANCE, example={"interface": {
        "interface_name": "a.A", "version_major": 1, "version_minor": 0, "type": "datastream",
        "ownership": "device", "mappings": [{"endpoint": "/a", "type": "integer"}]}})
    assert main(["replay", str(write_capsule(agreeing, tmp_path))]) == 0
    assert "not reproduced" in capsys.readouterr().out


def test_replay_of_a_non_capsule_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text("[]")
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a counterexample file" in err
    unknown = write_capsule(_capsule(property="no-such-property"), tmp_path)
    assert main(["replay", str(unknown)]) == 2
    assert "unknown property 'no-such-property'" in capsys.readouterr().err


def _session_capsule(steps: list[dict[str, object]]) -> Capsule:
    return Capsule(property="session-model", requirement="ASTARTE-MQTT-PROPERTIES-06",
                   direction="diverges-from-model", sdk="astarte-device-sdk==0.14.0", summary="s",
                   example={"steps": steps})


def test_replay_runs_a_session_sequence_on_the_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Property 5's capsules hold steps, not one call: the falsy-property finding reproduces, a
    truthy value does not."""
    def steps(value: int) -> list[dict[str, object]]:
        return [{"step": "connect", "args": {}}, {"step": "set_property", "args": {"path": "/integer", "value": value}},
                {"step": "restart_application", "args": {}}]

    forgets = write_capsule(_session_capsule(steps(0)), tmp_path)
    keeps = write_capsule(_session_capsule(steps(5)), tmp_path)
    assert main(["replay", str(forgets)]) == 1
    out = capsys.readouterr().out
    assert "reproduced: SDK diverges from model [ASTARTE-MQTT-PROPERTIES-06]" in out
    assert "/integer is unset in the realm, 0 in the model" in out
    assert main(["replay", str(keeps)]) == 0
    assert "not reproduced" in capsys.readouterr().out


@pytest.mark.parametrize(("steps", "why"), [
    ([{"step": "explode", "args": {}}], "unknown session step 'explode'"),
    ([{"step": "set_property", "args": {"path": "/integer", "value": 1}}], "cannot be taken here"),
    ([{"step": "connect", "args": {}}, {"step": "set_property", "args": {"path": "/nope", "value": 1}}],
     "'/nope' is not one of the session's paths"),
    ([{"step": "connect", "args": {}}, {"step": "server_sets", "args": {"path": "/nope", "value": 1}}],
     "'/nope' is not one of the session's paths"),
    ([{"step": "add_interface", "args": {"name": "org.x.Other"}}], "'org.x.Other' is not one of the session's"),
], ids=["unknown-step", "precondition", "device-path", "server-path", "interface"])
def test_a_session_capsule_that_does_not_fit_is_one_line_never_a_finding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], steps: list[dict[str, object]], why: str) -> None:
    """A step the machine could not have taken must not replay as "reproduced" (exit 1)."""
    path = write_capsule(_session_capsule(steps), tmp_path)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err, err


def test_a_session_replay_judges_with_the_findings_the_fuzz_run_knew(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The fuzz run's model reproduces recorded findings; so must the replay's, or a capsule of a
    new bug would stand for ever on an old one."""
    steps = [{"step": "connect", "args": {}}, {"step": "set_property", "args": {"path": "/integer", "value": 0}},
             {"step": "restart_application", "args": {}}]
    knowing = replace(_session_capsule(steps), example={"steps": steps, "known": ["sdk-forgets-falsy-properties"]})
    assert main(["replay", str(write_capsule(knowing, tmp_path))]) == 0
    assert "not reproduced" in capsys.readouterr().out
