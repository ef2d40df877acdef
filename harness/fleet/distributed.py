"""One Locust master and W Locust workers on loopback, running :mod:`hil.fleet.locustfile`.

This is the fleet's path beyond one machine, proven here on one: the same commands run the
workers on other machines (``--master-host``). Locust is never imported in this process (it
monkey-patches the standard library with gevent on import); it runs as ``python -m locust``.

What the realm received is read from the realm; Locust's own figures are its request counts
(one per ``DeviceMqtt.send``) and the users' log lines, which name each device and what it sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.errors import ServiceError
from hil.fleet.worker import INTERFACE, PATH
from hil.services.ports import pick_free_port

__all__ = ["LOCUSTFILE", "LocustRun", "locust_environment", "realm_received", "run_locust"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_CONNECTED = re.compile(r"hil fleet device connected: (\S+)")
_SENT = re.compile(r"hil fleet device sent (\d+): (\S+)")


def locust_environment(astarte: Any, trust: dict[str, str], rate: float) -> dict[str, str]:
    """What :mod:`hil.fleet.locustfile` reads (see there): the realm, its JWT, the CA, the rate."""
    return {
        **trust,
        "HIL_FLEET_ASTARTE_URL": astarte.base_url,
        "HIL_FLEET_REALM": astarte.realm,
        "HIL_FLEET_TOKEN": astarte.token,
        "HIL_FLEET_CA": str(astarte.ca_path),
        "HIL_FLEET_RATE": repr(rate),
    }


@dataclass(frozen=True)
class LocustRun:
    """What one master/worker run did: Locust's request counts, and per worker its devices."""

    master_returncode: int
    requests: int
    failures: int
    devices_per_worker: list[list[str]]
    sent: dict[str, int]  # device id -> values its user sent (from the users' own log lines)


def run_locust(astarte: Any, trust: dict[str, str], *, users: int, rate: float, duration: float,
               workers: int, log_dir: Path, connect_allowance: float = 10.0) -> LocustRun:
    """Run the master and ``workers`` workers for ``connect_allowance + duration`` seconds.

    Locust counts its run time from the start of spawning, and a user pairs and connects in its
    ``on_start``: the allowance is the time the users have for that before ``duration`` counts.
    """
    port = pick_free_port()
    environment = {**os.environ, **locust_environment(astarte, trust, rate)}
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    log_dir.mkdir(parents=True, exist_ok=True)
    logs = [(log_dir / f"locust-worker-{i}.log").open("wb") for i in range(workers)]
    master_log = (log_dir / "locust-master.log").open("wb")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        master = subprocess.Popen(
            [*base, "--master", "--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(workers), "--users", str(users), "--spawn-rate", str(users),
             "--run-time", f"{connect_allowance + duration:g}s", "--stop-timeout", "30", "--json"],
            stdout=subprocess.PIPE, stderr=master_log, env=environment,
        )
        processes.append(master)
        for log in logs:
            processes.append(subprocess.Popen(
                [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                stdout=subprocess.DEVNULL, stderr=log, env=environment,
            ))
        try:
            stdout, _ = master.communicate(timeout=duration + 120.0)
        except subprocess.TimeoutExpired:
            raise ServiceError("locust", f"the Locust master did not finish (logs: {log_dir})") from None
        for worker in processes[1:]:
            worker.wait(30.0)  # a worker quits when its master does
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in (*logs, master_log):
            log.close()
    stats = json.loads(stdout or b"[]")
    sends = [entry for entry in stats if entry.get("name") == "DeviceMqtt.send"]
    per_worker: list[list[str]] = []
    sent: dict[str, int] = {}
    for i in range(workers):
        text = (log_dir / f"locust-worker-{i}.log").read_text(errors="replace")
        per_worker.append(_CONNECTED.findall(text))
        sent.update({device: int(count) for count, device in _SENT.findall(text)})
    return LocustRun(
        master_returncode=master.returncode,
        requests=sum(int(entry.get("num_requests", 0)) for entry in sends),
        failures=sum(int(entry.get("num_failures", 0)) for entry in sends),
        devices_per_worker=per_worker,
        sent=sent,
    )


def realm_received(astarte: Any, device_ids: list[str]) -> dict[str, int]:
    """Distinct values the realm stored on the fleet's mapping, per device."""
    from hil.astarte.bsonwire import decode

    suffix = f"/{INTERFACE}{PATH}"
    received: dict[str, int] = {}
    for device_id in device_ids:
        messages = astarte.device_messages(device_id)
        values = {int(decode(bytes.fromhex(m["payload_hex"]))["v"].value) for m in messages
                  if m["topic"].endswith(suffix)}
        received[device_id] = len(values)
    return received
