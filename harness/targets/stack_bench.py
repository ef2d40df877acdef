"""The bench file of a running simulated stack, as a user would write it for real servers.

``hil up`` writes it so that the stack can be checked as a *physical* target: everything in it
is a public endpoint (Pairing, AppEngine and Realm Management URLs, the broker's listeners, the
hub's gRPC port, the repository's robot API, the bridge's HTTPS API) plus credentials by
reference (files next to the bench file). Nothing points at ``/_sim`` except the LocknAlert
bridge's button commands, which stand where a physical bench has its relay script
(:mod:`hil.locknalert.relay`).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.targets.simulated import SimulatedTarget

__all__ = ["SEED_REFERENCES", "StackBench", "write_stack_bench"]

#: References the stack's repository holds for seeding work: a conformance run uses about 70.
SEED_REFERENCES = 1000


@dataclass
class StackBench:
    """What ``hil up`` tells a user: the bench file, the example device, an environment block."""

    path: Path
    example_device_id: str
    example_credentials_secret: str = field(repr=False)
    environment: dict[str, str] = field(default_factory=dict)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string for what we write


def _section(name: str, values: dict[str, Any]) -> str:
    return f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items()) + "\n"


def _secret_file(directory: Path, name: str, secret: str) -> str:
    path = directory / name
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return f"file:{name}"


def write_stack_bench(target: SimulatedTarget, directory: Path, *, name: str = "stack") -> StackBench:
    """Write ``bench.toml`` (and the secret files it names) into ``directory`` for ``target``,
    whose components are all started; returns what ``hil up`` prints."""
    from hil.locknalert.control import Fault
    from hil.components.astarte import random_device_id

    directory.mkdir(parents=True, exist_ok=True)
    astarte = target.component("astarte").client
    broker = target.component("broker").broker
    hub = target.component("message_hub").sim
    destiny = target.component("destiny")
    locknalert = target.component("locknalert")

    example = astarte.register_device(random_device_id())
    device = target.device_identity(astarte.realm, example.device_id)
    admin = broker.admin_identity
    robot_handle = destiny.client()
    try:  # what the repository's administrator does for a bench: a robot, and references to enhance
        robot = robot_handle.create_robot("hil-up-robot")
        references = robot_handle.enqueue(robot_handle.create_robot("hil-up-librarian").client_id,
                                          count=SEED_REFERENCES)["reference_ids"]
    finally:
        robot_handle.close()
    bridge = locknalert.bridge()
    relay = f"{shlex.quote(sys.executable)} -m hil.locknalert.relay {locknalert.emulator.control_url}"
    faults = [f.value for f in Fault if f is not Fault.NONE]

    text = (f"# A bench file for the stack `hil up` is serving: public endpoints only.\n"
            f"# Check it with `hil run --bench {directory / 'bench.toml'} --target {name}`.\n\n")
    text += _section(f"targets.{name}", {"kind": "physical", "description": "the stack hil up serves, as a bench"})
    text += _section(f"targets.{name}.astarte", {
        "base_url": astarte.base_url, "realm": astarte.realm,
        "realm_private_key": f"file:{astarte.private_key_path}", "ca_file": str(astarte.ca_path)})
    text += _section(f"targets.{name}.broker", {
        "host": broker.endpoint.host, "port": broker.endpoint.port, "ca_file": str(broker.endpoint.ca_path),
        "server_hostname": broker.endpoint.server_hostname, "admin_port": broker.admin_endpoint.port,
        "admin_cert_file": str(admin.cert_path), "admin_key_file": str(admin.key_path)})
    text += _section(f"targets.{name}.device", {
        "realm": astarte.realm, "device_id": example.device_id, "cert_file": str(device.cert_path),
        "key_file": str(device.key_path)})
    text += _section(f"targets.{name}.message_hub", {"address": hub.grpc_address, "tls": False,
                                                     "device_id": hub.device_id})
    text += _section(f"targets.{name}.destiny", {
        "base_url": destiny.base_url, "robot_id": str(robot.client_id),
        "robot_secret": _secret_file(directory, "destiny-robot-secret", robot.secret),
        "seed": "enhancement-requests", "seed_reference_ids": list(references),
        **({"storage_ca_file": str(destiny.storage_ca)} if destiny.storage_ca else {})})
    text += _section(f"targets.{name}.locknalert", {
        "host": bridge.host, "port": bridge.port, "serial": bridge.serial,
        "mqtt_ca_file": str(bridge.mqtt_ca_path), "control": "commands", "faults": faults})
    text += _section(f"targets.{name}.locknalert.commands", {
        "open_window": f"{relay} open_window {{seconds}}", "close_window": f"{relay} close_window",
        "factory_reset": f"{relay} factory_reset", "set_mqtt_tls": f"{relay} set_mqtt_tls {{required}}",
        "trigger_alert": f"{relay} trigger_alert {{zone}} {{kind}}",
        "set_fault": f"{relay} set_fault {{fault}} {{delay}}"})
    path = directory / "bench.toml"
    path.write_text(text, encoding="utf-8")
    trust = target.pki.trust_environment()  # the harness CA plus the system's, so other servers stay trusted
    environment = {
        "SSL_CERT_FILE": trust["SSL_CERT_FILE"], "REQUESTS_CA_BUNDLE": trust["REQUESTS_CA_BUNDLE"],
        "ASTARTECTL_URL": astarte.base_url,
        "ASTARTECTL_REALM_NAME": astarte.realm,
        "ASTARTECTL_REALM_KEY": str(astarte.private_key_path),
    }
    return StackBench(path, example.device_id, example.credentials_secret, environment)
