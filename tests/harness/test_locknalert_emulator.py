"""The LocknAlert bridge emulator itself: bad input, limits, onboarding rules, broker accounts,
its control interfaces and its command line.

Most checks use the emulator of the simulated target (reset before each check); the slowloris
and connection-limit checks use a second, strict emulator (3 s head timeout, 4 connections) on
the same broker, so they finish in seconds.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
import pytest
from aiolocknalert import BootstrapResult, LocknAlertBridgeApi

from hil.locknalert.control import ControlAction, EmulatorBridgeControl, Fault, OperatorBridgeControl, OperatorDeclined
from hil.components.locknalert import LocknAlertComponent, LocknAlertEmulator
from hil.errors import TargetError
from hil.locknalert.bridge import BridgeTopics, LocknAlertBridge
from hil.rundir import RunDirectory
from hil.services import ProcessBackend
from hil.simulators.locknalert.emulator import BridgeEmulator, BrokerAddress
from hil.simulators.locknalert.onboarding import Decision, MqttCredentials, Onboarding


# -- helpers -----------------------------------------------------------------------------------
def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the bridge's certificate is self-signed, as shipped
    return context


def tls_connect(port: int, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return _unverified().wrap_socket(raw, server_hostname="localhost")


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one response on ``sock``, read until the server closes or the body ends."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return 0, b""
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    with tls_connect(port, timeout) as sock:
        sock.sendall(raw)
        return read_response(sock)


def request(bridge: LocknAlertBridge, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPSConnection(bridge.host, bridge.port, context=_unverified(), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def bootstrap_raw(bridge: LocknAlertBridge, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    return request(bridge, "POST", "/api/mqtt/bootstrap", body, {"Content-Type": content_type})


def assert_alive(bridge: LocknAlertBridge) -> None:
    status, info = request(bridge, "GET", "/api/info")
    assert status == 200 and info["bridge_serial"] == bridge.serial


def bootstrap(bridge: LocknAlertBridge, token: str | None = None) -> BootstrapResult:
    async def main() -> BootstrapResult:
        async with aiohttp.ClientSession() as session:
            return await LocknAlertBridgeApi(bridge.host, bridge.port).async_bootstrap(session, bridge.serial, token)

    return asyncio.run(main())


STRICT_HEAD_TIMEOUT = 3  # long enough for another client's request even on a loaded machine
STRICT_MAX_CONNECTIONS = 4


@pytest.fixture(scope="module")
def strict_emulator(locknalert_emulator: LocknAlertComponent) -> Iterator[LocknAlertEmulator]:
    run_dir = RunDirectory(prefix="hil-locknalert-strict-")
    emulator = LocknAlertEmulator(locknalert_emulator.broker, ProcessBackend(run_dir.sub("services")),
                                  name="locknalert-strict",
                                  extra_args=("--head-timeout", str(STRICT_HEAD_TIMEOUT),
                                              "--max-connections", str(STRICT_MAX_CONNECTIONS)))
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.stop()
        run_dir.remove()


# -- bad input ---------------------------------------------------------------------------------
GARBAGE_SERIALS: list[Any] = ["", "   ", 42, None, ["LNA"], {"s": 1}, True, "A" * 65, "bad\x00serial",
                              "\u202eLNA", "'; DROP TABLE bridges; --", "ü" * 64, "LNA-SIM-\ud800"]


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-01")
@pytest.mark.parametrize("serial", GARBAGE_SERIALS, ids=range(len(GARBAGE_SERIALS)))
def test_garbage_serials_are_refused_like_a_bridge(locknalert: LocknAlertBridge, serial: Any) -> None:
    locknalert.control.open_window()
    body = json.dumps({"serial_number": serial}).encode()
    status, answer = bootstrap_raw(locknalert, body)
    assert status in (400, 401), answer
    assert isinstance(answer, dict) and answer["error"]
    assert_alive(locknalert)


MALFORMED_BODIES = [b"", b"not json", b"\xff\xfe\x00", b"[1, 2]", b"null", b'"LNA"', b"{" * 5000,
                    b"[" * 6000 + b"]" * 6000, b'{"serial_number": "x", "pairing_token": 5}',
                    b'{"pairing_token": "t"}', b'{"serial_number": "x", "pairing_token": "' + b"t" * 300 + b'"}']


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-01")
@pytest.mark.parametrize("body", MALFORMED_BODIES, ids=range(len(MALFORMED_BODIES)))
def test_malformed_bootstrap_bodies_get_400(locknalert: LocknAlertBridge, body: bytes) -> None:
    status, answer = bootstrap_raw(locknalert, body)
    assert status == 400 and answer["error"] == "bad_request"


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-02")
def test_a_huge_body_is_refused_before_it_is_sent(locknalert: LocknAlertBridge) -> None:
    head = (b"POST /api/mqtt/bootstrap HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    status, body = exchange(locknalert.port, head)  # not a byte of the 50 MB is sent
    assert status == 413 and json.loads(body)["error"]
    assert_alive(locknalert)


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-02")
def test_a_chunked_body_over_the_limit_is_cut_off(locknalert: LocknAlertBridge) -> None:
    chunk = b"x" * 8192
    raw = (b"POST /api/mqtt/bootstrap HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + (b"2000\r\n" + chunk + b"\r\n") * 4 + b"0\r\n\r\n")
    assert exchange(locknalert.port, raw)[0] == 413


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-03")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "",
                                          "application/json; charset=latin-1", "application/jsonp"])
def test_a_bootstrap_that_is_not_json_by_content_type_gets_415(locknalert: LocknAlertBridge, content_type: str) -> None:
    body = json.dumps({"serial_number": locknalert.serial}).encode()
    status, answer = bootstrap_raw(locknalert, body, content_type)
    assert status == 415 and answer["error"] == "unsupported_media_type"


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-01")
def test_unknown_paths_and_methods_get_404_and_405(locknalert: LocknAlertBridge) -> None:
    assert request(locknalert, "GET", "/api/nothing")[0] == 404
    assert request(locknalert, "DELETE", "/api/info")[0] == 405
    assert request(locknalert, "GET", "/api/mqtt/bootstrap")[0] == 405


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-05")
def test_broken_http_and_broken_tls_do_not_harm_the_emulator(locknalert: LocknAlertBridge) -> None:
    assert exchange(locknalert.port, b"\x00\x01 garbage that is not http\r\n\r\n")[0] == 400
    assert exchange(locknalert.port, b"GET /api/info HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")[0] == 431
    assert exchange(locknalert.port, b"GET /api/info HTTP/9.9\r\n\r\n")[0] == 505
    # Plain HTTP and random bytes on the TLS port: the handshake fails, the emulator carries on.
    for raw in (b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", locknalert.port), timeout=5) as plain:
            plain.sendall(raw)
            plain.recv(1024)  # closed (or an alert) once the server gives up on the handshake
    assert_alive(locknalert)


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-04")
def test_a_slowloris_client_neither_blocks_others_nor_keeps_its_connection(strict_emulator: LocknAlertEmulator) -> None:
    bridge = strict_emulator.bridge()
    with tls_connect(bridge.port, timeout=STRICT_HEAD_TIMEOUT + 10) as slow:
        slow.sendall(b"GET /api/info HTTP/1.1\r\nHost: bridge\r\nX-Slow: s")  # a head that never ends
        # A server that waited on the slow head would answer another client only after cutting
        # the slow one off; here the other client is served while the slow head is still pending.
        assert request(bridge, "GET", "/api/info")[0] == 200
        assert not answered(slow), "the other client was answered only after the slow one had been cut off"
        status, body = read_response(slow)  # nothing more is sent: the server cuts the head off
    assert status == 408 and json.loads(body)["error"]


def answered(sock: ssl.SSLSocket) -> bool:
    """Whether the server has sent application data (or closed) on ``sock``, without waiting.

    TLS 1.3 session tickets make the raw socket readable with nothing for the application, so a
    non-blocking read through TLS is the test, not ``select``.
    """
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1)
        return True
    except ssl.SSLWantReadError:
        return False
    finally:
        sock.settimeout(timeout)


def keep_alive_request(port: int) -> ssl.SSLSocket:
    """A connection that has been served once and stays open (keep-alive): surely registered."""
    sock = tls_connect(port)
    sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: b\r\n\r\n")
    assert read_response(sock)[0] == 200
    return sock


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-06")
def test_connections_beyond_the_limit_get_503_at_once(strict_emulator: LocknAlertEmulator) -> None:
    bridge = strict_emulator.bridge()
    idle: list[ssl.SSLSocket] = []
    try:
        idle.extend(keep_alive_request(bridge.port) for _ in range(STRICT_MAX_CONNECTIONS))
        status, _ = exchange(bridge.port, b"GET /api/info HTTP/1.1\r\nHost: b\r\n\r\n")
        assert status == 503
    finally:
        for sock in idle:
            sock.close()
    assert_alive(bridge)  # the limit counts open connections, not connections ever made


@pytest.mark.requirement("LOCKNALERT-EMU-INPUT-01")
def test_control_api_rejects_bad_input_without_a_5xx(locknalert_emulator: LocknAlertComponent) -> None:
    import httpx

    base = f"{locknalert_emulator.emulator.control_url}/_sim"
    cases: list[tuple[str, Any]] = [
        ("fault", {"mode": "explode"}), ("fault", {"mode": "slow", "delay": -1}), ("fault", {"mode": "slow", "delay": 1e9}),
        ("window/open", {"seconds": "soon"}), ("window/open", {"seconds": float("inf")}), ("alert", {"zone": 0}),
        ("alert", {"zone": True}), ("alert", {"zone": 1, "kind": "x" * 100}), ("mqtt-tls", {"required": "yes"}),
    ]
    with httpx.Client(timeout=5) as client:
        for path, body in cases:
            response = client.post(f"{base}/{path}", content=json.dumps(body, allow_nan=True))
            assert response.status_code == 422, (path, body, response.text)
        assert client.post(f"{base}/reset", content=b"\xff").status_code == 400
        assert client.post(f"{base}/nothing", json={}).status_code == 404


# -- onboarding rules --------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.requirement("LOCKNALERT-EMU-ONBOARD-02")
def test_the_onboarding_window_closes_by_itself() -> None:
    clock = FakeClock()
    onboarding = Onboarding("LNA-1", clock=clock, window_seconds=120)
    onboarding.open_window()
    clock.now += 119.9
    assert onboarding.decide("LNA-1", None) is Decision.PROVISION
    clock.now += 0.2
    assert onboarding.decide("LNA-1", None) is Decision.PAIRING_REQUIRED


def test_onboarding_rules_in_every_state() -> None:
    tokens = iter(["t1", "t2", "t3"])
    onboarding = Onboarding("LNA-1", clock=FakeClock(), token_factory=lambda: next(tokens))
    assert onboarding.decide("LNA-2", None) is Decision.WRONG_SERIAL
    onboarding.open_window()
    assert onboarding.decide("LNA-2", None) is Decision.WRONG_SERIAL  # the window does not help
    assert onboarding.provisioned_with(MqttCredentials("u", "p")) == "t1"
    assert not onboarding.window_open()  # one press, one pairing
    assert onboarding.decide("LNA-1", None) is Decision.ALREADY_PROVISIONED
    assert onboarding.decide("LNA-1", "t1") is Decision.REISSUE
    assert onboarding.rotate_token() == "t2"
    assert onboarding.decide("LNA-1", "t1") is Decision.ALREADY_PROVISIONED
    assert onboarding.factory_reset() == MqttCredentials("u", "p")
    assert onboarding.decide("LNA-1", "t2") is Decision.PAIRING_REQUIRED


@pytest.mark.requirement("LOCKNALERT-EMU-ONBOARD-01")
def test_one_button_press_provisions_exactly_one_of_many_concurrent_clients(locknalert: LocknAlertBridge) -> None:
    locknalert.control.open_window()

    async def race() -> list[Any]:
        api = LocknAlertBridgeApi(locknalert.host, locknalert.port)
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(api.async_get_mqtt_bootstrap(session, locknalert.serial) for _ in range(6)),
                                        return_exceptions=True)

    outcomes = asyncio.run(race())
    winners = [o for o in outcomes if isinstance(o, BootstrapResult)]
    assert len(winners) == 1, outcomes
    assert all(type(o).__name__ == "LocknAlertAlreadyProvisioned" for o in outcomes if o not in winners)


def test_a_power_cycle_keeps_the_pairing(strict_emulator: LocknAlertEmulator) -> None:
    bridge = strict_emulator.bridge()
    bridge.control.factory_reset()
    bridge.control.open_window()
    first = bootstrap(bridge)
    strict_emulator.restart()
    again = bootstrap(bridge, first.pairing_token)
    assert (again.username, again.password) == (first.username, first.password)


# -- broker accounts ---------------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-EMU-BROKER-01")
def test_bootstrapped_credentials_reach_only_the_bridge_topic_tree(locknalert: LocknAlertBridge) -> None:
    locknalert.control.open_window()
    result = bootstrap(locknalert)
    topics = BridgeTopics(result.topic_prefix, locknalert.serial)
    connected, acks, pubacks = threading.Event(), {}, {}
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="acl-probe", protocol=mqtt.MQTTv5)
    client.username_pw_set(result.username, result.password)
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.on_subscribe = lambda c, u, mid, rcs, p: (acks.__setitem__(mid, rcs), done.set())
    client.on_publish = lambda c, u, mid, rc, p: (pubacks.__setitem__(mid, rc), done.set())
    client.connect(result.host, result.port)
    client.loop_start()
    try:
        assert connected.wait(5)

        def outcome(table: dict[int, Any], mid: int) -> Any:
            deadline = time.monotonic() + 5
            while mid not in table:
                done.clear()
                if mid in table or not done.wait(max(0.0, deadline - time.monotonic())):
                    break
            return table[mid]

        assert not outcome(acks, client.subscribe(topics.all, qos=1)[1])[0].is_failure
        for forbidden in ("#", f"{topics.prefix}/OTHER-BRIDGE/#", "$SYS/#"):
            assert outcome(acks, client.subscribe(forbidden, qos=1)[1])[0].is_failure, forbidden
        assert not outcome(pubacks, client.publish(topics.lock_set, "LOCK", qos=1).mid).is_failure
        for forbidden in (topics.availability, topics.alert, f"{topics.prefix}/OTHER-BRIDGE/lock/set"):
            assert outcome(pubacks, client.publish(forbidden, "x", qos=1).mid).is_failure, forbidden
    finally:
        client.disconnect()
        client.loop_stop()


# -- control interfaces ------------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-EMU-CONTROL-01")
def test_the_operator_is_told_what_to_do_and_confirms() -> None:
    out = io.StringIO()
    control = OperatorBridgeControl(input=io.StringIO("\ndone\nskip\n"), output=out)
    control.open_window()
    control.trigger_alert(2, "fire")
    assert "pairing" in out.getvalue() and "'fire' alert on zone 2" in out.getvalue()
    with pytest.raises(OperatorDeclined):
        control.factory_reset()
    with pytest.raises(OperatorDeclined, match="input closed"):
        control.close_window()  # end of input never hangs a run


@pytest.mark.requirement("LOCKNALERT-EMU-CONTROL-01")
def test_an_operator_bench_declares_which_faults_it_can_make() -> None:
    control = OperatorBridgeControl(input=io.StringIO("\n"), output=io.StringIO(), faults=frozenset({Fault.DROP}))
    assert control.supports(Fault.DROP) and not control.supports(Fault.SLOW)
    assert control.supports(ControlAction.OPEN_WINDOW)
    with pytest.raises(OperatorDeclined):
        control.set_fault(Fault.SLOW)
    control.set_fault(Fault.DROP)


def test_the_emulator_control_reports_an_unreachable_emulator_in_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    control = EmulatorBridgeControl(f"http://127.0.0.1:{port}")
    with pytest.raises(TargetError, match="emulator control reset"):
        control.factory_reset()
    assert not control.supports(ControlAction.RESTART_BROKER)


# -- command line ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--broker-port", "1883"], {}, "HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD"),
        (["--broker-port", "1883", "--serial", "bad serial!"], {"HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD": "x"}, "--serial"),
        (["--broker-port", "99999"], {"HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD": "x"}, "not a port"),
        (["--broker-port", "1883", "--mqtt-tls"], {"HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD": "x"}, "--broker-tls-port"),
    ],
)
def test_command_line_mistakes_are_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD"} | env
    done = subprocess.run([sys.executable, "-m", "hil.simulators.locknalert", *args], capture_output=True, text=True,
                          env=environment, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_broker_is_one_line_and_exit_1() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "hil.simulators.locknalert", "--broker-port", str(port)],
                          capture_output=True, text=True, timeout=30,
                          env=os.environ | {"HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD": "x"})
    assert done.returncode == 1
    assert "locknalert emulator:" in done.stderr and "Traceback" not in done.stderr


# -- state file and start-up failures ------------------------------------------------------------
WRONG_SHAPES = {
    "array": "[1, 2]",
    "unknown-keys": '{"x": 1}',
    "string": '"paired"',
    "half-provisioned": '{"username": "u", "password": 5, "token": "t"}',
}


@pytest.mark.parametrize("content", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_a_state_file_of_the_wrong_shape_is_one_line_naming_it(tmp_path, caplog, content: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)
    with caplog.at_level(logging.WARNING, logger="locknalert.bridge"):
        emulator = BridgeEmulator(Onboarding("LNA-1"), None, None, BrokerAddress("127.0.0.1", 1883),  # type: ignore[arg-type]
                                  BridgeTopics("locknalert", "LNA-1"), state_file=state)
    assert not emulator.onboarding.provisioned  # a bridge with unreadable memory starts unpaired
    [record] = caplog.records
    assert record.getMessage().startswith(f"ignoring unreadable state file {state}: ")
    assert "\n" not in record.getMessage()


def test_the_state_the_emulator_writes_is_restored() -> None:
    for credentials in (None, MqttCredentials("u", "p")):
        written = Onboarding("LNA-1", token_factory=lambda: "t1")
        if credentials is not None:
            written.provisioned_with(credentials)
        restored = Onboarding("LNA-1")
        restored.restore(json.loads(json.dumps(written.snapshot())))
        assert (restored.credentials, restored.token) == (written.credentials, written.token)


def run_emulator(*args: str, password: str = "x", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hil.simulators.locknalert", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ | {"HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD": password})


def test_a_state_dir_that_cannot_be_made_is_named(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    state_dir = tmp_path / "file" / "state"
    done = run_emulator("--broker-port", "1", "--state-dir", str(state_dir))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"locknalert emulator: {state_dir}: Not a directory"


def test_an_unresolvable_host_is_named() -> None:
    done = run_emulator("--broker-port", "1", "--host", "no-such-host.invalid")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "python -m hil.simulators.locknalert: error: --host no-such-host.invalid: ")


def test_an_unloadable_bridge_certificate_is_one_line_naming_the_state_dir(
    locknalert_emulator: LocknAlertComponent, tmp_path
) -> None:
    broker = locknalert_emulator.broker
    state = tmp_path / "state"
    state.mkdir()
    for name in ("bridge-cert.pem", "bridge-key.pem"):
        (state / name).write_text("not PEM\n")
    done = run_emulator("--serial", "LNA-BAD-CERT", "--state-dir", str(state), "--broker-host", broker.endpoint.host,
                        "--broker-port", str(broker.endpoint.port), "--broker-admin", broker.admin.username,
                        password=broker.admin.password)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"locknalert emulator: cannot load the bridge certificate in {state}: ")

