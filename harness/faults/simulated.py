"""Fault injection on the simulated target (:class:`~hil.targets.protocols.FaultInjection`).

What the ``faults`` fixture needs of the simulated stack, in one place: the address a proxy in
front of a service forwards to, the service steps (restart, stop, start keep the service's ports,
so a proxy or an SDK pointed at it finds it again; pause freezes the process with SIGSTOP), each
simulator's response injector, and the simulated Pairing's clock.
"""

from __future__ import annotations

import os
import signal
import ssl
from typing import TYPE_CHECKING, Any

import httpx

from hil.errors import FaultError
from hil.faults.responses import ResponseInjector
from hil.targets.protocols import FaultInjection

if TYPE_CHECKING:
    from hil.targets.simulated import SimulatedTarget

__all__ = ["PROXIED", "SimulatedFaults", "SimulatedServices"]

PROXIED = {"pairing": "astarte", "astarte": "astarte", "broker": "broker"}
"""Services a fault proxy can stand in front of, and the component that serves each."""


class SimulatedServices:
    """Service steps on the simulated target (a :class:`hil.faults.steps.ServiceControl`)."""

    def __init__(self, target: SimulatedTarget) -> None:
        self.target = target

    def _service(self, name: str) -> Any:
        component = self.target.component(PROXIED.get(name, name))
        return component.broker.service if hasattr(component, "broker") else component.service

    def restart(self, service: str) -> None:
        if service == "broker":
            self.target.broker().restart()
            return
        raise FaultError(f"restarting {service!r} would lose its state; only the broker restarts under a check")

    def stop(self, service: str) -> None:
        if service != "broker":
            raise FaultError(f"stopping {service!r} would lose its state; use faults.down({service!r})")
        self.target.broker().service.stop()

    def start(self, service: str) -> None:
        broker = self.target.broker()
        broker.service.restart(broker.readiness())  # restart keeps the ports; start would pick new ones

    def pause(self, service: str) -> None:
        self._signal(service, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        self._signal(service, signal.SIGCONT)

    def _signal(self, service: str, sig: signal.Signals) -> None:
        pid = getattr(self._service(service), "pid", None)
        if pid is None:
            raise FaultError(f"{service!r} runs where hil cannot pause it (not a local process)")
        os.kill(pid, sig)


class SimulatedFaults(FaultInjection):
    def __init__(self, target: SimulatedTarget) -> None:
        self.target = target

    def upstream(self, service: str) -> str:
        if PROXIED.get(service) == "astarte":
            return f"127.0.0.1:{self.target.component('astarte').service.port('https')}"
        if service == "broker":
            endpoint = self.target.broker().endpoint
            return f"{endpoint.host}:{endpoint.port}"
        raise FaultError(f"no fault proxy can be put in front of {service!r} (can: {', '.join(sorted(PROXIED))})")

    def service_control(self) -> SimulatedServices:
        return SimulatedServices(self.target)

    def response_injector(self, service: str) -> ResponseInjector:
        if PROXIED.get(service) == "astarte":
            astarte = self.target.component("astarte").client
            return ResponseInjector(f"{astarte.control_url}/responses", astarte.ca_path)
        if service == "destiny":
            return ResponseInjector(f"{self.target.component('destiny').base_url}/_sim/responses")
        raise FaultError(f"no response injection on {service!r} (can: pairing, astarte, destiny)")

    def move_clock(self, service: str, seconds: float) -> None:
        if PROXIED.get(service) != "astarte":
            raise FaultError(f"no controllable clock on {service!r} here (clocks: pairing)")
        astarte = self.target.component("astarte").client
        with httpx.Client(verify=ssl.create_default_context(cafile=str(astarte.ca_path)), timeout=10) as http:
            answer = http.post(f"{astarte.control_url}/clock/advance", json={"seconds": seconds})
        if answer.status_code != 200:
            raise FaultError(f"the {service} clock refused to move: {answer.status_code} {answer.text[:200]}")
