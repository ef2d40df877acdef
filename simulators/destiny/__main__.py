"""``python -m hil.simulators.destiny --host H --port N [--tls-cert F --tls-key F] [--seed-file F]``.

Mistakes (bad seed file, unusable TLS files, port taken) print one line on stderr and exit 2
(usage) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from pathlib import Path
from typing import Any

from hil.cli.arguments import OneLineParser, check_port_options
from hil.errors import ConfigError, describe_os_error, named_os_error
from hil.simulators.destiny.app import create_app, new_store
from hil.simulators.destiny.seed import load_seed_file
from hil.simulators.destiny.server import serve


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m hil.simulators.destiny", description="DESTINY repository simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; enables HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument("--seed-file", type=Path, help="JSON scene to start with (see simulators/destiny/seed.py)")
    return parser


def _check_tls(cert: Path, key: Path) -> None:
    """Load the pair once before serving: ssl's errors name neither file, and uvicorn's come late.

    Each file is opened first so that a missing or unreadable one is named with its option.
    """
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        try:
            path.open("rb").close()
        except OSError as exc:
            raise named_os_error(exc, option) from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included: not PEM, or a key that does not match
        raise named_os_error(exc, f"--tls-cert {cert} with --tls-key {key}") from None


def _serve(store: Any, args: argparse.Namespace) -> None:
    """Serve until stopped; a socket error names the address, which the OS leaves out."""
    try:
        serve(create_app(store), args.host, args.port, args.tls_cert, args.tls_key)
    except OSError as exc:
        raise named_os_error(exc, f"cannot listen on {args.host}:{args.port}") from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    check_port_options(parser, args, "port")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = new_store()
    try:
        if args.seed_file is not None:
            load_seed_file(args.seed_file, store)
        if args.tls_cert is not None:
            _check_tls(args.tls_cert, args.tls_key)
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
