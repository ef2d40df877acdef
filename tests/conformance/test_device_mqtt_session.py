"""``astarte_device_sdk.DeviceMqtt`` sessions: connect, introspection, the clean-session setup on
every connection, interfaces added and removed while connected, disconnect.

Driven through the SDK's public API only; judged by what the simulated Astarte received (its
message log, QoS as published) and shows through AppEngine.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import MqttDeviceUnderTest, RealmLog
from hil.components.astarte import AstarteClient, INTERFACES_DIR
from hil.fixtures.plugin import hil_requires
from hil.targets.protocols import AppEngine, AstartePairing, RealmMessageLog

pytestmark = hil_requires(AstartePairing, AppEngine)

SDK = "astarte-device-sdk==0.14.0"
ALL_INTERFACES = tuple(sorted(p.stem for p in INTERFACES_DIR.glob("*.json")))
SETUP = ("", "/control/emptyCache", "/control/producer/properties")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _session_messages(astarte: AstarteClient, device: MqttDeviceUnderTest, since: int) -> list[dict[str, Any]]:
    base = f"{astarte.realm}/{device.device_id}"
    return [dict(m, tail=m["topic"][len(base):]) for m in astarte.device_messages(device.device_id, since=since)]


def _status(astarte: AstarteClient, device_id: str) -> dict[str, Any]:
    response = astarte.appengine("GET", f"devices/{device_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _introspection(payload_hex: str) -> list[str]:
    return bytes.fromhex(payload_hex).decode("ascii").split(";")


@pytest.mark.requirement("ASTARTE-MQTT-CONNECT-01", "ASTARTE-MQTT-INTROSPECTION-01", "ASTARTE-MQTT-INTROSPECTION-04",
                         "ASTARTE-MQTT-TLS-02")
def test_first_connection_is_seen_with_the_introspection(astarte: AstarteClient, mqtt_device: Any,
                                                         realm_errors: Any) -> None:
    """What AppEngine shows of a first connection: connected, when, and every declared interface."""
    device = mqtt_device(*ALL_INTERFACES)
    status = _status(astarte, device.device_id)
    assert status["connected"] is True and ISO_MS.match(status["last_connection"])
    assert sorted(status["introspection"]) == sorted(ALL_INTERFACES)
    assert all(entry["major"] == 0 and entry["minor"] == 1 for entry in status["introspection"].values())
    assert realm_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-CONNECT-01", "ASTARTE-MQTT-INTROSPECTION-01", "ASTARTE-MQTT-INTROSPECTION-02",
                         "ASTARTE-MQTT-INTROSPECTION-04", "ASTARTE-MQTT-EMPTYCACHE-01", "ASTARTE-MQTT-EMPTYCACHE-02",
                         "ASTARTE-MQTT-SESSION-02", "ASTARTE-MQTT-QOS-03", "ASTARTE-MQTT-CONNECT-04",
                         "ASTARTE-MQTT-TLS-02")
@hil_requires(RealmMessageLog)
def test_first_connection_declares_the_introspection_then_resyncs(astarte: AstarteClient,
                                                                  mqtt_device: Any) -> None:
    device = mqtt_device(*ALL_INTERFACES)
    messages = _session_messages(astarte, device, 0)
    tails = [m["tail"] for m in messages]
    assert tails == list(SETUP), f"clean-session setup out of order or incomplete: {tails}"
    assert all(m["qos"] == 2 and not m["retain"] for m in messages), [(m["tail"], m["qos"]) for m in messages]
    entries = _introspection(messages[0]["payload_hex"])
    assert sorted(entries) == sorted(f"{name}:0:1" for name in ALL_INTERFACES), entries
    assert bytes.fromhex(messages[1]["payload_hex"]) == b"1"
    purge = bytes.fromhex(messages[2]["payload_hex"])
    assert purge[:4] == b"\x00\x00\x00\x00" and zlib.decompress(purge[4:]) == b"", purge.hex()
    # The broker bound the session to the certificate CN <realm>/<device_id> (the realm saw it).
    sessions = astarte.device_sessions(device.device_id)
    assert [s["event"] for s in sessions] == ["connected"] and sessions[0]["ip"] == "127.0.0.1"
    status = _status(astarte, device.device_id)
    assert status["connected"] is True and ISO_MS.match(status["last_connection"])
    assert sorted(status["introspection"]) == sorted(ALL_INTERFACES)
    assert astarte.device_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-CONNECT-04", "ASTARTE-APPENGINE-DEVICE-03")
def test_disconnect_and_reconnect_are_seen(astarte: AstarteClient, mqtt_device: Any) -> None:
    device = mqtt_device("org.hil.test.DeviceDatastream", "org.hil.test.ServerProperties")
    device.disconnect()
    assert device.disconnections == [0], "a requested disconnect reports rc 0"
    status = _status(astarte, device.device_id)
    assert status["connected"] is False and ISO_MS.match(status["last_disconnection"])
    device.connect()
    restarted = device.restarted()
    restarted.connect()
    assert _status(astarte, device.device_id)["connected"] is True


@pytest.mark.requirement("ASTARTE-MQTT-SESSION-03", "ASTARTE-MQTT-CONNECT-04", "ASTARTE-APPENGINE-DEVICE-03")
@hil_requires(RealmMessageLog)
def test_every_connection_repeats_the_setup_and_disconnect_is_seen(astarte: AstarteClient, mqtt_device: Any) -> None:
    device = mqtt_device("org.hil.test.DeviceDatastream", "org.hil.test.ServerProperties")
    device.disconnect()
    assert device.disconnections == [0], "a requested disconnect reports rc 0"
    status = _status(astarte, device.device_id)
    assert status["connected"] is False and ISO_MS.match(status["last_disconnection"])
    since = device.connect()
    assert [m["tail"] for m in _session_messages(astarte, device, since)] == list(SETUP)
    restarted = device.restarted()
    since = restarted.connect()
    assert [m["tail"] for m in _session_messages(astarte, restarted, since)] == list(SETUP)
    assert [s["event"] for s in astarte.device_sessions(device.device_id)] == [
        "connected", "disconnected", "connected", "disconnected", "connected"]
    assert _status(astarte, device.device_id)["connected"] is True


@pytest.mark.requirement("ASTARTE-MQTT-INTROSPECTION-07", "ASTARTE-APPENGINE-DEVICE-05")
def test_interfaces_added_and_removed_are_seen_by_appengine(astarte: AstarteClient, mqtt_device: Any) -> None:
    device = mqtt_device("org.hil.test.DeviceDatastream")
    device.add_interface("org.hil.test.ServerProperties")
    assert astarte.wait_for_introspection(device.device_id, "org.hil.test.ServerProperties"), (
        "AppEngine never listed the interface added while connected")
    # The device subscribed to the new server-owned interface: a write reaches on_data_received.
    write = astarte.appengine("PUT", f"devices/{device.device_id}/interfaces/org.hil.test.ServerProperties/integer",
                              json={"data": 7})
    assert write.status_code == 200, write.text
    got = device.received.wait_for("org.hil.test.ServerProperties", "/integer")
    assert got is not None and got.value == 7
    device.remove_interface("org.hil.test.ServerProperties")

    status = astarte.wait_status(
        device.device_id, lambda status: list(status["introspection"]) == ["org.hil.test.DeviceDatastream"])
    assert status is not None, f"AppEngine still lists {_status(astarte, device.device_id)['introspection']}"
    assert [p["name"] for p in status["previous_interfaces"]] == ["org.hil.test.ServerProperties"]


@pytest.mark.requirement("ASTARTE-MQTT-INTROSPECTION-07", "ASTARTE-APPENGINE-DEVICE-05")
@hil_requires(RealmMessageLog)
def test_interfaces_added_and_removed_while_connected(astarte: AstarteClient, mqtt_device: Any,
                                                      realm_log: RealmLog) -> None:
    device = mqtt_device("org.hil.test.DeviceDatastream")
    since = realm_log.mark(device.device_id)
    device.add_interface("org.hil.test.ServerProperties")
    added = realm_log.next(device.device_id, f"/{device.device_id}", since)
    assert added is not None, "no new introspection after add_interface while connected"
    assert sorted(_introspection(added["payload_hex"])) == [
        "org.hil.test.DeviceDatastream:0:1", "org.hil.test.ServerProperties:0:1"]
    assert added["qos"] == 2
    # The device subscribed to the new server-owned interface: a write reaches on_data_received.
    write = astarte.appengine("PUT", f"devices/{device.device_id}/interfaces/org.hil.test.ServerProperties/integer",
                              json={"data": 7})
    assert write.status_code == 200, write.text
    got = device.received.wait_for("org.hil.test.ServerProperties", "/integer")
    assert got is not None and got.value == 7
    since = realm_log.mark(device.device_id)
    device.remove_interface("org.hil.test.ServerProperties")
    removed = realm_log.next(device.device_id, f"/{device.device_id}", since)
    assert removed is not None, "no new introspection after remove_interface while connected"
    assert _introspection(removed["payload_hex"]) == ["org.hil.test.DeviceDatastream:0:1"]
    status = _status(astarte, device.device_id)
    assert list(status["introspection"]) == ["org.hil.test.DeviceDatastream"]
    assert [p["name"] for p in status["previous_interfaces"]] == ["org.hil.test.ServerProperties"]
    assert astarte.device_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-PURGE-01")
@pytest.mark.finding("ASTARTE-MQTT-PURGE-01", sdk=SDK,
                     reason="control/producer/properties carries the uncompressed size as a little-endian uint32; "
                            "the protocol says big endian (Astarte ignores the header, so it goes unnoticed)")
@hil_requires(RealmMessageLog)
def test_producer_properties_size_header_is_big_endian(mqtt_device: Any, realm_log: RealmLog) -> None:
    """Reproducer: set one device property, reconnect, read the 4-byte header of producer/properties."""
    device = mqtt_device("org.hil.test.DeviceProperties")
    since = realm_log.mark(device.device_id)
    device.set_property("org.hil.test.DeviceProperties", "/integer", 5)
    assert realm_log.next(device.device_id, "/org.hil.test.DeviceProperties/integer", since) is not None
    device.disconnect()
    since = device.connect()
    purge_message = realm_log.next(device.device_id, "/control/producer/properties", since)
    assert purge_message is not None
    purge = bytes.fromhex(purge_message["payload_hex"])
    listed = zlib.decompress(purge[4:])
    assert listed == b"org.hil.test.DeviceProperties/integer"
    assert struct.unpack(">I", purge[:4])[0] == len(listed), (
        f"ASTARTE-MQTT-PURGE-01: header {purge[:4].hex()} for {len(listed)} uncompressed bytes; "
        f"big endian would be {struct.pack('>I', len(listed)).hex()}")
