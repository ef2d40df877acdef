"""The simulated Astarte's realm side with raw MQTT devices (no SDK): data updater behaviour,
AppEngine reads and writes, forced disconnects; plus one end-to-end smoke test with the real
``astarte_device_sdk.DeviceMqtt``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import RealmLog
from hil.astarte.bsonwire import BsonDocument, BsonType, BsonValue, decode, encode
from hil.mqtt.broker import MosquittoBroker
from hil.components.astarte import INTERFACES_DIR, AstarteClient, random_device_id
from hil.mqtt.client import MqttSession

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EMPTY_PURGE = b"\x00\x00\x00\x00" + zlib.compress(b"")
SERVER_INTERFACES = ("org.hil.test.ServerProperties", "org.hil.test.ServerDatastream", "org.hil.test.ServerAggregate",
                     "org.hil.test.ServerReliability")
DEVICE_INTERFACES = ("org.hil.test.DeviceDatastream", "org.hil.test.DeviceTimestamped", "org.hil.test.DeviceAggregate",
                     "org.hil.test.DeviceProperties")
INTROSPECTION = {name: {"major": 0, "minor": 1} for name in SERVER_INTERFACES + DEVICE_INTERFACES}


def v(value: BsonValue, t: dt.datetime | None = None) -> bytes:
    doc = [("v", value)] + ([("t", BsonValue.datetime(t))] if t else [])
    return encode(BsonDocument(tuple(doc)))


class RawDevice:
    """A device speaking MQTT v1 by hand: subscribe, introspection, emptyCache, purge."""

    def __init__(self, broker: MosquittoBroker, astarte: AstarteClient, device_id: str) -> None:
        self.astarte = astarte
        self.device_id = device_id
        self.base = f"{astarte.realm}/{device_id}"
        self.session = MqttSession(broker.endpoint, broker.device_identity(astarte.realm, device_id), protocol="3.1.1")

    def connect(self, interfaces: tuple[str, ...] = SERVER_INTERFACES + DEVICE_INTERFACES) -> None:
        assert self.session.connect().accepted
        self.session.subscribe(f"{self.base}/control/consumer/properties", 2)
        for name in interfaces:
            if name.startswith("org.hil.test.Server"):
                self.session.subscribe(f"{self.base}/{name}/#", 2)
        self.session.publish(self.base, ";".join(f"{n}:0:1" for n in interfaces).encode(), 2)
        self.session.publish(f"{self.base}/control/emptyCache", b"1", 2)
        self.send("/control/producer/properties", EMPTY_PURGE)

    def send(self, topic_tail: str, payload: bytes, qos: int = 2) -> None:
        """Publish and wait until the realm has handled this message (not merely some message:
        the introspection and emptyCache of :meth:`connect` may still be on their way)."""
        before = self.astarte.message_count(self.device_id)
        assert self.session.publish(self.base + topic_tail, payload, qos) == "Success"
        handled = RealmLog(self.astarte).next(self.device_id, f"/{self.device_id}{topic_tail}", before)
        assert handled is not None and handled["payload_hex"] == payload.hex(), f"the realm never handled {topic_tail}"

    def received(self, topic_tail: str, timeout: float = 5.0) -> Any:
        return self.session.wait_for_message(lambda m: m.topic == self.base + topic_tail, timeout)


@pytest.fixture
def raw_device(hil_broker: MosquittoBroker, astarte: AstarteClient) -> Iterator[Callable[..., RawDevice]]:
    made: list[RawDevice] = []

    def make(introspection: dict[str, Any] | None = INTROSPECTION, connect: bool = True) -> RawDevice:
        registered = astarte.register_device(initial_introspection=introspection)
        device = RawDevice(hil_broker, astarte, registered.device_id)
        made.append(device)
        if connect:
            device.connect()
        return device

    yield make
    for device in made:
        device.session.close()


def _values(astarte: AstarteClient, device: RawDevice, tail: str, **params: Any) -> Any:
    response = astarte.appengine("GET", f"devices/{device.device_id}/interfaces/{tail}", params=params)
    return response.status_code, response.json()


# ----------------------------------------------------------------------------- device -> realm


@pytest.mark.requirement("ASTARTE-APPENGINE-DEVICE-01", "ASTARTE-APPENGINE-DEVICE-02", "ASTARTE-APPENGINE-DEVICE-03",
                         "ASTARTE-APPENGINE-INTERFACES-01")
def test_session_makes_device_connected(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    status = astarte.appengine("GET", f"devices/{device.device_id}").json()["data"]
    assert status["connected"] is True and ISO_MS.match(status["last_connection"])
    assert status["introspection"]["org.hil.test.DeviceDatastream"] == {
        "major": 0, "minor": 1, "exchanged_msgs": 0, "exchanged_bytes": 0}
    assert status["total_received_msgs"] == 3
    names = astarte.appengine("GET", f"devices/{device.device_id}/interfaces").json()["data"]
    assert sorted(names) == sorted(INTROSPECTION)
    device.send("", b"org.hil.test.DeviceDatastream:0:1")
    status = astarte.appengine("GET", f"devices/{device.device_id}").json()["data"]
    assert {"name": "org.hil.test.DeviceAggregate", "major": 0, "minor": 1, "exchanged_msgs": 0,
            "exchanged_bytes": 0} in status["previous_interfaces"]


@pytest.mark.requirement("ASTARTE-APPENGINE-READ-04", "ASTARTE-APPENGINE-READ-05", "ASTARTE-APPENGINE-READ-06",
                         "ASTARTE-APPENGINE-READ-07", "ASTARTE-APPENGINE-READ-09")
def test_datastream_reads(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(5):
        device.send("/org.hil.test.DeviceTimestamped/longinteger", v(BsonValue.int32(i), base + dt.timedelta(seconds=i)))
    device.send("/org.hil.test.DeviceTimestamped/binaryblob", v(BsonValue.binary(b"\x00\xff"), base))
    device.send("/org.hil.test.DeviceTimestamped/datetime", v(BsonValue.datetime(base), base))
    path = "org.hil.test.DeviceTimestamped/longinteger"
    status, body = _values(astarte, device, path)
    assert status == 200
    assert [row["value"] for row in body["data"]] == ["0", "1", "2", "3", "4"]
    assert body["data"][0] == {"timestamp": "2026-01-01T00:00:00.000Z", "value": "0"}
    assert [r["value"] for r in _values(astarte, device, path, limit=2)[1]["data"]] == ["4", "3"]
    since = {"since": "2026-01-01T00:00:01Z", "limit": 2}
    assert [r["value"] for r in _values(astarte, device, path, **since)[1]["data"]] == ["1", "2"]
    window = {"since_after": "2026-01-01T00:00:01Z", "to": "2026-01-01T00:00:03Z"}
    assert [r["value"] for r in _values(astarte, device, path, **window)[1]["data"]] == ["2"]
    assert _values(astarte, device, path, since="x", since_after="y")[0] == 422
    assert _values(astarte, device, path, since="2026-01-01T00:00:00Z", since_after="2026-01-01T00:00:00Z")[1] == \
        {"errors": {"since_after": ["conflicts already set parameter"]}}
    assert _values(astarte, device, path, limit=-1)[1] == {"errors": {"limit": ["must be greater than or equal to 0"]}}
    status, root = _values(astarte, device, "org.hil.test.DeviceTimestamped")
    assert root["data"]["longinteger"]["value"] == 4  # a number in the root snapshot
    assert ISO_MS.match(root["data"]["longinteger"]["reception_timestamp"])
    assert root["data"]["binaryblob"]["value"] == base64.b64encode(b"\x00\xff").decode()
    assert root["data"]["datetime"]["value"] == "2026-01-01T00:00:00.000Z"
    assert _values(astarte, device, "org.hil.test.DeviceTimestamped/double") == (404, {"errors": {"detail": "Path not found"}})
    assert _values(astarte, device, "org.hil.test.DeviceTimestamped/nope") == (400, {"errors": {"detail": "Endpoint not found"}})


@pytest.mark.requirement("ASTARTE-APPENGINE-READ-08")
def test_object_reads(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    t = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    obj = BsonValue.document({"integer": BsonValue.int32(7), "longinteger": BsonValue.int64(2**40)})
    device.send("/org.hil.test.DeviceAggregate/s1", v(obj, t), qos=1)
    status, body = _values(astarte, device, "org.hil.test.DeviceAggregate/s1")
    assert status == 200
    row = body["data"][0]
    assert row["timestamp"] == "2026-02-01T00:00:00.000Z" and row["integer"] == 7
    assert row["longinteger"] == str(2**40) and row["double"] is None and len(row) == 15
    assert _values(astarte, device, "org.hil.test.DeviceAggregate")[1]["data"]["s1"][0]["integer"] == 7


@pytest.mark.requirement("ASTARTE-APPENGINE-READ-03", "ASTARTE-MQTT-PURGE-04", "ASTARTE-MQTT-PURGE-05")
def test_device_properties_and_purge(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    device.send("/org.hil.test.DeviceProperties/integer", v(BsonValue.int32(5)))
    device.send("/org.hil.test.DeviceProperties/unsettable/string", v(BsonValue.string("x")))
    assert _values(astarte, device, "org.hil.test.DeviceProperties")[1] == {
        "data": {"integer": 5, "unsettable": {"string": "x"}}}
    assert _values(astarte, device, "org.hil.test.DeviceProperties/integer")[1] == {"data": 5}
    assert _values(astarte, device, "org.hil.test.DeviceProperties/unsettable")[1] == {"data": {"string": "x"}}
    assert _values(astarte, device, "org.hil.test.DeviceProperties/double")[1] == {"data": {}}
    device.send("/org.hil.test.DeviceProperties/integer", b"")  # unset, accepted even without allow_unset
    listed = b"org.hil.test.DeviceProperties/unsettable/string"
    device.send("/control/producer/properties", struct.pack(">I", 999) + zlib.compress(listed))  # header ignored
    assert _values(astarte, device, "org.hil.test.DeviceProperties")[1] == {"data": {"unsettable": {"string": "x"}}}
    device.send("/control/producer/properties", b"\x00\x00\x00\x00")
    assert _values(astarte, device, "org.hil.test.DeviceProperties")[1] == {"data": {}}


@pytest.mark.requirement("ASTARTE-MQTT-ERRORS-03", "ASTARTE-MQTT-ERRORS-04", "ASTARTE-MQTT-ERRORS-05",
                         "ASTARTE-MQTT-ERRORS-06", "ASTARTE-MQTT-ERRORS-07", "ASTARTE-PAYLOAD-SERVER-01")
@pytest.mark.parametrize(("topic", "payload", "error_name"), [
    ("/org.hil.test.DeviceDatastream/integer", v(BsonValue.string("12")), "unexpected_value_type"),
    ("/org.hil.test.DeviceDatastream/integer", b"\x05\x00\x00", "undecodable_bson_payload"),
    ("/org.hil.test.DeviceDatastream/nope", v(BsonValue.int32(1)), "mapping_not_found"),
    ("/org.hil.test.DeviceDatastream/string", v(BsonValue.string("x" * 65537)), "value_size_exceeded"),
    ("/org.hil.test.NotThere/x", v(BsonValue.int32(1)), "interface_loading_failed"),
    ("/org.hil.test.ServerProperties/integer", v(BsonValue.int32(1)), "write_on_server_owned_interface"),
    ("/org.hil.test.DeviceAggregate/s", v(BsonValue.document({"bogus": BsonValue.int32(1)})), "unexpected_object_key"),
    ("/control/whatever", b"", "unexpected_control_message"),
    ("", b"not an introspection", "invalid_introspection"),
])
def test_bad_data_forces_disconnect(astarte: AstarteClient, raw_device: Callable[..., RawDevice], topic: str,
                                    payload: bytes, error_name: str) -> None:
    device = raw_device()
    assert device.session.publish(device.base + topic, payload, 1) == "Success"
    errors = astarte.device_errors(device.device_id, min_count=1, timeout=5)
    assert [e["error_name"] for e in errors] == [error_name]
    assert errors[0]["metadata"]["base64_payload"] == base64.b64encode(payload).decode()
    if "interface" in errors[0]["metadata"]:
        assert errors[0]["metadata"]["interface"].startswith('"')  # Elixir-inspected, quotes included
    assert device.session.wait_disconnected(5), "the realm must force the device off the broker"
    assert astarte.disconnections(device.device_id, min_count=1, timeout=5)[0]["reason"] == error_name
    # The session ended (the test client reconnects at once, so "connected" may be true again).
    assert astarte.device_sessions(device.device_id, min_count=2, timeout=5)[1]["event"] == "disconnected"
    status = astarte.appengine("GET", f"devices/{device.device_id}").json()["data"]
    assert ISO_MS.match(status["last_disconnection"])


def test_unset_on_datastream_keeps_the_session(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    device.send("/org.hil.test.DeviceDatastream/integer", b"")
    assert [e["error_name"] for e in astarte.device_errors(device.device_id)] == ["unset_on_datastream"]
    # The realm handles a device's messages in order: once the next one is handled, a forced
    # disconnect for the unset would already have happened (and this send would not land).
    device.send("/org.hil.test.DeviceDatastream/integer", v(BsonValue.int32(1)))
    assert astarte.disconnections(device.device_id) == []


# ----------------------------------------------------------------------------- realm -> device


@pytest.mark.requirement("ASTARTE-APPENGINE-WRITE-01", "ASTARTE-APPENGINE-WRITE-07", "ASTARTE-APPENGINE-UNSET-01")
def test_server_writes_reach_the_device_with_astarte_types(astarte: AstarteClient,
                                                           raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    cases = [
        ("org.hil.test.ServerProperties/double", 2, BsonType.DOUBLE, 2.0, 2),
        ("org.hil.test.ServerProperties/longinteger", 5, BsonType.INT64, 5, 2),
        ("org.hil.test.ServerProperties/binaryblob", "AP8=", BsonType.BINARY, b"\x00\xff", 2),
        ("org.hil.test.ServerProperties/datetime", "2026-01-01T00:00:00+01:00", BsonType.DATETIME, 1767222000000, 2),
        ("org.hil.test.ServerDatastream/integer", 3, BsonType.INT32, 3, 0),
        ("org.hil.test.ServerReliability/guaranteed", 4, BsonType.INT32, 4, 1),
    ]
    for path, sent, kind, wire, qos in cases:
        response = astarte.appengine("POST", f"devices/{device.device_id}/interfaces/{path}", json={"data": sent})
        assert (response.status_code, response.json()) == (200, {"data": sent}), path
        message = device.received("/" + path)
        assert message is not None and message.qos == qos, path
        value = decode(message.payload)["v"]
        assert (value.kind, value.value) == (kind, wire), path
        assert "t" not in decode(message.payload)
    obj = astarte.appengine("PUT", f"devices/{device.device_id}/interfaces/org.hil.test.ServerAggregate/command",
                            json={"data": {"integer": 1, "double": 1}})
    assert obj.status_code == 200
    doc = decode(device.received("/org.hil.test.ServerAggregate/command").payload)["v"].value
    assert doc["double"].kind is BsonType.DOUBLE and doc["integer"].kind is BsonType.INT32
    assert _values(astarte, device, "org.hil.test.ServerProperties/longinteger")[1] == {"data": 5}
    unset = astarte.appengine("DELETE", f"devices/{device.device_id}/interfaces/org.hil.test.ServerProperties/double")
    assert (unset.status_code, unset.content) == (204, b"")
    assert device.session.wait_for_message(lambda m: m.topic.endswith("ServerProperties/double") and m.payload == b"")
    assert _values(astarte, device, "org.hil.test.ServerProperties/double")[1] == {"data": {}}


@pytest.mark.requirement("ASTARTE-APPENGINE-WRITE-02", "ASTARTE-APPENGINE-WRITE-03", "ASTARTE-APPENGINE-WRITE-04",
                         "ASTARTE-APPENGINE-WRITE-05", "ASTARTE-APPENGINE-WRITE-06", "ASTARTE-APPENGINE-WRITE-08",
                         "ASTARTE-APPENGINE-WRITE-09", "ASTARTE-APPENGINE-READ-01", "ASTARTE-APPENGINE-DEVICE-06",
                         "ASTARTE-APPENGINE-ERRORS-02")
def test_write_errors(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device(connect=False)  # registered, never connected: no broker session
    ident = device.device_id

    def post(tail: str, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"content": raw, "headers": {"Content-Type": "application/json"}} if raw else {"json": body}
        response = astarte.appengine("POST", f"devices/{tail}", **kwargs)
        return response.status_code, response.json()

    sp = f"{ident}/interfaces/org.hil.test.ServerProperties"
    assert post(f"{ident}/interfaces/org.hil.test.DeviceProperties/integer", {"data": 1}) == (
        405, {"errors": {"detail": "Cannot write to device owned resource"}})
    assert post(f"{sp}/unsettable", {"data": 1}) == (405, {"errors": {"detail": "Cannot write to read-only resource"}})
    assert post(f"{sp}/nope", {"data": 1}) == (400, {"errors": {"detail": "Endpoint not found"}})
    assert post(f"{sp}/boolean", {"data": 1}) == (
        422, {"errors": {"detail": "Unexpected value type", "expected_type": "boolean"}})
    assert post(f"{sp}/integer", {"data": 2**31}) == (
        422, {"errors": {"detail": "Unexpected value type", "expected_type": "integer"}})
    assert post(f"{sp}/longinteger", {"data": "5"})[0] == 422
    assert post(f"{sp}/string", {"data": "x" * 65537}) == (422, {"errors": {"detail": "Value size exceeds size limits"}})
    assert post(f"{sp}/integer", {"value": 1}) == (400, {"errors": {"detail": "Bad request"}})
    assert post(f"{sp}/integer", None, raw=b"{oops") == (400, {"errors": {"detail": "Bad request"}})
    agg = f"{ident}/interfaces/org.hil.test.ServerAggregate"
    assert post(f"{agg}/command", {"data": {"nope": 1}}) == (400, {"errors": {"detail": "Unexpected object key"}})
    assert post(f"{agg}/command/integer", {"data": {"integer": 1}}) == (404, {"errors": {"detail": "Internal server error"}})
    assert post(f"{agg}/command", {"data": 3})[1]["errors"]["expected_type"]["integer"] == "integer"
    for reliability in ("guaranteed", "unique"):
        assert post(f"{ident}/interfaces/org.hil.test.ServerReliability/{reliability}", {"data": 1}) == (
            503, {"errors": {"detail": "Cannot push to device"}})
        assert _values(astarte, device, f"org.hil.test.ServerReliability/{reliability}")[0] == 404  # not stored
    assert post(f"{ident}/interfaces/org.hil.test.ServerReliability/unreliable", {"data": 1})[0] == 200
    assert post(f"{ident}/interfaces/org.hil.test.Unknown/x", {"data": 1}) == (
        404, {"errors": {"detail": "Interface not found in device introspection"}})
    assert post("AAAAAAAAAAAAAAAAAAAAAA/interfaces/x/y", {"data": 1}) == (404, {"errors": {"detail": "Device not found"}})
    assert post("not-valid!/interfaces/x/y", {"data": 1}) == (400, {"errors": {"detail": "Bad request"}})
    uninstalled = astarte.register_device(initial_introspection={"org.hil.test.Missing": {"major": 3, "minor": 0}})
    assert post(f"{uninstalled.device_id}/interfaces/org.hil.test.Missing/x", {"data": 1}) == (
        404, {"errors": {"detail": "Interface not found"}})


@pytest.mark.requirement("ASTARTE-APPENGINE-AUTH-01", "ASTARTE-APPENGINE-AUTH-02", "ASTARTE-APPENGINE-AUTH-03")
def test_appengine_auth(astarte: AstarteClient) -> None:
    device = astarte.register_device()
    path = f"{astarte.appengine_url}/v1/{astarte.realm}/devices/{device.device_id}"
    with astarte.http(token="x") as client:
        assert client.get(path).json() == {"errors": {"detail": "Forbidden"}}
        assert client.get(path, headers={"Authorization": ""}).status_code == 401
    with astarte.http(token=astarte.mint_token({"a_aea": ["GET::devices/.*"]})) as client:
        assert client.get(path).status_code == 200
        assert client.patch(path, json={"data": {}}).status_code == 403
    with astarte.http(token=astarte.mint_token({"a_pa": [".*::.*"]})) as client:
        assert client.get(path).status_code == 403


def test_device_patch_needs_the_merge_patch_content_type(astarte: AstarteClient) -> None:
    """DeviceStatusController.update applies the patch only for exactly application/merge-patch+json,
    and checks it before looking the device up; nothing else changes the device."""
    device = astarte.register_device()
    path = f"devices/{device.device_id}"
    body = json.dumps({"data": {"aliases": {"name": "patched"}}}).encode()
    bad_request = (400, {"errors": {"detail": "Bad request"}})
    for content_type in ("application/json", "application/merge-patch+json; charset=utf-8", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        refused = astarte.appengine("PATCH", path, content=body, headers=headers)
        assert (refused.status_code, refused.json()) == bad_request, content_type
    unknown = astarte.appengine("PATCH", f"devices/{random_device_id()}", content=body,
                                headers={"Content-Type": "application/json"})
    assert (unknown.status_code, unknown.json()) == bad_request
    assert astarte.appengine("GET", path).json()["data"]["aliases"] == {}
    patched = astarte.appengine("PATCH", path, content=body, headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200 and patched.json()["data"]["aliases"] == {"name": "patched"}


@pytest.mark.requirement("ASTARTE-MQTT-EMPTYCACHE-03", "ASTARTE-MQTT-PURGE-01", "ASTARTE-MQTT-PURGE-02")
def test_empty_cache_resends_server_properties(astarte: AstarteClient, raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device(connect=False)
    set_ = astarte.appengine("PUT", f"devices/{device.device_id}/interfaces/org.hil.test.ServerProperties/integer",
                             json={"data": 9})
    assert set_.status_code == 200  # a property needs no session
    device.connect()
    purge = device.received("/control/consumer/properties")
    assert purge is not None and purge.qos == 2
    listed = zlib.decompress(purge.payload[4:])
    assert struct.unpack(">I", purge.payload[:4])[0] == len(listed)
    assert listed == b"org.hil.test.ServerProperties/integer"
    resent = device.received("/org.hil.test.ServerProperties/integer")
    assert resent is not None and resent.qos == 2 and decode(resent.payload)["v"] == BsonValue.int32(9)


def test_unregistered_device_is_forced_off(astarte: AstarteClient, hil_broker: MosquittoBroker) -> None:
    stranger = RawDevice(hil_broker, astarte, "AAAAAAAAAAAAAAAAAAAAAQ")
    try:
        assert stranger.session.connect().accepted
        stranger.session.publish(stranger.base, b"", 2)
        assert stranger.session.wait_disconnected(5)
    finally:
        stranger.session.close()


# ----------------------------------------------------------------------------- SDK smoke


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sdk_end_to_end(astarte: AstarteClient, hil_pki: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from astarte.device import DeviceMqtt
    from astarte.device.pairing_handler import register_device_with_jwt_token

    for key, value in hil_pki.trust_environment().items():
        monkeypatch.setenv(key, value)
    device_id = random_device_id()
    secret = register_device_with_jwt_token(device_id, astarte.realm, astarte.token, astarte.pairing_base_url)
    device = DeviceMqtt(device_id, astarte.realm, secret, astarte.pairing_base_url, str(tmp_path))
    device.add_interfaces_from_dir(INTERFACES_DIR)
    connected = threading.Event()
    device.set_events_callbacks(on_connected=lambda _d: connected.set())
    device.connect()
    try:
        assert connected.wait(10)
        assert astarte.wait_for_message(device_id, "/control/producer/properties", timeout=10) is not None
        device.send("org.hil.test.DeviceDatastream", "/integer", 42)
        assert astarte.wait_for_message(device_id, "/org.hil.test.DeviceDatastream/integer", timeout=10) is not None
        values = astarte.appengine("GET", f"devices/{device_id}/interfaces/org.hil.test.DeviceDatastream/integer")
        assert values.json()["data"][0]["value"] == 42
        assert astarte.device_errors(device_id) == []
    finally:
        device.disconnect()



# ----------------------------------------------------------------------------- the message log


def test_message_numbers_survive_dropping_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The realm keeps a bounded log; a reader's ``since`` must still mean the same messages."""
    from hil.simulators.astarte import realm as realm_module
    from hil.simulators.astarte.realm import RawMessage, Realm

    monkeypatch.setattr(realm_module, "RAW_MESSAGE_LIMIT", 4)
    realm = Realm("hil", b"", "mqtts://x")
    for n in range(6):
        device = "a" if n % 2 == 0 else "b"
        realm.record_raw(RawMessage(f"hil/{device}/t", 2, False, bytes([n]), n))
    a, b = realm.device_messages["a"], realm.device_messages["b"]
    assert (realm.raw_messages.total, realm.raw_messages.first, len(realm.raw_messages.kept)) == (6, 2, 4)
    # a received 0, 2, 4 (its numbers 0, 1, 2) and lost 0; b received 1, 3, 5 and lost 1.
    assert (a.total, a.first) == (3, 1) and [m.payload for m in a.since(1)] == [b"\x02", b"\x04"]
    assert (b.total, b.first) == (3, 1) and [m.payload for m in b.since(2)] == [b"\x05"]
    assert a.since(0) == a.since(1)  # what was dropped is gone; the answer's ``first`` says so


def test_a_reader_learns_when_its_messages_were_dropped(astarte: AstarteClient,
                                                         raw_device: Callable[..., RawDevice]) -> None:
    device = raw_device()
    total = astarte.message_count(device.device_id)
    assert total >= 3  # introspection, emptyCache, producer/properties
    assert astarte.device_messages(device.device_id, since=total) == []
    tail = astarte.device_messages(device.device_id, since=total - 1)
    assert len(tail) == 1 and tail[0]["topic"].endswith("/control/producer/properties")
    device.send("/org.hil.test.DeviceDatastream/integer", v(BsonValue.int32(3)))
    assert [m["payload_hex"] for m in astarte.device_messages(device.device_id, since=total)] == [
        v(BsonValue.int32(3)).hex()]


def test_the_client_refuses_to_hide_a_gap(astarte: AstarteClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer that starts after the ``since`` asked for (older messages dropped) is an error;
    a reader that only follows the latest events gets the page and where it starts."""
    import httpx

    from hil.errors import TargetError

    answer = {"data": [{"topic": "hil/d/t"}], "first": 7, "total": 8}
    monkeypatch.setattr(astarte, "_control", lambda *a, **k: httpx.Response(200, json=answer))
    with pytest.raises(TargetError, match=r"no longer keeps messages 2\.\.6 of d"):
        astarte.device_messages("d", since=2)
    assert astarte.message_page("d", since=2) == (7, answer["data"])
    assert astarte.device_messages("d", since=7) == answer["data"]


def test_a_reset_empties_the_log_but_numbers_go_on() -> None:
    """A cursor taken before a /_sim/reset must not point past the end of a renumbered log."""
    from hil.simulators.astarte.realm import RawMessage, Realm

    realm = Realm("hil", b"", "mqtts://x")
    for n in range(3):
        realm.record_raw(RawMessage("hil/a/t", 2, False, bytes([n]), n))
    realm.reset()
    realm.record_raw(RawMessage("hil/a/t", 2, False, b"\x09", 9))
    log = realm.device_messages["a"]
    assert (log.total, log.first) == (4, 3) and [m.payload for m in log.since(3)] == [b"\x09"]
    assert realm.raw_messages.total == 4 and len(realm.raw_messages.kept) == 1
