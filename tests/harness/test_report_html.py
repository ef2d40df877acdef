"""The HTML projection: complete, escaped, self-contained, computed from the record alone."""

from __future__ import annotations

import html.parser
from pathlib import Path
from types import SimpleNamespace

from hil.report import load_record
from hil.report.html import render_html
from hil.report.writing import write_reports

SDKS = ("astarte-device-sdk", "destiny-sdk", "aiolocknalert")


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _record(tmp_path: Path):
    checks = [
        SimpleNamespace(nodeid="t.py::test_ok", name="test_ok", requirement_ids=["ASTARTE-MQTT-TLS-01"], finding=None,
                        outcome="passed", duration=0.1, message="", evidence=[]),
        SimpleNamespace(nodeid="t.py::test_bad", name="test_bad", requirement_ids=["ASTARTE-MQTT-TOPICS-01"],
                        finding=None, outcome="failed", duration=0.2, message="<script>alert(1)</script>",
                        evidence=[{"path": "evidence/t/mosquitto.log", "kind": "service-log", "description": "broker log"}]),
        SimpleNamespace(nodeid="t.py::test_known", name="test_known", requirement_ids=["ASTARTE-MQTT-INTROSPECTION-01"],
                        finding={"requirement": "ASTARTE-MQTT-INTROSPECTION-01", "reason": "sends X",
                                 "sdk": "astarte-device-sdk==0.14.0"},
                        outcome="xfailed", duration=0.3, message="", evidence=[]),
    ]
    target = SimpleNamespace(name="sim", kind="simulated", description="loopback")
    (tmp_path / "evidence" / "t").mkdir(parents=True)
    (tmp_path / "evidence" / "t" / "mosquitto.log").write_text("mosquitto version 2 running\n")
    paths = write_reports(tmp_path, target=target, checks=checks, seeds={"hil": 1}, sdk_names=SDKS, started_at=0.0)
    return load_record(paths[0]), paths


def test_html_shows_every_requirement_and_check_with_status(tmp_path):
    record, paths = _record(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert tmp_path / "report.html" in paths
    parser = _Collector()
    parser.feed(page)
    text = " ".join(parser.text)
    for requirement in record.requirements:  # coverage includes requirements no check exercised
        assert requirement.id in text
    for state in ("passed", "failed", "finding", "not covered"):
        assert state in text
    assert "astarte-device-sdk 0.14.0" in text or "astarte-device-sdk" in text
    assert "sends X" in text
    links = [attrs.get("href") for tag, attrs in parser.tags if tag == "a"]
    assert "evidence/t/mosquitto.log" in links


def test_html_escapes_what_checks_report_and_loads_nothing_external(tmp_path):
    record, _ = _record(tmp_path)
    page = render_html(record)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parser = _Collector()
    parser.feed(page)
    assert not [attrs for tag, attrs in parser.tags if tag in ("link", "img", "iframe", "object", "embed")]
    assert not [attrs for tag, attrs in parser.tags if tag == "script" and "src" in attrs]  # inline only
    assert "http://" not in page and "https://" not in page
