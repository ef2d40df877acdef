"""``hil interfaces validate``: exit codes and the one-line-per-violation output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hil.cli.interfaces import register

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "interfaces"
INVALID = ROOT / "tests" / "data" / "interfaces-invalid"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hil")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def valid_doc(name: str = "org.hil.test.Cli") -> dict[str, object]:
    return {
        "interface_name": name, "version_major": 0, "version_minor": 1, "type": "datastream",
        "ownership": "device", "mappings": [{"endpoint": "/a/b", "type": "integer"}],
    }


def test_all_shipped_interfaces_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SHIPPED.glob("*.json"))
    assert run(["interfaces", "validate", *files]) == 0
    assert capsys.readouterr().out == ""


def test_a_directory_stands_for_its_json_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["interfaces", "validate", str(INVALID)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert {line.split(": ")[0] for line in lines} == {str(p) for p in INVALID.glob("*.json")}


def test_violation_lines_have_file_path_rule_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.json", {**valid_doc(), "version_major": 0, "version_minor": 0})
    good = write(tmp_path / "good.json", valid_doc("org.hil.test.Other"))
    assert run(["interfaces", "validate", str(good), str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}: $.version_minor: ASTARTE-IFACE-VERSION-02: must be > 0 when version_major is 0"
    ]


def test_unreadable_and_non_json_files_are_violation_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    missing = tmp_path / "missing.json"
    assert run(["interfaces", "validate", str(broken), str(missing)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{broken}: $: ASTARTE-IFACE-DOC-01: not valid JSON")
    assert out[1].startswith(f"{missing}: $: ASTARTE-IFACE-DOC-01: cannot read file")
    assert len(out) == 2


def test_binary_file_is_a_violation_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "blob.json"
    blob.write_bytes(b"\xff\xfe\x00")
    assert run(["interfaces", "validate", str(blob)]) == 1
    assert "ASTARTE-IFACE-DOC-01" in capsys.readouterr().out


def test_absurdly_nested_json_is_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert run(["interfaces", "validate", str(deep)]) == 1
    assert "ASTARTE-IFACE-DOC-01: not usable JSON" in capsys.readouterr().out


def test_colliding_names_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.json", valid_doc("org.hil.test.MyValues"))
    b = write(tmp_path / "b.json", valid_doc("org.hil.test.Myvalues"))
    assert run(["interfaces", "validate", str(a), str(b)]) == 1
    assert "ASTARTE-IFACE-NAME-05" in capsys.readouterr().out


def test_profile_and_strict_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = {**valid_doc(), "quality": "producer"}
    del legacy["ownership"]
    path = write(tmp_path / "legacy.json", legacy)
    assert run(["interfaces", "validate", str(path)]) == 1
    assert run(["interfaces", "validate", "--profile", "server", str(path)]) == 0
    flat = write(tmp_path / "flat.json", {**valid_doc(), "aggregation": "object"} | {
        "mappings": [{"endpoint": "/x", "type": "integer"}]})
    capsys.readouterr()
    assert run(["interfaces", "validate", str(flat)]) == 0
    # SHOULD-level advice is shown without --strict, marked as advice; --strict makes it fail.
    advice = capsys.readouterr().out.splitlines()
    assert len(advice) == 1 and advice[0].startswith("advice: ") and "ASTARTE-IFACE-OBJECT-03" in advice[0]
    assert run(["interfaces", "validate", "--strict", str(flat)]) == 1
    strict = capsys.readouterr().out
    assert "ASTARTE-IFACE-OBJECT-03" in strict and "advice:" not in strict


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["interfaces", "validate"], id="no-files"),
        pytest.param(["interfaces", "validate", "--profile", "lax", "x.json"], id="bad-profile"),
        pytest.param(["interfaces", "frobnicate"], id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(argv)
    assert caught.value.code == 2


def test_interfaces_without_a_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["interfaces"]) == 2
    assert "a command is required" in capsys.readouterr().err
