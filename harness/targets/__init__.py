"""Targets: what the checks run against, simulated (built in) or physical (from a bench file).

A check never asks "is this the simulator?"; it asks the target for a capability protocol
(:mod:`hil.targets.protocols`), ``target.get(AppEngine)``, and skips with the reason when
the target lacks it. So the same check runs on the built-in ``sim`` target and on a bench.

* :mod:`~hil.targets.protocols`: one ABC per capability, simulator-only ones kept apart;
* :mod:`~hil.targets.target`: the :class:`Target` base (``get``, ``offers``, ``probe``);
* :mod:`~hil.targets.simulated`: the built-in target and its components;
* :mod:`~hil.targets.physical`: real-server adapters built from a bench file;
* :mod:`~hil.targets.bench`: the bench file format, its JSON Schema and its loader.

Names are loaded on first use: :mod:`hil.mqtt.broker` implements protocols of this package, and
loading the bench machinery here eagerly would import it back while it is half-initialised.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.targets.bench import BUILTIN_TARGETS, load_bench, resolve_target
    from hil.targets.physical import PhysicalTarget
    from hil.targets.simulated import SimulatedTarget
    from hil.targets.target import Probe, Target

__all__ = ["BUILTIN_TARGETS", "PhysicalTarget", "Probe", "SimulatedTarget", "Target", "load_bench", "resolve_target"]

_HOMES = {
    "BUILTIN_TARGETS": "hil.targets.bench",
    "load_bench": "hil.targets.bench",
    "resolve_target": "hil.targets.bench",
    "PhysicalTarget": "hil.targets.physical",
    "SimulatedTarget": "hil.targets.simulated",
    "Probe": "hil.targets.target",
    "Target": "hil.targets.target",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'hil.targets' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
