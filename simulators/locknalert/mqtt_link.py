"""The bridge's own MQTT session: it announces itself, publishes events, and obeys commands.

Topic layout: :class:`hil.locknalert.bridge.BridgeTopics`. The session

* sets a retained last will ``offline`` on the availability topic and publishes a retained
  ``online`` on every connect, together with the retained lock state;
* subscribes to ``<prefix>/<serial>/+/set``: ``LOCK``/``UNLOCK`` on ``lock/set`` change the lock
  and publish the new state; anything else is answered on ``<prefix>/<serial>/error``;
* reconnects by itself within a second of a broker restart (paho's loop, fast back-off).

paho runs its network loop in its own thread; the lock state is guarded by a lock because the
control API (event loop thread) and commands (paho thread) both change it.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from hil.locknalert.bridge import BridgeTopics
from hil.mqtt.paho import new_client
from hil.simulators.locknalert.onboarding import MqttCredentials

__all__ = ["BridgeLink", "LockState"]

LOG = logging.getLogger("locknalert.mqtt")
COMMAND_LIMIT = 256  # bytes; a command is a word


class LockState:
    LOCKED = "locked"
    UNLOCKED = "unlocked"


class BridgeLink:
    def __init__(self, host: str, port: int, credentials: MqttCredentials, topics: BridgeTopics) -> None:
        self.topics = topics
        self.connected = threading.Event()
        self._state_lock = threading.Lock()
        self._lock_state = LockState.LOCKED
        self._alert_seq = 0
        self._host, self._port = host, port
        self._client = new_client(client_id=f"locknalert-bridge-{topics.serial}", protocol=mqtt.MQTTv311)
        self._client.username_pw_set(credentials.username, credentials.password)
        self._client.will_set(topics.availability, "offline", qos=1, retain=True)
        # paho annotates the delays as int, but waits float seconds.
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=1)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> bool:
        """Connect in the background; True once connected within ``timeout``."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()
        return self.connected.wait(timeout)

    def stop(self) -> None:
        if self.connected.is_set():
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def lock_state(self) -> str:
        with self._state_lock:
            return self._lock_state

    # -- paho callbacks --------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            LOG.warning("bridge link refused by the broker: %s", reason)
            return
        client.subscribe(self.topics.commands, qos=1)
        client.publish(self.topics.availability, "online", qos=1, retain=True)
        client.publish(self.topics.lock_state, self.lock_state, qos=1, retain=True)
        LOG.info("bridge link connected to %s:%d", self._host, self._port)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        LOG.info("bridge link disconnected: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            return
        payload = bytes(message.payload[:COMMAND_LIMIT + 1])
        if topic != self.topics.lock_set:
            self._error(topic, "unknown command topic")
            return
        if len(payload) > COMMAND_LIMIT:
            self._error(topic, "command too long")
            return
        command = payload.decode("utf-8", "replace").strip().upper()
        if command == "LOCK":
            self.set_lock_state(LockState.LOCKED)
        elif command == "UNLOCK":
            self.set_lock_state(LockState.UNLOCKED)
        else:
            self._error(topic, "unknown command (expected LOCK or UNLOCK)")

    # -- what the bridge does --------------------------------------------------------------
    def set_lock_state(self, state: str) -> None:
        with self._state_lock:
            self._lock_state = state
        self._client.publish(self.topics.lock_state, state, qos=1, retain=True)

    def alert(self, zone: int, kind: str) -> dict[str, Any]:
        with self._state_lock:
            self._alert_seq += 1
            seq = self._alert_seq
        event = {"zone": zone, "kind": kind, "seq": seq, "time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        self._client.publish(self.topics.alert, json.dumps(event), qos=1, retain=False)
        return event

    def _error(self, topic: str, error: str) -> None:
        LOG.info("bad command on %s: %s", topic, error)
        self._client.publish(self.topics.error, json.dumps({"topic": topic, "error": error}), qos=1)
