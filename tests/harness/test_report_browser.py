"""The HTML report as an auditor sees it: a real run's report opened in a real headless Chromium.

Debian's ``chromium`` (installed by ``scripts/setup``) is driven by Playwright's Python package
through ``executable_path``; Playwright's own browser download is never used (no network here).
The screenshot is kept next to the report it shows and copied to ``reports/browser-test/`` of the
project, so CI keeps it as an artefact.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "reports" / "browser-test"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real hil run (real broker, a failing check with service logs, a reproduced finding, a skip)."""
    import subprocess
    import sys

    project = tmp_path_factory.mktemp("auditor")
    (project / "test_product.py").write_text(textwrap.dedent(
        """
        import pytest

        @pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
        def test_tls_passes(hil_broker):
            assert hil_broker.endpoint.port > 0

        @pytest.mark.requirement("ASTARTE-MQTT-TOPICS-01")
        def test_topic_is_wrong(hil_broker):
            assert "hil/dev/org.Example" == "hil/dev/org.Other", "published on the wrong topic; password=hunter2"

        @pytest.mark.finding("ASTARTE-MQTT-INTROSPECTION-01", reason="sends the introspection with QoS 0",
                             sdk="astarte-device-sdk==0.14.0")
        def test_introspection_qos(hil_broker):
            from hil.astarte.bsonwire import encode
            from hil.mqtt.client import MqttSession

            with MqttSession(hil_broker.admin_endpoint, hil_broker.admin_identity) as device:
                assert device.connect().accepted
                device.publish("hil/dev1/org.Example/value", encode({"v": 42}), qos=1)
            assert 0 == 2, "introspection arrived with QoS 0"

        from hil.fixtures.plugin import hil_requires
        from hil.targets.protocols import Capability

        class PowerCycle(Capability):  # a capability the simulated target does not offer
            label = "broker power cycle"

        @hil_requires(PowerCycle)
        @pytest.mark.requirement("ASTARTE-MQTT-CONNECT-01")
        def test_needs_a_bench():
            pass
        """
    ))
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--hil-report-dir={project / 'reports'}",
                    "test_product.py"], cwd=project, check=False, timeout=300)
    report = project / "reports" / "latest" / "report.html"
    assert report.is_file(), "the run wrote no report"
    return report


def test_the_report_opens_on_the_verdict_and_the_findings_and_every_link_resolves(real_report: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run scripts/setup"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(real_report.as_uri())

            # First screen: the verdict per SDK and the first finding, above the fold.
            verdict = page.locator("#verdict table").bounding_box()
            card = page.locator("#findings .finding-card").first
            assert verdict is not None and verdict["y"] < VIEWPORT["height"]
            box = card.bounding_box()
            assert box is not None and box["y"] < VIEWPORT["height"], f"the first finding starts at y={box}"
            assert "astarte-device-sdk" in page.locator("#verdict").inner_text()
            text = card.inner_text()
            assert "ASTARTE-MQTT-INTROSPECTION-01" in text and "sends the introspection with QoS 0" in text
            assert "pytest 'test_product.py::test_introspection_qos'" in text

            # States are distinct words, and the skip says why.
            states = page.locator("#sdk").inner_text()
            for state in ("passed", "failed", "finding", "skipped (capability-missing)", "not covered"):
                assert state in states, state

            # Every in-page link lands on an element; every file link names a file of the report.
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
                if href.startswith("#"):
                    assert page.locator(f"[id='{href[1:]}']").count() == 1, f"dangling anchor {href}"
                else:
                    target = real_report.parent / unquote(href)
                    assert target.is_file(), f"link to a missing file: {href}"
            evidence = [h for h in page.eval_on_selector_all("a[href^='evidence/']", "els => els.map(e => e.getAttribute('href'))")]
            assert any(h.endswith("-exception.txt") for h in evidence) and any(h.endswith(".log") for h in evidence)
            traffic = [h for h in evidence if h.endswith("mqtt-traffic.txt")]
            assert traffic, "no MQTT traffic captured"
            captured = "".join((real_report.parent / h).read_text() for h in traffic)
            assert "PUBLISH hil/dev1/org.Example/value qos=1 retain=False" in captured and "BSON: {'v': 42}" in captured
            for written in [*evidence, "run-record.json", "report.html", "junit.xml"]:  # redacted at capture
                assert "hunter2" not in (real_report.parent / written).read_text(), written

            # The filter (JavaScript only enhances: the rows are all there without it).
            page.select_option("#filters select[name=state]", "finding")
            visible = page.locator("#sdk tbody tr:visible")
            assert visible.count() >= 1
            assert all(row == "finding" for row in visible.evaluate_all("rs => rs.map(r => r.dataset.state)"))
            page.select_option("#filters select[name=state]", "")

            # Keyboard: the first Tab reaches the skip link, Enter follows it.
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.getAttribute('href')") == "#verdict"

            shot = real_report.parent / "report-screenshot.png"
            page.screenshot(path=str(shot))
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, ARTEFACTS / "report-screenshot.png")
            assert all(urlparse(url).scheme == "file" for url in requests), f"the page reached out: {requests}"
        finally:
            browser.close()
