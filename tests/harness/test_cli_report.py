"""``hil report merge``: runs of several targets side by side, requirement by requirement."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from hil.cli.main import main
from hil.report.writing import write_reports

SDKS = ("astarte-device-sdk", "destiny-sdk", "aiolocknalert")


def _run(directory: Path, target: str, outcome: str) -> Path:
    evidence = []
    if outcome == "failed":
        (directory / "evidence" / "t").mkdir(parents=True)
        (directory / "evidence" / "t" / "broker.log").write_text("refused\n")
        evidence = [{"path": "evidence/t/broker.log", "kind": "service-log", "description": "broker"}]
    check = SimpleNamespace(nodeid="t.py::test_tls", name="test_tls", requirement_ids=["ASTARTE-MQTT-TLS-01"],
                            finding=None, outcome=outcome, duration=0.1, message="", evidence=evidence)
    kind = "simulated" if target == "sim" else "physical"
    paths = write_reports(directory, target=SimpleNamespace(name=target, kind=kind, description=""),
                          checks=[check], seeds={}, sdk_names=SDKS, started_at=0.0)
    return paths[0]


def test_merge_shows_each_target_as_a_column(tmp_path, capsys):
    sim = _run(tmp_path / "sim", "sim", "passed")
    bench = _run(tmp_path / "lab", "lab", "failed")
    out = tmp_path / "merged"
    assert main(["report", "merge", str(sim), str(bench), "--output", str(out)]) == 0
    merged = json.loads((out / "merged.json").read_text())
    assert sorted(group["target"] for group in merged["groups"]) == ["lab", "sim"]
    page = (out / "matrix.html").read_text()
    row = page[page.index("ASTARTE-MQTT-TLS-01"):].split("</tr>")[0]
    assert "passed" in row and "failed" in row
    assert "matrix.html" in capsys.readouterr().out


def test_merge_of_a_missing_or_broken_record_is_one_line(tmp_path, capsys):
    assert main(["report", "merge", str(tmp_path / "nope.json")]) == 2
    assert "run record not found" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert main(["report", "merge", str(broken)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("hil: error:") and len(err.splitlines()) == 1


def test_matrix_cells_link_to_their_checks_and_evidence(tmp_path):
    import re

    sim = _run(tmp_path / "runs" / "sim", "sim", "passed")
    bench = _run(tmp_path / "runs" / "lab", "lab", "failed")
    out = tmp_path / "merged"
    assert main(["report", "merge", str(sim), str(bench), "--output", str(out)]) == 0
    page = (out / "matrix.html").read_text()
    anchors = re.findall(r'href="#([^"]+)"', page)
    assert anchors and all(f'id="{anchor}"' in page for anchor in anchors)
    files = [href for href in re.findall(r'href="([^"#][^"]*)"', page)]
    assert files and all((out / href).is_file() for href in files)
    assert 'class="scroll"' in page and "position:sticky" in page
