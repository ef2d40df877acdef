"""The realm's two ways into the broker: the back-office session and the forced disconnect.

**Back office** (:class:`BackOffice`): two MQTT 5 sessions as ``admin`` on the broker's back-office
listener: one subscribed to ``<realm>/#`` at QoS 2, one that publishes to devices and tags every
publish with a user property the subscriber skips, so the realm never hears itself (no-local
would do for one session, but keeping publisher and subscriber apart keeps acknowledgements and
deliveries on separate network threads). After a broker restart both reconnect (paho's back-off)
and the subscriber subscribes again.

The subscriber also reads the broker's connection log on ``$SYS/broker/log/{N,E}`` (see
:mod:`.broker_log`): that is how the realm knows exactly which devices have a session, as Astarte
knows it from its broker plugin. When the back office loses the broker (a restart), every device
session is gone too, and ``on_broker_lost`` tells the realm so.

Whether a publish reached a device *session* (Astarte's 503 "Cannot push to device", its
``device_session_not_found``) cannot be read from the publish itself: the realm's own ``<realm>/#``
subscription matches every device topic, so MQTT 5's "no matching subscribers" never comes, and
mosquitto 2.0.11 does not report it on a QoS 2 PUBREC anyway (measured). Callers use the realm's
session tracking instead (see :mod:`.data_updater`).

**Forced disconnect** (:class:`SessionKicker`): Astarte asks VerneMQ to disconnect
``<realm>/<device_id>`` and discard its session. Mosquitto has no such admin command here, but its
device listener forces the client id to the certificate CN, so a connection with a certificate
for ``CN=<realm>/<device_id>`` takes the device's session over (mosquitto closes the old
connection) and, being a clean start, discards it; the kicker then disconnects at once. The
broker logs the kicker's own session like any other; :attr:`SessionKicker.own_ports` holds the
local ports of its connections so the realm can tell them from the device's.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from hil.mqtt.paho import new_client
from hil.pki import HarnessPKI
from hil.simulators.astarte.broker_log import LOG_TOPICS

__all__ = ["BackOffice", "PublishOutcome", "SessionKicker"]

_log = logging.getLogger(__name__)

#: MQTT 5 user property on every realm publish, so the realm's subscriber can skip its own
#: messages (mosquitto forwards user properties to MQTT 5 subscribers; devices ignore them).
_ORIGIN: Final = ("hil-origin", "astarte-realm")
_ACK_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class PublishOutcome:
    """``acknowledged``: the QoS flow completed (always True at QoS 0 once written)."""

    acknowledged: bool


def _tls_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return context


class BackOffice:
    """The realm's admin MQTT session; ``on_message(topic_bytes, payload, qos, retain)`` runs on
    paho's network thread and must only hand the message over (never block)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ca: Path,
        cert: Path,
        key: Path,
        realm: str,
        on_message: Callable[[bytes, bytes, int, bool], None],
        on_broker_lost: Callable[[], None] = lambda: None,
        server_hostname: str = "localhost",
    ) -> None:
        self.host, self.port, self.realm = host, port, realm
        self._on_message = on_message
        self._on_broker_lost = on_broker_lost
        context = _tls_context(ca, cert, key)
        # Two sessions: a subscriber that hears devices, and a publisher with no subscriptions of
        # its own, so that "no matching subscribers" means "no device session" (a subscriber's
        # own <realm>/# would always match, even with no-local).
        self._client = new_client(client_id="", protocol=mqtt.MQTTv5)
        self._publisher = new_client(client_id="", protocol=mqtt.MQTTv5)
        for client in (self._client, self._publisher):
            client.tls_set_context(context)
            # paho annotates the delays as int, but waits float seconds.
            client.reconnect_delay_set(0.05, 2.0)  # type: ignore[arg-type]
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_message = self._message
        self._client.on_subscribe = self._subscribed
        self._publisher.on_publish = self._published
        self._publisher.on_connect = self._publisher_connected
        self._acks: dict[int, tuple[threading.Event, list[int]]] = {}
        self._acks_lock = threading.Lock()
        self._subscribed_event = threading.Event()
        self._publisher_event = threading.Event()

    # -- life cycle ------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe; raises OSError/TimeoutError when the broker is not there."""
        for client in (self._client, self._publisher):
            client.connect(self.host, self.port, keepalive=30, clean_start=True)
            client.loop_start()
        if not (self._subscribed_event.wait(timeout) and self._publisher_event.wait(timeout)):
            self.stop()
            raise TimeoutError(f"no SUBACK for {self.realm}/# from {self.host}:{self.port} within {timeout:g}s")

    def stop(self) -> None:
        for client in (self._client, self._publisher):
            try:
                client.disconnect()
            finally:
                client.loop_stop()

    @property
    def ready(self) -> bool:
        return self._subscribed_event.is_set() and self._client.is_connected() and self._publisher.is_connected()

    # -- callbacks (network thread) --------------------------------------------------------
    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            _log.warning("back-office CONNACK refused: %s", reason)
            return
        # Every (re)connect: a broker restart loses every subscription (no persistence).
        options = SubscribeOptions(qos=2, noLocal=True)
        client.subscribe([(f"{self.realm}/#", options), *((topic, options) for topic in LOG_TOPICS)])

    def _publisher_connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not getattr(reason, "is_failure", False):
            self._publisher_event.set()

    def _subscribed(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if reasons and all(not getattr(code, "is_failure", False) for code in reasons):
            self._subscribed_event.set()
        else:
            _log.error("back-office SUBSCRIBE %s/# refused: %s", self.realm, reasons)

    def _disconnected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._subscribed_event.clear()
        _log.warning("back-office session lost (%s); paho reconnects", reason)
        self._on_broker_lost()

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        user_properties = getattr(getattr(message, "properties", None), "UserProperty", None) or []
        if _ORIGIN in user_properties:
            return  # the realm's own publish to a device
        raw_topic = message._topic if isinstance(message._topic, bytes) else str(message._topic).encode()
        self._on_message(raw_topic, bytes(message.payload), int(message.qos), bool(message.retain))

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        code = int(getattr(reason, "value", 0) or 0)
        with self._acks_lock:
            entry = self._acks.setdefault(mid, (threading.Event(), []))
        entry[1].append(code)
        entry[0].set()

    # -- publishing ------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int, *, timeout: float = _ACK_TIMEOUT) -> PublishOutcome:
        """Publish as the realm; blocks until the QoS flow completes (never call on paho's thread)."""
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [_ORIGIN]
        info = self._publisher.publish(topic, payload, qos=qos, retain=False, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            return PublishOutcome(False)
        if qos == 0:
            return PublishOutcome(True)
        with self._acks_lock:
            entry = self._acks.setdefault(info.mid, (threading.Event(), []))
        acknowledged = entry[0].wait(timeout)
        with self._acks_lock:
            self._acks.pop(info.mid, None)
        return PublishOutcome(acknowledged)


class SessionKicker:
    """Forces ``<realm>/<device_id>`` off the broker by taking its session over (see module doc)."""

    def __init__(self, *, pki_dir: Path, host: str, port: int, server_hostname: str = "localhost") -> None:
        self._pki_dir = pki_dir
        self._pki: HarnessPKI | None = None
        self.host, self.port = host, port
        self._server_hostname = server_hostname
        self._identities: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        #: Local ports of the kicker's connections whose session the realm has not seen yet. Filled
        #: before :meth:`kick` waits for the CONNACK, so the broker's log line comes later.
        self.own_ports: set[int] = set()

    def _context(self, common_name: str) -> ssl.SSLContext:
        with self._lock:
            if common_name not in self._identities:
                if self._pki is None:
                    self._pki = HarnessPKI.load(self._pki_dir)
                cert = self._pki.issue_client(common_name)
                self._identities[common_name] = _tls_context(self._pki.ca_cert_path, cert.cert_path, cert.key_path)
            return self._identities[common_name]

    def kick(self, common_name: str, timeout: float = 5.0) -> bool:
        """Take the session of ``common_name`` over and drop it; True when the broker accepted us."""
        client = new_client(client_id="", protocol=mqtt.MQTTv5)
        client.tls_set_context(self._context(common_name))
        connack = threading.Event()
        accepted: list[bool] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            accepted.append(not getattr(reason, "is_failure", True))
            connack.set()

        def on_disconnect(_c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
            connack.set()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0
        try:
            client.connect(self.host, self.port, keepalive=10, clean_start=True, properties=properties)
            sock = client.socket()
            if isinstance(sock, socket.socket):  # also an SSLSocket; paho types it as a bare protocol
                self.own_ports.add(sock.getsockname()[1])
            deadline = time.monotonic() + timeout
            while not connack.is_set() and time.monotonic() < deadline:
                if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                    break
            ok = bool(accepted and accepted[0])
            if ok:
                client.disconnect()
                for _ in range(20):  # flush the DISCONNECT packet
                    if client.loop(timeout=0.02) != mqtt.MQTT_ERR_SUCCESS:
                        break
            return ok
        except (OSError, ssl.SSLError) as exc:
            _log.warning("forced disconnect of %s failed: %s", common_name, exc)
            return False
        finally:
            sock = client.socket()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
