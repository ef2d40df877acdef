"""``python -m hil.simulators.locknalert --serial S --broker-port N [options]``.

The broker must run Mosquitto's Dynamic Security plugin with an admin account (``hil up`` starts
one: :class:`hil.mqtt.password_broker.PasswordBroker`). Its password is read from the environment
variable ``HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD`` so that it never shows in a process list.

Mistakes print one line on stderr and exit 2 (usage) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import ssl
import sys
from pathlib import Path

from hil.cli.arguments import OneLineParser, check_port_options
from hil.errors import HilError, describe_os_error
from hil.simulators.locknalert.http_server import Limits
from hil.simulators.locknalert.onboarding import DEFAULT_WINDOW_SECONDS
from hil.simulators.locknalert.server import Settings, run

PASSWORD_VARIABLE = "HIL_LOCKNALERT_BROKER_ADMIN_PASSWORD"
SERIAL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,31}")
TOPIC_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m hil.simulators.locknalert", description="LocknAlert bridge emulator")
    parser.add_argument("--host", default="127.0.0.1", help="bridge API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="bridge HTTPS port (0 picks a free one)")
    parser.add_argument("--control-port", type=int, default=0, help="control API port on 127.0.0.1 (0: free one)")
    parser.add_argument("--serial", default="LNA-EMU-0001", help="the bridge's serial number")
    parser.add_argument("--state-dir", type=Path, help="keeps certificate and pairing across restarts (default: temporary)")
    parser.add_argument("--broker-host", default="127.0.0.1", help="broker address the emulator uses")
    parser.add_argument("--broker-port", type=int, required=True, help="broker plain MQTT port (password auth)")
    parser.add_argument("--broker-tls-port", type=int, help="broker TLS port, advertised when TLS is required")
    parser.add_argument("--advertised-broker-host", help="broker host given to clients (default: --broker-host)")
    parser.add_argument("--broker-admin", default="hil-admin", help="Dynamic Security admin user name")
    parser.add_argument("--topic-prefix", default="locknalert", help="MQTT topic prefix (default locknalert)")
    parser.add_argument("--window-seconds", type=float, default=DEFAULT_WINDOW_SECONDS,
                        help="how long a button press keeps the onboarding window open")
    parser.add_argument("--mqtt-tls", action="store_true", help="require TLS for MQTT clients from the start")
    parser.add_argument("--head-timeout", type=float, default=Limits.head_timeout,
                        help="seconds a client has to send a request head")
    parser.add_argument("--max-connections", type=int, default=Limits.max_connections)
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes)
    return parser


def _unresolvable(host: str) -> str | None:
    """Why ``host`` cannot be listened on, or None: resolved here because the error asyncio
    raises later ("Name or service not known") does not say which name."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"--host {host}: {getattr(exc, 'strerror', None) or exc}"
    return None


def _failure(exc: OSError, state_dir: Path | None) -> str:
    """One line naming what failed and why.

    Files name themselves and asyncio names an address it cannot bind; the one TLS load at
    start-up is the bridge certificate, which ssl does not name.
    """
    if isinstance(exc, ssl.SSLError):
        where = state_dir if state_dir is not None else "the temporary state directory"
        return describe_os_error(exc, f"cannot load the bridge certificate in {where}")
    return describe_os_error(exc)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_port_options(parser, args, "port", "control_port", "broker_port", "broker_tls_port")
    if not SERIAL_PATTERN.fullmatch(args.serial):
        parser.error("--serial: 3 to 32 letters, digits or '-', starting with a letter or digit")
    if not TOPIC_PREFIX_PATTERN.fullmatch(args.topic_prefix):
        parser.error("--topic-prefix: 1 to 32 letters, digits, '_' or '-'")
    if args.mqtt_tls and args.broker_tls_port is None:
        parser.error("--mqtt-tls needs --broker-tls-port")
    if not 0 < args.head_timeout <= 300 or not 0 < args.window_seconds <= 86400:
        parser.error("--head-timeout and --window-seconds must be positive (at most 300 s and one day)")
    if not 1 <= args.max_connections <= 1024 or not 64 <= args.max_body_bytes <= 1 << 20:
        parser.error("--max-connections must be 1..1024 and --max-body-bytes 64..1048576")
    problem = _unresolvable(args.host)
    if problem:
        parser.error(problem)
    password = os.environ.get(PASSWORD_VARIABLE)
    if not password:
        parser.error(f"set {PASSWORD_VARIABLE} to the broker admin password")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # handshake failures are logged by us
    settings = Settings(
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        serial=args.serial,
        state_dir=args.state_dir,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        broker_tls_port=args.broker_tls_port,
        advertised_broker_host=args.advertised_broker_host or args.broker_host,
        admin_username=args.broker_admin,
        admin_password=password,
        topic_prefix=args.topic_prefix,
        window_seconds=args.window_seconds,
        mqtt_tls=args.mqtt_tls,
        limits=Limits(head_timeout=args.head_timeout, max_connections=args.max_connections,
                      max_body_bytes=args.max_body_bytes),
    )
    try:
        run(settings)
    except HilError as exc:
        print(f"locknalert emulator: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # ssl.SSLError included
        print(f"locknalert emulator: {_failure(exc, args.state_dir)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
