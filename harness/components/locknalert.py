"""The LocknAlert component: a password-authenticated Mosquitto and the bridge emulator.

The bridge's broker is its own service (:class:`hil.mqtt.password_broker.PasswordBroker`), not the
Astarte broker, which stays mutual-TLS only. The emulator runs as ``python -m
hil.simulators.locknalert`` on two harness-picked ports: ``https`` (the bridge API, self-signed like a
real bridge) and ``control`` (its ``/_sim`` routes, loopback). The broker admin password reaches
it through the environment, never the command line.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hil.locknalert.control import EmulatorBridgeControl
from hil.components import component
from hil.locknalert.bridge import LocknAlertBridge
from hil.mqtt.password_broker import PasswordBroker
from hil.targets.protocols import LocknAlertBridgeAccess, LocknAlertEmulator as LocknAlertEmulatorProtocol
from hil.services.backends import Backend, make_backend
from hil.services.base import Service, ServiceSpec
from hil.services.images import SIMULATORS_IMAGE
from hil.services.readiness import AllOf, HttpStatus, LogLine

if TYPE_CHECKING:
    from hil.targets import SimulatedTarget

__all__ = ["EMULATOR_READY", "LocknAlertComponent", "LocknAlertEmulator", "start_locknalert"]

EMULATOR_READY = r"^locknalert emulator listening on https://"
PASSWORD_VARIABLE = "HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD"


class LocknAlertEmulator:
    """One emulator process bound to ``broker``.

    Args:
        broker: a started :class:`PasswordBroker`.
        backend: runs the process (process backend).
        name: service name; several emulators (different serials) may share one broker.
        serial: the bridge's serial number (random ``LNA-SIM-XXXXXX`` by default).
        extra_args: more emulator options (e.g. ``["--head-timeout", "1"]``).
    """

    def __init__(self, broker: PasswordBroker, backend: Backend, *, name: str = "locknalert",
                 serial: str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.broker = broker
        self.serial = serial or f"LNA-SIM-{secrets.token_hex(3).upper()}"

        def command(ports: Mapping[str, int], workdir: Path) -> list[str]:
            return [
                sys.executable, "-m", "hil.simulators.locknalert",
                "--host", "127.0.0.1", "--port", str(ports["https"]), "--control-port", str(ports["control"]),
                "--serial", self.serial, "--state-dir", str(workdir / "state"),
                "--broker-host", broker.endpoint.host, "--broker-port", str(broker.endpoint.port),
                "--broker-tls-port", str(broker.tls_endpoint.port), "--broker-admin", broker.admin.username,
                *extra_args,
            ]

        self.service: Service = backend.create(ServiceSpec(
            name=name, command=command, ports=("https", "control"),
            env={PASSWORD_VARIABLE: broker.admin.password}, image=SIMULATORS_IMAGE,
        ))

    @staticmethod
    def readiness() -> AllOf:
        return AllOf(LogLine(EMULATOR_READY), HttpStatus("control", "/_sim/health", 200))

    def start(self, *, timeout: float = 20.0) -> None:
        self.service.start(self.readiness(), timeout=timeout)

    def restart(self, *, timeout: float = 20.0) -> None:
        """A power cycle: same ports, same state directory (pairing and certificate survive)."""
        self.service.restart(self.readiness(), timeout=timeout)

    def stop(self) -> None:
        self.service.stop()

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.service.port('control')}"

    def bridge(self) -> LocknAlertBridge:
        control = EmulatorBridgeControl(self.control_url, restart_broker=self.broker.restart)
        return LocknAlertBridge(self.service.host, self.service.port("https"), self.serial, control,
                                self.broker.ca_path)


class LocknAlertComponent(LocknAlertBridgeAccess, LocknAlertEmulatorProtocol):
    def __init__(self, broker: PasswordBroker, emulator: LocknAlertEmulator) -> None:
        self.broker = broker
        self.emulator = emulator
        self._bridge = emulator.bridge()

    def bridge(self) -> LocknAlertBridge:
        return self._bridge

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("LocknAlert bridge API (HTTPS, self-signed)", self._bridge.url),
            ("LocknAlert bridge serial number", self._bridge.serial),
            ("LocknAlert: press the pairing button",
             f"curl -X POST {self.emulator.control_url}/_sim/window/open -d '{{}}'"),
            ("LocknAlert: then bootstrap",
             f"curl -k -X POST {self._bridge.url}/api/mqtt/bootstrap -H 'Content-Type: application/json' "
             f"-d '{{\"serial_number\": \"{self._bridge.serial}\"}}'"),
            ("LocknAlert control API", f"{self.emulator.control_url}/_sim/state"),
            ("LocknAlert MQTT broker (password)", self.broker.endpoint.url),
            ("LocknAlert MQTT broker (TLS, password)", self.broker.tls_endpoint.url),
            ("LocknAlert emulator log", str(self.emulator.service.log_path)),
        ]

    def services(self) -> list[Service]:
        return [self.emulator.service, self.broker.service]

    def provide(self, protocol: type) -> LocknAlertComponent:
        return self

    def stop(self) -> None:
        try:
            self.emulator.stop()
        finally:
            self.broker.stop()


@component("locknalert", provides=(LocknAlertBridgeAccess, LocknAlertEmulatorProtocol))
def start_locknalert(target: SimulatedTarget) -> LocknAlertComponent:
    backend = make_backend(target.backend_name, target.run_dir.sub("services"))
    broker = PasswordBroker(target.pki, backend)
    broker.start()
    emulator = LocknAlertEmulator(broker, backend)
    try:
        emulator.start()
    except BaseException:
        broker.stop()
        raise
    return LocknAlertComponent(broker, emulator)
