"""Faults: servers and networks that misbehave on purpose.

* :mod:`hil.faults.toxics` the vocabulary (Toxiproxy's toxics) and its validation;
* :mod:`hil.faults.proxy` hil's fault proxy, speaking Toxiproxy's HTTP API;
* :mod:`hil.faults.client` a client of that API (hil's proxy or a real Toxiproxy);
* :mod:`hil.faults.steps` the declarative steps a check uses (``with faults.latency(...)``).
"""

from hil.faults.client import ToxiproxyClient
from hil.faults.proxy import FaultProxyServer
from hil.faults.steps import AppliedStep, Faults, ServiceControl, StepRecord

__all__ = ["AppliedStep", "FaultProxyServer", "Faults", "ServiceControl", "StepRecord", "ToxiproxyClient"]
