"""The fleet coordinator: register N devices, run them as SDK devices, then as the floor, and report.

Both phases run against the same simulated stack (broker with mutual TLS, realm validating every
message) with the same devices: first the real ``DeviceMqtt`` (each pairs through Pairing: its own
credentials secret and certificate), then the floor, one bare paho client per device with the
certificate the SDK obtained, publishing the same session setup and the same payloads. The
devices are spread over :mod:`hil.fleet.worker` processes (``DEVICES_PER_WORKER`` each).

What the realm accepted is read from its message log (recorded once a message is handled), which
a follower thread reads as the fleet sends, since the realm keeps only its latest messages; each
value is a device's message number, so the follower matches it to its send time (realm lag) and
the coordinator counts what never arrived (lost). Every figure of the report comes from there, the
workers' own ``/proc`` readings (memory, CPU) and ``/proc/stat`` (the machine's CPU).
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

from hil.astarte.bsonwire import decode
from hil.benchmarks.startup import machine
from hil.errors import ConfigError, ServiceError
from hil.fleet.worker import INTERFACE, PATH, DeviceSpec, WorkerSpec

__all__ = ["DEVICES_PER_WORKER", "GOAL_RATIO", "Progress", "measure", "measure_locust"]

GOAL_RATIO = 0.8
#: Far below select()'s 1024 descriptors, and few enough threads for one interpreter.
DEVICES_PER_WORKER = 125
REGISTER_THREADS = 8

#: ``(phase, connected, failed, total)``, called as devices connect.
Progress = Callable[[str, int, int, int], None]


def _cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class RealmFollower:
    """Reads the realm's message log as it grows: ``(device, number) -> realm timestamp (ms)``."""

    astarte: Any
    devices: set[str]
    since: int
    arrived: dict[tuple[str, int], int] = field(default_factory=dict)
    missed: int = 0  # messages the realm dropped from its log before we read them
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="fleet-realm-follower", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        suffix = f"/{INTERFACE}{PATH}"
        while not self._stop.is_set():
            first, messages = self.astarte.message_page(since=self.since, min_count=1, timeout=0.5)
            with self._changed:
                self.missed += max(0, first - self.since)
                for message in messages:
                    parts = message["topic"].split("/")
                    if len(parts) > 2 and parts[1] in self.devices and message["topic"].endswith(suffix):
                        number = int(decode(bytes.fromhex(message["payload_hex"]))["v"].value)
                        self.arrived.setdefault((parts[1], number), int(message["timestamp_ms"]))
                self.since = first + len(messages)
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.arrived) >= count, timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


class Worker:
    """One worker process and a thread turning its stdout lines into events on ``events``."""

    def __init__(self, index: int, spec: WorkerSpec, environment: dict[str, str], log: Path,
                 events: queue.Queue[tuple[int, dict[str, Any]]]) -> None:
        self.index = index
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hil.fleet.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env={**os.environ, **environment},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin: IO[bytes] = self.process.stdin
        self.tell({**json.loads(spec.model_dump_json())})
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout, events), daemon=True)
        self._reader.start()

    def _read(self, stdout: IO[bytes], events: queue.Queue[tuple[int, dict[str, Any]]]) -> None:
        for line in stdout:
            events.put((self.index, json.loads(line)))
        events.put((self.index, {"event": "exited", "returncode": self.process.wait()}))

    def tell(self, message: dict[str, Any]) -> None:
        self._stdin.write((json.dumps(message) + "\n").encode())
        self._stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._stdin.close()  # end of commands: the worker disconnects its devices and exits
            except BrokenPipeError:
                pass
            try:
                self.process.wait(15.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5.0)
        self._log.close()


def _register(astarte: Any, count: int) -> list[DeviceSpec]:
    def one(_: int) -> DeviceSpec:
        registered = astarte.register_device()
        return DeviceSpec(device_id=registered.device_id, credentials_secret=registered.credentials_secret)

    with ThreadPoolExecutor(REGISTER_THREADS) as pool:
        return list(pool.map(one, range(count)))


def _phase(kind: str, target: Any, astarte: Any, devices: list[DeviceSpec], rate: float, duration: float,
           persistency: Path, progress: Progress) -> dict[str, Any]:
    """Connect every device as ``kind`` (``sdk`` or ``paho``), send for ``duration`` s, collect."""
    from hil.components.astarte import INTERFACES_DIR

    broker = target.component("broker").broker
    # The devices talk to the harness's servers only: trust its CA alone. The usual bundle (the
    # system's CAs plus the harness CA) is parsed again by every TLS context the SDK creates,
    # three per device, which made that parsing the fleet's largest connect cost.
    environment = {key: str(target.pki.ca_cert_path) for key in target.pki.trust_environment()}
    events: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    slices = [devices[i:i + DEVICES_PER_WORKER] for i in range(0, len(devices), DEVICES_PER_WORKER)]
    logs = target.run_dir.sub(f"fleet-{kind}-logs")
    workers: list[Worker] = []
    connected = failed = 0
    failures: list[str] = []
    ready: dict[int, dict[str, Any]] = {}
    sent: dict[int, dict[str, Any]] = {}
    follower = RealmFollower(astarte, {d.device_id for d in devices}, astarte.message_count())
    follower.start()
    t0 = time.monotonic()
    try:
        for index, part in enumerate(slices):
            spec = WorkerSpec(kind=kind, realm=astarte.realm, pairing_base_url=astarte.pairing_base_url,
                              broker_host=broker.endpoint.host, broker_port=broker.endpoint.port,
                              ca_path=str(target.pki.ca_cert_path), persistency_dir=str(persistency),
                              interface_file=str(INTERFACES_DIR / f"{INTERFACE}.json"), rate=rate, devices=part)
            workers.append(Worker(index, spec, environment, logs / f"worker-{index}.log", events))

        def collect(into: dict[int, dict[str, Any]], name: str, timeout: float) -> None:
            nonlocal connected, failed
            deadline = time.monotonic() + timeout
            while len(into) < len(workers):
                try:
                    index, event = events.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise ServiceError("fleet", f"{len(workers) - len(into)} worker(s) never reported {name!r} "
                                                f"(logs: {logs})") from None
                if event["event"] == "connected":
                    connected += 1
                    progress(kind, connected, failed, len(devices))
                elif event["event"] == "failed":
                    failed += 1
                    failures.append(event["reason"])
                    progress(kind, connected, failed, len(devices))
                elif event["event"] == name:
                    into[index] = event
                elif event["event"] == "exited":
                    raise ServiceError("fleet", f"worker {index} exited with {event['returncode']} (log: "
                                                f"{logs / f'worker-{index}.log'})")

        collect(ready, "ready", 120.0 + len(devices) * 0.5)
        all_connected_s = time.monotonic() - t0
        busy0, total0 = _cpu_busy()
        start = time.time() + 0.5  # every worker starts on the same tick
        for worker in workers:
            worker.tell({"command": "send", "start": start, "duration": duration})
        collect(sent, "sent", duration + 60.0)
        busy1, total1 = _cpu_busy()
        sent_at = {device: times for event in sent.values() for device, times in event["sent"].items()}
        total_sent = sum(len(times) for times in sent_at.values())
        follower.wait_for(total_sent, 10.0 + total_sent / 500)
        for worker in workers:
            worker.tell({"command": "stop"})
    finally:
        for worker in workers:
            worker.close()
        follower.stop()
    lags = [stamp - sent_at[device][number] for (device, number), stamp in follower.arrived.items()
            if device in sent_at and number < len(sent_at[device])]
    received = len(follower.arrived)
    last = max(follower.arrived.values(), default=int(start * 1000))
    accepted_rate = received / max((last - start * 1000) / 1000, duration)
    memory = sum(e["rss_kb"] - e["baseline_rss_kb"] for e in ready.values())
    return {
        "kind": kind,
        "workers": len(workers),
        "connect": {
            "devices": len(devices), "connected": connected, "failed": failed, "failures": failures[:5],
            "time_to_all_connected_s": round(all_connected_s, 2),
            "connect_rate_per_s": round(connected / all_connected_s, 1) if all_connected_s else None,
        },
        "messages": {
            "sent": total_sent, "received": received, "lost": total_sent - received,
            "missed_in_realm_log": follower.missed,
            "accepted_msgs_per_s": round(accepted_rate, 1),
            "offered_msgs_per_s": round(rate * connected, 1),
            "realm_lag_ms": {"p50": _percentile(lags, 0.5), "p99": _percentile(lags, 0.99)} if lags else None,
        },
        "memory": {"per_device_kb": round(memory / max(connected, 1), 1),
                   "workers_rss_kb": sum(e["rss_kb"] for e in ready.values())},
        "cpu": {
            "workers_cpu_s_sending": round(sum(e["cpu_s"] for e in sent.values())
                                           - sum(e["cpu_s"] for e in ready.values()), 2),
            "workers_cpu_s_connecting": round(sum(e["cpu_s"] for e in ready.values()), 2),
            "machine_busy_sending": round((busy1 - busy0) / max(total1 - total0, 1), 3),
        },
    }


def measure(devices: int, rate: float = 1.0, duration: float = 10.0,
            progress: Progress = lambda *_: None, target: Any = None) -> dict[str, Any]:
    """Run the fleet as SDK devices, then as the bare-paho floor; the report, goal and verdict.

    ``target``: a running simulated target to use (a test session's); by default a fresh one,
    started and closed here.
    """
    if devices < 1:
        raise ConfigError("--devices must be at least 1")
    if rate <= 0 or duration <= 0:
        raise ConfigError("--rate and --duration must be positive")
    from hil.targets import SimulatedTarget

    load_before = list(os.getloadavg())
    own = target is None
    target = SimulatedTarget() if target is None else target
    try:
        astarte = target.component("astarte").client
        t0 = time.monotonic()
        specs = _register(astarte, devices)
        register_s = time.monotonic() - t0
        persistency = target.run_dir.sub("fleet-devices")
        sdk = _phase("sdk", target, astarte, specs, rate, duration, persistency, progress)
        floor = _phase("paho", target, astarte, specs, rate, duration, persistency, progress)
        errors = [e for e in astarte.device_errors() if e.get("device_id") in {s.device_id for s in specs}]
    finally:
        if own:
            target.close()
    floor_rate = floor["messages"]["accepted_msgs_per_s"]
    ratio = round(sdk["messages"]["accepted_msgs_per_s"] / floor_rate, 3) if floor_rate else 0.0
    meets = (ratio >= GOAL_RATIO and sdk["messages"]["lost"] == 0
             and sdk["connect"]["connected"] == devices)
    return {
        "benchmark": "fleet",
        "what": "N DeviceMqtt (each paired through Pairing) sending at a rate through mTLS mosquitto into the "
        "validating realm, vs N bare paho clients with the same certificates and payloads",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "devices": devices,
        "rate_per_device": rate,
        "duration_s": duration,
        "devices_per_worker": DEVICES_PER_WORKER,
        "registration_s": round(register_s, 2),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "versions": {
            "hil": version("hil"),
            "astarte-device-sdk": version("astarte-device-sdk"),
            "paho-mqtt": version("paho-mqtt"),
        },
        "sdk": sdk,
        "floor": floor,
        "realm_device_errors": len(errors),
        "ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "goal_devices": 1000,
        # The verdict at this N; the goal also asks for N >= goal_devices.
        "meets_goal": meets,
        "at_goal_scale": devices >= 1000,
    }


def measure_locust(devices: int, rate: float, duration: float, workers: int) -> dict[str, Any]:
    """The fleet as Locust users: one master and ``workers`` workers on loopback (see
    :mod:`hil.fleet.distributed`); ``works`` when every user connected on some worker, every
    worker had users, Locust counted no failure and the realm lost nothing."""
    if devices < 1 or workers < 1:
        raise ConfigError("--devices and --locust-workers must be at least 1")
    if rate <= 0 or duration <= 0:
        raise ConfigError("--rate and --duration must be positive")
    from hil.fleet.distributed import realm_received, run_locust
    from hil.targets import SimulatedTarget

    target = SimulatedTarget()
    try:
        astarte = target.component("astarte").client
        outcome = run_locust(astarte, target.pki.trust_environment(), users=devices, rate=rate, duration=duration,
                             workers=workers, log_dir=target.run_dir.sub("locust"))
        received = realm_received(astarte, sorted(outcome.sent))
    finally:
        target.close()
    sent = sum(outcome.sent.values())
    lost = sum(max(0, count - received.get(device, 0)) for device, count in outcome.sent.items())
    per_worker = [len(ids) for ids in outcome.devices_per_worker]
    return {
        "benchmark": "fleet-locust",
        "what": "DeviceMqtt devices as Locust users: one master and W workers on loopback, into the realm",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "devices": devices, "rate_per_device": rate, "duration_s": duration, "workers": workers,
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "versions": {"hil": version("hil"), "astarte-device-sdk": version("astarte-device-sdk"),
                     "locust": version("locust")},
        "master_returncode": outcome.master_returncode,
        "devices_per_worker": per_worker,
        # Locust's master may print its totals before the workers' last stats report: at most ``sent``.
        "requests": outcome.requests, "failures": outcome.failures,
        "sent": sent, "received": sum(received.values()), "lost": lost,
        "works": (outcome.master_returncode == 0 and sum(per_worker) == devices and all(per_worker)
                  and outcome.failures == 0 and lost == 0 and 0 < outcome.requests <= sent),
    }
