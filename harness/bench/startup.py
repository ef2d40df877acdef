"""``hil bench startup``: nothing -> broker ready over mutual TLS, hil's Service vs the floor.

Both sides use the same certificates and the same configuration; runs alternate (hil, floor,
hil, ...) so that machine noise hits both alike. Certificate issuance is outside the timing:
it is the PKI's cost, paid once per run, not the service lifecycle's.
"""

from __future__ import annotations

import json
import os
import platform
import re
import ssl
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from hil.benchmarks.floor_mosquitto import start_floor
from hil.mqtt.broker import MosquittoBroker, mosquitto_binary
from hil.errors import ConfigError, ReportError, describe_os_error
from hil.pki import HarnessPKI
from hil.rundir import RunDirectory
from hil.services.ports import pick_free_port
from hil.services.process import ProcessBackend

GOAL_RATIO = 1.5


@dataclass(frozen=True)
class Figures:
    median_ms: float
    p90_ms: float
    min_ms: float
    max_ms: float
    samples_ms: list[float]

    @classmethod
    def of(cls, seconds: list[float]) -> Figures:
        ms = sorted(round(s * 1000, 3) for s in seconds)
        p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
        return cls(round(statistics.median(ms), 3), p90, ms[0], ms[-1], ms)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "system": platform.system(),
        "python": platform.python_version(),
    }


def measure(runs: int) -> dict[str, Any]:
    binary = mosquitto_binary()
    if binary is None:
        raise ConfigError("mosquitto is not installed (run scripts/setup)")
    hil_times: list[float] = []
    floor_times: list[float] = []
    with RunDirectory(prefix="hil-bench-") as run_dir:
        pki = HarnessPKI(run_dir.sub("pki"))
        for i in range(runs):
            # hil: a fresh Service each time, from config to readiness (log line + mTLS CONNACK).
            broker = MosquittoBroker(pki, ProcessBackend(run_dir.sub(f"hil-{i}")))
            t0 = time.perf_counter()
            broker.start()
            hil_times.append(time.perf_counter() - t0)
            broker.stop()
            # floor: the same config, a bare Popen and a connect loop.
            floor_dir = run_dir.sub(f"floor-{i}")
            ports = {"mqtts": pick_free_port(), "mqtts-admin": pick_free_port()}
            acl = floor_dir / "acl"
            acl.write_text(broker.acl_text())
            config = broker.config_text(ports, acl)
            probes = [
                (ports["mqtts-admin"], broker.admin_identity.ssl_context()),
                (ports["mqtts"], broker.probe_identity.ssl_context()),
            ]
            seconds, proc = start_floor(binary, config, floor_dir / "mosquitto.conf", probes)
            floor_times.append(seconds)
            proc.terminate()
            proc.wait(5)
    hil, floor = Figures.of(hil_times), Figures.of(floor_times)
    ratio = round(hil.median_ms / floor.median_ms, 3)
    mosquitto_version = re.search(r"version (\S+)", subprocess.run([binary, "-h"], capture_output=True, text=True).stdout)
    return {
        "benchmark": "startup",
        "what": "nothing -> mosquitto ready over mutual TLS (successful CONNACK); hil Service vs bare script",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "machine": machine(),
        "versions": {
            "hil": version("hil"),
            "mosquitto": mosquitto_version.group(1) if mosquitto_version else "unknown",
            "paho-mqtt": version("paho-mqtt"),
            "openssl": ssl.OPENSSL_VERSION,
        },
        "hil": asdict(hil),
        "floor": asdict(floor),
        "ratio_median": ratio,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio <= GOAL_RATIO,
    }


def check_output(directory: Path) -> None:
    """Make sure results can be saved in ``directory`` (``--output``), before measuring anything.

    A benchmark runs for minutes; finding out only at the end that its figures cannot be written
    loses them. The directory is created if missing and a probe file is written and removed:
    permission bits alone do not tell (root, read-only mounts, ACLs).
    """
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a directory", source="--output")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        where = None if exc.filename else str(directory)
        raise ConfigError(f"cannot write results: {describe_os_error(exc, where)}", source="--output") from None


def save(result: dict[str, Any], directory: Path) -> Path:
    """Write ``result`` as JSON in ``directory``; the path written, or one :class:`ReportError` line."""
    stamp = result["timestamp"].replace(":", "").replace("-", "").replace("+0000", "Z")
    path = directory / f"{result['benchmark']}-{stamp}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as exc:
        raise ReportError(f"cannot save the {result['benchmark']} results: {describe_os_error(exc)}") from None
    return path
