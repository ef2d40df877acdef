"""One fleet worker process: a slice of the devices, driven over stdin/stdout in JSON lines.

``python -m hil.fleet.worker`` reads its :class:`WorkerSpec` as the first line of stdin (the
credentials secrets travel there, never in argv), connects every device of its slice, and then
obeys the coordinator line by line::

    -> {"event": "connected", "device": "<id>"}      one per device (progress)
    -> {"event": "failed", "device": "<id>", "reason": "..."}
    -> {"event": "ready", "rss_kb": N, "baseline_rss_kb": N, "cpu_s": F}
    <- {"command": "send", "start": <epoch s>, "duration": S}
    -> {"event": "sent", "sent": {"<id>": [<send time, epoch ms>, ...]}, "cpu_s": F}
    <- {"command": "stop"}
    -> {"event": "done", "cpu_s": F}

Two kinds of device, with the same certificates and payloads:

* ``sdk``: the real ``astarte_device_sdk.DeviceMqtt`` (it pairs: certificate and broker URL from
  Pairing, then introspection and its session setup), sending with ``send()``.
* ``paho``: the floor, a bare paho client per device with the certificate the SDK obtained,
  which publishes the same session setup (introspection, ``control/emptyCache``) and then the
  same BSON values on the same topic at the same QoS.

The value sent is the device's message number (0, 1, ...), so the coordinator can tell each
message apart in the realm's log and match it to its send time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["INTERFACE", "PATH", "DeviceSpec", "WorkerSpec", "main"]

INTERFACE = "org.hil.test.DeviceReliability"
PATH = "/guaranteed"  # reliability guaranteed: QoS 1, so nothing may be lost
INTERFACE_VERSION = "0:1"
CONNECT_THREADS = 4  # pairing is blocking HTTP: overlap a few devices' round trips


class DeviceSpec(BaseModel):
    device_id: str
    credentials_secret: str


class WorkerSpec(BaseModel):
    kind: str  # "sdk" or "paho"
    realm: str
    pairing_base_url: str
    broker_host: str
    broker_port: int
    ca_path: str
    persistency_dir: str
    interface_file: str
    rate: float  # messages/s per device
    devices: list[DeviceSpec]


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_s() -> float:
    times = os.times()
    return round(times.user + times.system, 3)


class SdkDevice:
    """A ``DeviceMqtt`` connected through Pairing; ``ready`` once the SDK reported the session."""

    def __init__(self, spec: WorkerSpec, device: DeviceSpec) -> None:
        from astarte.device import DeviceMqtt

        self.device_id = device.device_id
        self.ready = threading.Event()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # paho callback API v1
            self.device = DeviceMqtt(device.device_id, spec.realm, device.credentials_secret,
                                     spec.pairing_base_url, spec.persistency_dir)
        self.device.add_interface_from_file(Path(spec.interface_file))
        self.device.set_events_callbacks(on_connected=lambda _device: self.ready.set())

    def connect(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.device.connect()

    def send(self, value: int) -> None:
        self.device.send(INTERFACE, PATH, value)

    def close(self) -> None:
        try:
            self.device.disconnect()
        except AttributeError:
            pass  # DeviceMqtt.disconnect races its own on_disconnect (see hil.fuzzing.astarte_sdk)


class PahoDevice:
    """The floor: a bare paho client with the SDK's certificate, the SDK's session setup and payloads."""

    def __init__(self, spec: WorkerSpec, device: DeviceSpec) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.device_id = device.device_id
        self.ready = threading.Event()
        self.spec = spec
        self.base = f"{spec.realm}/{device.device_id}"
        crypto = Path(spec.persistency_dir) / device.device_id / "crypto"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.tls_set(ca_certs=spec.ca_path, certfile=str(crypto / "device.crt"),
                            keyfile=str(crypto / "device.key"))
        self.client.on_connect = self._on_connect

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            return
        client.publish(self.base, f"{INTERFACE}:{INTERFACE_VERSION}".encode(), qos=2)
        client.publish(f"{self.base}/control/emptyCache", b"1", qos=2)
        self.ready.set()

    def connect(self) -> None:
        self.client.connect_async(self.spec.broker_host, self.spec.broker_port)
        self.client.loop_start()

    def send(self, value: int) -> None:
        from hil.astarte.bsonwire import BsonValue, encode

        self.client.publish(f"{self.base}/{INTERFACE}{PATH}", encode({"v": BsonValue.int32(value)}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _connect_all(spec: WorkerSpec) -> list[SdkDevice | PahoDevice]:
    devices: list[SdkDevice | PahoDevice] = [
        SdkDevice(spec, d) if spec.kind == "sdk" else PahoDevice(spec, d) for d in spec.devices
    ]

    def connect(device: SdkDevice | PahoDevice) -> None:
        try:
            device.connect()
        except Exception as exc:  # noqa: BLE001 - reported per device; the fleet goes on
            _emit({"event": "failed", "device": device.device_id, "reason": f"{type(exc).__name__}: {exc}"[:300]})
            return
        if device.ready.wait(60.0):
            _emit({"event": "connected", "device": device.device_id})
        else:
            _emit({"event": "failed", "device": device.device_id, "reason": "no session within 60 s"})

    with ThreadPoolExecutor(CONNECT_THREADS) as pool:
        list(pool.map(connect, devices))
    return [d for d in devices if d.ready.is_set()]


def _send(devices: list[SdkDevice | PahoDevice], rate: float, start: float, duration: float) -> dict[str, list[int]]:
    """Each device sends ``rate`` messages/s from ``start`` for ``duration`` s, the sends of all
    devices spread evenly over each period (a load generator paces by the clock)."""
    sent: dict[str, list[int]] = {d.device_id: [] for d in devices}
    if not devices:
        return sent
    step = 1.0 / (rate * len(devices))
    end = start + duration
    due = start
    index = 0
    while due < end:
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        device = devices[index]
        log = sent[device.device_id]
        sent_at = time.time()
        device.send(len(log))
        log.append(int(sent_at * 1000))
        index = (index + 1) % len(devices)
        due += step
    return sent


def main() -> int:
    spec = WorkerSpec.model_validate_json(sys.stdin.readline())
    # Memory per device is what devices add, not the interpreter and the libraries.
    import astarte.device  # noqa: F401
    import paho.mqtt.client  # noqa: F401

    import hil.astarte.bsonwire  # noqa: F401

    baseline = _rss_kb()
    devices = _connect_all(spec)
    _emit({"event": "ready", "rss_kb": _rss_kb(), "baseline_rss_kb": baseline, "cpu_s": _cpu_s(),
           "connected": len(devices)})
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["command"] == "send":
                sent = _send(devices, spec.rate, float(command["start"]), float(command["duration"]))
                _emit({"event": "sent", "sent": sent, "cpu_s": _cpu_s(), "rss_kb": _rss_kb()})
            elif command["command"] == "stop":
                break
    finally:
        for device in devices:
            device.close()
    _emit({"event": "done", "cpu_s": _cpu_s()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
