"""Targets: what the checks run against, simulated (built in) or physical (from a bench file).

A check never asks "is this the simulator?"; it asks the target for a capability (a broker, an
admin identity, the power to mint scenario certificates) and skips with the reason when the
target lacks it. So the same check runs on the built-in ``sim`` target and on a bench.

Bench file (TOML), paths relative to the file::

    [targets.lab]
    kind = "physical"
    description = "Astarte on the lab rack"

    [targets.lab.broker]
    host = "broker.lab.example"
    port = 8883
    ca_file = "lab-ca.pem"
    server_hostname = "broker.lab.example"   # optional, defaults to host

    [targets.lab.device]                      # a device already paired with the real realm
    realm = "lab"
    device_id = "x0Ub6tqSQLK4bmVxeFKTwQ"
    cert_file = "device.crt"
    key_file = "device.key"

    [targets.lab.locknalert]                  # a physical LocknAlert bridge; an operator presses
    host = "192.0.2.10"                       # its buttons when a check asks (on the terminal)
    port = 443
    serial = "LNA-0001234"
    mqtt_ca_file = "bridge-broker-ca.pem"     # optional: for the TLS MQTT checks
"""

from __future__ import annotations

import difflib
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.mqtt.broker import Broker, BrokerEndpoint, MosquittoBroker
from hil.errors import ConfigError, TargetError
from hil.rundir import RunDirectory
from hil.services.readiness import ClientIdentity

__all__ = [
    "BUILTIN_TARGETS",
    "Capability",
    "PhysicalTarget",
    "SimulatedTarget",
    "Target",
    "load_bench",
    "resolve_target",
]


class Capability:
    """Names of what a target can offer; checks declare what they need with these."""

    BROKER = "broker"  # a broker to connect to with mutual TLS
    BROKER_ADMIN = "broker.admin"  # an identity that sees every topic (server side)
    DEVICE_IDENTITY = "device.identity"  # at least one device identity valid on the broker
    MINT_IDENTITIES = "pki.mint"  # any number of device identities, for any device id
    SCENARIO_CERTIFICATES = "pki.scenarios"  # expired / not yet valid / foreign-CA client certs


class Target(ABC):
    """A system under observation. Created lazily, closed once at the end of the run."""

    name: str
    kind: str
    description: str

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]: ...

    def require(self, *capabilities: str) -> None:
        missing = sorted(set(capabilities) - self.capabilities)
        if missing:
            raise TargetError(self.name, f"lacks {', '.join(missing)}")

    @abstractmethod
    def broker(self) -> Broker: ...

    @abstractmethod
    def device_identity(self, realm: str, device_id: str) -> ClientIdentity: ...

    def scenario_identity(self, scenario: str, common_name: str) -> ClientIdentity:
        raise TargetError(self.name, f"cannot mint {scenario} certificates")

    def describe(self) -> list[tuple[str, str]]:
        """Label/value lines a user needs to talk to the target (``hil up`` prints them)."""
        return [("target", f"{self.name} ({self.kind})")]

    def close(self) -> None:  # noqa: B027 - not abstract: a target that starts nothing stops nothing
        """Stop what the target started; idempotent."""


class SimulatedTarget(Target):
    """The built-in target: harness PKI, a real Mosquitto and the simulators, all on loopback.

    Components (see :mod:`hil.components`) start on first use and stop, in reverse order,
    at :meth:`close`.

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

    @property
    def capabilities(self) -> frozenset[str]:
        from hil.components import registry

        provided = {cap for registration in registry().values() for cap in registration.provides}
        return frozenset(
            provided
            | {Capability.DEVICE_IDENTITY, Capability.MINT_IDENTITIES, Capability.SCENARIO_CERTIFICATES}
        )

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
        """The started component ``name`` (starting it, and what it requires, if needed)."""
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

    def broker(self) -> MosquittoBroker:
        return self.component("broker").broker  # type: ignore[no-any-return]

    def services(self) -> list[Any]:
        """The services started so far (their logs are evidence for failing checks)."""
        return [service for comp in self._components.values() for service in comp.services()]

    def device_identity(self, realm: str, device_id: str) -> ClientIdentity:
        cert = self.pki.issue_client(f"{realm}/{device_id}")
        return ClientIdentity(cert.cert_path, cert.key_path, self.pki.ca_cert_path, cert.common_name)

    def scenario_identity(self, scenario: str, common_name: str) -> ClientIdentity:
        makers = {
            "expired": self.pki.expired_client,
            "not-yet-valid": self.pki.not_yet_valid_client,
            "foreign-ca": self.pki.foreign_client,
        }
        if scenario not in makers:
            raise TargetError(self.name, f"unknown certificate scenario {scenario!r} (one of {sorted(makers)})")
        cert = makers[scenario](common_name)
        return ClientIdentity(cert.cert_path, cert.key_path, self.pki.ca_cert_path, cert.common_name)

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


@dataclass(frozen=True)
class _StaticBroker(Broker):
    _endpoint: BrokerEndpoint
    _admin: ClientIdentity | None
    target: str

    @property
    def endpoint(self) -> BrokerEndpoint:
        return self._endpoint

    @property
    def admin_endpoint(self) -> BrokerEndpoint:
        return self._endpoint

    @property
    def admin_identity(self) -> ClientIdentity:
        if self._admin is None:
            raise TargetError(self.target, "has no broker admin identity in its bench file")
        return self._admin


class PhysicalTarget(Target):
    """A target on a bench, described by a bench file: nothing is started, only reached."""

    kind = "physical"

    def __init__(self, name: str, description: str, broker: _StaticBroker | None, device: ClientIdentity | None,
                 device_realm: str | None, device_id: str | None) -> None:
        self.name = name
        self.description = description
        self._broker = broker
        self._device = device
        self._device_key = (device_realm, device_id)
        self.bridge: Any = None  # a LocknAlertBridge when the bench file has a [locknalert] section

    @property
    def capabilities(self) -> frozenset[str]:
        caps: set[str] = set()
        if self.bridge is not None:
            caps.add("locknalert.bridge")
        if self._broker is not None:
            caps.add(Capability.BROKER)
            if self._broker._admin is not None:
                caps.add(Capability.BROKER_ADMIN)
        if self._device is not None:
            caps.add(Capability.DEVICE_IDENTITY)
        return frozenset(caps)

    def locknalert_bridge(self) -> Any:
        """The bench's LocknAlert bridge (its buttons are pressed by an operator)."""
        if self.bridge is None:
            raise TargetError(self.name, "has no [locknalert] section in its bench file")
        return self.bridge

    def broker(self) -> Broker:
        if self._broker is None:
            raise TargetError(self.name, "has no [broker] section in its bench file")
        return self._broker

    def device_identity(self, realm: str, device_id: str) -> ClientIdentity:
        if self._device is None:
            raise TargetError(self.name, "has no [device] section in its bench file")
        return self._device

    def describe(self) -> list[tuple[str, str]]:
        lines = super().describe()
        if self._broker is not None:
            lines.append(("MQTT broker", self._broker.endpoint.url))
        return lines


BUILTIN_TARGETS: Mapping[str, str] = {"sim": "hil's simulated servers on loopback"}

_TARGET_KEYS = {"kind", "description", "broker", "device", "locknalert"}
_LOCKNALERT_KEYS = {"host", "port", "serial", "mqtt_ca_file"}
_BROKER_KEYS = {"host", "port", "ca_file", "server_hostname", "admin_cert_file", "admin_key_file"}
_DEVICE_KEYS = {"realm", "device_id", "cert_file", "key_file"}


def _table(value: Any, where: str, source: Path) -> Mapping[str, Any]:
    """``value`` if it is a TOML table; ``broker = 5`` would otherwise fail later with a traceback."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {_toml_type(value)}", source=source)
    return value


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, for messages a bench file's author understands."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), "a date/time")


def _shown(value: Any) -> str:
    """A wrong value as its author wrote it: a number or string itself, anything else by its type
    (Python's ``True`` or ``datetime.date(...)`` would not be what the file says)."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return repr(value)
    return _toml_type(value)


def _port(value: Any, where: str, source: Path) -> int:
    """A TCP port number; ``true`` is refused although Python's bool is an int (it would mean port 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ConfigError(f"{where}: expected a port number (1-65535), got {_shown(value)}", source=source)
    return value


def _text(value: Any, where: str, source: Path) -> str:
    """A non-empty string (a host name, a serial): a number here would only fail when first used."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty string, got {_shown(value)}", source=source)
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, source: Path) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}", source=source)


def _path(value: Any, where: str, source: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a file path", source=source)
    path = (source.parent / value).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: file not found: {path}", source=source)
    return path


def _physical(name: str, table: Mapping[str, Any], source: Path) -> PhysicalTarget:
    broker = device = None
    ca_path: Path | None = None
    if "broker" in table:
        b = _table(table["broker"], f"targets.{name}.broker", source)
        _check_keys(b, _BROKER_KEYS, f"targets.{name}.broker", source)
        for key in ("host", "port", "ca_file"):
            if key not in b:
                raise ConfigError(f"targets.{name}.broker: missing {key!r}", source=source)
        host = _text(b["host"], f"targets.{name}.broker.host", source)
        port = _port(b["port"], f"targets.{name}.broker.port", source)
        server_hostname = _text(b.get("server_hostname", host), f"targets.{name}.broker.server_hostname", source)
        ca_path = _path(b["ca_file"], f"targets.{name}.broker.ca_file", source)
        admin = None
        if "admin_cert_file" in b or "admin_key_file" in b:
            admin = ClientIdentity(
                _path(b.get("admin_cert_file"), f"targets.{name}.broker.admin_cert_file", source),
                _path(b.get("admin_key_file"), f"targets.{name}.broker.admin_key_file", source),
                ca_path,
                "admin",
            )
        endpoint = BrokerEndpoint(host, port, ca_path, server_hostname)
        broker = _StaticBroker(endpoint, admin, name)
    realm = device_id = None
    if "device" in table:
        d = _table(table["device"], f"targets.{name}.device", source)
        _check_keys(d, _DEVICE_KEYS, f"targets.{name}.device", source)
        for key in sorted(_DEVICE_KEYS):
            if key not in d:
                raise ConfigError(f"targets.{name}.device: missing {key!r}", source=source)
        if ca_path is None:
            raise ConfigError(f"targets.{name}.device: needs a [broker] section with ca_file", source=source)
        realm, device_id = str(d["realm"]), str(d["device_id"])
        device = ClientIdentity(
            _path(d["cert_file"], f"targets.{name}.device.cert_file", source),
            _path(d["key_file"], f"targets.{name}.device.key_file", source),
            ca_path,
            f"{realm}/{device_id}",
        )
    bridge = None
    if "locknalert" in table:
        from hil.locknalert.control import OperatorBridgeControl
        from hil.locknalert.bridge import LocknAlertBridge

        section = _table(table["locknalert"], f"targets.{name}.locknalert", source)
        _check_keys(section, _LOCKNALERT_KEYS, f"targets.{name}.locknalert", source)
        for key in ("host", "serial"):
            if key not in section:
                raise ConfigError(f"targets.{name}.locknalert: missing {key!r}", source=source)
            _text(section[key], f"targets.{name}.locknalert.{key}", source)
        port = _port(section.get("port", 443), f"targets.{name}.locknalert.port", source)
        ca = (_path(section["mqtt_ca_file"], f"targets.{name}.locknalert.mqtt_ca_file", source)
              if "mqtt_ca_file" in section else None)
        bridge = LocknAlertBridge(section["host"], port, section["serial"], OperatorBridgeControl(), ca)
    target = PhysicalTarget(name, str(table.get("description", "")), broker, device, realm, device_id)
    target.bridge = bridge
    return target


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed bench file. TOML is UTF-8 by definition, so the bytes are decoded as such
    whatever the locale; a directory, an unreadable file or bad bytes are each one line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("bench file not found", source=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a bench file", source=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the bench file: {exc.strerror or exc}", source=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "TOML files are UTF-8", source=path) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=path) from None


def load_bench(path: Path) -> dict[str, Target]:
    """Parse a bench file into targets; any mistake is one :class:`ConfigError` line."""
    data = _read_toml(path)
    _check_keys(data, {"targets"}, "top level", path)
    targets: dict[str, Target] = {}
    for name, value in _table(data.get("targets", {}), "targets", path).items():
        table = _table(value, f"targets.{name}", path)
        _check_keys(table, _TARGET_KEYS, f"targets.{name}", path)
        kind = table.get("kind")
        if kind == "simulated":
            targets[name] = SimulatedTarget(name)
        elif kind == "physical":
            targets[name] = _physical(name, table, path)
        else:
            raise ConfigError(f"targets.{name}.kind: expected 'simulated' or 'physical', got {kind!r}", source=path)
    return targets


def resolve_target(name: str, bench: Path | None = None, *, backend: str = "process") -> Target:
    """The target called ``name``: one from the bench file, else a built-in one."""
    targets = load_bench(bench) if bench is not None else {}
    if name in targets:
        return targets[name]
    if name in BUILTIN_TARGETS:
        return SimulatedTarget(name, backend=backend)
    available = [*BUILTIN_TARGETS, *targets]
    close = difflib.get_close_matches(name, available, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown target {name!r} (available: {', '.join(available)}){hint}")
