"""``hil benchmark startup --backend container``: the simulated stack ready, containers vs processes.

Each run starts the whole simulated target (``SimulatedTarget.start_all``: both brokers and
every simulator, each until its readiness check passed) once through containers and once as
processes, alternating, so machine noise hits both alike. What containers cost once, and not
per stack, is measured apart and left out of the ratio: getting an engine (a private
``dockerd`` start, when hil has to start one) and making sure hil's images exist (a build from
scratch on a fresh machine, a look-up afterwards).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from hil.benchmarks.startup import Figures, machine
from hil.services.engine import lease_engine
from hil.services.images import BROKER_IMAGE, SIMULATORS_IMAGE, resolve_image
from hil.targets import SimulatedTarget

GOAL_RATIO = 3.0


def _stack_ready(backend: str) -> float:
    target = SimulatedTarget(backend=backend)
    try:
        started = time.perf_counter()
        target.start_all()
        return time.perf_counter() - started
    finally:
        target.close()


def measure(runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    lease = lease_engine()  # held for the whole benchmark: one engine start, not one per stack
    try:
        engine_s = time.perf_counter() - started
        started = time.perf_counter()
        images = [resolve_image(name, lease.engine) for name in (BROKER_IMAGE, SIMULATORS_IMAGE)]
        images_s = time.perf_counter() - started
        process_times: list[float] = []
        container_times: list[float] = []
        for _ in range(runs):
            process_times.append(_stack_ready("process"))
            container_times.append(_stack_ready("container"))
    finally:
        lease.release()
    process, container = Figures.of(process_times), Figures.of(container_times)
    ratio = round(container.median_ms / process.median_ms, 3)
    return {
        "benchmark": "startup-container",
        "what": "nothing -> whole simulated stack ready (start_all); container backend vs process backend",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "machine": machine(),
        "versions": {"hil": version("hil"), "testcontainers": version("testcontainers"), "docker-py": version("docker")},
        "engine": {"origin": lease.engine.origin, "url": lease.engine.url, "ready_s": round(engine_s, 3)},
        "images": {"tags": images, "ready_s": round(images_s, 3)},
        "process": asdict(process),
        "container": asdict(container),
        "ratio_median": ratio,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio <= GOAL_RATIO,
    }
