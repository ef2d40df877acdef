"""``python -m hil.simulators.message_hub``: a simulated Astarte Message Hub (proto of the installed SDK).

Identity of the hub device, one of:

* ``--pairing-url URL`` with the credentials secret in ``HIL_MESSAGE_HUB_CREDENTIALS_SECRET``
  (or ``--credentials-secret S``, which then shows in process lists; or ``--pairing-token JWT`` to
  register first):
  certificate and broker URL from an Astarte Pairing API, as the real hub gets them;
* ``--broker-url mqtts://host:port/ --cert C --key K``: a certificate issued beforehand.

``--ca-file`` is the CA that the broker (and Pairing) chain to. ``--discard`` runs without
Astarte: Send is parsed and thrown away (the benchmark floor).

Example::

    python -m hil.simulators.message_hub --port 50051 --control-port 50052 --store-dir /tmp/hub \\
        --realm hil --device-id hubDeviceId000000000A --broker-url mqtts://localhost:8883/ \\
        --cert hub.crt --key hub.key --ca-file ca.pem
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.cli.arguments import OneLineParser, check_port_options
from hil.errors import HilError, describe_os_error, named_os_error

if TYPE_CHECKING:
    from hil.simulators.message_hub.server import HubConfig

DESCRIPTION = __doc__.splitlines()[0] if __doc__ else ""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m hil.simulators.message_hub", description=DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="gRPC port")
    parser.add_argument("--control-port", type=int, default=0, help="HTTP control API port (0: any)")
    parser.add_argument("--store-dir", type=Path, required=True, help="properties and interface cache (kept across restarts)")
    parser.add_argument("--realm", default="")
    parser.add_argument("--device-id", default="")
    parser.add_argument("--ca-file", type=Path, default=None)
    parser.add_argument("--broker-url", default=None)
    parser.add_argument("--cert", type=Path, default=None)
    parser.add_argument("--key", type=Path, default=None)
    parser.add_argument("--pairing-url", default=None)
    parser.add_argument("--credentials-secret", default=os.environ.get("HIL_MESSAGE_HUB_CREDENTIALS_SECRET"))
    parser.add_argument("--pairing-token", default=None)
    parser.add_argument("--discard", action="store_true", help="no Astarte: accept and drop every Send (benchmark floor)")
    parser.add_argument("--proto-dir", type=Path, default=None, help=".proto sources instead of the installed package's descriptors")
    parser.add_argument("--build-root", type=Path, default=None, help="where generated modules go (default: <hil cache>/msghub)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="stderr log level (default: INFO)")
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Options, with ports checked here: gRPC would otherwise bind a port number out of range."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_port_options(parser, args, "port", "control_port")
    return args


def _check_tls(ca_file: Path, cert: Path | None = None, key: Path | None = None) -> None:
    """Load the CA (and the certificate with its key) once before using them, naming the files.

    ssl's errors name no file, and they would otherwise surface from deep inside the Pairing or
    MQTT client as a bare "[SSL] PEM lib".
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except OSError as exc:  # ssl.SSLError included: not a PEM certificate
        raise named_os_error(exc, f"--ca-file {ca_file}") from None
    if cert is None or key is None:
        return
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included: not PEM, or a key that does not match
        raise named_os_error(exc, f"--cert {cert} with --key {key}") from None


def _hub_config(args: argparse.Namespace) -> HubConfig:
    from hil.errors import ConfigError
    from hil.services.readiness import ClientIdentity
    from hil.simulators.message_hub.pairing import obtain_credentials, parse_broker_url
    from hil.simulators.message_hub.server import HubConfig

    common = dict(host=args.host, port=args.port, control_port=args.control_port, store_dir=args.store_dir,
                  realm=args.realm, device_id=args.device_id)
    if args.discard:
        return HubConfig(**common, discard=True)
    if not args.realm or not args.device_id:
        raise ConfigError("--realm and --device-id are required (the hub is one Astarte device)")
    if args.ca_file is None or not args.ca_file.is_file():
        raise ConfigError("--ca-file must name the CA certificate the broker chains to")
    if args.pairing_url:
        _check_tls(args.ca_file)
        creds = obtain_credentials(pairing_url=args.pairing_url, realm=args.realm, device_id=args.device_id,
                                   credentials_secret=args.credentials_secret, pairing_token=args.pairing_token,
                                   ca_path=args.ca_file, workdir=args.store_dir)
        return HubConfig(**common, endpoint=creds.endpoint, identity=creds.identity)
    if not (args.broker_url and args.cert and args.key):
        raise ConfigError("give --pairing-url with a secret/token, or --broker-url with --cert and --key")
    for path in (args.cert, args.key):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist")
    _check_tls(args.ca_file, args.cert, args.key)
    identity = ClientIdentity(args.cert, args.key, args.ca_file, f"{args.realm}/{args.device_id}")
    return HubConfig(**common, endpoint=parse_broker_url(args.broker_url, args.ca_file), identity=identity)


def _serve(args: argparse.Namespace, protos: Any) -> None:
    """Serve until stopped (a control port it cannot bind is named by ``serve``, which knows it)."""
    from hil.simulators.message_hub.server import serve

    serve(_hub_config(args), protos, threading.Event())


def _failure(exc: OSError | RuntimeError) -> str:
    """One line naming what failed and why (gRPC reports a port it cannot bind as RuntimeError)."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    text = str(exc)
    return f"Address already in use ({text})" if "bind" in text.lower() or "in use" in text.lower() else text


def _quiet_grpc_core() -> None:
    """Keep gRPC's C core from printing its own line (with a log prefix) ahead of ours.

    A port it cannot bind would otherwise give two lines for one mistake. It reads the setting
    once, when grpc is first imported, so this runs before that; a user's own setting wins. Not
    done at import time: importing this module (tests do) must not change the caller's process.
    """
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def main(argv: list[str] | None = None) -> int:
    _quiet_grpc_core()
    args = _parse(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from hil.simulators.message_hub.protogen import ensure_generated
        from hil.simulators.message_hub.protos import load_protos

        generated = ensure_generated(build_root=args.build_root, proto_dir=args.proto_dir)
        protos = load_protos(generated.root, generated.proto_version)
        args.store_dir.mkdir(parents=True, exist_ok=True)
        _serve(args, protos)
    except HilError as exc:
        print(f"message hub: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        print(f"message hub: {_failure(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
