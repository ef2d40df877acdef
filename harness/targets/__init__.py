"""Targets: what the checks run against, simulated (built in) or physical (from a bench file).

A check never asks "is this the simulator?"; it asks the target for a capability protocol
(:mod:`harness.targets.protocols`), ``target.get(AppEngine)``, and skips with the reason when
the target lacks it. So the same check runs on the built-in ``sim`` target and on a bench.

* :mod:`~harness.targets.protocols`: one ABC per capability, simulator-only ones kept apart;
* :mod:`~harness.targets.target`: the :class:`Target` base (``get``, ``offers``, ``probe``);
* :mod:`~harness.targets.simulated`: the built-in target and its components;
* :mod:`~harness.targets.physical`: real-server adapters built from a bench file;
* :mod:`~harness.targets.bench`: the bench file format, its JSON Schema and its loader.

Names are loaded on first use: :mod:`harness.broker` implements protocols of this package, and
loading the bench machinery here eagerly would import it back while it is half-initialised.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.targets.bench import BUILTIN_TARGETS, load_bench, resolve_target
    from harness.targets.physical import PhysicalTarget
    from harness.targets.simulated import SimulatedTarget
    from harness.targets.target import Probe, Target

__all__ = ["BUILTIN_TARGETS", "PhysicalTarget", "Probe", "SimulatedTarget", "Target", "load_bench", "resolve_target"]

_HOMES = {
    "BUILTIN_TARGETS": "harness.targets.bench",
    "load_bench": "harness.targets.bench",
    "resolve_target": "harness.targets.bench",
    "PhysicalTarget": "harness.targets.physical",
    "SimulatedTarget": "harness.targets.simulated",
    "Probe": "harness.targets.target",
    "Target": "harness.targets.target",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'harness.targets' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
