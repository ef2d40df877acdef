"""The hub's single Astarte MQTT device connection (our code: the Python SDK is under test).

The real message hub is one Astarte device (its own device id) that multiplexes its nodes. This
module is that device's MQTT side, written from the Astarte MQTT v1 protocol:

* on every connection (clean session, so session present is always false): subscribe to
  ``control/consumer/properties`` and to ``<interface>/#`` of every server-owned interface, then
  publish the introspection, ``control/emptyCache``, every stored device property and
  ``control/producer/properties`` (4-byte big-endian size + zlib), all at QoS 2;
* introspection changes while connected: subscribe first (added server interfaces), publish the
  new introspection, unsubscribe last (removed ones), as the Rust SDK 0.9.2 the hub embeds does.
  :meth:`AstarteLink.change_interfaces` only queues them and hands back an
  :class:`IntrospectionAck` to wait on *after* every lock is released: the thread that reads the
  broker's acknowledgement is paho's network thread, the same one that delivers server data.
  A change that sends nothing hands back the acknowledgement of the last introspection sent, which
  may hold the same interfaces and still be on its way;
* incoming ``consumer/properties`` purges stored server properties not listed; every other
  message under the device topic goes to ``on_data(interface, path, payload)``.

Built on :class:`hil.mqtt.client.MqttSession` (mutual TLS, blocking CONNACK); the subclass only
re-runs the session set-up after paho's automatic reconnect and hands messages over instead of
keeping them. Publishing never waits for acknowledgements: the real hub's ``Send`` returns once the
message is queued for the MQTT connection, not once the broker acknowledged it.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, Final

import paho.mqtt.client as mqtt

from hil.mqtt.broker import BrokerEndpoint
from hil.errors import ServiceError
from hil.mqtt.client import MqttSession
from hil.oracle import Interface, Ownership
from hil.services.readiness import ClientIdentity

from hil.simulators.message_hub.property_store import PropertyStore

__all__ = ["ACK_TIMEOUT", "AstarteLink", "IntrospectionAck", "purge_payload"]

log = logging.getLogger("message_hub.mqtt")

DataHandler = Callable[[str, str, bytes], None]

#: How long a node call waits for the broker to take a new introspection (then it goes on anyway).
ACK_TIMEOUT: Final = 5.0


class _Acknowledgements:
    """What paho's network thread tells the threads waiting for an introspection's PUBCOMP.

    paho has no hook after it marks a message published, only ``on_publish``, which it calls just
    *before*: a waiter woken by that call alone would find its message not yet published and miss
    its one wake-up. So the call also leaves the id it is handing on in ``last_mid``; any later call
    comes from the same thread after the marking, so one id is enough. That thread also reports the
    end of a session (``session_over``, one event per session), which ends every wait on a publish
    made in it.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.last_mid: int | None = None
        self.session_over = threading.Event()

    def acknowledged(self, mid: int) -> None:
        """paho's ``on_publish``/``on_subscribe``, in its network thread (holding paho's locks)."""
        with self.changed:
            self.last_mid = mid
            self.changed.notify_all()

    def session_started(self) -> None:
        self.session_over = threading.Event()

    def session_lost(self) -> None:
        with self.changed:
            self.session_over.set()
            self.changed.notify_all()


def _settled(info: mqtt.MQTTMessageInfo) -> bool:
    """paho's ``is_published``; a publish paho did not take (no connection, queue full) is settled too."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


class IntrospectionAck:
    """The broker's acknowledgement of one introspection publish (QoS 2: PUBCOMP).

    Returned instead of waited for by :meth:`AstarteLink.change_interfaces`, so that a caller can
    make the change under its own lock and wait once it has let go: paho's network thread reads
    the acknowledgement only after it has handed on the server data queued ahead of it, and that
    hand-over takes the hub's lock.
    """

    def __init__(self, info: mqtt.MQTTMessageInfo | None, acks: _Acknowledgements | None = None) -> None:
        self._info = info
        self._acks = acks
        # The session the message went out in: taken now, as the link replaces the event per session.
        self._session_over = acks.session_over if acks is not None else None

    def wait(self, timeout: float = ACK_TIMEOUT) -> bool:
        """True once the broker completed the flow (or nothing was sent); False after ``timeout``.

        A lost connection counts as done, and ends the wait at once: the next session republishes
        the introspection, and waiting out a broker that is gone would only stall the node.
        """
        info, acks, session_over = self._info, self._acks, self._session_over
        if info is None or acks is None or session_over is None:
            return True
        deadline = time.monotonic() + timeout
        with acks.changed:
            acks.changed.wait_for(
                lambda: session_over.is_set() or acks.last_mid == info.mid or _settled(info), timeout
            )
        if session_over.is_set():
            return True
        try:
            # Woken by on_publish, paho marks the message right after: this waits out that gap.
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError):
            return True
        return _settled(info)


#: What a change that sends nothing returns (no session, or nothing changed).
NOTHING_SENT: Final = IntrospectionAck(None)


def purge_payload(entries: list[str]) -> bytes:
    """``control/*/properties`` payload: 4-byte big-endian uncompressed size + zlib of the list."""
    text = ";".join(entries).encode("utf-8")
    return struct.pack(">I", len(text)) + zlib.compress(text)


def _purge_entries(payload: bytes) -> set[str] | None:
    """The entries of a purge payload (the size header is ignored, as Astarte itself does)."""
    if len(payload) == 4 and payload == b"\0\0\0\0":
        return set()
    try:
        text = zlib.decompress(payload[4:], bufsize=1 << 16).decode("utf-8")
    except (zlib.error, UnicodeDecodeError):
        return None
    return {entry for entry in text.split(";") if entry}


class _HubSession(MqttSession):
    """MqttSession that re-runs the device session set-up on every CONNACK and forwards messages."""

    def __init__(self, link: AstarteLink, endpoint: BrokerEndpoint, identity: ClientIdentity) -> None:
        # The real hub's MQTT client (rumqttc under the Rust SDK) reconnects by itself after a
        # drop, e.g. when Astarte disconnects the device for a message it refused.
        super().__init__(endpoint, identity, protocol="3.1.1", reconnect=True)
        self._link = link
        # Astarte's broker grants devices 100 in-flight messages; paho's default is 20.
        self._client.max_inflight_messages_set(100)
        # Come back quickly after a broker restart (paho's default first step is 1 s).
        self._client.reconnect_delay_set(min_delay=1, max_delay=4)

    @property
    def paho(self) -> mqtt.Client:
        return self._client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        super()._on_connect(client, userdata, flags, rc, props)
        if not rc.is_failure:
            self._disconnected.clear()
            self._link._session_started(self)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        super()._on_disconnect(client, userdata, flags, rc, props)
        self._link._session_lost(str(rc))

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._link._received(msg.topic, bytes(msg.payload))

    def _on_ack(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        # Not MqttSession's, which keeps an entry per message id for its own waiters: the hub
        # publishes without end and never waits through MqttSession.
        self._link._acks.acknowledged(mid)


class AstarteLink:
    """The hub device ``<realm>/<device_id>`` on an Astarte broker.

    Args:
        endpoint: the broker (from Pairing's ``broker_url``, or given directly).
        identity: the device certificate (CN ``<realm>/<device_id>``).
        store: where device and server properties live across restarts.
        on_data: called (in the MQTT thread) with interface name, path and raw payload of every
            server message on a data topic.
    """

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        identity: ClientIdentity,
        realm: str,
        device_id: str,
        store: PropertyStore,
        on_data: DataHandler,
    ) -> None:
        self.endpoint = endpoint
        self.identity = identity
        self.base = f"{realm}/{device_id}"
        self.store = store
        self.on_data = on_data
        self._lock = threading.RLock()
        self._interfaces: dict[str, Interface] = {}
        self._session: _HubSession | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._acks = _Acknowledgements()
        #: The last introspection sent (set under the lock); QoS 2 flows complete in order, so once
        #: it is acknowledged every earlier one is too.
        self._last_ack: IntrospectionAck = NOTHING_SENT
        self.sessions_started = 0

    # -- life cycle --------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Connect, retrying until ``timeout`` (the broker may still be starting)."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.daemon = True
        timer.start()
        last = ""
        pause = 0.05
        try:
            while not deadline.is_set() and not self._stopping.is_set():
                session = _HubSession(self, self.endpoint, self.identity)
                self._session = session
                result = session.connect(timeout=5.0)
                if result.accepted:
                    return
                self._session = None
                session.close()
                last = result.reason
                deadline.wait(pause)
                pause = min(pause * 2, 1.0)
        finally:
            timer.cancel()
        raise ServiceError("message-hub", f"could not connect to the Astarte broker {self.endpoint.url}: {last}")

    def stop(self) -> None:
        self._stopping.set()
        if self._session is not None:
            self._session.close()
            self._session = None
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -- introspection -------------------------------------------------------------------------
    def introspection(self) -> dict[str, Interface]:
        """The installed interfaces; the dict is replaced, never changed, so callers may keep it."""
        return self._interfaces

    def introspection_text(self) -> str:
        with self._lock:
            return ";".join(i.introspection_entry for i in sorted(self._interfaces.values(), key=lambda i: i.name))

    def update_interfaces(self, add: list[Interface], remove: list[str], *, ack_timeout: float = ACK_TIMEOUT) -> None:
        """:meth:`change_interfaces` and wait for the broker; only for callers that hold no lock."""
        self.change_interfaces(add, remove).wait(ack_timeout)

    def change_interfaces(self, add: list[Interface], remove: list[str]) -> IntrospectionAck:
        """Install ``add`` and drop ``remove``; tell Astarte if connected (and anything changed).

        Returns as soon as the messages are queued. Callers wait on the result before answering
        the node, because a QoS 0 data message sent right after would otherwise overtake the
        QoS 2 introspection at the broker, and the realm would refuse the data
        (interface_loading_failed) in a race no check could control. The real hub only queues it.
        Publishing here, under our lock, keeps the introspections on the wire in the order the
        changes were made, whichever thread then waits first.

        With nothing to change, the result is the acknowledgement of the last introspection sent:
        interfaces already installed may still be on their way to the broker (another node's call
        added them and waits for them), and a caller that answered at once could be overtaken in
        the same way. Once the broker has them, it is done at once.
        """
        with self._lock:
            added = [i for i in add if self._interfaces.get(i.name) != i]
            removed = [self._interfaces[name] for name in remove if name in self._interfaces]
            if not added and not removed:
                return self._last_ack if self.connected else NOTHING_SENT
            interfaces = dict(self._interfaces)  # copy on write: readers never lock (Send path)
            for interface in added:
                interfaces[interface.name] = interface
            for interface in removed:
                del interfaces[interface.name]
                if interface.is_properties:
                    self.store.delete_interface(interface.name)
            self._interfaces = interfaces
            session = self._session if self.connected else None
            if session is None:
                return NOTHING_SENT
            client = session.paho
            for interface in added:
                if interface.ownership is Ownership.SERVER:
                    client.subscribe(f"{self.base}/{interface.name}/#", qos=2)
            self._publish_introspection(client)
            for interface in removed:
                if interface.ownership is Ownership.SERVER:
                    client.unsubscribe(f"{self.base}/{interface.name}/#")
            return self._last_ack

    def _publish_introspection(self, client: mqtt.Client) -> None:
        """Send the introspection and keep its acknowledgement as the last one (under the lock)."""
        info = client.publish(self.base, self.introspection_text().encode("ascii"), qos=2)
        self._last_ack = IntrospectionAck(info, self._acks)

    # -- data ----------------------------------------------------------------------------------
    def publish(self, interface: str, path: str, payload: bytes, qos: int) -> None:
        """Queue a data message (no wait for the broker, as the real hub's Send)."""
        session = self._session
        if session is None:
            raise ServiceError("message-hub", "not connected to Astarte")
        session.paho.publish(f"{self.base}/{interface}{path}", payload, qos=qos)

    # -- MQTT thread -----------------------------------------------------------------------------
    def _session_started(self, session: _HubSession) -> None:
        with self._lock:
            self.sessions_started += 1
            self._acks.session_started()
            client = session.paho
            client.subscribe(f"{self.base}/control/consumer/properties", qos=2)
            for interface in self._interfaces.values():
                if interface.ownership is Ownership.SERVER:
                    client.subscribe(f"{self.base}/{interface.name}/#", qos=2)
            self._publish_introspection(client)
            client.publish(f"{self.base}/control/emptyCache", b"1", qos=2)
            kept: list[str] = []
            for prop in self.store.all("device"):
                if prop.interface not in self._interfaces:
                    self.store.delete(prop.interface, prop.path)
                    continue
                client.publish(f"{self.base}/{prop.interface}{prop.path}", prop.payload, qos=2)
                kept.append(f"{prop.interface}{prop.path}")
            client.publish(f"{self.base}/control/producer/properties", purge_payload(kept), qos=2)
        self._connected.set()
        log.info("session %d with Astarte established as %s", self.sessions_started, self.base)

    def _session_lost(self, reason: str) -> None:
        if self._connected.is_set():
            log.warning("lost the Astarte session: %s", reason)
        self._connected.clear()
        self._acks.session_lost()

    def _received(self, topic: str, payload: bytes) -> None:
        if not topic.startswith(self.base + "/"):
            return
        rest = topic[len(self.base) + 1 :]
        if rest == "control/consumer/properties":
            self._purge_server_properties(payload)
            return
        interface, slash, path = rest.partition("/")
        if not slash:
            return
        try:
            self.on_data(interface, "/" + path, payload)
        except Exception:  # one bad message must never stop the MQTT thread
            log.exception("failed to handle %s", topic)

    def _purge_server_properties(self, payload: bytes) -> None:
        entries = _purge_entries(payload)
        if entries is None:
            log.error("undecodable consumer/properties payload (%d bytes)", len(payload))
            return
        for prop in self.store.all("server"):
            if f"{prop.interface}{prop.path}" not in entries:
                self.store.delete(prop.interface, prop.path)
