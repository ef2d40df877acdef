"""A small, blocking MQTT client for checks and capture, built on paho 2 (callback API v2).

Checks need answers, not callbacks: "did the CONNACK succeed?", "what reason code did the PUBACK
carry?", "which messages arrived, at which QoS?". Each method waits on an event with a timeout,
so no check ever sleeps. Every received message is kept (topic, payload, QoS, retain, time), which
makes the client usable as a broker-side capture of device traffic.

A TLS failure after the handshake (TLS 1.3 checks the client certificate late) shows up as a
disconnect without CONNACK; :meth:`MqttSession.connect` reports that as a refused connection.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from hil.mqtt.broker import BrokerEndpoint
from hil.services.readiness import ClientIdentity

__all__ = ["ConnectResult", "MqttSession", "ReceivedMessage"]


@dataclass(frozen=True)
class ReceivedMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_at: float  # time.monotonic()


@dataclass(frozen=True)
class ConnectResult:
    """``accepted`` only when a CONNACK with success arrived; ``reason`` says what happened."""

    accepted: bool
    reason: str


@dataclass
class _Pending:
    event: threading.Event = field(default_factory=threading.Event)
    reason_codes: list[ReasonCode] = field(default_factory=list)


class MqttSession:
    """One MQTT connection with a TLS client identity.

    Args:
        endpoint: where the broker listens and the CA it chains to.
        identity: the client certificate (or None to connect without one).
        protocol: ``"5"`` to see PUBACK/SUBACK reason codes (MQTT 3.1.1 has none for PUBACK),
            or ``"3.1.1"`` as the Astarte SDK uses.
        client_id: empty by default, as the Astarte SDK connects.
        reconnect: reconnect after the broker drops the connection. Off by default: a check
            wants to see a drop (a forced disconnect, a refused publish), not have it hidden.
        keep: keep only the last ``keep`` messages (a capture that runs for a whole session);
            ``None`` keeps all.
    """

    def __init__(
        self,
        endpoint: BrokerEndpoint,
        identity: ClientIdentity | None,
        *,
        protocol: str = "5",
        client_id: str = "",
        reconnect: bool = False,
        keep: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.identity = identity
        version = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}[protocol]
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, reconnect_on_failure=reconnect
        )
        self._client.tls_set_context(self._ssl_context())
        # paho's reconnect back-off starts at 1 s and close() cannot interrupt it; a check client
        # that reconnects does so at once.
        # paho annotates the delays as int, but waits float seconds.
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=1)  # type: ignore[arg-type]
        self._connack = threading.Event()
        self._online = False  # connected right now (paho may have reconnected since a drop)
        self._connect_result: ConnectResult | None = None
        self._disconnected = threading.Event()
        self._messages: deque[ReceivedMessage] = deque(maxlen=keep)
        self._cond = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        c = self._client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_ack
        c.on_subscribe = self._on_ack
        self._loop_started = False

    def _ssl_context(self) -> Any:
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.endpoint.ca_path))
        if self.identity is not None:
            ctx.load_cert_chain(str(self.identity.cert_path), str(self.identity.key_path))
        return ctx

    # -- callbacks (paho network thread) ---------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        if self._connect_result is None:
            self._connect_result = ConnectResult(not rc.is_failure, str(rc))
        self._online = not rc.is_failure
        self._connack.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        if self._connect_result is None:
            self._connect_result = ConnectResult(False, f"disconnected before CONNACK: {rc}")
            self._connack.set()
        self._online = False
        self._disconnected.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._messages.append(
                ReceivedMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.monotonic())
            )
            self._cond.notify_all()

    def _on_ack(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        # on_publish: (mid, reason_code, properties); on_subscribe: (mid, reason_codes, properties)
        codes = rest[0] if rest else []
        with self._pending_lock:
            pending = self._pending.setdefault(mid, _Pending())
        pending.reason_codes = list(codes) if isinstance(codes, list) else [codes]
        pending.event.set()

    def _track(self, mid: int) -> _Pending:
        with self._pending_lock:
            return self._pending.setdefault(mid, _Pending())

    # -- API -------------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> ConnectResult:
        """Connect and wait for the CONNACK (or the refusal).

        The network loop runs in this thread until the CONNACK; paho's background thread starts
        only for an accepted connection (after a refusal it would sit out a one-second reconnect
        back-off before it could be stopped).
        """
        try:
            self._client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        except OSError as exc:  # TLS 1.2 may refuse during the handshake itself
            self._connect_result = ConnectResult(False, f"connection failed: {exc}")
            return self._connect_result
        deadline = time.monotonic() + timeout
        while not self._connack.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._connect_result = ConnectResult(False, f"no CONNACK within {timeout:g}s")
                return self._connect_result
            if self._client.loop(timeout=min(0.05, remaining)) != mqtt.MQTT_ERR_SUCCESS and not self._connack.is_set():
                self._connect_result = ConnectResult(False, "connection lost before CONNACK")
                return self._connect_result
        assert self._connect_result is not None
        if self._connect_result.accepted:
            self._client.loop_start()
            self._loop_started = True
        return self._connect_result

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 5.0) -> str:
        """Publish and wait for the QoS flow to complete; returns the reason ("Success", "Not authorized" ...).

        At QoS 0 there is no acknowledgement: returns once the packet is written.
        """
        info = self._client.publish(topic, payload, qos=qos)
        if qos == 0:
            info.wait_for_publish(timeout)
            return "Success" if info.is_published() else "not sent"
        pending = self._track(info.mid)
        if not pending.event.wait(timeout):
            return f"no acknowledgement within {timeout:g}s"
        return ", ".join(str(code) for code in pending.reason_codes) or "Success"

    def subscribe(self, topic: str, qos: int = 2, timeout: float = 5.0, *, retain_as_published: bool = False) -> list[str]:
        """Subscribe and wait for the SUBACK; returns its reason codes (granted QoS or refusal).

        ``retain_as_published`` (MQTT 5) keeps the publisher's retain flag on live deliveries, which
        a capture of device traffic needs (MQTT otherwise clears it).
        """
        if retain_as_published:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            result, mid = self._client.subscribe(topic, options=SubscribeOptions(qos=qos, retainAsPublished=True))
        else:
            result, mid = self._client.subscribe(topic, qos=qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            return [f"not sent: {mqtt.error_string(result)}"]
        assert mid is not None  # paho numbers every request it sent
        pending = self._track(mid)
        if not pending.event.wait(timeout):
            return [f"no SUBACK within {timeout:g}s"]
        return [str(code) for code in pending.reason_codes]

    @property
    def online(self) -> bool:
        """Connected right now."""
        return self._online

    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    def wait_for_message(
        self, predicate: Callable[[ReceivedMessage], bool], timeout: float = 5.0
    ) -> ReceivedMessage | None:
        """The first received message (past or future) that satisfies ``predicate``, or None."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for msg in itertools.islice(self._messages, seen, None):
                    if predicate(msg):
                        return msg
                seen = len(self._messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def wait_disconnected(self, timeout: float = 5.0) -> bool:
        """True once the connection has dropped at least once (paho may have reconnected since)."""
        return self._disconnected.wait(timeout)

    def close(self) -> None:
        """Disconnect (if connected) and stop the network thread; idempotent."""
        if self._loop_started:
            if self._online:
                # Also wakes paho's loop at once; without it loop_stop waits out a 1 s select.
                self._disconnected.clear()
                self._client.disconnect()
                self._disconnected.wait(2.0)
            self._client.loop_stop()
            self._loop_started = False
        sock = self._client.socket()
        if sock is not None:  # a refused connection leaves its socket open
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
