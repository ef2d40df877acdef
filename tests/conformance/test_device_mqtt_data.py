"""``astarte_device_sdk`` data: device-owned datastreams, objects and properties as Astarte receives
them, server-owned data as the application receives it.

Shared checks run for every transport (``device_under_test``: ``DeviceMqtt`` directly on the broker,
``DeviceGrpc`` through the simulated Message Hub); MQTT-only checks use ``mqtt_device`` and the
broker capture. Every wire message is judged by the oracle's *specification* verdict, never by
what the simulated server tolerates.
"""

from __future__ import annotations

from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import MqttDeviceUnderTest, RealmLog, interface_file
from hil.fixtures.astarte_values import APPENGINE_READS, BSON_KINDS, JSON_VALUES, SDK_VALUES, TYPES, WHEN
from hil.astarte.bsonwire import BsonDocument, BsonType, BsonValue, decode, encode
from hil.components.astarte import AstarteClient
from hil.mqtt.client import MqttSession
from hil.oracle import expected_qos, judge_device_payload, load_interface
from hil.targets.protocols import AppEngine, AstartePairing, BrokerAdmin, RealmMessageLog
from hil.fixtures.plugin import hil_requires

pytestmark = hil_requires(AstartePairing, AppEngine)

SDK = "astarte-device-sdk==0.14.0"
DATASTREAM = "org.hil.test.DeviceDatastream"
TIMESTAMPED = "org.hil.test.DeviceTimestamped"
AGGREGATE = "org.hil.test.DeviceAggregate"
PROPERTIES = "org.hil.test.DeviceProperties"
RELIABILITY = "org.hil.test.DeviceReliability"
SERVER_DATASTREAM = "org.hil.test.ServerDatastream"
SERVER_PROPERTIES = "org.hil.test.ServerProperties"
SERVER_AGGREGATE = "org.hil.test.ServerAggregate"
WHEN_ISO = "2026-11-24T12:00:00.123Z"
WHEN_MS = int(WHEN.timestamp() * 1000)


def _landed(realm_log: RealmLog, device_id: str, interface: str, path: str, since: int) -> BsonDocument | None:
    """The realm received the message, and the spec oracle finds it conforming; its document."""
    message = realm_log.next(device_id, f"/{interface}{path}", since)
    assert message is not None, f"the realm never received {interface}{path}"
    payload = bytes.fromhex(message["payload_hex"])
    verdict = judge_device_payload(load_interface(interface_file(interface)), path, payload)
    assert verdict.spec_ok, f"{interface}{path} {payload.hex()}: breaks {verdict.rule_ids}"
    return decode(payload) if payload else None


def _values(astarte: AstarteClient, device_id: str, tail: str, **params: Any) -> Any:
    response = astarte.appengine("GET", f"devices/{device_id}/interfaces/{tail}", params=params)
    assert response.status_code == 200, f"{tail}: {response.status_code} {response.text}"
    return response.json()["data"]


# ----------------------------------------------------------------------------- device -> Astarte


@pytest.mark.requirement("ASTARTE-MQTT-DATA-01", "ASTARTE-MQTT-DATA-02", "ASTARTE-MQTT-TOPICS-04",
                         "ASTARTE-MQTT-TIMESTAMP-01", "ASTARTE-MQTT-TIMESTAMP-04", "ASTARTE-PAYLOAD-T-01",
                         "ASTARTE-PAYLOAD-T-03", "ASTARTE-PAYLOAD-ARRAY-01", "ASTARTE-APPENGINE-READ-09")
def test_individual_datastreams_of_every_type(device_under_test: Any, astarte: AstarteClient,
                                             realm_errors: Any) -> None:
    device = device_under_test(DATASTREAM, TIMESTAMPED)
    before = {i: astarte.exchanged_messages(device.device_id, i) for i in (DATASTREAM, TIMESTAMPED)}
    for name in TYPES:
        device.send(DATASTREAM, f"/{name}", SDK_VALUES[name])
        device.send(TIMESTAMPED, f"/{name}", SDK_VALUES[name], WHEN)
    for interface, count in before.items():
        assert astarte.wait_exchanged(device.device_id, interface, count + len(TYPES) - 1), f"not every {interface} sample landed"
    for name in TYPES:
        latest = _values(astarte, device.device_id, f"{TIMESTAMPED}/{name}", limit=1)
        assert latest == [{"timestamp": WHEN_ISO, "value": APPENGINE_READS[name]}], name
        plain = _values(astarte, device.device_id, f"{DATASTREAM}/{name}", limit=1)
        assert plain and plain[-1]["value"] == APPENGINE_READS[name], name
    assert realm_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-DATA-01", "ASTARTE-MQTT-DATA-02", "ASTARTE-MQTT-TOPICS-04",
                         "ASTARTE-MQTT-TIMESTAMP-01", "ASTARTE-PAYLOAD-T-01", "ASTARTE-PAYLOAD-T-03",
                         "ASTARTE-PAYLOAD-ARRAY-01")
@hil_requires(RealmMessageLog)
def test_individual_datastreams_wire_format(device_under_test: Any, astarte: AstarteClient,
                                            realm_log: RealmLog) -> None:
    device = device_under_test(DATASTREAM, TIMESTAMPED)
    since = realm_log.mark(device.device_id)
    for name in TYPES:
        device.send(DATASTREAM, f"/{name}", SDK_VALUES[name])
        device.send(TIMESTAMPED, f"/{name}", SDK_VALUES[name], WHEN)
    for name in TYPES:
        plain = _landed(realm_log, device.device_id, DATASTREAM, f"/{name}", since)
        stamped = _landed(realm_log, device.device_id, TIMESTAMPED, f"/{name}", since)
        assert plain is not None and stamped is not None
        assert plain["v"].kind is BSON_KINDS[name] and stamped["v"].kind is BSON_KINDS[name], name
        assert plain["v"].to_python() == SDK_VALUES[name], name
        assert stamped["t"] == BsonValue.datetime(WHEN), f"{name}: explicit timestamp {stamped.get('t')}"
    assert astarte.device_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-DATA-06", "ASTARTE-PAYLOAD-OBJECT-01", "ASTARTE-PAYLOAD-OBJECT-02",
                         "ASTARTE-PAYLOAD-PATH-02", "ASTARTE-APPENGINE-READ-08")
def test_object_aggregate_with_explicit_timestamp(device_under_test: Any, astarte: AstarteClient,
                                                  realm_errors: Any) -> None:
    device = device_under_test(AGGREGATE)
    before = astarte.exchanged_messages(device.device_id, AGGREGATE)
    device.send(AGGREGATE, "/s1", dict(SDK_VALUES), WHEN)
    assert astarte.wait_exchanged(device.device_id, AGGREGATE, before), "the object never landed"
    rows = _values(astarte, device.device_id, f"{AGGREGATE}/s1")
    assert rows[-1:] == [{"timestamp": WHEN_ISO, **APPENGINE_READS}]
    assert realm_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-MQTT-DATA-06", "ASTARTE-PAYLOAD-OBJECT-01", "ASTARTE-PAYLOAD-OBJECT-02")
@hil_requires(RealmMessageLog)
def test_object_aggregate_wire_format(device_under_test: Any, astarte: AstarteClient, realm_log: RealmLog) -> None:
    device = device_under_test(AGGREGATE)
    since = realm_log.mark(device.device_id)
    device.send(AGGREGATE, "/s1", dict(SDK_VALUES), WHEN)
    document = _landed(realm_log, device.device_id, AGGREGATE, "/s1", since)
    assert document is not None and document["v"].kind is BsonType.DOCUMENT
    assert document["v"].to_python() == SDK_VALUES and document["t"] == BsonValue.datetime(WHEN)
    assert astarte.device_errors(device.device_id) == []


@hil_requires(BrokerAdmin)
@pytest.mark.requirement("ASTARTE-MQTT-QOS-01", "ASTARTE-MQTT-QOS-02", "ASTARTE-QOS-RELIABILITY-01",
                         "ASTARTE-QOS-PROPERTIES-01", "ASTARTE-QOS-OBJECT-01")
def test_qos_follows_the_reliability_at_the_broker(mqtt_device: Any, broker_capture: MqttSession) -> None:
    device = mqtt_device(RELIABILITY, PROPERTIES, AGGREGATE)
    base = f"{device.astarte.realm}/{device.device_id}"
    sent: list[tuple[str, str, Any]] = [(RELIABILITY, f"/{m}", 1) for m in
                                        ("unreliable", "guaranteed", "unique", "stored", "volatile")]
    sent += [(PROPERTIES, "/integer", 1), (PROPERTIES, "/unsettable/integer", 2), (AGGREGATE, "/s1", dict(SDK_VALUES))]
    for interface, path, value in sent:
        if interface == PROPERTIES:
            device.set_property(interface, path, value)
        else:
            device.send(interface, path, value, WHEN if interface == AGGREGATE else None)
    device.unset(PROPERTIES, "/unsettable/integer")
    sent.append((PROPERTIES, "/unsettable/integer", None))
    unset_seen = broker_capture.wait_for_message(
        lambda m: m.topic == f"{base}/{PROPERTIES}/unsettable/integer" and m.payload == b"")
    assert unset_seen is not None, "the unset never reached the broker"
    by_topic: dict[str, list[int]] = {}
    for message in broker_capture.messages():
        by_topic.setdefault(message.topic, []).append(message.qos)
    for interface, path, _value in sent:
        parsed = load_interface(interface_file(interface))
        mapping = None if parsed.is_object else next(m for m in parsed.mappings if m.endpoint == path)
        want = expected_qos(parsed, mapping)
        got = by_topic.get(f"{base}/{interface}{path}")
        assert got and all(q == want for q in got), f"{interface}{path}: published at QoS {got}, spec says {want}"


@pytest.mark.requirement("ASTARTE-MQTT-PROPERTIES-01", "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-MQTT-PROPERTIES-06",
                         "ASTARTE-MQTT-SESSION-02", "ASTARTE-MQTT-PURGE-07", "ASTARTE-MQTT-TIMESTAMP-02",
                         "ASTARTE-PAYLOAD-T-02", "ASTARTE-PAYLOAD-UNSET-01", "ASTARTE-APPENGINE-READ-03")
@hil_requires(RealmMessageLog)
def test_properties_set_unset_and_republished_after_a_restart(mqtt_device: Any, astarte: AstarteClient,
                                                             realm_log: RealmLog) -> None:
    device: MqttDeviceUnderTest = mqtt_device(PROPERTIES)
    since = realm_log.mark(device.device_id)
    for name in TYPES:
        device.set_property(PROPERTIES, f"/{name}", SDK_VALUES[name])
    device.set_property(PROPERTIES, "/unsettable/string", "gone soon")
    device.unset(PROPERTIES, "/unsettable/string")
    for name in TYPES:
        document = _landed(realm_log, device.device_id, PROPERTIES, f"/{name}", since)
        assert document is not None and list(document) == ["v"], f"{name}: a property carries only v"
    set_then_unset = realm_log.on_topic(device.device_id, f"/{PROPERTIES}/unsettable/string", since, 2)
    assert set_then_unset is not None, "the realm never received both the set and the unset"
    assert set_then_unset[0]["payload_hex"] != "" and set_then_unset[1]["payload_hex"] == "", \
        "an unset is an empty payload"
    stored = _values(astarte, device.device_id, PROPERTIES)
    assert stored == {name: JSON_VALUES[name] for name in TYPES}
    # Reboot: a new DeviceMqtt on the same persistency directory republishes what it has set.
    restarted = device.restarted()
    since = restarted.connect()
    session = astarte.device_messages(device.device_id, since=since)
    tails = [m["topic"].split(f"/{device.device_id}", 1)[1] for m in session]
    republished = {t.removeprefix(f"/{PROPERTIES}") for t in tails if t.startswith(f"/{PROPERTIES}/")}
    assert republished == {f"/{name}" for name in TYPES}, f"republished after restart: {sorted(republished)}"
    assert tails.index("/control/producer/properties") == len(tails) - 1, tails
    purge = bytes.fromhex(session[-1]["payload_hex"])
    import zlib

    listed = set(zlib.decompress(purge[4:]).decode().split(";"))
    assert listed == {f"{PROPERTIES}/{name}" for name in TYPES}
    assert _values(astarte, device.device_id, PROPERTIES) == stored, "the restart lost or changed properties"
    assert astarte.device_errors(device.device_id) == []


@pytest.mark.requirement("ASTARTE-PAYLOAD-UNSET-03")
@pytest.mark.finding("ASTARTE-PAYLOAD-UNSET-03", sdk=SDK,
                     reason="unset_property on a property mapping without allow_unset is accepted and published "
                            "as an empty payload (Astarte v1.2.0 applies it with a warning; HEAD refuses it with "
                            "unset_not_allowed and a forced disconnect)")
@hil_requires(RealmMessageLog)
def test_unset_of_a_mapping_without_allow_unset(mqtt_device: Any, astarte: AstarteClient,
                                                realm_log: RealmLog) -> None:
    """The spec allows an unset only where allow_unset is true: the SDK must refuse the call or
    at least put nothing on the wire. A marker message afterwards bounds the wait."""
    device = mqtt_device(PROPERTIES)
    since = realm_log.mark(device.device_id)
    device.set_property(PROPERTIES, "/integer", 1)
    try:
        device.unset(PROPERTIES, "/integer")
    except Exception as exc:  # noqa: BLE001 - refusing the call is conforming
        refused: Exception | None = exc
    else:
        refused = None
    device.set_property(PROPERTIES, "/boolean", True)
    assert realm_log.next(device.device_id, f"/{PROPERTIES}/boolean", since) is not None
    unsets = [m for m in astarte.device_messages(device.device_id, since=since)
              if m["topic"].endswith(f"/{PROPERTIES}/integer") and m["payload_hex"] == ""]
    verdicts = [judge_device_payload(load_interface(interface_file(PROPERTIES)), "/integer", b"").rule_ids
                for _ in unsets]
    assert not unsets, (f"{verdicts} "f"ASTARTE-PAYLOAD-UNSET-03: unset_property on /integer (allow_unset false) was published "
                        f"as an empty payload (SDK raised: {refused!r})")


# ----------------------------------------------------------------------------- Astarte -> device


@pytest.mark.requirement("ASTARTE-MQTT-DELIVERY-02", "ASTARTE-MQTT-DELIVERY-03", "ASTARTE-APPENGINE-WRITE-01")
def test_server_owned_data_of_every_type_reaches_the_application(device_under_test: Any,
                                                                 astarte: AstarteClient) -> None:
    device = device_under_test(SERVER_DATASTREAM, SERVER_PROPERTIES, SERVER_AGGREGATE)
    base = f"devices/{device.device_id}/interfaces"
    for name in TYPES:
        for method, interface in (("POST", SERVER_DATASTREAM), ("PUT", SERVER_PROPERTIES)):
            response = astarte.appengine(method, f"{base}/{interface}/{name}", json={"data": JSON_VALUES[name]})
            assert response.status_code == 200, f"{interface}/{name}: {response.text}"
    response = astarte.appengine("POST", f"{base}/{SERVER_AGGREGATE}/command", json={"data": JSON_VALUES})
    assert response.status_code == 200, response.text
    for name in TYPES:
        for interface in (SERVER_DATASTREAM, SERVER_PROPERTIES):
            got = device.received.wait_for(interface, f"/{name}")
            assert got is not None, f"on_data_received never fired for {interface}/{name}"
            assert got.value == SDK_VALUES[name] and type(got.value) is type(SDK_VALUES[name]), (
                f"{interface}/{name}: {got.value!r}")
    got = device.received.wait_for(SERVER_AGGREGATE, "/command")
    assert got is not None and got.value == SDK_VALUES


@pytest.mark.requirement("ASTARTE-MQTT-EMPTYCACHE-03", "ASTARTE-MQTT-DELIVERY-04", "ASTARTE-APPENGINE-UNSET-01")
def test_server_properties_resent_on_connect_and_unset(mqtt_device: Any, astarte: AstarteClient) -> None:
    """Properties set while the device is offline arrive with the next session's resync (after
    the purge list); an unset on an allow_unset mapping arrives as None. The purge itself deletes
    cached server properties inside the SDK, which its public API does not show: PURGE-03 is
    left uncovered rather than claimed here."""
    device: MqttDeviceUnderTest = mqtt_device(SERVER_PROPERTIES)
    device.disconnect()
    base = f"devices/{device.device_id}/interfaces/{SERVER_PROPERTIES}"
    for path, value in (("/integer", 11), ("/unsettable/string", "set while offline")):
        assert astarte.appengine("PUT", f"{base}{path}", json={"data": value}).status_code == 200
    device.connect()
    for path, value in (("/integer", 11), ("/unsettable/string", "set while offline")):
        got = device.received.wait_for(SERVER_PROPERTIES, path)
        assert got is not None and got.value == value, f"{path} was not resent with the resync"
    mark = len(device.received.items())
    assert astarte.appengine("DELETE", f"{base}/unsettable/string").status_code == 204
    got = device.received.wait_for(SERVER_PROPERTIES, "/unsettable/string", since=mark)
    assert got is not None and got.value is None, "an unset must reach the application as None"
    assert device.disconnections == [0], "the device was disconnected by the resync"


@pytest.mark.requirement("ASTARTE-MQTT-DELIVERY-03", "ASTARTE-MQTT-DELIVERY-05", "ASTARTE-MQTT-ERRORS-01")
@hil_requires(RealmMessageLog)
def test_malformed_server_messages_are_dropped_and_the_device_stays(mqtt_device: Any,
                                                                   astarte: AstarteClient) -> None:
    """Messages Astarte must never send (injected through the simulated realm's own session);
    a valid marker afterwards bounds the wait: it must be the only delivery."""
    device: MqttDeviceUnderTest = mqtt_device(SERVER_DATASTREAM, SERVER_PROPERTIES)
    double = f"/{SERVER_DATASTREAM}/double"
    bad = [
        (double, encode(BsonDocument.of(x=BsonValue.double(1.0)))),                 # no v
        (double, encode(BsonDocument.of(v=BsonValue.int32(2)))),                    # wrong type
        (f"/{SERVER_DATASTREAM}/nope", encode(BsonDocument.of(v=BsonValue.double(1.0)))),   # no such mapping
        (f"/{SERVER_DATASTREAM}/integer", b""),                                     # unset on a datastream
        (f"/{SERVER_PROPERTIES}/integer", b""),                                     # unset without allow_unset
        ("/org.hil.test.NotDeclared/x", encode(BsonDocument.of(v=BsonValue.double(1.0)))),  # not introspected
        (f"/{SERVER_DATASTREAM}", encode(BsonDocument.of(v=BsonValue.double(1.0)))),        # no path
    ]
    for path, payload in bad:
        astarte.publish_to_device(device.device_id, path, payload)
    astarte.publish_to_device(device.device_id, double, encode(BsonDocument.of(v=BsonValue.double(1.5))))
    got = device.received.wait_for(SERVER_DATASTREAM, "/double")
    assert got is not None and got.value == 1.5, f"the first delivery was {got}, not the valid marker"
    assert device.received.items() == [got], f"delivered despite being malformed: {device.received.items()[:-1]}"
    assert device.disconnections == [] and device.device.is_connected()


@pytest.mark.requirement("ASTARTE-MQTT-DELIVERY-05")
@pytest.mark.finding("ASTARTE-MQTT-DELIVERY-05", sdk=SDK,
                     reason="a server message whose payload is not BSON raises out of paho's on_message: the "
                            "network thread dies, nothing more is received or sent, on_disconnected never fires "
                            "and is_connected() stays True")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@hil_requires(RealmMessageLog)
def test_undecodable_server_payload_is_dropped_and_the_device_stays(mqtt_device: Any,
                                                                   astarte: AstarteClient) -> None:
    """Reproducer: publish 3 bytes that are no BSON document on a server datastream, then a valid
    double as a marker; the marker must still reach on_data_received."""
    device: MqttDeviceUnderTest = mqtt_device(SERVER_DATASTREAM)
    double = f"/{SERVER_DATASTREAM}/double"
    astarte.publish_to_device(device.device_id, double, b"\x05\x00\x00")
    astarte.publish_to_device(device.device_id, double, encode(BsonDocument.of(v=BsonValue.double(1.5))))
    got = device.received.wait_for(SERVER_DATASTREAM, "/double", timeout=3)
    assert got is not None and got.value == 1.5, (
        f"ASTARTE-MQTT-DELIVERY-05: after a non-BSON payload the valid marker never arrived "
        f"(is_connected()={device.device.is_connected()}, on_disconnected calls={device.disconnections})")
