"""hil: a hardware-in-the-loop test and simulation harness for IoT device SDKs.

What a user imports is re-exported here; everything else is reached through its module. The
re-exports load on first use (PEP 562), because every ``python -m hil.simulators.NAME`` process
imports this package first, and a simulator must not pay for pytest, Hypothesis or the SDKs::

    import hil

    hil.load_bench(Path("bench.toml"))        # targets described by a bench file
    hil.validate_interface(document)          # the Astarte specification oracle
    st = hil.strategies.valid_interfaces()    # Hypothesis strategies

Layout: the engine's modules sit at the top (``hil.errors``, ``hil.pki``, ``hil.targets``, ...),
with ``hil.simulators`` (one package per simulated server), ``hil.fixtures`` (the pytest plugin),
``hil.interfaces`` and ``hil.conformance`` (package data: interface files, conformance checks).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it (errors, targets and benches, the oracle, what
# fixtures hand out). ``strategies`` is a module: :mod:`hil.fixtures.strategies`.
_EXPORTS: dict[str, str] = {
    "ConfigError": "hil.errors",
    "HarnessLeak": "hil.errors",
    "HilError": "hil.errors",
    "PKIError": "hil.errors",
    "ReportError": "hil.errors",
    "RequirementError": "hil.errors",
    "ServiceError": "hil.errors",
    "ServiceExited": "hil.errors",
    "StartupTimeout": "hil.errors",
    "TargetError": "hil.errors",
    "Target": "hil.targets",
    "load_bench": "hil.targets",
    "resolve_target": "hil.targets",
    "Interface": "hil.oracle",
    "InvalidInterface": "hil.oracle",
    "judge_device_payload": "hil.oracle",
    "load_interface": "hil.oracle",
    "parse_interface": "hil.oracle",
    "validate_interface": "hil.oracle",
    "AstarteClient": "hil.components.astarte",
    "RegisteredDevice": "hil.components.astarte",
    "ClientIdentity": "hil.services.readiness",
    "HarnessPKI": "hil.pki",
    "MqttSession": "hil.mqtt.client",
}

__all__ = [
    "AstarteClient",
    "ClientIdentity",
    "ConfigError",
    "HarnessLeak",
    "HarnessPKI",
    "HilError",
    "Interface",
    "InvalidInterface",
    "MqttSession",
    "PKIError",
    "RegisteredDevice",
    "ReportError",
    "RequirementError",
    "ServiceError",
    "ServiceExited",
    "StartupTimeout",
    "Target",
    "TargetError",
    "judge_device_payload",
    "load_bench",
    "load_interface",
    "parse_interface",
    "resolve_target",
    "strategies",
    "validate_interface",
]


def __getattr__(name: str) -> Any:
    if name == "strategies":
        return importlib.import_module("hil.fixtures.strategies")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hil' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and IDEs see
    from hil.components.astarte import AstarteClient, RegisteredDevice
    from hil.errors import (
        ConfigError,
        HarnessLeak,
        HilError,
        PKIError,
        ReportError,
        RequirementError,
        ServiceError,
        ServiceExited,
        StartupTimeout,
        TargetError,
    )
    from hil.fixtures import strategies
    from hil.mqtt.client import MqttSession
    from hil.oracle import (
        Interface,
        InvalidInterface,
        judge_device_payload,
        load_interface,
        parse_interface,
        validate_interface,
    )
    from hil.pki import HarnessPKI
    from hil.services.readiness import ClientIdentity
    from hil.targets import Target, load_bench, resolve_target
