"""The built-in ``sim`` target: harness PKI, a real Mosquitto and the simulators, all on loopback."""

from __future__ import annotations

from typing import Any

from hil.errors import TargetError
from hil.rundir import RunDirectory
from hil.services.readiness import ClientIdentity
from hil.targets.protocols import Capability, DeviceIdentity, FaultInjection, IdentityMint, ScenarioCertificates
from hil.targets.target import Target

__all__ = ["PkiIdentities", "SimulatedTarget"]


class PkiIdentities(IdentityMint, ScenarioCertificates):
    """Device certificates signed by the harness CA (the simulated realm's CA): any device id,
    and the scenario certificates a real CA would never hand out."""

    def __init__(self, pki: Any) -> None:
        self.pki = pki

    def identity(self, realm: str, device_id: str) -> ClientIdentity:
        cert = self.pki.issue_client(f"{realm}/{device_id}")
        return ClientIdentity(cert.cert_path, cert.key_path, self.pki.ca_cert_path, cert.common_name)

    def scenario_identity(self, scenario: str, common_name: str) -> ClientIdentity:
        makers = {
            "expired": self.pki.expired_client,
            "not-yet-valid": self.pki.not_yet_valid_client,
            "foreign-ca": self.pki.foreign_client,
        }
        if scenario not in makers:
            raise TargetError("sim", f"unknown certificate scenario {scenario!r} (one of {sorted(makers)})")
        cert = makers[scenario](common_name)
        return ClientIdentity(cert.cert_path, cert.key_path, self.pki.ca_cert_path, cert.common_name)


_PKI_PROTOCOLS = (DeviceIdentity, IdentityMint, ScenarioCertificates)


class SimulatedTarget(Target):
    """The built-in target: harness PKI, a real Mosquitto and the simulators, all on loopback.

    Components (see :mod:`hil.components`) start on first use and stop, in reverse order,
    at :meth:`close`; each implements the capability protocols it registers as ``provides``.

    Args:
        backend: ``process``, ``container`` or ``auto`` (see :mod:`hil.services.backends`).
    """

    kind = "simulated"

    def __init__(self, name: str = "sim", *, backend: str = "process") -> None:
        self.name = name
        self.description = "hil's simulated servers on loopback"
        self.backend_name = backend
        self._run_dir: RunDirectory | None = None
        self._pki: Any = None
        self._components: dict[str, Any] = {}

    def _provider(self, protocol: type[Capability]) -> str | None:
        from hil.components import registry

        for name, registration in registry().items():
            if protocol in registration.provides:
                return name
        return None

    def offers(self, protocol: type[Capability]) -> bool:
        return protocol in _PKI_PROTOCOLS or protocol is FaultInjection or self._provider(protocol) is not None

    def _implementation(self, protocol: type[Capability]) -> Any:
        if protocol in _PKI_PROTOCOLS:
            return PkiIdentities(self.pki)
        if protocol is FaultInjection:
            from hil.faults.simulated import SimulatedFaults

            return SimulatedFaults(self)
        name = self._provider(protocol)
        assert name is not None
        return self.component(name).provide(protocol)

    @property
    def run_dir(self) -> RunDirectory:
        if self._run_dir is None:
            self._run_dir = RunDirectory()
        return self._run_dir

    @property
    def pki(self) -> Any:
        """The harness PKI of this run (created on first use)."""
        if self._pki is None:
            from hil.pki import HarnessPKI

            self._pki = HarnessPKI(self.run_dir.sub("pki"))
        return self._pki

    def component(self, name: str) -> Any:
        """The started component ``name`` (starting it, and what it requires, if needed).

        For hil's own engine (``hil up``, benchmarks, the simulators' own tests); checks ask for
        a protocol with :meth:`get` instead.
        """
        if name in self._components:
            return self._components[name]
        from hil.components import registry

        registrations = registry()
        if name not in registrations:
            raise TargetError(self.name, f"has no component {name!r} (known: {', '.join(registrations)})")
        registration = registrations[name]
        for dependency in registration.requires:
            self.component(dependency)
        self._components[name] = registration.factory(self)
        return self._components[name]

    def start_all(self) -> None:
        """Start every registered component (what ``hil up`` serves)."""
        from hil.components import registry

        for name in registry():
            self.component(name)

    def broker(self) -> Any:
        """The Mosquitto broker (a :class:`hil.mqtt.broker.MosquittoBroker`)."""
        return self.component("broker").broker

    def services(self) -> list[Any]:
        """The services started so far (their logs are evidence for failing checks)."""
        return [service for comp in self._components.values() for service in comp.services()]

    def device_identity(self, realm: str, device_id: str) -> ClientIdentity:
        return PkiIdentities(self.pki).identity(realm, device_id)

    def scenario_identity(self, scenario: str, common_name: str) -> ClientIdentity:
        return PkiIdentities(self.pki).scenario_identity(scenario, common_name)

    def describe(self) -> list[tuple[str, str]]:
        lines = super().describe()
        if self._pki is not None:
            lines.append(("CA certificate", str(self.pki.ca_cert_path)))
        for comp in self._components.values():
            lines += comp.describe()
        return lines

    def close(self) -> None:
        errors: list[str] = []
        for name in reversed(list(self._components)):
            try:
                self._components.pop(name).stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest; report every failure at the end
                errors.append(f"{name}: {exc}")
        self._components.clear()
        if self._run_dir is not None:
            self._run_dir.remove()
            self._run_dir = None
        self._pki = None
        if errors:
            raise TargetError(self.name, "teardown failed: " + "; ".join(errors))
