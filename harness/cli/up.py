"""``hil up``: the simulated stack in the foreground, with everything a user needs to connect."""

from __future__ import annotations

import argparse
import shlex
import signal
import threading

from hil.services.backends import BACKEND_NAMES
from hil.targets.simulated import SimulatedTarget
from hil.targets.stack_bench import write_stack_bench


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("up", help="start the simulated stack until Ctrl-C")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="process")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    # SIGTERM is handled like Ctrl-C so a supervisor gets the same clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    target = SimulatedTarget(backend=args.backend)
    try:
        target.start_all()
        broker = target.broker()
        bench = write_stack_bench(target, target.run_dir.sub("bench"))
        astarte = target.component("astarte").client
        lines = [
            *target.describe(),
            ("bench file (this stack, public endpoints only)", str(bench.path)),
            ("check it as a bench", f"hil run --bench {bench.path} --target stack"),
            ("example device id (registered, can pair)", bench.example_device_id),
            ("example device credentials secret", bench.example_credentials_secret),
            ("pair it", f"DeviceMqtt('{bench.example_device_id}', '{astarte.realm}', <secret>, "
                        f"'{astarte.pairing_base_url}', <persistency dir>)"),
            ("trust the harness CA", " ".join(f"{k}={v}" for k, v in target.pki.trust_environment().items())),
            (
                "try",
                f"mosquitto_sub -h localhost -p {broker.admin_endpoint.port} --cafile {broker.endpoint.ca_path} "
                f"--cert {broker.admin_identity.cert_path} --key {broker.admin_identity.key_path} -t '#' -v",
            ),
        ]
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            print(f"{label:<{width}}  {value}")
        print("\n# environment for SDKs and astartectl (paste into a shell):")
        for key, value in bench.environment.items():
            print(f"export {key}={shlex.quote(value)}")
        print("hil up: ready; press Ctrl-C to stop", flush=True)
        stop.wait()
        print("hil up: stopping", flush=True)
    finally:
        target.close()
    return 0
