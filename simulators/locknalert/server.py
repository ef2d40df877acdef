"""Start-up and shutdown of the emulator process: broker session, bridge link, two HTTP servers.

Order matters and is the readiness contract with the harness: the admin session must reach the
broker, the bridge's roles and account must exist, the bridge's own MQTT link must be connected
(so its retained ``online`` is there before any client looks), and both sockets must listen;
only then is the ready line printed::

    locknalert emulator listening on https://127.0.0.1:PORT control http://127.0.0.1:CPORT serial S

SIGTERM/SIGINT stop it cleanly: the link publishes ``offline``, sockets close, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hil.mqtt.dynsec import DynamicSecurityClient
from hil.errors import ServiceError
from hil.locknalert.bridge import BridgeTopics
from hil.simulators.locknalert.bridge_api import BridgeApi
from hil.simulators.locknalert.control_api import ControlApi
from hil.simulators.locknalert.emulator import BridgeEmulator, BrokerAddress
from hil.simulators.locknalert.http_server import HttpServer, Limits
from hil.simulators.locknalert.mqtt_link import BridgeLink
from hil.simulators.locknalert.onboarding import Onboarding
from hil.simulators.locknalert.provisioning import BrokerProvisioner
from hil.simulators.locknalert.self_signed import bridge_certificate

__all__ = ["READY_PREFIX", "Settings", "run"]

READY_PREFIX = "locknalert emulator listening on "
LOG = logging.getLogger("locknalert")


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    control_port: int
    serial: str
    state_dir: Path | None
    broker_host: str
    broker_port: int
    broker_tls_port: int | None
    advertised_broker_host: str
    admin_username: str
    admin_password: str
    topic_prefix: str
    window_seconds: float
    mqtt_tls: bool
    limits: Limits


async def _serve(settings: Settings, state_dir: Path) -> None:
    topics = BridgeTopics(settings.topic_prefix, settings.serial)
    dynsec = DynamicSecurityClient(settings.broker_host, settings.broker_port, settings.admin_username,
                                   settings.admin_password, name="broker")
    link: BridgeLink | None = None
    servers: list[HttpServer] = []
    try:
        provisioner = BrokerProvisioner(dynsec, topics)
        bridge_account = await asyncio.to_thread(provisioner.prepare)
        link = BridgeLink(settings.broker_host, settings.broker_port, bridge_account, topics)
        if not await asyncio.to_thread(link.start):
            raise ServiceError("locknalert", "the bridge's own MQTT session did not connect within 10 s")
        emulator = BridgeEmulator(
            Onboarding(settings.serial, window_seconds=settings.window_seconds),
            provisioner,
            link,
            BrokerAddress(settings.advertised_broker_host, settings.broker_port, settings.broker_tls_port),
            topics,
            state_file=state_dir / "state.json",
            mqtt_tls=settings.mqtt_tls,
        )
        cert, key = bridge_certificate(state_dir, settings.serial)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        api = HttpServer(BridgeApi(emulator), limits=settings.limits, ssl_context=context, name="bridge")
        control = HttpServer(ControlApi(emulator), name="control")
        servers = [api, control]
        api_port = await api.start(settings.host, settings.port)
        control_port = await control.start("127.0.0.1", settings.control_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(f"{READY_PREFIX}https://{settings.host}:{api_port} control http://127.0.0.1:{control_port}"
                         f" serial {settings.serial}\n")
        sys.stdout.flush()
        await stop.wait()
        LOG.info("stopping")
    finally:
        for server in servers:
            await server.close()
        if link is not None:
            await asyncio.to_thread(link.stop)
        dynsec.close()


def _quiet_handshake_errors(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """A client that fails the TLS handshake is the client's problem: one log line, no traceback."""
    exception = context.get("exception")
    if isinstance(exception, (ssl.SSLError, ConnectionError, TimeoutError)):
        LOG.info("connection error: %s", exception)
        return
    loop.default_exception_handler(context)


async def _main(settings: Settings) -> None:
    asyncio.get_running_loop().set_exception_handler(_quiet_handshake_errors)
    if settings.state_dir is not None:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await _serve(settings, settings.state_dir)
        return
    with tempfile.TemporaryDirectory(prefix="locknalert-") as temporary:
        await _serve(settings, Path(temporary))


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; raises HilError/OSError on start-up failures."""
    asyncio.run(_main(settings))
