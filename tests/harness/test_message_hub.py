"""The message hub simulator itself: status codes of the real hub v0.7.0, bad input, code generation.

Calls go through raw-bytes gRPC methods, so a test can send what no stub would (garbage, oversized
bodies, missing metadata). Well-formed requests are built with the proto 0.7.0 classes this
process already has from the SDK's ``astarte-message-hub-proto`` (the hub runs in its own process
on its generated copy; the two never meet in one interpreter).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.fixtures.message_hub import INTERFACES_DIR

SERVICE = "/astarteplatform.msghub.MessageHub/"
DATASTREAM = "org.hil.test.DeviceDatastream"
SERVER_DATASTREAM = "org.hil.test.ServerDatastream"


def _interface_json(name: str) -> str:
    return (INTERFACES_DIR / f"{name}.json").read_text()


class RawHub:
    """Raw-bytes access to every MessageHub method of a running hub."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)

    def call(self, method: str, body: bytes, node: str | None = None, *, metadata: list[tuple[str, object]] | None = None,
             timeout: float = 10.0) -> tuple[grpc.StatusCode, str]:
        md = list(metadata or [])
        if node is not None:
            md.append(("node-id", node))
        stub = self.channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
        try:
            stub(body, metadata=md, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""

    def attach(self, body: bytes, node: str | None = None, *, metadata: list[tuple[str, object]] | None = None):  # type: ignore[no-untyped-def]
        md = list(metadata or [])
        if node is not None:
            md.append(("node-id", node))
        stub = self.channel.unary_stream(SERVICE + "Attach", request_serializer=None, response_deserializer=None)
        return stub(body, metadata=md)

    def close(self) -> None:
        self.channel.close()


def _node_body(*names: str) -> bytes:
    from astarteplatform.msghub.node_pb2 import Node

    return Node(interfaces_json=[_interface_json(n) for n in names]).SerializeToString()


def _send_body(interface: str, path: str, **individual: object) -> bytes:
    from astarteplatform.msghub.astarte_message_pb2 import AstarteMessage
    from astarteplatform.msghub.astarte_type_pb2 import AstarteDataType, AstarteDataTypeIndividual

    data = AstarteDataType(astarte_individual=AstarteDataTypeIndividual(**individual))
    return AstarteMessage(interface_name=interface, path=path, astarte_data=data).SerializeToString()


@pytest.fixture
def raw(message_hub):  # type: ignore[no-untyped-def]
    hub = RawHub(message_hub.grpc_address)
    yield hub
    hub.close()


@pytest.fixture
def attached(raw, message_hub):  # type: ignore[no-untyped-def]
    """A raw node attached with the device datastream interface; detached at teardown."""
    node = str(uuid.uuid4())
    stream = raw.attach(_node_body(DATASTREAM, SERVER_DATASTREAM), node)
    assert message_hub.wait_attached(node) is not None, "raw Attach was not processed"
    yield node
    raw.call("Detach", b"", node)
    stream.cancel()


def _assert_alive(raw: RawHub, message_hub, node: str) -> None:  # type: ignore[no-untyped-def]
    assert message_hub.state()["device"]["mqtt_connected"]
    code, details = raw.call("Send", _send_body(DATASTREAM, "/integer", astarte_integer=1), node)
    assert code is grpc.StatusCode.OK, f"hub stopped serving: {code} {details}"


# -- node id ---------------------------------------------------------------------------------------


@pytest.mark.requirement("ASTARTE-MSGHUB-NODEID-01")
@pytest.mark.parametrize("method", ["Send", "Detach", "AddInterfaces", "RemoveInterfaces"])
def test_a_call_without_node_id_is_unauthenticated(raw, method):
    assert raw.call(method, b"") == (grpc.StatusCode.UNAUTHENTICATED, "node not authenticated")


@pytest.mark.requirement("ASTARTE-MSGHUB-NODEID-01")
def test_attach_without_node_id_is_unauthenticated(raw):
    stream = raw.attach(_node_body(DATASTREAM))
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.requirement("ASTARTE-MSGHUB-NODEID-02")
@pytest.mark.parametrize("metadata", [[("node-id", "not-a-uuid")], [("node-id-bin", b"\x01\x02\x03")]], ids=["ascii", "bin"])
def test_a_malformed_node_id_is_an_invalid_argument(raw, metadata):
    code, details = raw.call("Send", b"\xff\xff", metadata=metadata)  # the body is never read
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("invalid argument"), details


@pytest.mark.requirement("ASTARTE-MSGHUB-NODEID-01")
def test_a_binary_node_id_is_accepted(raw, message_hub):
    node = uuid.uuid4()
    stream = raw.attach(_node_body(DATASTREAM), metadata=[("node-id-bin", node.bytes)])
    try:
        assert message_hub.wait_attached(node) is not None
        code, _ = raw.call("Detach", b"", metadata=[("node-id-bin", node.bytes)])
        assert code is grpc.StatusCode.OK
    finally:
        stream.cancel()


@pytest.mark.requirement("ASTARTE-MSGHUB-NODEID-03")
@pytest.mark.parametrize("method", ["Send", "Detach", "AddInterfaces", "RemoveInterfaces"])
def test_an_unknown_node_is_unauthenticated(raw, method):
    assert raw.call(method, b"", str(uuid.uuid4())) == (grpc.StatusCode.UNAUTHENTICATED, "node not authenticated")


# -- attach, send ----------------------------------------------------------------------------------


@pytest.mark.requirement("ASTARTE-MSGHUB-ATTACH-02")
@pytest.mark.parametrize("bad", ["{not json", json.dumps({"interface_name": "org.x.Y"})], ids=["json", "interface"])
def test_attach_with_an_invalid_interface_is_an_invalid_argument(raw, message_hub, bad):
    from astarteplatform.msghub.node_pb2 import Node

    node = str(uuid.uuid4())
    stream = raw.attach(Node(interfaces_json=[bad]).SerializeToString(), node)
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message_hub.wait_attached(node, 0) is None


@pytest.mark.requirement("ASTARTE-MSGHUB-SEND-02")
@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_send_body("org.hil.test.NotDeclared", "/x", astarte_integer=1), "interface"),
        (_send_body(DATASTREAM, "/nope", astarte_integer=1), "mapping"),
        (_send_body(DATASTREAM, "/integer", astarte_string="x"), "type"),
        (_send_body(DATASTREAM, "/integer", astarte_boolean=True), "type-bool"),
    ],
    ids=["interface", "mapping", "type", "type-bool"],
)
def test_a_send_the_hub_device_cannot_publish_is_internal(raw, attached, message_hub, body, why):
    published = message_hub.state()["published"]
    code, details = raw.call("Send", body, attached)
    assert code is grpc.StatusCode.INTERNAL, (why, code, details)
    assert details.startswith("Unable to publish astarte message, err: "), details
    # The hub publishes before it answers a Send, so its count is final once the answer is in.
    assert message_hub.state()["published"] == published, "a refused Send was published anyway"


@pytest.mark.requirement("ASTARTE-MSGHUB-SEND-01")
def test_an_integer_is_accepted_for_a_longinteger_mapping_and_sent_as_int32(raw, attached, hub_realm):
    """The real hub's Rust SDK accepts ``integer`` for ``longinteger`` and serialises it as sent."""
    from hil.astarte.bsonwire import BsonType, decode

    since = hub_realm.mark()
    assert raw.call("Send", _send_body(DATASTREAM, "/longinteger", astarte_integer=5), attached)[0] is grpc.StatusCode.OK
    message = hub_realm.next(f"/{DATASTREAM}/longinteger", since)
    assert message is not None and decode(bytes.fromhex(message["payload_hex"]))["v"].kind is BsonType.INT32


@pytest.mark.requirement("ASTARTE-MSGHUB-SEND-03")
def test_a_send_without_payload_is_internal(raw, attached):
    from astarteplatform.msghub.astarte_message_pb2 import AstarteMessage

    body = AstarteMessage(interface_name=DATASTREAM, path="/integer").SerializeToString()
    code, details = raw.call("Send", body, attached)
    assert code is grpc.StatusCode.INTERNAL and "Invalid payload" in details, details


@pytest.mark.requirement("ASTARTE-MSGHUB-ROBUST-01")
@pytest.mark.parametrize("garbage", [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\xff\x01"], ids=["varint", "truncated", "length"])
def test_malformed_protobuf_is_internal_and_the_hub_keeps_serving(raw, attached, message_hub, garbage):
    code, details = raw.call("Send", garbage, attached)
    assert code is grpc.StatusCode.INTERNAL, (code, details)
    _assert_alive(raw, message_hub, attached)


@pytest.mark.requirement("ASTARTE-MSGHUB-ROBUST-02")
def test_an_oversized_message_is_out_of_range_and_the_hub_keeps_serving(raw, attached, message_hub):
    body = _send_body(DATASTREAM, "/string", astarte_string="x" * (4 * 1024 * 1024 + 10))
    code, details = raw.call("Send", body, attached)
    assert code is grpc.StatusCode.OUT_OF_RANGE and "message length too large" in details, (code, details)
    _assert_alive(raw, message_hub, attached)


@pytest.mark.requirement("ASTARTE-MSGHUB-ROBUST-01")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=256), method=st.sampled_from(["Send", "AddInterfaces", "RemoveInterfaces"]))
def test_arbitrary_bytes_never_crash_the_hub(raw, attached, body, method):
    code, _ = raw.call(method, body, attached)
    # Whatever the bytes decode to, the answer is one of the hub's deliberate codes, never a crash.
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT}, code


@pytest.mark.requirement("ASTARTE-MSGHUB-ROBUST-03", "ASTARTE-MSGHUB-EVENTS-01")
def test_a_cancelled_stream_does_not_disturb_other_nodes(raw, message_hub, astarte):
    gone, alive = str(uuid.uuid4()), str(uuid.uuid4())
    gone_stream = raw.attach(_node_body(SERVER_DATASTREAM), gone)
    alive_stream = raw.attach(_node_body(SERVER_DATASTREAM), alive)
    try:
        assert message_hub.wait_attached(gone) and message_hub.wait_attached(alive)
        gone_stream.cancel()
        first: list[object] = []
        got = threading.Event()

        def read() -> None:
            for event in alive_stream:
                first.append(event)
                got.set()
                return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        response = astarte.appengine("POST", f"devices/{message_hub.device_id}/interfaces/{SERVER_DATASTREAM}/integer",
                                     json={"data": 3})
        assert response.status_code == 200, response.text
        assert got.wait(5.0), "the live node got nothing after another node's stream was cancelled"
        # As on the real hub, a cancelled stream does not detach the node.
        gone_state = message_hub.wait_attached(gone, 0)
        assert gone_state is not None and gone_state["stream_open"] is False
    finally:
        for node in (gone, alive):
            raw.call("Detach", b"", node)
        alive_stream.cancel()


@pytest.mark.requirement("ASTARTE-MSGHUB-DETACH-01")
def test_detach_ends_the_stream(raw, message_hub):
    node = str(uuid.uuid4())
    stream = raw.attach(_node_body(DATASTREAM), node)
    assert message_hub.wait_attached(node)
    assert raw.call("Detach", b"", node)[0] is grpc.StatusCode.OK
    assert list(stream) == []  # the stream ends with OK, no events
    assert raw.call("Detach", b"", node) == (grpc.StatusCode.UNAUTHENTICATED, "node not authenticated")


@pytest.mark.requirement("ASTARTE-MSGHUB-INTERFACES-01")
def test_add_interfaces_with_bad_json_is_internal(raw, attached):
    from astarteplatform.msghub.interface_pb2 import InterfacesJson

    code, _ = raw.call("AddInterfaces", InterfacesJson(interfaces_json=["{"]).SerializeToString(), attached)
    assert code is grpc.StatusCode.INTERNAL


# -- code generation and the command line -----------------------------------------------------------


def test_protogen_is_stamped_and_idempotent(tmp_path):
    from hil.simulators.message_hub.protogen import STAMP_NAME, generate

    first = generate(build_root=tmp_path)
    stamp = (first.root / STAMP_NAME).stat().st_mtime_ns
    assert (first.package_dir / "message_hub_service_pb2_grpc.py").is_file()
    assert (first.root / "astarteplatform" / "__init__.py").is_file()  # a regular package wins the import
    second = generate(build_root=tmp_path)
    assert second.root == first.root and (second.root / STAMP_NAME).stat().st_mtime_ns == stamp
    data = json.loads((first.root / STAMP_NAME).read_text())
    from importlib.metadata import version

    assert data["proto_version"] == version("astarte-message-hub-proto")


def test_protogen_regenerates_when_the_stamp_is_stale(tmp_path):
    from hil.simulators.message_hub.protogen import STAMP_NAME, generate

    first = generate(build_root=tmp_path)
    (first.root / STAMP_NAME).write_text(json.dumps({"proto_version": "0.0.1"}))
    (first.package_dir / "node_pb2.py").unlink()
    generate(build_root=tmp_path)
    assert (first.package_dir / "node_pb2.py").is_file()


def test_protogen_accepts_a_proto_dir(tmp_path):
    from hil.simulators.message_hub.protogen import generate

    protos = tmp_path / "proto" / "astarteplatform" / "msghub"
    protos.mkdir(parents=True)
    (protos / "message_hub_service.proto").write_text(
        'syntax = "proto3";\npackage astarteplatform.msghub;\nimport "google/protobuf/empty.proto";\n'
        "message Node { repeated string interfaces_json = 2; }\n"
        "service MessageHub { rpc Detach(google.protobuf.Empty) returns (google.protobuf.Empty); }\n"
    )
    result = generate(build_root=tmp_path / "build", proto_dir=tmp_path / "proto")
    assert result.proto_version.startswith("dir-")
    assert (result.package_dir / "message_hub_service_pb2_grpc.py").is_file()


def test_a_user_mistake_on_the_command_line_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "hil.simulators.message_hub", "--port", "1", "--store-dir", str(tmp_path), "--realm", "hil"],
        capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.requirement("ASTARTE-MSGHUB-EVENTS-01")
def test_server_data_is_routed_only_to_nodes_that_declared_the_interface(raw, message_hub, astarte):
    """Checked on raw streams: the SDK drops foreign interfaces itself and would hide a misroute."""
    from astarteplatform.msghub.astarte_message_pb2 import MessageHubEvent

    listener, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    listener_stream = raw.attach(_node_body(SERVER_DATASTREAM), listener)
    bystander_stream = raw.attach(_node_body("org.hil.test.ServerAggregate"), bystander)
    try:
        assert message_hub.wait_attached(listener) and message_hub.wait_attached(bystander)
        for interface in (SERVER_DATASTREAM, "org.hil.test.ServerAggregate"):
            assert astarte.wait_for_introspection(message_hub.device_id, interface)
        base = f"devices/{message_hub.device_id}/interfaces"
        assert astarte.appengine("POST", f"{base}/{SERVER_DATASTREAM}/integer", json={"data": 4}).status_code == 200
        assert astarte.appengine("POST", f"{base}/org.hil.test.ServerAggregate/command",
                                 json={"data": {"integer": 1}}).status_code == 200
        first = MessageHubEvent.FromString(next(bystander_stream))
        assert first.message.interface_name == "org.hil.test.ServerAggregate", first
        event = MessageHubEvent.FromString(next(listener_stream))
        assert (event.message.interface_name, event.message.path) == (SERVER_DATASTREAM, "/integer")
    finally:
        for node in (listener, bystander):
            raw.call("Detach", b"", node)
        listener_stream.cancel()
        bystander_stream.cancel()


def test_the_credentials_secret_never_reaches_the_hub_log(hil_target):
    """The secret travels in the environment: a command line is echoed into the service log."""
    sim = hil_target.component("message_hub").sim
    secret = sim.identity.credentials_secret
    assert secret and secret not in sim.service.log_path.read_text()
    assert secret not in " ".join(sim.identity.arguments())


@pytest.mark.parametrize("pairing", [True, False], ids=["pairing", "certificate"])
def test_a_device_id_starting_with_a_dash_reaches_the_hub_intact(tmp_path, pairing):
    """One device id in 64 starts with ``-``; the hub must not read it as an option."""
    from hil.components.message_hub import HubIdentity
    from hil.simulators.message_hub.__main__ import build_parser

    extra = {"pairing_url": "https://localhost:1/pairing"} if pairing else {
        "broker_url": "mqtts://localhost:1/", "cert_path": tmp_path / "c.pem", "key_path": tmp_path / "k.pem"}
    identity = HubIdentity(realm="hil", device_id="-dashFirst0000000000AA", ca_path=tmp_path / "ca.pem", **extra)
    args = build_parser().parse_args(["--port", "1", "--store-dir", str(tmp_path), *identity.arguments()])
    assert (args.realm, args.device_id, args.ca_file) == ("hil", "-dashFirst0000000000AA", tmp_path / "ca.pem")
    assert args.pairing_url == extra.get("pairing_url") and args.broker_url == extra.get("broker_url")


# -- concurrency: node calls while server data flows, many nodes ------------------------------------
#
# Two hubs: the session's hub process (end to end, with the simulated realm), and a hub built in this
# process whose MQTT side is a stand-in for paho's network thread, for what the network only
# decides by chance (which packet reaches the hub first).

SERVER_INTEGER = f"{SERVER_DATASTREAM}/integer"


def _wheel_protos():  # type: ignore[no-untyped-def]
    """The SDK wheel's proto 0.7.0 modules, for a hub built in this process (never the generated ones)."""
    import importlib

    from hil.simulators.message_hub.protos import PACKAGE, Protos

    names = ("astarte_message_pb2", "message_hub_service_pb2", "message_hub_service_pb2_grpc")
    return Protos(Path(), "wheel", {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names})


class _Delivery:
    """paho's MQTTMessageInfo of one QoS 2 publish: published once the loop read its PUBCOMP."""

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self.acknowledged = threading.Event()
        self.gave_up = False  # the waiter stopped waiting before the loop could read the PUBCOMP

    def wait_for_publish(self, timeout: float | None = None) -> None:
        if not self.acknowledged.wait(timeout):
            self.gave_up = True

    def is_published(self) -> bool:
        return self.acknowledged.is_set()


class BrokerLoop:
    """paho's network thread in miniature: what the broker sends is handled on one thread, in order.

    A server message that is on the wire ahead of the PUBCOMP of the hub's new introspection is
    handed to the hub (which routes it to nodes) before that PUBCOMP is read. With the realm
    streaming that is what usually happens; here it happens every time: each introspection publish
    queues a server value on ``SERVER_INTEGER``, then its PUBCOMP. ``hold()`` keeps PUBCOMPs back
    until ``release()``, as a slow broker would. As paho does, the loop calls ``on_ack`` (paho's
    ``on_publish``) with the message id of a PUBCOMP just *before* it marks the message published.
    """

    def __init__(self, base: str, on_message: Callable[[str, bytes], None], on_ack: Callable[[int], None]) -> None:
        from hil.astarte.bsonwire import BsonDocument, BsonValue, encode

        self.base = base
        self.on_message = on_message
        self.on_ack = on_ack
        self._mids = iter(range(1, 1 << 16))
        self.value = encode(BsonDocument((("v", BsonValue.int32(7)),)))
        self.introspections: list[_Delivery] = []
        self.holding = threading.Event()  # set once a PUBCOMP is held back
        self._held: list[_Delivery] | None = None
        self._lock = threading.Lock()
        self._inbound: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="paho-stand-in", daemon=True)
        self._thread.start()

    # -- the paho.Client calls AstarteLink makes while connected
    def subscribe(self, topic: str, qos: int = 0) -> None:
        pass

    def unsubscribe(self, topic: str) -> None:
        pass

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> _Delivery:
        delivery = _Delivery(next(self._mids))
        if topic != self.base:  # data: nobody waits for it
            delivery.acknowledged.set()
            return delivery
        self.introspections.append(delivery)
        self._inbound.put((f"{self.base}/{SERVER_INTEGER}", self.value))
        with self._lock:
            if self._held is not None:
                self._held.append(delivery)
                self.holding.set()
                return delivery
        self._inbound.put(delivery)
        return delivery

    # -- the test's side
    def hold(self) -> None:
        with self._lock:
            self._held = []

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
        for delivery in held:
            self._inbound.put(delivery)

    def stop(self) -> None:
        self._inbound.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while (item := self._inbound.get()) is not None:
            if isinstance(item, _Delivery):
                self.on_ack(item.mid)
                item.acknowledged.set()
            else:
                self.on_message(*item)


@pytest.fixture
def local_hub(tmp_path):  # type: ignore[no-untyped-def]
    """A MessageHub on a real AstarteLink whose session is a :class:`BrokerLoop` (in this process)."""
    from hil.simulators.message_hub.astarte_link import AstarteLink
    from hil.simulators.message_hub.codec import Codec
    from hil.simulators.message_hub.hub import MessageHub
    from hil.simulators.message_hub.property_store import InterfaceCache, PropertyStore

    store = PropertyStore(tmp_path / "properties.sqlite")
    hubs: list[MessageHub] = []
    link = AstarteLink(None, None, "hil", "localHubDevice0000000A", store,  # type: ignore[arg-type]
                       lambda i, p, d: hubs[0].on_server_data(i, p, d))
    hubs.append(MessageHub(link, Codec(_wheel_protos()), store, InterfaceCache(tmp_path / "interfaces")))
    loop = BrokerLoop(link.base, link._received, link._acks.acknowledged)
    link._session = SimpleNamespace(paho=loop)  # type: ignore[assignment]  # the link once a session is up
    link._connected.set()
    yield hubs[0], loop
    loop.stop()
    store.close()


def _queued(events: queue.SimpleQueue[Any]) -> list[Any]:
    found = []
    while True:
        try:
            found.append(events.get_nowait())
        except queue.Empty:
            return found


def test_node_calls_wait_for_the_broker_without_holding_up_server_data(local_hub):
    """The PUBCOMP of a new introspection is read by the thread that routes server data to nodes.

    paho reads it only after handing on the server value ahead of it, and routing takes the hub's
    lock: a node call that waited for the PUBCOMP under that lock would wait for itself until the
    timeout, and then ``gave_up``. Checked for an Attach, another Attach, and a Detach.
    """
    hub, loop = local_hub
    other = uuid.uuid4()
    steps = [
        ("attach listener", lambda: hub.attach(uuid.uuid4(), [_interface_json(SERVER_DATASTREAM)])),
        ("attach other", lambda: hub.attach(other, [_interface_json(DATASTREAM)])),
        ("detach other", lambda: hub.detach(other)),
    ]
    listener = None
    for step, (what, call) in enumerate(steps, start=1):
        node = call()
        listener = listener or node
        assert len(loop.introspections) == step, f"{what} published no introspection"
        assert not loop.introspections[-1].gave_up, f"{what} waited for the broker while holding the hub lock"
    # Every server value reached the listener, the first one while its own Attach was still waiting.
    events = _queued(listener.events)
    assert [(e.message.interface_name, e.message.path) for e in events] == [(SERVER_DATASTREAM, "/integer")] * 3


def test_an_attach_waiting_for_the_broker_keeps_its_interfaces_and_is_attached_after(local_hub):
    """While its introspection is on the way, an attaching node uses its interfaces (a concurrent
    Detach of the last other user keeps them) but is not attached yet: a check that waited for the
    Attach may send on the new interfaces at once, without overtaking the introspection."""
    hub, loop = local_hub
    first, second = uuid.uuid4(), uuid.uuid4()
    hub.attach(first, [_interface_json(DATASTREAM)])
    loop.hold()
    attaching = threading.Thread(target=hub.attach, args=(second, [_interface_json(DATASTREAM), _interface_json(SERVER_DATASTREAM)]),
                                 daemon=True)
    attaching.start()
    try:
        assert loop.holding.wait(10), "the Attach published no introspection"
        assert not hub.is_attached(second), "attached before the broker had the node's introspection"
        hub.detach(first)
        assert DATASTREAM in hub.device_interfaces(), "a Detach took an interface from a node still attaching"
    finally:
        loop.release()
        attaching.join(10)
    assert not attaching.is_alive() and hub.is_attached(second)
    assert not loop.introspections[-1].gave_up


@pytest.mark.parametrize("call", ["attach", "add_interfaces"])
def test_a_node_call_with_interfaces_still_on_their_way_waits_for_the_broker(local_hub, call):
    """Node A attaches with an interface and waits for the broker; node B then declares the same one.

    B has nothing new to publish, but the broker does not have the interface yet: a B answered at
    once could send on it (QoS 0) ahead of A's QoS 2 introspection, and the realm would refuse the
    data and disconnect the hub device. B waits for that introspection too.
    """
    from hil.simulators.message_hub.astarte_link import ACK_TIMEOUT

    hub, loop = local_hub
    first, second = uuid.uuid4(), uuid.uuid4()
    if call == "add_interfaces":
        hub.attach(second, [_interface_json(SERVER_DATASTREAM)])
    loop.hold()
    introspections = len(loop.introspections)
    first_attach = threading.Thread(target=hub.attach, args=(first, [_interface_json(DATASTREAM)]), daemon=True)
    declare = getattr(hub, call)
    second_call = threading.Thread(target=declare, args=(second, [_interface_json(DATASTREAM)]), daemon=True)
    first_attach.start()
    try:
        assert loop.holding.wait(10), "the first Attach published no introspection"
        second_call.start()
        # A bound for what must not happen: the call answering while the PUBCOMP is held back.
        second_call.join(ACK_TIMEOUT / 10)
        assert second_call.is_alive(), f"{call} answered before the broker had the interface"
        assert len(loop.introspections) == introspections + 1, "the second call sent an introspection of its own"
    finally:
        loop.release()
        first_attach.join(10)
        second_call.join(10)
    assert not first_attach.is_alive() and not second_call.is_alive()
    assert hub.is_attached(first) and hub.is_attached(second)
    assert not loop.introspections[-1].gave_up


def test_a_change_with_nothing_new_is_done_at_once_when_the_broker_has_the_introspection(local_hub):
    hub, loop = local_hub
    hub.attach(uuid.uuid4(), [_interface_json(DATASTREAM)])
    assert hub.link.change_interfaces([], []).wait(0), "waited for an introspection the broker has"
    hub.attach(uuid.uuid4(), [_interface_json(DATASTREAM)])
    assert len(loop.introspections) == 1, "an Attach with nothing new sent an introspection"


def test_a_lost_session_ends_the_wait_for_the_broker_at_once(local_hub):
    """A publish queued just before a drop gets no PUBCOMP in that session: the wait ends with it."""
    from hil.simulators.message_hub.astarte_link import ACK_TIMEOUT

    hub, loop = local_hub
    node = uuid.uuid4()
    loop.hold()
    attaching = threading.Thread(target=hub.attach, args=(node, [_interface_json(DATASTREAM)]), daemon=True)
    attaching.start()
    try:
        assert loop.holding.wait(10), "the Attach published no introspection"
        hub.link._session_lost("connection lost")  # as paho's thread reports a drop
        attaching.join(ACK_TIMEOUT / 2)
        assert not attaching.is_alive(), "the Attach waited for a PUBCOMP of a session that had ended"
    finally:
        loop.release()
        attaching.join(10)
    assert hub.is_attached(node)


class _Interrupted(Exception):
    """Stands for whatever may end an Attach while it waits for the broker."""


def test_an_attach_that_fails_while_waiting_uninstalls_its_interfaces(local_hub, monkeypatch):
    hub, _loop = local_hub
    kept, node = uuid.uuid4(), uuid.uuid4()
    hub.attach(kept, [_interface_json(SERVER_DATASTREAM)])

    def interrupted(ack: Any, what: str) -> None:
        raise _Interrupted(what)

    monkeypatch.setattr(hub, "_settle", interrupted)
    with pytest.raises(_Interrupted):
        hub.attach(node, [_interface_json(DATASTREAM), _interface_json(SERVER_DATASTREAM)])
    assert not hub.is_attached(node)
    assert set(hub.device_interfaces()) == {SERVER_DATASTREAM}, "the failed Attach left its interfaces installed"
    assert set(hub.cache.load()) == {SERVER_DATASTREAM}, "the failed Attach left its interfaces cached"


def test_attach_and_detach_complete_while_the_realm_streams_server_data(raw, message_hub, astarte):
    """End to end: a node attaches and detaches again and again while the realm streams to another.

    Each Attach and Detach changes the introspection and waits for the broker's PUBCOMP; a hub that
    waits under the lock paho needs to route the stream stalls for the whole ``ACK_TIMEOUT``. The
    bound below is half of it: a stalled call misses it by construction, a working one (tens of
    milliseconds) has a margin of two orders of magnitude.
    """
    from hil.simulators.message_hub.astarte_link import ACK_TIMEOUT

    bound = ACK_TIMEOUT / 2
    listener = str(uuid.uuid4())
    listener_stream = raw.attach(_node_body(SERVER_DATASTREAM), listener)
    flowing, stop = threading.Event(), threading.Event()

    def drain() -> None:
        try:
            for _ in listener_stream:
                flowing.set()
        except grpc.RpcError:  # cancelled at the end
            pass

    def stream() -> None:
        url = f"{astarte.appengine_url}/v1/{astarte.realm}/devices/{message_hub.device_id}/interfaces/{SERVER_INTEGER}"
        with astarte.http() as http:
            while not stop.is_set():
                http.post(url, json={"data": 1})

    threads = [threading.Thread(target=drain, daemon=True), threading.Thread(target=stream, daemon=True)]
    try:
        assert message_hub.wait_attached(listener) and astarte.wait_for_introspection(message_hub.device_id, SERVER_DATASTREAM)
        for thread in threads:
            thread.start()
        assert flowing.wait(10), "the realm's server data never reached the listener"
        for cycle in range(20):
            node = str(uuid.uuid4())
            node_stream = raw.attach(_node_body(DATASTREAM), node)
            try:
                assert message_hub.wait_attached(node, bound), f"cycle {cycle}: Attach stalled while server data flowed"
                code, details = raw.call("Detach", b"", node, timeout=bound)
                assert code is grpc.StatusCode.OK, f"cycle {cycle}: Detach {code.name} {details}"
            finally:
                node_stream.cancel()
    finally:
        stop.set()
        raw.call("Detach", b"", listener)
        listener_stream.cancel()
        for thread in threads:
            thread.join(10)


def test_forty_attached_nodes_leave_room_for_a_send(raw, message_hub):
    """Each open Attach stream holds a server thread; the 41st call (a Send) must still run."""
    nodes = [str(uuid.uuid4()) for _ in range(40)]
    streams = []
    try:
        for node in nodes:
            streams.append(raw.attach(_node_body(DATASTREAM), node))
            assert message_hub.wait_attached(node) is not None, f"node {len(streams)} of 40 was never attached"
        code, details = raw.call("Send", _send_body(DATASTREAM, "/integer", astarte_integer=40), nodes[-1])
        assert code is grpc.StatusCode.OK, f"a Send beside 40 streams: {code.name} {details}"
        assert raw.call("Detach", b"", nodes[0]) == (grpc.StatusCode.OK, "")
        assert list(streams[0]) == []  # its stream ended: the Detach really ran
    finally:
        for node_stream in streams:  # first: a hub out of threads runs the Detaches only then
            node_stream.cancel()
        for node in nodes[1:]:
            raw.call("Detach", b"", node)


def test_streams_beyond_the_limit_are_refused_and_leave_room_for_unary_calls(tmp_path):
    """The cap on open streams answers RESOURCE_EXHAUSTED; the pool keeps threads for the rest."""
    from hil.simulators.message_hub.codec import Codec
    from hil.simulators.message_hub.grpc_service import MessageHubService
    from hil.simulators.message_hub.hub import MessageHub
    from hil.simulators.message_hub.property_store import InterfaceCache, PropertyStore
    from hil.simulators.message_hub.server import grpc_server

    protos = _wheel_protos()
    codec = Codec(protos)
    store = PropertyStore(tmp_path / "properties.sqlite")
    hub = MessageHub(None, codec, store, InterfaceCache(tmp_path / "interfaces"))
    server = grpc_server(MessageHubService(hub, protos, codec, max_streams=2).handler(), workers=3)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = RawHub(f"127.0.0.1:{port}")
    nodes = [str(uuid.uuid4()) for _ in range(3)]
    streams = []
    try:
        for node in nodes[:2]:
            streams.append(client.attach(_node_body(DATASTREAM), node))
            assert hub.wait_for_node(uuid.UUID(node), 10)
        refused = client.attach(_node_body(DATASTREAM), nodes[2])
        with pytest.raises(grpc.RpcError) as refusal:
            next(refused)
        assert refusal.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, refusal.value
        assert not hub.is_attached(uuid.UUID(nodes[2]))
        assert client.call("Detach", b"", nodes[0]) == (grpc.StatusCode.OK, "")
    finally:
        for node_stream in streams:
            node_stream.cancel()
        client.close()
        server.stop(0).wait(10)
        store.close()


def test_generated_modules_go_to_the_user_cache_not_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SDK sets with different proto versions share one checkout; its build/ is nobody's cache."""
    from hil.simulators.message_hub.protogen import default_build_root

    monkeypatch.delenv("HIL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_build_root() == tmp_path / "xdg" / "hil" / "msghub"
    monkeypatch.setenv("HIL_CACHE_DIR", str(tmp_path / "own"))
    assert default_build_root() == tmp_path / "own" / "msghub"
