"""``hil replay FILE``: re-run one counterexample capsule against the SDK and say if it still disagrees.

Exit status: 1 when the disagreement reproduces (the finding stands), 0 when the SDK now agrees
with the oracle, 2 for a file that is not a capsule or names an unknown property.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hil.errors import ConfigError
from hil.fuzzing.capsules import read_capsule

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="re-run a counterexample file (reports/findings/*.json)")
    parser.add_argument("file", type=Path, metavar="FILE", help="a capsule written by hil fuzz")
    parser.add_argument("--target", default="sim", help="target for properties that need a server (default: sim)")
    parser.add_argument("--bench", type=Path, help="bench file (TOML) describing targets")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hil.fuzzing.astarte_sdk import offline_device, sdk_label
    from hil.fuzzing.properties import PROPERTIES, Disagreement

    from hil.fuzzing.session_driver import SESSION_MODEL, SESSION_MODEL_GRPC

    capsule = read_capsule(args.file)
    sessions = (SESSION_MODEL, SESSION_MODEL_GRPC)
    check = PROPERTIES.get(capsule.property)
    if check is None and capsule.property not in sessions:
        known = ", ".join(sorted([*PROPERTIES, *sessions]))
        raise ConfigError(f"unknown property {capsule.property!r} (this hil replays: {known})", source=args.file)
    print(f"replaying {capsule.property} [{capsule.requirement}] recorded with {capsule.sdk}, now {sdk_label()}")
    try:
        if check is None:
            _replay_session_on_target(args, capsule.property == SESSION_MODEL_GRPC, capsule.example)
        elif check.needs:
            _replay_on_target(args, check, capsule.example)
        else:
            with offline_device() as device:
                check.run(device, capsule.example)
    except Disagreement as disagreement:
        label = f" (known finding {disagreement.known.id})" if disagreement.known else ""
        print(f"reproduced: SDK {disagreement.direction.replace('-', ' ')} [{disagreement.requirement}]{label}")
        print(f"  oracle: {disagreement.oracle}")
        print(f"  SDK:    {disagreement.observed}")
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the example does not fit property {capsule.property!r}: {exc}", source=args.file) from None
    print("not reproduced: the SDK now agrees with the oracle on this example")
    return 0


def _replay_on_target(args: argparse.Namespace, check: Any, example: dict[str, Any]) -> None:
    """Run an end-to-end property on ``--target`` with a freshly paired, connected SDK device
    (``DeviceMqtt``), or a ``DeviceGrpc`` node attached to the target's Message Hub."""
    import os
    import tempfile

    from hil.fuzzing.astarte_grpc import ConnectedGrpcDevice
    from hil.fuzzing.astarte_sdk import ConnectedDevice
    from hil.fuzzing.jsonvalues import from_json
    from hil.targets import resolve_target
    from hil.fuzzing.realm import fuzz_realm
    from hil.targets.protocols import MessageHubControl

    target = resolve_target(args.target, args.bench)
    saved = dict(os.environ)
    try:
        target.require(*check.needs)
        astarte = fuzz_realm(target)
        os.environ.update(astarte.trust_environment())
        with tempfile.TemporaryDirectory(prefix="hil-replay-") as directory:
            docs = [from_json(example["interface"])]
            device = (ConnectedGrpcDevice(astarte, target.get(MessageHubControl), docs)
                      if MessageHubControl in check.needs else ConnectedDevice(astarte, Path(directory), docs))
            try:
                device.connect()
                check.run(device, example)
            finally:
                device.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        target.close()


def _replay_session_on_target(args: argparse.Namespace, over_hub: bool, example: dict[str, Any]) -> None:
    """Property 5: the recorded steps on a fresh ``DeviceMqtt`` session on ``--target``, or a
    ``DeviceGrpc`` session on the target's Message Hub, the realm checked after each step."""
    import os

    from hil.fuzzing.session_driver import HubSessionDriver, SessionDriver, replay_session
    from hil.targets import resolve_target
    from hil.fuzzing.realm import fuzz_realm
    from hil.targets.protocols import AppEngine, AstartePairing, MessageHubControl, RealmMessageLog

    target = resolve_target(args.target, args.bench)
    saved = dict(os.environ)
    try:
        target.require(AstartePairing, AppEngine, RealmMessageLog, *((MessageHubControl,) if over_hub else ()))
        astarte = fuzz_realm(target)
        os.environ.update(astarte.trust_environment())
        if over_hub:
            hub = target.get(MessageHubControl)
            replay_session(lambda known: HubSessionDriver(astarte, hub), example)
        else:
            replay_session(lambda known: SessionDriver(astarte, known), example)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        target.close()
