"""``hil bench grpc``: messages/s from ``DeviceGrpc.send`` through the hub into the realm, vs a floor.

* **realm path**: the real ``astarte_device_sdk.DeviceGrpc`` sends N individual datastream values
  (``org.hil.test.DeviceDatastream/integer``) to the simulated Message Hub, which validates them,
  publishes them as its Astarte device over MQTT, and the simulated Astarte receives them. The
  clock stops when the realm has received all N (its message log, long-polled).
* **floor**: a bare grpc client (the proto package's own stub, no SDK) calls ``Send`` N times on a
  hub started with ``--discard`` (node id checked, request parsed, message dropped).

Both sides make the same sequential unary calls with the same message; rounds alternate so that
machine noise hits both alike. Goal: the realm path keeps at least 0.8 of the floor's rate.

For the record a third figure, ``sdk_ceiling``, runs ``DeviceGrpc.send`` against the discarding
hub: the SDK's own per-call cost (interceptors, validation) is part of the realm path but not of
the floor, so the ratio can never exceed ``sdk_ceiling / floor`` whatever the hub does.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from hil.benchmarks.startup import machine
from hil.errors import ServiceError

__all__ = ["GOAL_RATIO", "measure"]

GOAL_RATIO = 0.8
INTERFACE = "org.hil.test.DeviceDatastream"
PATH = "/integer"


def _floor_round(address: str, messages: int) -> float:
    import grpc
    from astarteplatform.msghub.astarte_message_pb2 import AstarteMessage
    from astarteplatform.msghub.astarte_type_pb2 import AstarteDataType, AstarteDataTypeIndividual
    from astarteplatform.msghub.message_hub_service_pb2_grpc import MessageHubStub
    from astarteplatform.msghub.node_pb2 import Node

    metadata = (("node-id", str(uuid.uuid4())),)
    with grpc.insecure_channel(address) as channel:
        stub = MessageHubStub(channel)
        for _ in stub.Attach(Node(interfaces_json=[]), metadata=metadata):
            pass
        message = AstarteMessage(
            interface_name=INTERFACE, path=PATH,
            astarte_data=AstarteDataType(astarte_individual=AstarteDataTypeIndividual(astarte_integer=7)),
        )
        stub.Send(message, metadata=metadata)  # warm the connection up outside the timing
        t0 = time.perf_counter()
        for _ in range(messages):
            stub.Send(message, metadata=metadata)
        return messages / (time.perf_counter() - t0)


def _sdk_ceiling_round(address: str, messages: int) -> float:
    """DeviceGrpc.send against the discarding hub: what the SDK alone allows (for the record)."""
    from astarte.device import DeviceGrpc

    from hil.components.astarte import INTERFACES_DIR

    import threading

    device = DeviceGrpc(address, str(uuid.uuid4()))
    device.add_interface_from_file(INTERFACES_DIR / f"{INTERFACE}.json")
    ready = threading.Event()
    device.set_events_callbacks(on_connected=lambda _device: ready.set())
    device.connect()
    try:
        if not ready.wait(10.0):
            raise ServiceError("message-hub-floor", "DeviceGrpc never reported the channel ready")
        device.send(INTERFACE, PATH, 7)
        t0 = time.perf_counter()
        for _ in range(messages):
            device.send(INTERFACE, PATH, 7)
        return messages / (time.perf_counter() - t0)
    finally:
        device.disconnect()


def _realm_round(hub: Any, astarte: Any, messages: int) -> float:
    from astarte.device import DeviceGrpc

    from hil.components.astarte import INTERFACES_DIR

    node_id = str(uuid.uuid4())
    device = DeviceGrpc(hub.grpc_address, node_id)
    device.add_interface_from_file(INTERFACES_DIR / f"{INTERFACE}.json")
    device.connect()
    try:
        if hub.wait_attached(node_id, 10.0) is None:
            raise ServiceError("message-hub", "benchmark node was not attached")
        before = astarte.message_count(hub.device_id)
        device.send(INTERFACE, PATH, 7)  # warm-up, outside the timing
        base = before + len(astarte.device_messages(hub.device_id, since=before, min_count=1, timeout=10.0))
        t0 = time.perf_counter()
        for _ in range(messages):
            device.send(INTERFACE, PATH, 7)
        arrived = astarte.device_messages(hub.device_id, since=base, min_count=messages, timeout=60.0)
        elapsed = time.perf_counter() - t0
        if len(arrived) < messages:
            raise ServiceError("message-hub", f"the realm received {len(arrived)} of {messages} messages")
        return messages / elapsed
    finally:
        device.disconnect()


def measure(rounds: int, messages: int = 1000) -> dict[str, Any]:
    from hil.components.message_hub import message_hub_spec, readiness
    from hil.services.backends import make_backend
    from hil.targets import SimulatedTarget

    target = SimulatedTarget()
    try:
        hub = target.component("message_hub").sim
        astarte = target.component("astarte").client
        floor_service = make_backend("process", target.run_dir.sub("bench-services")).create(
            message_hub_spec("message-hub-floor", target.run_dir.sub("floor-store"), None, discard=True)
        )
        floor_service.start(readiness(), timeout=30.0)
        try:
            floor_address = f"{floor_service.host}:{floor_service.port('grpc')}"
            realm_rates: list[float] = []
            floor_rates: list[float] = []
            ceiling_rates: list[float] = []
            for _ in range(rounds):
                realm_rates.append(_realm_round(hub, astarte, messages))
                floor_rates.append(_floor_round(floor_address, messages))
                ceiling_rates.append(_sdk_ceiling_round(floor_address, messages))
        finally:
            floor_service.stop()
    finally:
        target.close()
    realm, floor = statistics.median(realm_rates), statistics.median(floor_rates)
    ceiling = statistics.median(ceiling_rates)
    ratio = round(realm / floor, 3)
    return {
        "benchmark": "grpc",
        "what": "messages/s: DeviceGrpc.send -> message hub -> MQTT -> simulated Astarte, vs a bare grpc "
        "client -> discarding hub",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": rounds,
        "messages_per_round": messages,
        "machine": machine(),
        "versions": {
            "hil": version("hil"),
            "astarte-device-sdk": version("astarte-device-sdk"),
            "astarte-message-hub-proto": version("astarte-message-hub-proto"),
            "grpcio": version("grpcio"),
            "paho-mqtt": version("paho-mqtt"),
        },
        "realm_path": {"median_msgs_per_s": round(realm, 1), "samples": [round(r, 1) for r in realm_rates]},
        "floor": {"median_msgs_per_s": round(floor, 1), "samples": [round(r, 1) for r in floor_rates]},
        "sdk_ceiling": {
            "what": "DeviceGrpc.send -> discarding hub: the SDK's own cost, which no hub can remove",
            "median_msgs_per_s": round(ceiling, 1),
            "samples": [round(r, 1) for r in ceiling_rates],
            "ratio_to_floor": round(ceiling / floor, 3),
            # What the hub, MQTT and the realm keep of what the SDK alone allows: the part of the
            # gap to the goal that hil could still close.
            "realm_path_ratio": round(realm / ceiling, 3),
        },
        "ratio_median": ratio,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio >= GOAL_RATIO,
    }
