"""The broker component: Mosquitto with mutual TLS, the harness PKI as its CA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hil.mqtt.broker import MosquittoBroker
from hil.components import component
from hil.services.backends import make_backend
from hil.targets.protocols import BrokerAdmin, MqttBroker

if TYPE_CHECKING:
    from hil.services.base import Service
    from hil.targets import SimulatedTarget


class BrokerComponent:
    def __init__(self, broker: MosquittoBroker) -> None:
        self.broker = broker

    def describe(self) -> list[tuple[str, str]]:
        endpoint, admin = self.broker.endpoint, self.broker.admin_identity
        return [
            ("MQTT broker for devices (mutual TLS)", endpoint.url),
            ("MQTT broker back office (mutual TLS, CN admin)", self.broker.admin_endpoint.url),
            ("broker log", str(self.broker.service.log_path)),
            ("broker admin certificate (CN admin)", str(admin.cert_path)),
            ("broker admin key", str(admin.key_path)),
        ]

    def services(self) -> list[Service]:
        return [self.broker.service]

    def provide(self, protocol: type) -> MosquittoBroker:
        return self.broker

    def stop(self) -> None:
        self.broker.stop()


@component("broker", provides=(MqttBroker, BrokerAdmin))
def start_broker(target: SimulatedTarget) -> BrokerComponent:
    broker = MosquittoBroker(target.pki, make_backend(target.backend_name, target.run_dir.sub("services")))
    broker.start()
    return BrokerComponent(broker)
