"""``python -m simulators.destiny --host H --port N [--tls-cert F --tls-key F] [--seed-file F]``.

Mistakes (bad seed file, unusable TLS files, port taken) print one line on stderr and exit 2
(usage) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from pathlib import Path

from harness.errors import ConfigError
from simulators.destiny.app import create_app, new_store
from simulators.destiny.seed import load_seed_file
from simulators.destiny.server import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators.destiny", description="DESTINY repository simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain; enables HTTPS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument("--seed-file", type=Path, help="JSON scene to start with (see simulators/destiny/seed.py)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = new_store()
    try:
        if args.seed_file is not None:
            load_seed_file(args.seed_file, store)
        if args.tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.tls_cert, args.tls_key)  # fail here with a clear line
        serve(create_app(store), args.host, args.port, args.tls_cert, args.tls_key)
    except ConfigError as exc:
        print(f"destiny simulator: {exc}", file=sys.stderr)
        return 2
    except (OSError, ssl.SSLError) as exc:
        print(f"destiny simulator: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
