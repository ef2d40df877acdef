"""The state of the one simulated realm: installed interfaces, devices, their data and events.

Everything sits behind one re-entrant lock (:attr:`Realm.lock`): the HTTP handlers run in a
thread pool and the data updater in its own worker thread, and a realm this small never makes
the lock a bottleneck. Nothing here talks to the network; :mod:`.data_updater` and the API
modules do, holding the lock only around state changes.
"""

from __future__ import annotations

import collections
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Final

from hil.oracle import Interface
from hil.simulators.astarte.values import now_ms

__all__ = [
    "Device",
    "DeviceErrorEvent",
    "Disconnection",
    "InstalledInterface",
    "RawMessage",
    "Realm",
    "SessionRecord",
    "StoredRow",
]

#: Raw device messages kept for ``/_sim/messages``, all devices together (oldest dropped first).
RAW_MESSAGE_LIMIT: Final = 20_000
#: AppEngine's APPENGINE_API_MAX_RESULTS_LIMIT default.
MAX_RESULTS: Final = 10_000


@dataclass
class InstalledInterface:
    """An interface installed in the realm; ``document`` is the normalised JSON (Realm Management GET)."""

    interface: Interface
    document: dict[str, Any]


@dataclass(frozen=True)
class StoredRow:
    """One datastream sample: ``value`` (stored form, a dict for objects) and its two timestamps (ms)."""

    value: Any
    value_timestamp: int
    reception_timestamp: int


@dataclass(frozen=True)
class DeviceErrorEvent:
    """A ``device_error`` trigger event as Astarte fires it (metadata values as Astarte builds them)."""

    device_id: str
    error_name: str
    metadata: dict[str, str]
    timestamp: int

    def as_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "type": "device_error", "error_name": self.error_name,
                "metadata": self.metadata, "timestamp_ms": self.timestamp}


@dataclass(frozen=True)
class Disconnection:
    """A forced disconnect the realm asked the broker for, and why (error name or log tag)."""

    device_id: str
    reason: str
    timestamp: int
    taken_over: bool

    def as_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "reason": self.reason, "timestamp_ms": self.timestamp,
                "session_taken_over": self.taken_over}


@dataclass(frozen=True)
class SessionRecord:
    """A device broker session starting (``connected``, with the peer ip) or ending, as the realm saw it."""

    device_id: str
    event: str
    timestamp: int
    ip: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "event": self.event, "timestamp_ms": self.timestamp, "ip": self.ip}


@dataclass(frozen=True)
class RawMessage:
    """A device message exactly as the realm received it from the broker."""

    topic: str
    qos: int
    retain: bool
    payload: bytes
    timestamp: int

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "qos": self.qos, "retain": self.retain,
                "payload_hex": self.payload.hex(), "timestamp_ms": self.timestamp}


class MessageLog:
    """Messages in arrival order, numbered from 0 for good: ``since(n)`` stays valid after the
    oldest are dropped, so a reader's cursor never shifts (it learns what it missed instead)."""

    def __init__(self) -> None:
        self.kept: collections.deque[RawMessage] = collections.deque()
        self.total = 0

    @property
    def first(self) -> int:
        """The number of the oldest message still kept."""
        return self.total - len(self.kept)

    def append(self, message: RawMessage) -> None:
        self.kept.append(message)
        self.total += 1

    def drop_oldest(self) -> RawMessage:
        return self.kept.popleft()

    def since(self, number: int) -> list[RawMessage]:
        return list(itertools.islice(self.kept, max(number - self.first, 0), None))


@dataclass
class Device:
    """A device row, as far as the simulated APIs need it."""

    device_id: str
    credentials_secret: str | None
    first_registration: int
    introspection: dict[str, tuple[int, int]] = field(default_factory=dict)
    previous_interfaces: dict[tuple[str, int], int] = field(default_factory=dict)
    first_credentials_request: int | None = None
    last_credentials_request_ip: str | None = None
    credentials_inhibited: bool = False
    cert_serial: int | None = None
    revoked_serials: set[int] = field(default_factory=set)
    connected: bool = False
    last_connection: int | None = None
    last_disconnection: int | None = None
    last_seen_ip: str | None = None
    #: After a forced disconnect the data updater discards this device's messages until its next
    #: session starts (an introspection or emptyCache), like Astarte's ``discard_messages``.
    discard_messages: bool = False
    pending_empty_cache: bool = False
    total_received_msgs: int = 0
    total_received_bytes: int = 0
    exchanged: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    #: (interface, major) -> path -> stored value
    properties: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: (interface, major) -> path -> rows in arrival order
    datastreams: dict[tuple[str, int], dict[str, list[StoredRow]]] = field(default_factory=dict)

    @property
    def confirmed(self) -> bool:
        return self.first_credentials_request is not None

    @property
    def pairing_status(self) -> str:
        if self.credentials_inhibited:
            return "inhibited"
        return "confirmed" if self.confirmed else "pending"

    def count_exchange(self, interface: str | None, major: int | None, size: int) -> None:
        self.total_received_msgs += 1
        self.total_received_bytes += size
        if interface is not None and major is not None:
            counters = self.exchanged.setdefault((interface, major), [0, 0])
            counters[0] += 1
            counters[1] += size


class Realm:
    """The realm: its name, JWT public key, broker URL for devices, interfaces and devices."""

    def __init__(self, name: str, public_key_pem: bytes, broker_url: str) -> None:
        self.name = name
        self.public_key_pem = public_key_pem
        self.broker_url = broker_url
        self.lock = threading.RLock()
        #: Notified whenever the data updater handled a message or an API changed data, so
        #: ``/_sim`` readers can wait for a condition instead of polling.
        self.changed = threading.Condition(self.lock)
        self.interfaces: dict[tuple[str, int], InstalledInterface] = {}
        self.devices: dict[str, Device] = {}
        self.errors: list[DeviceErrorEvent] = []
        self.disconnections: list[Disconnection] = []
        self.sessions: list[SessionRecord] = []
        #: Every device message, and the same messages per device (keyed by the topic's device
        #: id); RAW_MESSAGE_LIMIT bounds them together.
        self.raw_messages = MessageLog()
        self.device_messages: dict[str, MessageLog] = {}

    def reset(self, *, keep_interfaces: bool = True) -> None:
        """Forget devices, data and events (interfaces too unless ``keep_interfaces``)."""
        with self.lock:
            self.devices.clear()
            self.errors.clear()
            self.disconnections.clear()
            self.sessions.clear()
            # Emptied, not replaced: numbers go on from where they were, so a reader's cursor
            # taken before a reset still means "what came after it".
            for log in (self.raw_messages, *self.device_messages.values()):
                log.kept.clear()
            if not keep_interfaces:
                self.interfaces.clear()

    # -- interfaces ------------------------------------------------------------------------
    def installed(self, name: str, major: int) -> Interface | None:
        entry = self.interfaces.get((name, major))
        return entry.interface if entry is not None else None

    def introspected_interface(self, device: Device, name: str) -> Interface | None:
        """The installed interface at the major the device declares, or None."""
        entry = device.introspection.get(name)
        return None if entry is None else self.installed(name, entry[0])

    # -- devices ---------------------------------------------------------------------------
    @staticmethod
    def new_secret() -> str:
        """A credentials secret like Astarte's (32 random bytes, base64)."""
        import base64

        return base64.b64encode(secrets.token_bytes(32)).decode("ascii")

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def record_raw(self, message: RawMessage) -> None:
        with self.lock:
            if len(self.raw_messages.kept) >= RAW_MESSAGE_LIMIT:
                oldest = self.raw_messages.drop_oldest()
                # Arrival order is the same in both logs, so the device's oldest is this one.
                self.device_messages[_topic_device(oldest.topic)].drop_oldest()
            self.raw_messages.append(message)
            self.device_messages.setdefault(_topic_device(message.topic), MessageLog()).append(message)

    def record_error(self, device_id: str, error_name: str, metadata: dict[str, str]) -> DeviceErrorEvent:
        event = DeviceErrorEvent(device_id, error_name, metadata, now_ms())
        with self.lock:
            self.errors.append(event)
        return event


def _topic_device(topic: str) -> str:
    """``<realm>/<device_id>[/...]`` -> the device id as the topic spells it."""
    parts = topic.split("/", 2)
    return parts[1] if len(parts) > 1 else ""
