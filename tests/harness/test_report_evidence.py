"""One outcome classifier, redaction at capture time, evidence with hashes, old records still read."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from hil.report.evidence import write_evidence
from hil.report.outcome import OutcomeFold, classify_outcome, skip_kind
from hil.report.redaction import MASK, redact


def test_a_strict_xpass_is_xpassed_whichever_way_it_is_classified():
    text = "[XPASS(strict)] finding ASTARTE-MQTT-QOS-01 in astarte-device-sdk==0.14.0: sends QoS 0"
    assert classify_outcome(when="call", outcome="failed", longrepr=text) == "xpassed"
    fold = OutcomeFold()
    for when, outcome, longrepr in (("setup", "passed", ""), ("call", "failed", text), ("teardown", "passed", "")):
        fold.add(when=when, outcome=outcome, longrepr=longrepr)
    assert fold.outcome == "xpassed"


def test_the_fold_keeps_a_failure_and_marks_broken_teardowns():
    fold = OutcomeFold()
    fold.add(when="setup", outcome="passed")
    fold.add(when="call", outcome="failed", longrepr="E   assert 1 == 2")
    fold.add(when="teardown", outcome="failed", longrepr="E   leak")
    assert fold.outcome == "failed"
    fold = OutcomeFold()
    fold.add(when="call", outcome="skipped", wasxfail="finding X")
    fold.add(when="teardown", outcome="failed")
    assert fold.outcome == "error"


@pytest.mark.parametrize(("reason", "kind"), [
    ("target 'lab' lacks broker.admin", "capability-missing"),
    ("this bench cannot do: press-button", "capability-missing"),
    ("target 'lab': operator declined: press the pairing button", "operator-declined"),
    ("target 'lab': no operator answer (input closed) for: unplug", "operator-declined"),
    ("Docker is not running", "other"),
])
def test_skip_reasons_are_told_apart(reason, kind):
    assert skip_kind(reason) == kind


def test_the_plugin_records_a_strict_xpass_of_a_finding_as_xpassed(pytester):
    """Both former classifiers must agree: the live recording used to call this case ``failed``."""
    pytester.makepyfile(test_fixed=textwrap.dedent(
        """
        import pytest

        @pytest.mark.finding("ASTARTE-MQTT-TLS-01", reason="used to deviate", sdk="astarte-device-sdk==0.14.0")
        def test_now_passes():
            pass
        """
    ))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={pytester.path / 'reports'}")
    result.assert_outcomes(failed=1)
    data = json.loads((pytester.path / "reports" / "latest" / "run-record.json").read_text())
    assert data["checks"][0]["outcome"] == "xpassed"


SECRETS = {
    "credentials secret (JSON)": ('{"data": {"credentials_secret": "dGhpcyBpcyBzZWNyZXQ="}}', "dGhpcyBpcyBzZWNyZXQ="),
    "JWT": ("GET /v1/hil/devices Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhX2FlYSI6WyIuKjo6LioiXX0.c2lnbmF0dXJl",
            "eyJhX2FlYSI6WyIuKjo6LioiXX0"),
    "HMAC signature header": ("Authorization: Signature 3f1d0c9b8a7e6d5c4b3a29181716151413121110", "3f1d0c9b8a7e"),
    "HMAC key in a repr": ("RobotClient(client_id=1, secret_key='s3cr3t-hmac-key')", "s3cr3t-hmac-key"),
    "password": ("bridge account user=lna password=hunter2!", "hunter2!"),
    "SAS sig": ("https://blob/x?sv=2020&sig=AbC%2Bdef%3D&se=1", "AbC%2Bdef"),
    "private key": ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----", "MHcCAQEEIB"),
    "pairing token": ("token: Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
    "bare bearer": ("retrying with Bearer abcdefgh12345678 after 401", "abcdefgh12345678"),
}


@pytest.mark.parametrize("case", SECRETS, ids=list(SECRETS))
def test_secrets_are_redacted(case):
    text, secret = SECRETS[case]
    cleaned = redact(text)
    assert secret not in cleaned and MASK in cleaned


def test_redaction_keeps_what_is_not_secret():
    text = "PUBLISH hil/dev1/org.Example/value qos=1 retain=False payload={'v': 42}"
    assert redact(text) == text


def test_evidence_is_redacted_hashed_and_world_readable(tmp_path: Path):
    evidence = write_evidence(tmp_path, "t.py::test_x[a/b]", "hub.log", "password=hunter2 ok\n", kind="service-log")
    path = tmp_path / evidence.path
    data = path.read_bytes()
    assert b"hunter2" not in data and evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert path.stat().st_mode & 0o777 == 0o644 and path.parent.stat().st_mode & 0o777 == 0o755
    assert not Path(evidence.path).is_absolute() and ".." not in Path(evidence.path).parts


def test_a_saved_fuzz_disagreement_is_reproduced_by_hil_replay_and_kept_as_evidence(pytester):
    capsule = pytester.path / "findings" / "c1.json"
    capsule.parent.mkdir()
    capsule.write_text('{"property": "send", "summary": "the SDK sent a float as int"}\n')
    pytester.makepyfile(test_fuzz=textwrap.dedent(
        f"""
        import pytest
        from hil.fixtures.fuzzing import REPRODUCE_NOTE

        @pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
        def test_property():
            error = AssertionError("the SDK and the oracle disagree")
            error.add_note(REPRODUCE_NOTE + {str(capsule)!r})
            raise error
        """
    ))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={pytester.path / 'reports'}")
    result.assert_outcomes(failed=1)
    latest = pytester.path / "reports" / "latest"
    check = json.loads((latest / "run-record.json").read_text())["checks"][0]
    assert check["reproduce"] == f"hil replay {capsule}"
    (kept,) = [e for e in check["evidence"] if e["kind"] == "capsule"]
    assert "float as int" in (latest / kept["path"]).read_text()


def test_captured_payloads_are_shown_decoded():
    import zlib

    from hil.astarte.bsonwire import encode
    from hil.mqtt.client import ReceivedMessage
    from hil.report.traffic import describe_messages

    purge = b"a/b;c/d"
    messages = [
        ReceivedMessage("hil/d/org.X/v", encode({"v": 1.5}), 2, False, 10.5),
        ReceivedMessage("hil/d/control/producer/properties", len(purge).to_bytes(4, "big") + zlib.compress(purge), 2, False, 10.6),
        ReceivedMessage("hil/d", b"org.X:0:1", 2, True, 10.7),
        ReceivedMessage("hil/d/org.X/v", b"\x00\x01\xff", 0, False, 10.8),
        ReceivedMessage("hil/d/org.X/p", b"", 2, False, 10.9),
    ]
    text = describe_messages(messages, start=10.0)
    assert "+   0.500s PUBLISH hil/d/org.X/v qos=2 retain=False bytes=16\n    BSON: {'v': 1.5}" in text
    assert "deflated (declared 7 bytes): 'a/b;c/d'" in text
    assert "PUBLISH hil/d qos=2 retain=True" in text and "text: org.X:0:1" in text
    assert "hex: 0001ff" in text and "(empty payload)" in text
