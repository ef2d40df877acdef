"""The simulated realm follows device broker sessions from Mosquitto's connection log on ``$SYS``:
connect, graceful disconnect, takeover, forced disconnect (its own takeover session ignored),
with the parser checked against the exact lines Mosquitto 2.0.11 writes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from hil.mqtt.broker import MosquittoBroker
from hil.components.astarte import AstarteClient
from hil.mqtt.client import MqttSession
from hil.simulators.astarte.broker_log import SessionChange, SessionEvent, parse_log_line

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.mark.parametrize(("line", "event"), [
    (b"1795499029: New client connected from 127.0.0.1:56125 as hil/dev1 (p2, c1, k30, u'hil/dev1').",
     SessionEvent(SessionChange.CONNECTED, "hil/dev1", "127.0.0.1", 56125)),
    (b"1795499029: New client connected from ::1:5000 as hil/x (p5, c0, k60).",
     SessionEvent(SessionChange.CONNECTED, "hil/x", "::1", 5000)),
    (b"1795499030: Client hil/dev1 already connected, closing old connection.",
     SessionEvent(SessionChange.TAKEN_OVER, "hil/dev1")),
    (b"1795499029: Client hil/dev1 disconnected.", SessionEvent(SessionChange.ENDED, "hil/dev1")),
    (b"1795499040: Client hil/dev1 closed its connection.", SessionEvent(SessionChange.ENDED, "hil/dev1")),
    (b"1: Client hil/d has exceeded timeout, disconnecting.", SessionEvent(SessionChange.ENDED, "hil/d")),
    (b"1: Client hil/d disconnected due to out of memory.", SessionEvent(SessionChange.ENDED, "hil/d")),
    (b"1: Client hil/d disconnected, not authorised.", SessionEvent(SessionChange.ENDED, "hil/d")),
    (b"1: Bad socket read/write on client hil/d: Unknown error.", SessionEvent(SessionChange.ENDED, "hil/d")),
    (b"1795499029: New connection from 127.0.0.1:56125 on port 39167.", None),
    (b"1: OpenSSL Error[0]: error:0A000126:SSL routines::unexpected eof while reading", None),
    (b"\xff\xfe", None),
])
def test_log_lines(line: bytes, event: SessionEvent | None) -> None:
    assert parse_log_line(line) == event


@pytest.fixture
def sessions(hil_broker: MosquittoBroker) -> Iterator[list[MqttSession]]:
    made: list[MqttSession] = []
    yield made
    for session in made:
        session.close()


def _device_session(hil_broker: MosquittoBroker, astarte: AstarteClient, device_id: str,
                    made: list[MqttSession]) -> MqttSession:
    session = MqttSession(hil_broker.endpoint, hil_broker.device_identity(astarte.realm, device_id), protocol="3.1.1")
    made.append(session)
    assert session.connect().accepted
    return session


def _status(astarte: AstarteClient, device_id: str) -> dict[str, object]:
    data: dict[str, object] = astarte.appengine("GET", f"devices/{device_id}").json()["data"]
    return data


@pytest.mark.requirement("ASTARTE-MQTT-CONNECT-04", "ASTARTE-APPENGINE-DEVICE-03", "ASTARTE-APPENGINE-WRITE-08")
def test_connect_and_graceful_disconnect_without_any_message(astarte: AstarteClient, hil_broker: MosquittoBroker,
                                                             sessions: list[MqttSession]) -> None:
    device = astarte.register_device()
    session = _device_session(hil_broker, astarte, device.device_id, sessions)
    events = astarte.device_sessions(device.device_id, min_count=1, timeout=5)
    assert [e["event"] for e in events] == ["connected"] and events[0]["ip"] == "127.0.0.1"
    status = _status(astarte, device.device_id)
    assert status["connected"] is True and status["last_seen_ip"] == "127.0.0.1"
    assert ISO_MS.match(str(status["last_connection"])) and status["last_disconnection"] is None
    push = f"devices/{device.device_id}/interfaces/org.hil.test.ServerReliability/guaranteed"
    no_introspection = astarte.appengine("POST", push, json={"data": 1})
    assert no_introspection.status_code == 404  # a session, but nothing declared yet
    session.close()
    events = astarte.device_sessions(device.device_id, min_count=2, timeout=5)
    assert [e["event"] for e in events] == ["connected", "disconnected"]
    status = _status(astarte, device.device_id)
    assert status["connected"] is False and ISO_MS.match(str(status["last_disconnection"]))


@pytest.mark.requirement("ASTARTE-APPENGINE-WRITE-08")
def test_guaranteed_push_follows_the_session(astarte: AstarteClient, hil_broker: MosquittoBroker,
                                             sessions: list[MqttSession]) -> None:
    device = astarte.register_device(initial_introspection={"org.hil.test.ServerReliability": {"major": 0, "minor": 1}})
    push = f"devices/{device.device_id}/interfaces/org.hil.test.ServerReliability/unique"
    assert astarte.appengine("POST", push, json={"data": 1}).status_code == 503
    session = _device_session(hil_broker, astarte, device.device_id, sessions)
    astarte.device_sessions(device.device_id, min_count=1, timeout=5)
    assert astarte.appengine("POST", push, json={"data": 2}).status_code == 200
    session.close()
    astarte.device_sessions(device.device_id, min_count=2, timeout=5)
    assert astarte.appengine("POST", push, json={"data": 3}).status_code == 503


def test_takeover_ends_the_old_session_and_starts_a_new_one(astarte: AstarteClient, hil_broker: MosquittoBroker,
                                                            sessions: list[MqttSession]) -> None:
    device = astarte.register_device()
    first = _device_session(hil_broker, astarte, device.device_id, sessions)
    astarte.device_sessions(device.device_id, min_count=1, timeout=5)
    first._client.reconnect_delay_set(min_delay=60, max_delay=60)  # no kicking back during the check
    _device_session(hil_broker, astarte, device.device_id, sessions)
    events = astarte.device_sessions(device.device_id, min_count=3, timeout=5)
    assert [e["event"] for e in events] == ["connected", "disconnected", "connected"]
    assert _status(astarte, device.device_id)["connected"] is True


@pytest.mark.requirement("ASTARTE-MQTT-ERRORS-03")
def test_forced_disconnect_ignores_the_realms_own_takeover(astarte: AstarteClient, hil_broker: MosquittoBroker,
                                                          sessions: list[MqttSession]) -> None:
    device = astarte.register_device(initial_introspection={"org.hil.test.DeviceDatastream": {"major": 0, "minor": 1}})
    session = _device_session(hil_broker, astarte, device.device_id, sessions)
    session._client.reconnect_delay_set(min_delay=60, max_delay=60)  # stays off once kicked
    base = f"{astarte.realm}/{device.device_id}"
    assert session.publish(base, b"org.hil.test.DeviceDatastream:0:1", 2) == "Success"
    assert session.publish(f"{base}/control/whatever", b"", 1) == "Success"
    assert session.wait_disconnected(5)
    assert astarte.disconnections(device.device_id, min_count=1, timeout=5)
    # A marker: the kicker's log lines come before another device's connect line.
    marker = astarte.register_device()
    _device_session(hil_broker, astarte, marker.device_id, sessions)
    astarte.device_sessions(marker.device_id, min_count=1, timeout=5)
    assert [e["event"] for e in astarte.device_sessions(device.device_id)] == ["connected", "disconnected"]
    assert _status(astarte, device.device_id)["connected"] is False
