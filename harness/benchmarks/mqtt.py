"""``hil benchmark mqtt``: messages/s from ``DeviceMqtt.send`` into the realm, vs a floor, per QoS.

* **realm path**: the real ``astarte_device_sdk.DeviceMqtt``, paired through the simulated
  Pairing, sends N individual values through the mutual-TLS Mosquitto; the simulated realm
  validates and stores each one. The clock stops when the realm's message log (long-polled,
  recorded once a message is handled) holds all N.
* **floor**: the same SDK, paired the same way, sends the same N values through a broker of the
  same build and configuration to a bare subscriber (an admin :class:`MqttSession` subscribed to
  the device's topics at QoS 2, in a process of its own as the realm is:
  :mod:`hil.benchmarks.mqtt_subscriber`). The floor broker belongs to a second simulated stack whose realm
  is stopped once the device has paired: the realm subscribes to every device topic of its
  broker, so on the realm's own broker the floor would pay for the realm too.

Each QoS has its own mapping of ``org.hil.test.DeviceReliability`` (``/unreliable`` = 0,
``/guaranteed`` = 1, ``/unique`` = 2). Rounds alternate realm/floor so that machine noise hits
both alike. Goal: at every QoS the realm path keeps at least 0.9 of the floor's rate, and no
message sent at QoS 1 or 2 is lost.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from hil.astarte.bsonwire import decode
from hil.benchmarks.startup import machine
from hil.errors import ConfigError, ServiceError

__all__ = ["GOAL_RATIO", "INTERFACE", "PATHS", "measure"]

GOAL_RATIO = 0.9
INTERFACE = "org.hil.test.DeviceReliability"
#: QoS -> the mapping of that reliability.
PATHS = {0: "/unreliable", 1: "/guaranteed", 2: "/unique"}


@contextmanager
def trusted(environment: dict[str, str]) -> Iterator[None]:
    """``environment`` merged over ``os.environ`` for the block: the SDK reads its CA from there."""
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class PairedDevice:
    """A ``DeviceMqtt`` registered through Pairing, with ``DeviceReliability``, connected."""

    def __init__(self, astarte: Any, persistency_dir: Path) -> None:
        from astarte.device import DeviceMqtt

        from hil.components.astarte import INTERFACES_DIR

        registered = astarte.register_device()
        self.device_id = registered.device_id
        self.topic_prefix = f"{astarte.realm}/{self.device_id}/{INTERFACE}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # paho callback API v1, see pyproject
            self.device = DeviceMqtt(self.device_id, astarte.realm, registered.credentials_secret,
                                     astarte.pairing_base_url, str(persistency_dir))
        self.device.add_interface_from_file(INTERFACES_DIR / f"{INTERFACE}.json")
        connected = threading.Event()
        self.device.set_events_callbacks(on_connected=lambda _device: connected.set())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.device.connect()
        if not connected.wait(15.0):
            raise ServiceError("astarte", "the benchmark device did not connect within 15 s")
        # The realm answers for the interface only once it has handled the introspection.
        if not astarte.wait_for_introspection(self.device_id, INTERFACE, timeout=15.0):
            raise ServiceError("astarte", "the realm never handled the benchmark device's introspection")

    def send_all(self, qos: int, messages: int) -> None:
        path = PATHS[qos]
        for value in range(messages):
            self.device.send(INTERFACE, path, value)

    def close(self) -> None:
        try:
            self.device.disconnect()
        except AttributeError:
            pass  # the SDK's disconnect races its own on_disconnect (see hil.fuzzing.astarte_sdk)


def _values(payloads: list[bytes]) -> set[int]:
    return {int(decode(payload)["v"].value) for payload in payloads}


def _wait_timeout(messages: int) -> float:
    """How long a round waits for its last message: generous, since QoS 0 may lose some."""
    return 10.0 + messages / 200


def _realm_round(astarte: Any, device: PairedDevice, qos: int, messages: int) -> tuple[float, int]:
    """(messages/s, lost) for ``messages`` values sent at ``qos`` into the realm."""
    before = astarte.message_count(device.device_id)
    t0 = time.perf_counter()
    device.send_all(qos, messages)
    arrived = astarte.device_messages(device.device_id, since=before, min_count=messages,
                                      timeout=_wait_timeout(messages))
    elapsed = time.perf_counter() - t0
    topic = f"{device.topic_prefix}{PATHS[qos]}"
    received = _values([bytes.fromhex(m["payload_hex"]) for m in arrived if m["topic"] == topic])
    return len(received) / elapsed, messages - len(received)


class FloorSubscriber:
    """The bare subscriber (:mod:`hil.benchmarks.mqtt_subscriber`), in its own process."""

    def __init__(self, broker: Any, topic: str, log: Path) -> None:
        endpoint, identity = broker.admin_endpoint, broker.admin_identity
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hil.benchmarks.mqtt_subscriber", endpoint.host, str(endpoint.port),
             str(endpoint.ca_path), str(identity.cert_path), str(identity.key_path), topic],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        if self._line() != "ready":
            self.close()
            raise ServiceError("mosquitto", f"the floor's subscriber could not subscribe (log: {log})")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def arm(self, topic: str, count: int, timeout: float) -> None:
        """Count ``count`` messages on ``topic`` from now on; returns once the subscriber listens."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{topic} {count} {timeout}\n")
        self.process.stdin.flush()
        if self._line() != "armed":
            raise ServiceError("mosquitto", "the floor's subscriber stopped")

    def values(self) -> list[int]:
        """The values that arrived since :meth:`arm` (once all did, or its timeout passed)."""
        line = self._line()
        if not line:
            raise ServiceError("mosquitto", "the floor's subscriber stopped")
        return [int(v) for v in json.loads(line)["values"]]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # end of commands: it disconnects and exits
        try:
            self.process.wait(10.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


def _floor_round(subscriber: FloorSubscriber, device: PairedDevice, qos: int, messages: int) -> tuple[float, int]:
    """(messages/s, lost) for ``messages`` values sent at ``qos`` to the bare subscriber."""
    subscriber.arm(f"{device.topic_prefix}{PATHS[qos]}", messages, _wait_timeout(messages))
    t0 = time.perf_counter()
    device.send_all(qos, messages)
    received = set(subscriber.values())
    elapsed = time.perf_counter() - t0
    return len(received) / elapsed, messages - len(received)


def _figures(rates: list[float], lost: list[int]) -> dict[str, Any]:
    return {"median_msgs_per_s": round(statistics.median(rates), 1), "samples": [round(r, 1) for r in rates],
            "lost": sum(lost)}


def measure(rounds: int, messages: int = 1000) -> dict[str, Any]:
    """Alternate realm and floor rounds at QoS 0, 1 and 2; the figures, goal and verdict."""
    if rounds < 1 or messages < 1:
        raise ConfigError("--runs and --messages must be at least 1")
    from hil.targets import SimulatedTarget

    realm_rates: dict[int, list[float]] = {qos: [] for qos in PATHS}
    floor_rates: dict[int, list[float]] = {qos: [] for qos in PATHS}
    realm_lost: dict[int, list[int]] = {qos: [] for qos in PATHS}
    floor_lost: dict[int, list[int]] = {qos: [] for qos in PATHS}
    realm_target, floor_target = SimulatedTarget(), SimulatedTarget()
    devices: list[PairedDevice] = []
    subscriber: FloorSubscriber | None = None
    try:
        astarte = realm_target.component("astarte").client
        floor_astarte = floor_target.component("astarte")
        with trusted(realm_target.pki.trust_environment()):
            devices.append(PairedDevice(astarte, realm_target.run_dir.sub("realm-device")))
            realm_device = devices[-1]
        with trusted(floor_target.pki.trust_environment()):
            devices.append(PairedDevice(floor_astarte.client, floor_target.run_dir.sub("floor-device")))
            floor_device = devices[-1]
            floor_astarte.stop()  # no realm on the floor's broker from here on
            subscriber = FloorSubscriber(floor_target.component("broker").broker, f"{floor_device.topic_prefix}/#",
                                         floor_target.run_dir.sub("floor-subscriber") / "subscriber.log")
            for _ in range(rounds):
                for qos in PATHS:
                    rate, lost = _realm_round(astarte, realm_device, qos, messages)
                    realm_rates[qos].append(rate)
                    realm_lost[qos].append(lost)
                    rate, lost = _floor_round(subscriber, floor_device, qos, messages)
                    floor_rates[qos].append(rate)
                    floor_lost[qos].append(lost)
    finally:
        for device in devices:
            device.close()
        if subscriber is not None:
            subscriber.close()
        floor_target.close()
        realm_target.close()
    per_qos: dict[str, Any] = {}
    for qos, path in PATHS.items():
        realm, floor = _figures(realm_rates[qos], realm_lost[qos]), _figures(floor_rates[qos], floor_lost[qos])
        ratio = round(realm["median_msgs_per_s"] / floor["median_msgs_per_s"], 3)
        per_qos[str(qos)] = {"mapping": f"{INTERFACE}{path}", "realm_path": realm, "floor": floor, "ratio": ratio}
    # QoS 0 may lose messages by definition; QoS 1 and 2 never may, on either side.
    lost_guaranteed = sum(per_qos[q]["realm_path"]["lost"] for q in ("1", "2"))
    meets = all(entry["ratio"] >= GOAL_RATIO for entry in per_qos.values()) and lost_guaranteed == 0
    return {
        "benchmark": "mqtt",
        "what": "messages/s: DeviceMqtt.send -> mTLS mosquitto -> simulated realm (validated, stored), vs the "
        "same SDK -> a broker of the same configuration -> a bare QoS-2 subscriber, per QoS",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": rounds,
        "messages_per_round": messages,
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "versions": {
            "hil": version("hil"),
            "astarte-device-sdk": version("astarte-device-sdk"),
            "paho-mqtt": version("paho-mqtt"),
        },
        "qos": per_qos,
        "lost_guaranteed": lost_guaranteed,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": meets,
    }
