"""Bench files: the targets a run can check, validated by ``bench.schema.json``.

Format (TOML; paths relative to the file; the commented example is ``bench.example.toml`` next
to this module, and the README's "Targets and benches" documents every key)::

    [targets.lab]
    kind = "physical"                       # or "simulated" (the built-in stack under another name)

    [targets.lab.astarte]                   # Pairing, AppEngine, Realm Management of one realm
    base_url = "https://api.astarte.example"   # or pairing_url / appengine_url / realm_management_url
    realm = "lab"
    jwt = "env:HIL_ASTARTE_JWT"             # or realm_private_key = "file:lab_private.pem"
    ca_file = "ca.pem"                      # optional: the system trust store otherwise

    [targets.lab.broker]    host, port, ca_file, server_hostname, admin_port, admin_cert_file, admin_key_file
    [targets.lab.device]    realm, device_id, cert_file, key_file   (one pre-paired device)
    [targets.lab.message_hub]  address = "host:port", tls, ca_file, node_id, device_id (the hub's)
    [targets.lab.destiny]   base_url, robot_id, robot_secret = "env:...", seed, seed_reference_ids,
                            storage_ca_file (optional: the CA of its https batch-file URLs)
    [targets.lab.locknalert]   host, port, serial, mqtt_ca_file, control = "operator" | "commands",
                               commands = {open_window = "...", ...}, faults = [...]

Secrets (``jwt``, ``realm_private_key``, ``robot_secret``) are references only: ``env:NAME`` or
``file:PATH``; a literal secret is refused, so a bench file can be committed and shared. Strings
may use ``${HIL_NAME}`` (only ``HIL_*`` variables, so a file cannot read the rest of the
environment). Every mistake is one :class:`ConfigError` line: file, key path, what was expected,
and a did-you-mean for a misspelt key.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema

from hil.mqtt.broker import BrokerEndpoint
from hil.errors import ConfigError
from hil.services.readiness import ClientIdentity
from hil.targets.protocols import (
    AppEngine,
    AstartePairing,
    BrokerAdmin,
    Capability,
    DestinyRepository,
    DeviceIdentity,
    IdentityMint,
    LocknAlertBridgeAccess,
    MessageHubEndpoint,
    MqttBroker,
    RealmManagement,
)
from hil.targets.simulated import SimulatedTarget
from hil.targets.target import Target

__all__ = ["BUILTIN_TARGETS", "SCHEMA_PATH", "load_bench", "resolve_target"]

SCHEMA_PATH = Path(__file__).with_name("bench.schema.json")
BUILTIN_TARGETS: Mapping[str, str] = {"sim": "hil's simulated servers on loopback"}
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, for messages a bench file's author understands."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), "a date/time")


def _shown(value: Any) -> str:
    """A wrong value as its author wrote it: a number or string itself, anything else by its type."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return repr(value)
    return _toml_type(value)


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


# -- validation -------------------------------------------------------------------------------
def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "top level"


def _resolve_ref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _message(schema: Mapping[str, Any], error: jsonschema.ValidationError) -> str:
    """One line for a schema error, in the words of a bench file (tables, not objects)."""
    where = _where(error)
    node = _resolve_ref(schema, error.schema) if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(node.get("properties", {}))
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        extra = [key for key in instance if key not in allowed]
        key = extra[0]
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
        return f"{where}: unknown key {key!r}{hint}"
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        return f"{where}: missing {missing!r}"
    if error.validator == "type" and node.get("type") == "object":
        return f"{where}: expected a table, got {_toml_type(error.instance)}"
    expected = node.get("x-expected") or f"{node.get('type', 'another value')}"
    if node.get("x-secret") and isinstance(error.instance, str):  # never echo what may be a secret
        return f"{where}: expected {expected}, got a literal value (not shown)"
    return f"{where}: expected {expected}, got {_shown(error.instance)}"


def _substitute(value: Any, where: str, source: Path) -> Any:
    """``${HIL_*}`` variables substituted in every string (only those: a bench file cannot read
    the rest of the environment); an unset one is an error, not an empty string."""
    if isinstance(value, dict):
        return {k: _substitute(v, f"{where}.{k}" if where else k, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith("HIL_"):
            raise ConfigError(f"{where}: ${{{name}}}: only ${{HIL_*}} variables are substituted", source=source)
        if name not in os.environ:
            raise ConfigError(f"{where}: ${{{name}}} is not set in the environment", source=source)
        return os.environ[name]

    return _VARIABLE.sub(replace, value)


def validate_bench(data: Any, source: Path) -> dict[str, Any]:
    """``data`` with variables substituted, once it satisfies the schema (else one ConfigError)."""
    schema = _schema()
    data = _substitute(data, "", source)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        best = jsonschema.exceptions.best_match([errors[0], *errors[1:]], key=lambda e: -len(e.absolute_path))
        first = min(errors, key=lambda e: len(e.absolute_path))
        chosen = first if first.validator in ("type", "additionalProperties", "required") else best
        raise ConfigError(_message(schema, chosen), source=source)
    return dict(data)


def _path(value: str, where: str, source: Path) -> Path:
    path = (source.parent / value).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}: file not found: {path}", source=source)
    return path


def _secret(reference: str, where: str, source: Path) -> str:
    """The secret a reference names (``env:NAME`` or ``file:PATH``, the file's text stripped)."""
    kind, _, name = reference.partition(":")
    if kind == "env":
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set", source=source)
        return os.environ[name]
    return _path(name, where, source).read_text(encoding="utf-8").strip()


# -- building targets -------------------------------------------------------------------------
def _physical(name: str, table: Mapping[str, Any], source: Path) -> Target:
    from hil.components.astarte import AstarteClient
    from hil.targets.physical import (
        BenchBroker,
        BenchDestinyRepository,
        BenchLocknAlert,
        BenchMessageHub,
        PairedDevice,
        PhysicalTarget,
    )

    at = f"targets.{name}"
    found: dict[type[Capability], Any] = {}
    ca_path: Path | None = None
    if "broker" in table:
        b = table["broker"]
        ca_path = _path(b["ca_file"], f"{at}.broker.ca_file", source)
        admin = None
        if "admin_cert_file" in b or "admin_key_file" in b:
            for key in ("admin_cert_file", "admin_key_file"):
                if key not in b:
                    raise ConfigError(f"{at}.broker: missing {key!r} (the admin identity needs both)", source=source)
            admin = ClientIdentity(_path(b["admin_cert_file"], f"{at}.broker.admin_cert_file", source),
                                   _path(b["admin_key_file"], f"{at}.broker.admin_key_file", source), ca_path, "admin")
        endpoint = BrokerEndpoint(b["host"], b["port"], ca_path, b.get("server_hostname", b["host"]))
        admin_endpoint = BrokerEndpoint(b["host"], b.get("admin_port", b["port"]), ca_path, endpoint.server_hostname)
        broker = BenchBroker(endpoint, admin, name, admin_endpoint)
        found[MqttBroker] = broker
        if admin is not None:
            found[BrokerAdmin] = broker
    if "device" in table:
        d = table["device"]
        if ca_path is None:
            raise ConfigError(f"{at}.device: needs a [broker] section with ca_file", source=source)
        identity = ClientIdentity(_path(d["cert_file"], f"{at}.device.cert_file", source),
                                  _path(d["key_file"], f"{at}.device.key_file", source), ca_path,
                                  f"{d['realm']}/{d['device_id']}")
        found[DeviceIdentity] = PairedDevice(identity, d["realm"], d["device_id"])
    if "astarte" in table:
        a = table["astarte"]
        where = f"{at}.astarte"
        if "jwt" not in a and "realm_private_key" not in a:
            raise ConfigError(f"{where}: missing 'jwt' or 'realm_private_key' (one is needed)", source=source)
        apis = ("pairing_url", "appengine_url", "realm_management_url")
        if "base_url" not in a and not all(k in a for k in apis):
            lacking = [k for k in apis if k not in a]
            raise ConfigError(f"{where}: missing 'base_url' (or {', '.join(map(repr, lacking))})", source=source)
        key_path: Path | None = None
        if "realm_private_key" in a:
            reference = a["realm_private_key"]
            if reference.startswith("env:"):
                raise ConfigError(f"{where}.realm_private_key: give the key as file:PATH", source=source)
            key_path = _path(reference[len("file:"):], f"{where}.realm_private_key", source)
        token = _secret(a["jwt"], f"{where}.jwt", source) if "jwt" in a else None
        client = AstarteClient(realm=a["realm"], ca_path=_path(a["ca_file"], f"{where}.ca_file", source)
                               if "ca_file" in a else None, base_url=a.get("base_url"),
                               pairing_url=a.get("pairing_url"), appengine_url=a.get("appengine_url"),
                               realm_management_url=a.get("realm_management_url"), private_key_path=key_path,
                               token=token)
        for protocol in (AstartePairing, AppEngine, RealmManagement):
            found[protocol] = client
        if ca_path is not None:  # with a broker, Pairing mints device identities for it
            from hil.targets.physical import PairingIdentityMint

            mint = PairingIdentityMint(client, ca_path, name)
            found[IdentityMint] = mint
            found.setdefault(DeviceIdentity, mint)
    if "message_hub" in table:
        h = table["message_hub"]
        if "astarte" not in table:
            raise ConfigError(f"{at}.message_hub: needs an [astarte] section (the hub's data is observed there)",
                              source=source)
        found[MessageHubEndpoint] = BenchMessageHub(h["address"], table["astarte"]["realm"], h["device_id"],
                                                    bool(h.get("tls", False)), h.get("node_id"))
    if "destiny" in table:
        d = table["destiny"]
        from hil.components.destiny import DestinyRobot

        robot = DestinyRobot(UUID(d["robot_id"]), _secret(d["robot_secret"], f"{at}.destiny.robot_secret", source),
                             name)
        references = []
        for i, ref in enumerate(d.get("seed_reference_ids", [])):
            try:
                references.append(UUID(ref))
            except ValueError:
                raise ConfigError(f"{at}.destiny.seed_reference_ids[{i}]: expected a UUID, got {ref!r}",
                                  source=source) from None
        repository = BenchDestinyRepository(d["base_url"].rstrip("/"), robot, d.get("seed", "enhancement-requests"),
                                            references, name)
        if "storage_ca_file" in d:
            repository.storage_ca = _path(d["storage_ca_file"], f"{at}.destiny.storage_ca_file", source)
        found[DestinyRepository] = repository
    if "locknalert" in table:
        from hil.locknalert.control import CommandBridgeControl, Fault, OperatorBridgeControl
        from hil.locknalert.bridge import LocknAlertBridge

        section = table["locknalert"]
        where = f"{at}.locknalert"
        faults = frozenset(Fault(f) for f in section.get("faults", []))
        control: Any
        if section.get("control", "operator") == "commands":
            if not section.get("commands"):
                raise ConfigError(f"{where}: control = 'commands' needs a [commands] table", source=source)
            control = CommandBridgeControl(dict(section["commands"]), faults=faults, target=name,
                                           cwd=str(source.parent))
        else:
            if "commands" in section:
                raise ConfigError(f"{where}.commands: only used with control = 'commands'", source=source)
            control = OperatorBridgeControl(faults=faults, target=name)
        ca = _path(section["mqtt_ca_file"], f"{where}.mqtt_ca_file", source) if "mqtt_ca_file" in section else None
        found[LocknAlertBridgeAccess] = BenchLocknAlert(
            LocknAlertBridge(section["host"], section.get("port", 443), section["serial"], control, ca))
    return PhysicalTarget(name, str(table.get("description", "")), found)


def load_bench(path: Path) -> dict[str, Target]:
    """Parse and validate a bench file into targets; any mistake is one :class:`ConfigError` line."""
    data = validate_bench(_read_toml(path), path)
    targets: dict[str, Target] = {}
    for name, table in data.get("targets", {}).items():
        if table["kind"] == "simulated":
            targets[name] = SimulatedTarget(name)
        else:
            targets[name] = _physical(name, table, path)
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
