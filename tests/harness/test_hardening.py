"""The reproducers of the hardening probe (issue 16), against the real simulator processes.

Each test is one input an attacker or a careless user sent, and the answer the simulator must
give: a 4xx in the real server's shape (never a 5xx), promptly (never a hang), with the simulator
still serving afterwards. Client-side timeouts are short so that a hang fails the test instead of
holding the session.
"""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx
import pytest

from hil.components.astarte import AstarteClient, random_device_id

#: Long enough for any honest answer on a loaded 2-core machine, far below a hang.
PROMPT = 5.0

SERVICE = "/astarteplatform.msghub.MessageHub/"


# -- 1. hub long poll with a NaN wait ----------------------------------------------------------------


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "1e999", "-1"])
def test_hub_node_wait_that_is_not_a_finite_duration_is_400_at_once(message_hub, wait):
    with httpx.Client(timeout=PROMPT) as http:
        response = http.get(f"{message_hub.control_url}/_sim/nodes/{uuid.uuid4()}", params={"wait": wait})
        assert response.status_code == 400, response.text
        assert "wait" in response.json()["error"]
        assert http.get(f"{message_hub.control_url}/health").status_code == 200


# -- 2. Astarte listing long polls with a NaN timeout ---------------------------------------------------


@pytest.mark.parametrize("listing", ["errors", "messages", "sessions", "disconnections"])
@pytest.mark.parametrize("query", [{"timeout": "nan", "min_count": "1000"}, {"timeout": "inf", "min_count": "1"},
                                   {"timeout": "1", "min_count": "nan"}, {"timeout": "1", "min_count": str(10**30)}])
def test_astarte_listing_with_a_non_finite_duration_or_count_is_400_at_once(astarte: AstarteClient, listing, query):
    with astarte.http(timeout=PROMPT) as http:
        response = http.get(f"{astarte.control_url}/{listing}", params=query)
        assert response.status_code == 400, response.text
        assert response.json() == {"errors": {"detail": "Bad request"}}
        assert http.get(f"{astarte.pairing_base_url}/version").status_code == 200


# -- 3. DESTINY clock advanced out of the calendar -------------------------------------------------------


@pytest.mark.parametrize("seconds", [1e12, -1e12, 1e308])
def test_destiny_clock_advance_out_of_range_is_422_and_changes_nothing(destiny, seconds):
    before = destiny.http.get("/_sim/clock").json()["offset_seconds"]
    response = destiny.http.post("/_sim/clock/advance", json={"seconds": seconds}, timeout=PROMPT)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "seconds"]
    clock = destiny.http.get("/_sim/clock")
    assert clock.status_code == 200 and clock.json()["offset_seconds"] == before
    assert destiny.http.get("/_sim/pending-enhancements").status_code == 200


# -- 4. CSR on a curve nobody signs ------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["secp112r1", "prime192v2", "brainpoolP160r1"])
def test_a_csr_on_an_unsupported_curve_is_a_bad_csr(astarte: AstarteClient, tmp_path, curve):
    key, csr = tmp_path / "key.pem", tmp_path / "csr.pem"
    subprocess.run(["openssl", "ecparam", "-name", curve, "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=x", "-out", str(csr)], check=True)
    device = astarte.register_device()
    url = f"{astarte.pairing_base_url}/v1/{astarte.realm}/devices/{device.device_id}/protocols/astarte_mqtt_v1/credentials"
    with astarte.http(token=device.credentials_secret, timeout=PROMPT) as http:
        response = http.post(url, json={"data": {"csr": csr.read_text()}})
    assert response.status_code == 422, response.text
    assert response.json() == {"errors": {"csr": ["is not a valid PEM CSR"]}}


# -- 5. raw publish to a topic MQTT cannot carry ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/org.hil.test.ServerDatastream/+", "/org.hil.test.ServerDatastream/#",
                                  "/" + "a" * 65_536, "/a\u0000b"])
def test_publish_to_a_path_mqtt_cannot_carry_is_422(astarte: AstarteClient, path):
    with astarte.http(timeout=PROMPT) as http:
        response = http.post(f"{astarte.control_url}/devices/{random_device_id()}/publish",
                             json={"path": path, "payload_hex": "", "qos": 0})
    assert response.status_code == 422, response.text
    assert "path" in response.json()["errors"]["detail"]


# -- 6. hub Attach with interface JSON nested past any parser ------------------------------------------


def test_hub_attach_with_deeply_nested_interface_json_is_invalid_argument(message_hub):
    from astarteplatform.msghub.node_pb2 import Node

    body = Node(interfaces_json=["[" * 200_000 + "]" * 200_000]).SerializeToString()
    with grpc.insecure_channel(message_hub.grpc_address) as channel:
        attach = channel.unary_stream(SERVICE + "Attach", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(attach(body, metadata=[("node-id", str(uuid.uuid4()))], timeout=PROMPT)))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


# -- 9. hub control API: other methods -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_hub_control_api_answers_other_methods_with_json_405(message_hub, method):
    with httpx.Client(timeout=PROMPT) as http:
        response = http.request(method, f"{message_hub.control_url}/_sim/state")
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {"error": f"method {method} not allowed"}


# -- request timeouts: a request that never completes is not held ----------------------------------------


def _incomplete_request_held_for(host: str, port: int, *, tls_ca: Path | None) -> float:
    """Send request headers that never end; seconds until the server closes the connection."""
    import ssl

    raw = socket.create_connection((host, port), timeout=30)
    conn: socket.socket = raw
    if tls_ca is not None:
        conn = ssl.create_default_context(cafile=str(tls_ca)).wrap_socket(raw, server_hostname=host)
    try:
        started = time.monotonic()
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        while conn.recv(4096):
            pass
        return time.monotonic() - started
    except TimeoutError:
        return float("inf")
    finally:
        conn.close()


def test_astarte_and_destiny_drop_an_incomplete_request(astarte: AstarteClient, destiny):
    destiny_url = httpx.URL(destiny.base_url)
    astarte_url = httpx.URL(astarte.base_url)
    held = {
        "destiny": _incomplete_request_held_for(destiny_url.host, destiny_url.port, tls_ca=None),
        "astarte": _incomplete_request_held_for(astarte_url.host, astarte_url.port, tls_ca=astarte.ca_path),
    }
    assert all(seconds < 12 for seconds in held.values()), held


# -- hub node table ------------------------------------------------------------------------------------


def test_hub_node_table_is_bounded(tmp_path):
    """Nodes whose stream was cancelled stay attached (as on the real hub) but make room for new ones."""
    from hil.simulators.message_hub.hub import HubError, MessageHub
    from hil.simulators.message_hub.property_store import InterfaceCache, PropertyStore

    store = PropertyStore(tmp_path / "properties.sqlite")
    try:
        hub = MessageHub(None, None, store, InterfaceCache(tmp_path / "interfaces"), max_nodes=2)  # type: ignore[arg-type]
        first, second = hub.attach(uuid.uuid4(), []), hub.attach(uuid.uuid4(), [])
        with pytest.raises(HubError) as full:
            hub.attach(uuid.uuid4(), [])
        assert full.value.code == "RESOURCE_EXHAUSTED"
        hub.stream_closed(first)
        third = hub.attach(uuid.uuid4(), [])
        assert {n["node_id"] for n in hub.nodes()} == {str(second.id), str(third.id)}
    finally:
        store.close()


# -- 7. a SIGKILLed owner leaves no key material ------------------------------------------------------


def test_a_sigkilled_hil_up_leaves_keys_that_the_audit_names_and_the_next_start_removes(tmp_path, monkeypatch):
    import tempfile

    from hil.cli.main import main
    from hil.services.tracking import ResourceTracker, current_tracker

    env = current_tracker().child_env({"TMPDIR": str(tmp_path)})
    child = subprocess.Popen([sys.executable, "-m", "hil.cli.main", "up"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = []
        for line in child.stdout:
            lines.append(line)
            if line.startswith("hil up: ready"):
                break
        bench = next(Path(line.split()[-1]) for line in lines if line.startswith("bench file"))
        run_dir = next(p for p in bench.parents if p.parent == tmp_path)
        key = next(run_dir.rglob("*.key"))
        assert str(child.pid) in run_dir.name, f"{run_dir} does not name its owner {child.pid}"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert key.exists() and any(run_dir.rglob("ca*key*")), "the kill left no key to clean up: nothing was tested"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Meanwhile: this session's audit names it (hil up ran as a child of this session) ...
    assert run_dir in current_tracker().find_leaks().temp_dirs
    # ... another session's does not (it is not theirs to fail on) ...
    assert run_dir not in ResourceTracker().find_leaks().temp_dirs
    # ... and the next hil start removes it, key material and all.
    assert main(["doctor"]) in (0, 1)
    assert not run_dir.exists()


def test_the_sweep_spares_a_live_owners_run_directory(tmp_path, monkeypatch):
    import tempfile

    from hil.rundir import RunDirectory, remove_orphaned_run_dirs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with RunDirectory() as mine:
        assert remove_orphaned_run_dirs() == []
        assert mine.path.exists()


# -- 8. SDK keys live in the run directory -----------------------------------------------------------------


def test_sdk_persistency_lives_in_a_private_run_directory(astarte_device, tmp_path_factory):
    persistency = astarte_device().persistency_dir
    basetemp = tmp_path_factory.getbasetemp()
    assert basetemp not in persistency.parents, f"{persistency} is in pytest's temp dirs"
    private = [p for p in persistency.parents if p.name.startswith("hil-")]
    assert private and stat.S_IMODE(private[-1].stat().st_mode) == 0o700, persistency


# -- 10. evidence: the reports' permissions, no tokens -----------------------------------------------------


def test_evidence_is_readable_and_carries_no_tokens(tmp_path):
    from hil.report.evidence import write_evidence

    log = (
        '127.0.0.1:1 - "GET /_sim/storage/batch-1.jsonl?sig=c2VjcmV0LXRva2Vu HTTP/1.1" 200\n'
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln\n"
        "robot secret=hunter2-hunter2 created\n"
        'seed {"client_secret": "s3cr3t-value"}\n'
        "credentials_secret: AbCdEf123456\n"
        "an honest line\n"
    )
    evidence = write_evidence(tmp_path, "tests/x.py::test_y", "destiny.log", log, kind="service-log")
    dest = tmp_path / evidence.path
    text = dest.read_text()
    for secret in ("c2VjcmV0LXRva2Vu", "eyJhbGciOiJSUzI1NiJ9", "hunter2", "s3cr3t-value", "AbCdEf123456"):
        assert secret not in text, text
    assert "sig=[REDACTED]" in text and "an honest line" in text
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # the reports' policy: readable, with no secret in it


def test_the_recording_writes_service_logs_only_through_the_redaction():
    source = (Path(__file__).resolve().parents[2] / "fixtures" / "recording.py").read_text()
    assert "write_evidence(" in source and "shutil.copyfile" not in source and "copy_log_redacted" not in source


# -- the shared bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [{"timeout": "nan"}, {"wait": "inf"}, {"wait": "-0.5"}, {"timeout": "1e999"},
                                   {"min_count": "1.5"}, {"min_count": "1_000"}, {"since": "-1"},
                                   {"since": "9" * 25}, {"min_count": "1000001"}, {"timeout": "x" * 100}])
def test_control_query_refuses_what_is_not_a_finite_bounded_number(query):
    from hil.simulators.request_bounds import OutOfBounds, control_query

    with pytest.raises(OutOfBounds) as refused:
        control_query(query)
    assert refused.value.name in query


def test_control_query_clamps_long_polls_and_keeps_other_parameters_out():
    from hil.simulators.request_bounds import MAX_WAIT_SECONDS, control_query

    assert control_query({"timeout": "3600", "wait": "0.25", "min_count": "2", "since": "7", "device_id": "x"}) == {
        "timeout": MAX_WAIT_SECONDS, "wait": 0.25, "min_count": 2, "since": 7}


@pytest.mark.parametrize("value", [True, "1", None, [1], float("nan"), 10**400, 11.0, -1])
def test_a_json_number_out_of_bounds_or_of_another_type_is_refused(value):
    from hil.simulators.request_bounds import OutOfBounds, number

    with pytest.raises(OutOfBounds):
        number(value, name="seconds", low=0, high=10)


def test_destiny_clock_moves_that_add_up_past_the_bound_are_refused(destiny):
    from hil.simulators.destiny.clock import MAX_OFFSET_SECONDS

    step = MAX_OFFSET_SECONDS * 0.6
    assert destiny.http.post("/_sim/clock/advance", json={"seconds": step}).status_code == 200
    refused = destiny.http.post("/_sim/clock/advance", json={"seconds": step})
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "seconds"]
    assert destiny.http.get("/_sim/clock").json()["offset_seconds"] == pytest.approx(step)
    assert destiny.http.get("/_sim/pending-enhancements").status_code == 200


def test_hub_control_api_answers_a_malformed_request_with_json(message_hub):
    url = httpx.URL(message_hub.control_url)
    with socket.create_connection((url.host, url.port), timeout=PROMPT) as conn:
        conn.sendall(b"GET /_sim/state HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") and b"application/json" in head, answer
    assert "error" in json.loads(body)
    with httpx.Client(timeout=PROMPT) as http:
        head_answer = http.head(f"{message_hub.control_url}/_sim/state")
    assert head_answer.status_code == 200 and head_answer.content == b""


# -- found by the robustness fuzz ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/pairing/v1/%0A/version", "/%0A", "/appengine/v1/hil/devices/%0A"])
def test_a_path_no_route_pattern_matches_is_a_json_404(astarte: AstarteClient, path):
    with astarte.http(timeout=PROMPT) as http:
        response = http.get(astarte.base_url + path)
    assert response.status_code == 404, response.text
    assert response.json() == {"errors": {"detail": "Not found"}}
