"""``python -m hil.simulators.astarte --port N --pki-dir DIR --realm NAME --realm-public-key FILE ...``.

Starts the realm (interfaces from ``--interfaces-dir`` installed), connects its back-office
session to the broker, then serves HTTPS with a certificate issued from the harness CA in
``--pki-dir``. Mistakes (bad interface file, unreadable key, broker unreachable, port taken)
print one line on stderr and exit 2 (usage/config) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from hil.cli.arguments import OneLineParser, check_port_options
from hil.errors import HilError, describe_os_error, named_os_error
from hil.oracle import InvalidInterface, Profile, load_interface
from hil.pki import HarnessPKI
from hil.simulators.astarte.api_errors import ApiError
from hil.simulators.astarte.app import create_app
from hil.simulators.astarte.broker_link import BackOffice, SessionKicker
from hil.simulators.astarte.data_updater import DataUpdater
from hil.simulators.astarte.realm import Realm
from hil.simulators.astarte.realm_management_api import RealmManagementApi
from hil.simulators.astarte.server import serve


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m hil.simulators.astarte", description="simulated Astarte (one realm)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="HTTPS port (0 picks a free one)")
    p.add_argument("--pki-dir", type=Path, required=True, help="harness PKI directory (CA signs CSRs and our TLS cert)")
    p.add_argument("--realm", required=True)
    p.add_argument("--realm-public-key", type=Path, required=True, help="PEM public key that verifies realm JWTs")
    p.add_argument("--realm-private-key", type=Path, help="PEM private key; enables POST /_sim/token")
    p.add_argument("--broker-url", required=True, help="broker_url Pairing hands to devices (mqtts://host:port/)")
    p.add_argument("--broker-admin-host", default="127.0.0.1")
    p.add_argument("--broker-admin-port", type=int, required=True)
    p.add_argument("--admin-cert", type=Path, required=True)
    p.add_argument("--admin-key", type=Path, required=True)
    p.add_argument("--device-broker-host", default="127.0.0.1")
    p.add_argument("--device-broker-port", type=int, required=True, help="device listener, for forced disconnects")
    p.add_argument("--interfaces-dir", type=Path, help="install every *.json interface found here at start")
    return p


def _install_all(directory: Path | None, api: RealmManagementApi) -> None:
    if directory is None:
        return
    if not directory.is_dir():
        raise HilError(f"--interfaces-dir {directory} is not a directory")
    with api.realm.lock:
        for path in sorted(directory.glob("*.json")):
            try:
                api.install_parsed(load_interface(path, profile=Profile.SERVER))
            except InvalidInterface as exc:
                raise HilError(f"{path}: {exc}") from None
            except (ApiError, OSError) as exc:  # a 409: two files for one interface; an unreadable file
                raise HilError(f"{path}: cannot install: {exc}") from None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Options, with port numbers checked here: a bind or connect would fail later, less clearly."""
    parser = _parser()
    args = parser.parse_args(argv)
    check_port_options(parser, args, "port", "broker_admin_port", "device_broker_port")
    return args


def _start_back_office(back_office: BackOffice, host: str, port: int) -> None:
    """Connect the realm's broker session; a refused connection then says which broker."""
    try:
        back_office.start()
    except TimeoutError:
        raise  # its message names the broker already
    except OSError as exc:
        raise named_os_error(exc, f"cannot reach the broker at {host}:{port}") from None


def _serve(app: Any, args: argparse.Namespace, cert: Path, key: Path) -> None:
    """Serve HTTPS until stopped; a taken port then says which address."""
    try:
        serve(app, args.host, args.port, cert, key)
    except OSError as exc:
        raise named_os_error(exc, f"cannot listen on {args.host}:{args.port}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    back_office: BackOffice | None = None
    updater: DataUpdater | None = None
    try:
        public_key = args.realm_public_key.read_bytes()
        pki = HarnessPKI.load(args.pki_dir)
        server_cert = pki.issue_server("astarte")
        realm = Realm(args.realm, public_key, args.broker_url)
        updater = DataUpdater(realm)
        app, rm_api = create_app(
            realm, updater, pki_dir=args.pki_dir, back_office=lambda: back_office,
            private_key=args.realm_private_key, reinstall=lambda api: _install_all(args.interfaces_dir, api),
        )
        _install_all(args.interfaces_dir, rm_api)
        back_office = BackOffice(host=args.broker_admin_host, port=args.broker_admin_port, ca=pki.ca_cert_path,
                                 cert=args.admin_cert, key=args.admin_key, realm=args.realm, on_message=updater.submit,
                                 on_broker_lost=updater.broker_lost)
        kicker = SessionKicker(pki_dir=args.pki_dir, host=args.device_broker_host, port=args.device_broker_port)
        updater.attach(back_office, kicker)
        updater.start()
        _start_back_office(back_office, args.broker_admin_host, args.broker_admin_port)
        _serve(app, args, server_cert.cert_path, server_cert.key_path)
    except HilError as exc:
        print(f"astarte simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # ssl.SSLError and TimeoutError included
        print(f"astarte simulator: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    finally:
        if back_office is not None:
            back_office.stop()
        if updater is not None:
            updater.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
