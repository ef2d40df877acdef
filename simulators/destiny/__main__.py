"""``python -m hil.simulators.destiny --host H --port N [--tls-cert F --tls-key F] [--seed-file F]
[--lease-expiry-interval S] [--import-seconds S] [--storage-port N --storage-tls-cert F --storage-tls-key F]``.

With the ``--storage-*`` options the batch files are served from a TLS listener of their own,
reached by ``https`` blob URLs as on the real repository; without them, from the API's address.

Mistakes (bad seed file, unusable TLS files, port taken) print one line on stderr and exit 2
(usage) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import ssl
import sys
from pathlib import Path
from typing import Any

from hil.cli.arguments import OneLineParser, check_port_options
from hil.errors import ConfigError, describe_os_error, named_os_error
from hil.simulators.destiny.app import new_store
from hil.simulators.destiny.seed import load_seed_file
from hil.simulators.destiny.server import serve, StorageListener
from hil.simulators.destiny.store import DEFAULT_EXPIRY_INTERVAL, DEFAULT_IMPORT_SECONDS


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m hil.simulators.destiny", description="DESTINY repository simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; enables HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument("--seed-file", type=Path, help="JSON scene to start with (see simulators/destiny/seed.py)")
    parser.add_argument("--storage-port", type=int, help="port of the blob storage listener (0 picks a free one)")
    parser.add_argument("--storage-tls-cert", type=Path, help="PEM certificate chain of the blob storage listener")
    parser.add_argument("--storage-tls-key", type=Path, help="PEM private key for --storage-tls-cert")
    parser.add_argument(
        "--lease-expiry-interval", type=float, default=DEFAULT_EXPIRY_INTERVAL, metavar="SECONDS",
        help="simulated seconds between runs of the lease-expiry job (default 600, as deployed; 0: never)",
    )
    parser.add_argument(
        "--import-seconds", type=float, default=DEFAULT_IMPORT_SECONDS, metavar="SECONDS",
        help=f"simulated seconds a result import takes after its 202 (default {DEFAULT_IMPORT_SECONDS:g})",
    )
    return parser


def _check_tls(cert: Path, key: Path, cert_option: str, key_option: str) -> None:
    """Load the pair once before serving: ssl's errors name neither file, and uvicorn's come late.

    Each file is opened first so that a missing or unreadable one is named with its option.
    """
    for option, path in ((cert_option, cert), (key_option, key)):
        try:
            path.open("rb").close()
        except OSError as exc:
            raise named_os_error(exc, option) from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included: not PEM, or a key that does not match
        raise named_os_error(exc, f"{cert_option} {cert} with {key_option} {key}") from None


def _serve(store: Any, args: argparse.Namespace) -> None:
    """Serve until stopped, on the API address and the storage's when asked."""
    storage = None
    if args.storage_port is not None:
        storage = StorageListener(args.storage_port, args.storage_tls_cert, args.storage_tls_key)
    serve(store, args.host, args.port, args.tls_cert, args.tls_key, storage)  # its OSErrors name the address


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    check_port_options(parser, args, "port")
    storage_options = (args.storage_port, args.storage_tls_cert, args.storage_tls_key)
    if any(o is not None for o in storage_options) and any(o is None for o in storage_options):
        parser.error("--storage-port, --storage-tls-cert and --storage-tls-key go together")
    if args.storage_port is not None:
        check_port_options(parser, args, "storage_port")
    if not (math.isfinite(args.lease_expiry_interval) and args.lease_expiry_interval >= 0):
        parser.error("--lease-expiry-interval must be a finite number of seconds, 0 or more")
    if not (math.isfinite(args.import_seconds) and args.import_seconds >= 0):
        parser.error("--import-seconds must be a finite number of seconds, 0 or more")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = new_store(args.lease_expiry_interval or None, args.import_seconds)
    try:
        if args.seed_file is not None:
            load_seed_file(args.seed_file, store)
        if args.tls_cert is not None:
            _check_tls(args.tls_cert, args.tls_key, "--tls-cert", "--tls-key")
        if args.storage_tls_cert is not None:
            _check_tls(args.storage_tls_cert, args.storage_tls_key, "--storage-tls-cert", "--storage-tls-key")
        _serve(store, args)
    except ConfigError as exc:
        print(f"destiny simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"destiny simulator: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
