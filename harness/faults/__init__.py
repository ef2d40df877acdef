"""Faults: servers and networks that misbehave on purpose.

* :mod:`harness.faults.toxics` the vocabulary (Toxiproxy's toxics) and its validation;
* :mod:`harness.faults.proxy` hil's fault proxy, speaking Toxiproxy's HTTP API;
* :mod:`harness.faults.client` a client of that API (hil's proxy or a real Toxiproxy);
* :mod:`harness.faults.steps` the declarative steps a check uses (``with faults.latency(...)``).
"""

from harness.faults.client import ToxiproxyClient
from harness.faults.proxy import FaultProxyServer
from harness.faults.steps import AppliedStep, Faults, ServiceControl, StepRecord

__all__ = ["AppliedStep", "FaultProxyServer", "Faults", "ServiceControl", "StepRecord", "ToxiproxyClient"]
