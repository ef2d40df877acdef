"""A password-authenticated Mosquitto whose accounts are created and revoked at run time.

This is the broker a LocknAlert bridge points its clients to. It is deliberately *not* the
Astarte broker (:mod:`hil.mqtt.broker`), which is mutual-TLS only and must stay so. Here:

* two loopback listeners on ports the harness picks: ``mqtt`` (plain TCP) and ``mqtts`` (TLS with
  a harness server certificate, SANs ``localhost`` and ``127.0.0.1``), both asking for a user
  name and password (``allow_anonymous false``);
* accounts live in the Dynamic Security plugin, so a provisioner adds one while the broker runs,
  and deleting one disconnects its sessions at once (see :mod:`hil.mqtt.dynsec`);
* the plugin's JSON file is written once, before the first start, and kept across
  :meth:`PasswordBroker.restart`: provisioned accounts survive a broker restart, as they would
  on a real broker with persistent configuration.

Readiness: the "running" line, a TLS handshake on ``mqtts`` with the harness CA, and then a real
CONNECT of the admin account (a password CONNACK that the two checks before cannot prove).

"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.mqtt.broker import READY_LINE, mosquitto_binary
from hil.mqtt.dynsec import DynamicSecurityClient, initial_config
from hil.mqtt.mosquitto_config import Listener, MosquittoConfig, TlsFiles
from hil.errors import ServiceError
from hil.services.backends import Backend
from hil.services.base import Service, ServiceSpec
from hil.services.images import BROKER_IMAGE
from hil.services.readiness import AllOf, LogLine, Readiness, TcpPort, TlsHandshake

if TYPE_CHECKING:
    from hil.pki import HarnessPKI

__all__ = ["DYNSEC_PLUGIN", "PasswordBroker", "PasswordEndpoint", "dynsec_plugin_path"]

DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
ADMIN_USERNAME = "hil-admin"


def dynsec_plugin_path() -> Path | None:
    """The Dynamic Security plugin of the installed mosquitto, if present."""
    for candidate in (DYNSEC_PLUGIN, "/usr/lib/mosquitto_dynamic_security.so",
                      "/usr/local/lib/mosquitto_dynamic_security.so"):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class PasswordEndpoint:
    """A listener: where, and (for TLS) which CA its certificate chains to."""

    host: str
    port: int
    ca_path: Path | None = None

    @property
    def tls(self) -> bool:
        return self.ca_path is not None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str


class PasswordBroker:
    """Mosquitto with password authentication and the Dynamic Security plugin.

    Args:
        pki: issues the TLS listener's server certificate; its CA is what clients trust.
        backend: the service backend (process); the container backend is not supported because
            the plugin path is the host's.
        name: service name (log file, errors).
    """

    def __init__(self, pki: HarnessPKI, backend: Backend, *, name: str = "locknalert-mosquitto") -> None:
        self.pki = pki
        self.name = name
        # Never on a command line or in a log: only in the plugin file (hashed) and in memory.
        self._admin = AdminCredentials(ADMIN_USERNAME, secrets.token_urlsafe(24))
        server = pki.issue_server(name)
        self._server_cert, self._server_key = server.cert_path, server.key_path
        binary = mosquitto_binary() or "mosquitto"
        self.service: Service = backend.create(
            ServiceSpec(
                name=name,
                command=lambda ports, workdir: [binary, "-c", str(self._write_config(ports, workdir))],
                ports=("mqtt", "mqtts"),
                image=BROKER_IMAGE,
                mounts=(pki.directory,),
            )
        )

    # -- where -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> PasswordEndpoint:
        """The plain-TCP listener."""
        return PasswordEndpoint(self.service.host, self.service.port("mqtt"))

    @property
    def tls_endpoint(self) -> PasswordEndpoint:
        """The TLS listener (certificate for ``localhost``/``127.0.0.1`` from the harness CA)."""
        return PasswordEndpoint(self.service.host, self.service.port("mqtts"), self.pki.ca_cert_path)

    @property
    def ca_path(self) -> Path:
        return Path(self.pki.ca_cert_path)

    @property
    def admin(self) -> AdminCredentials:
        """The plugin's admin account: may run dynsec commands and read (not write) every topic."""
        return self._admin

    @property
    def dynsec_file(self) -> Path:
        return self.service.workdir / "dynsec.json"

    def admin_session(self) -> DynamicSecurityClient:
        """A connected Dynamic Security session (the caller closes it)."""
        client = DynamicSecurityClient(
            self.endpoint.host, self.endpoint.port, self._admin.username, self._admin.password, name=self.name
        )
        try:
            client.connect()
        except BaseException:
            client.close()
            raise
        return client

    # -- life cycle ------------------------------------------------------------------------
    def readiness(self) -> Readiness:
        return AllOf(LogLine(READY_LINE), TcpPort("mqtt"), TlsHandshake("mqtts", self.ca_path))

    def start(self, *, timeout: float = 15.0) -> None:
        if mosquitto_binary() is None:
            raise ServiceError(self.name, "mosquitto is not installed (apt-get install mosquitto)")
        if dynsec_plugin_path() is None:
            raise ServiceError(self.name, "the mosquitto Dynamic Security plugin is not installed")
        self.service.start(self.readiness(), timeout=timeout)
        self._check_admin_login()

    def restart(self, *, timeout: float = 15.0) -> None:
        """Stop and start on the same ports; sessions drop, accounts stay (the plugin file stays).

        Safe to call from any thread: the process backend forks from its own lasting thread.
        """
        self.service.restart(self.readiness(), timeout=timeout)
        self._check_admin_login()

    def stop(self) -> None:
        self.service.stop()

    def _check_admin_login(self) -> None:
        session = self.admin_session()  # raises ServiceError if the password CONNACK fails
        session.close()

    # -- configuration ---------------------------------------------------------------------
    def config_text(self, ports: Mapping[str, int], dynsec_path: Path) -> str:
        plugin = dynsec_plugin_path() or Path(DYNSEC_PLUGIN)
        return MosquittoConfig(
            plugins=((plugin, (("config_file", str(dynsec_path)),)),),
            listeners=(
                Listener(ports["mqtt"]),
                Listener(ports["mqtts"], TlsFiles(self._server_cert, self._server_key)),
            ),
        ).text()

    def _write_config(self, ports: Mapping[str, int], workdir: Path) -> Path:
        dynsec = workdir / "dynsec.json"
        if not dynsec.exists():  # kept across restarts: provisioned accounts survive them
            fd = os.open(dynsec, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(initial_config(self._admin.username, self._admin.password), handle, indent=1)
        conf = workdir / "mosquitto.conf"
        conf.write_text(self.config_text(ports, dynsec))
        return conf
