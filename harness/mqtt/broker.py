"""The MQTT broker: a real Mosquitto with a mutual-TLS listener, and the seam to a physical one.

Mosquitto is configured the way Astarte's broker behaves for devices:

* ``require_certificate`` + ``use_identity_as_username``: a client *is* its certificate's CN,
  ``<realm>/<device_id>`` for a device, exactly as Astarte issues it; no password is ever used.
* two listeners on the same CA: the device listener (client id forced to the CN, as Astarte's
  broker does) and a back-office listener for the simulators and captures;
* an ACL ``pattern readwrite %u/#``: a device can only use its own topic tree (the CN contains a
  ``/``, and ``%u`` expands over both levels), and an admin identity (CN ``admin``) that the
  simulators use to see and answer all device traffic.
* ``max_queued_messages 0``: the simulated server side must see every QoS 1/2 message; the
  default 1000 silently drops bursts (measured; see the environment reference).
* ``persistence false`` and no pid file: nothing outlives the run directory.

Readiness is the "running" log line *and* a real mutual-TLS CONNECT with a harness certificate,
because the line alone does not prove the TLS listener accepts our CA.
"""

from __future__ import annotations

import shutil
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.mqtt.mosquitto_config import Listener, MosquittoConfig, TlsFiles
from hil.errors import ServiceError
from hil.services.backends import Backend
from hil.services.base import Service, ServiceSpec
from hil.services.readiness import AllOf, ClientIdentity, LogLine, MqttConnack, Readiness
from hil.targets.protocols import BrokerAdmin, MqttBroker
from hil.services.images import BROKER_IMAGE

if TYPE_CHECKING:
    from hil.pki import HarnessPKI

__all__ = ["ADMIN_COMMON_NAME", "Broker", "BrokerEndpoint", "MosquittoBroker", "mosquitto_binary"]

ADMIN_COMMON_NAME = "admin"
PROBE_COMMON_NAME = "hil-readiness/probe"
READY_LINE = r"mosquitto version \S+ running"


def mosquitto_binary() -> str | None:
    """The mosquitto executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class BrokerEndpoint:
    """Where a broker listens and which CA its server certificate chains to."""

    host: str
    port: int
    ca_path: Path
    server_hostname: str = "localhost"

    @property
    def url(self) -> str:
        """The broker URL as Astarte's Pairing API hands it to devices (mqtts, port, slash)."""
        return f"mqtts://{self.server_hostname}:{self.port}/"


class Broker(MqttBroker, BrokerAdmin):
    """The capability checks rely on: a broker they can connect to with mutual TLS.

    A simulated broker (:class:`MosquittoBroker`) and a physical one on a bench both provide it.
    """

    @property
    @abstractmethod
    def endpoint(self) -> BrokerEndpoint: ...

    @property
    @abstractmethod
    def admin_endpoint(self) -> BrokerEndpoint:
        """Where the server side connects (may equal :attr:`endpoint` on a physical broker)."""

    @property
    @abstractmethod
    def admin_identity(self) -> ClientIdentity:
        """An identity allowed to read and write every topic (the server side)."""


class MosquittoBroker(Broker):
    """A Mosquitto service with a mutual-TLS listener, certificates from ``pki``.

    Args:
        pki: issues the server certificate and the admin identity, and is the trusted CA.
        backend: process (default) or container backend that runs mosquitto.
        name: the service name (log file, errors).
        log_types: mosquitto ``log_type`` values; ``all`` would log every packet and costs about
            a third of the QoS 0 throughput, so the default keeps connections and refusals only.
    """

    def __init__(
        self,
        pki: HarnessPKI,
        backend: Backend,
        *,
        name: str = "mosquitto",
        log_types: tuple[str, ...] = ("error", "warning", "notice", "information"),
    ) -> None:
        self.pki = pki
        self.log_types = log_types
        server = pki.issue_server(name)
        admin = pki.issue_client(ADMIN_COMMON_NAME)
        self._server_cert, self._server_key = server.cert_path, server.key_path
        self._admin = ClientIdentity(admin.cert_path, admin.key_path, pki.ca_cert_path, ADMIN_COMMON_NAME)
        # Readiness of the device listener is proven with a device-shaped identity of its own.
        probe = pki.issue_client(PROBE_COMMON_NAME)
        self._probe = ClientIdentity(probe.cert_path, probe.key_path, pki.ca_cert_path, PROBE_COMMON_NAME)
        binary = mosquitto_binary() or "mosquitto"
        self.service: Service = backend.create(
            ServiceSpec(
                name=name,
                command=lambda ports, workdir: [binary, "-c", str(self._write_config(ports, workdir))],
                ports=("mqtts", "mqtts-admin"),
                image=BROKER_IMAGE,
                mounts=(pki.directory,),  # the CA and the broker's certificate, named in its config
            )
        )

    # -- Broker ----------------------------------------------------------------------------
    @property
    def endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(self.service.host, self.service.port("mqtts"), self.pki.ca_cert_path)

    @property
    def admin_endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(self.service.host, self.service.port("mqtts-admin"), self.pki.ca_cert_path)

    @property
    def admin_identity(self) -> ClientIdentity:
        return self._admin

    @property
    def probe_identity(self) -> ClientIdentity:
        """The identity readiness uses on the device listener (CN ``hil-readiness/probe``)."""
        return self._probe

    # -- life cycle ------------------------------------------------------------------------
    def readiness(self) -> Readiness:
        return AllOf(
            LogLine(READY_LINE),
            MqttConnack(self._admin, port="mqtts-admin"),
            MqttConnack(self._probe, port="mqtts"),
        )

    def start(self, *, timeout: float = 15.0) -> None:
        if mosquitto_binary() is None and self.service.spec.image is None:
            raise ServiceError(self.service.name, "mosquitto is not installed (run scripts/setup or: apt-get install mosquitto)")
        self.service.start(self.readiness(), timeout=timeout)

    def restart(self, *, timeout: float = 15.0) -> None:
        """Stop and start on the same port: no session survives, as after a real broker restart."""
        self.service.restart(self.readiness(), timeout=timeout)

    def stop(self) -> None:
        self.service.stop()

    def device_identity(self, realm: str, device_id: str) -> ClientIdentity:
        """A device certificate as Astarte's Pairing API would issue it (CN ``realm/device_id``)."""
        cert = self.pki.issue_client(f"{realm}/{device_id}")
        return ClientIdentity(cert.cert_path, cert.key_path, self.pki.ca_cert_path, cert.common_name)

    # -- configuration ---------------------------------------------------------------------
    def config_text(self, ports: Mapping[str, int], acl_path: Path) -> str:
        tls = TlsFiles(self._server_cert, self._server_key, self.pki.ca_cert_path)
        return MosquittoConfig(
            per_listener_settings=True,
            # Connection notices also go to $SYS/broker/log/N, where the simulated realm follows
            # device sessions exactly (Astarte learns them from its broker plugin).
            log_to_topic=True,
            log_types=self.log_types,
            max_queued_messages=0,
            listeners=(
                # Devices: the client id becomes the certificate CN, as Astarte's broker makes the
                # subscriber id <realm>/<device_id>. A second connection with the same identity
                # takes the session over; the realm uses that to force a device to disconnect.
                Listener(ports["mqtts"], tls, require_certificate=True, use_identity_as_username=True,
                         use_username_as_clientid=True, acl_file=acl_path),
                # Back office (simulators, captures): same CA, client ids left alone, so several
                # admin sessions can coexist.
                Listener(ports["mqtts-admin"], tls, require_certificate=True, use_identity_as_username=True,
                         acl_file=acl_path),
            ),
        ).text()

    @staticmethod
    def acl_text() -> str:
        return f"pattern readwrite %u/#\n\nuser {ADMIN_COMMON_NAME}\ntopic readwrite #\ntopic read $SYS/#\n"

    def _write_config(self, ports: Mapping[str, int], workdir: Path) -> Path:
        acl = workdir / "acl"
        acl.write_text(self.acl_text())
        conf = workdir / "mosquitto.conf"
        conf.write_text(self.config_text(ports, acl))
        return conf
