"""``hil up``: the simulated stack in the foreground, with everything a user needs to connect."""

from __future__ import annotations

import argparse
import signal
import threading

from hil.services.backends import BACKEND_NAMES
from hil.targets import SimulatedTarget


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
        device = target.device_identity("hil", "hil-example-device")
        lines = [
            *target.describe(),
            ("example device (CN hil/hil-example-device) certificate", str(device.cert_path)),
            ("example device key", str(device.key_path)),
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
        print("hil up: ready; press Ctrl-C to stop", flush=True)
        stop.wait()
        print("hil up: stopping", flush=True)
    finally:
        target.close()
    return 0
