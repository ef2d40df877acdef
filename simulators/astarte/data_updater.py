"""The realm's Data Updater: what Astarte v1.2.0 does with each device message.

Messages arrive on paho's network thread and are queued; one worker thread handles them in
arrival order (like one data updater process per device, ordered), because handling may publish
and wait for acknowledgements, and may take a device's session over, which must never block the
network thread.

Topics (``<realm>/<device_id>...``):

* ``<realm>/<id>``: introspection, stored verbatim; dropped interfaces go to previous_interfaces;
* ``.../control/emptyCache``: publish ``control/consumer/properties`` (QoS 2, 4-byte big-endian
  size + zlib of the set server-owned property paths; no subscriber -> ``device_session_not_found``),
  then republish every set server-owned property (QoS 2), walking the introspection; an
  uninstalled interface there -> ``resend_interface_properties_failed``;
* ``.../control/producer/properties``: 4-byte header ignored, ``00000000`` prunes every device
  property, otherwise zlib inflate (10 MiB cap) and prune what is not listed; a bad payload
  forces a disconnect without a trigger (log tag ``purge_properties_error``);
* other ``.../control/...``: ``unexpected_control_message``;
* ``.../<interface><path>``: data, judged by the oracle's *server* verdict after the realm-level
  checks (``invalid_path``, then ``interface_loading_failed``).

On an error, as Astarte: the message is discarded, a ``device_error`` event is recorded (metadata
``interface``/``path`` Elixir-inspected, i.e. with literal quotes, and ``base64_payload``), and,
except for ``unset_on_datastream``, the device is forced off the broker with its session
discarded, marked disconnected and ``pending_empty_cache``; its further messages are discarded
until its next session starts.

Session tracking follows the broker's connection log (:mod:`.broker_log`), as Astarte follows
its broker plugin: a device session starts with ``New client connected ... as <realm>/<id>``
(``connected``, ``last_connection``, ``last_seen_ip``; messages are no longer discarded) and ends
with any disconnect line or a takeover by another connection (``last_disconnection``). The
realm's own takeover sessions (forced disconnects, recognised by the kicker's local port) are not
the device's and are ignored. Log lines reach this worker through the same back-office session as
the device's messages, so they are handled in broker order; a kick runs on this worker, so its
port is known before its log lines are handled. When the back office loses the broker, every
session is gone. A device that sends an introspection or emptyCache while the realm believes it
disconnected (a log line missed across a broker restart) counts as connected from then on.
"""

from __future__ import annotations

import base64
import logging
import queue
import re
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Final

from hil.astarte.bsonwire import BsonDocument, BsonError, BsonType, BsonValue, decode, encode
from hil.oracle import Interface, judge_device_payload, resolve, server_resolve
from hil.simulators.astarte.broker_link import BackOffice, SessionKicker
from hil.simulators.astarte.broker_log import SessionChange, SessionEvent, parse_log_line
from hil.simulators.astarte.device_ids import normalise_device_id
from hil.simulators.astarte.realm import Device, Disconnection, RawMessage, Realm, SessionRecord, StoredRow
from hil.simulators.astarte.values import from_bson, now_ms, to_bson

__all__ = ["DataUpdater", "purge_payload"]

_log = logging.getLogger(__name__)

_INTERFACE_NAME: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9]*\.([a-zA-Z0-9][a-zA-Z0-9-]*\.)*)?[a-zA-Z][a-zA-Z0-9]*")
_VERSION: Final = re.compile(r"[+-]?[0-9]+")
INFLATE_LIMIT: Final = 10 * 1024 * 1024
_STOP: Final = object()
_BROKER_LOST: Final = object()
_LOG_PREFIX: Final = b"$SYS/broker/log/"


def purge_payload(entries: list[str]) -> bytes:
    """``control/consumer/properties``: 4-byte big-endian uncompressed size + zlib of ``a;b;c``."""
    text = ";".join(entries).encode("utf-8")
    return struct.pack(">I", len(text)) + zlib.compress(text)


def _inspect(text: str) -> str:
    """Elixir ``inspect`` of a string: quoted, with backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Incoming:
    topic: bytes
    payload: bytes
    qos: int
    retain: bool
    received_at: int


class DataUpdater:
    """Consumes the realm's device traffic; see the module docstring for the behaviour."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm
        self.back_office: BackOffice | None = None
        self.kicker: SessionKicker | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="astarte-data-updater", daemon=True)
        self._idle = threading.Condition()
        self._pending = 0
        #: client id -> whether its current broker session is the kicker's (worker thread only)
        self._sessions: dict[str, bool] = {}

    def attach(self, back_office: BackOffice, kicker: SessionKicker) -> None:
        self.back_office, self.kicker = back_office, kicker

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._worker.join(timeout=5)

    # -- intake (paho network thread) ------------------------------------------------------
    def submit(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(_Incoming(topic, payload, qos, retain, now_ms()))

    def broker_lost(self) -> None:
        """The back office lost the broker: no device session survives that."""
        with self._idle:
            self._pending += 1
        self._queue.put(_BROKER_LOST)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued message has been handled (for ``/_sim`` readers)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if item is _BROKER_LOST:
                    self._all_sessions_lost()
                else:
                    assert isinstance(item, _Incoming)
                    self._dispatch(item)
            except Exception:  # noqa: BLE001 - one bad message must not stop the realm
                _log.exception("data updater failed on %r", item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
                self.realm.notify()

    def _dispatch(self, item: _Incoming) -> None:
        if item.topic.startswith(_LOG_PREFIX):
            self._broker_log(item)
            return
        try:
            self._handle(item)
        finally:
            # Recorded once handled, so a reader that sees the message also sees its effects.
            topic_text = item.topic.decode("utf-8", "surrogateescape")
            self.realm.record_raw(RawMessage(topic_text, item.qos, item.retain, item.payload, item.received_at))

    # -- dispatch --------------------------------------------------------------------------
    def _handle(self, msg: _Incoming) -> None:
        parts = msg.topic.split(b"/")
        if len(parts) < 2 or parts[0] != self.realm.name.encode():
            return
        device_id = normalise_device_id(parts[1].decode("utf-8", "replace"))
        with self.realm.lock:
            device = self.realm.devices.get(device_id) if device_id else None
        if device is None:
            # Astarte's broker refuses devices the realm does not know; ours cannot, so the realm
            # removes the session as soon as it speaks.
            self._force_disconnect(parts[1].decode("utf-8", "replace"), None, "device_not_registered")
            return
        rest = parts[2:]
        session_start = not rest or rest in ([b"control", b"emptyCache"],)
        with self.realm.lock:
            if device.discard_messages:
                return
            if session_start and not device.connected:
                device.connected = True
                device.last_connection = msg.received_at
        if not rest:
            self._introspection(device, msg)
        elif rest[0] == b"control":
            self._control(device, b"/".join(rest[1:]), msg)
        else:
            self._data(device, rest[0], rest[1:], msg)

    # -- sessions (the broker's connection log) --------------------------------------------
    def _broker_log(self, msg: _Incoming) -> None:
        event = parse_log_line(msg.payload)
        prefix = f"{self.realm.name}/"
        if event is None or not event.client_id.startswith(prefix):
            return
        if event.change is SessionChange.CONNECTED:
            kicker_ports = self.kicker.own_ports if self.kicker is not None else set()
            is_kicker = event.port in kicker_ports
            kicker_ports.discard(event.port or -1)
            if is_kicker:
                self._session_ended(event.client_id)  # the kicker's session replaced the device's
            self._sessions[event.client_id] = is_kicker
            if not is_kicker:
                self._session_started(event, msg.received_at)
        else:
            self._session_ended(event.client_id)

    def _device_of(self, client_id: str) -> Device | None:
        device_id = normalise_device_id(client_id.split("/", 1)[1])
        with self.realm.lock:
            return self.realm.devices.get(device_id) if device_id else None

    def _session_started(self, event: SessionEvent, at: int) -> None:
        device = self._device_of(event.client_id)
        if device is None:
            return
        with self.realm.lock:
            device.connected = True
            device.last_connection = at
            device.last_seen_ip = event.ip
            device.discard_messages = False
            self.realm.sessions.append(SessionRecord(device.device_id, "connected", at, event.ip))

    def _session_ended(self, client_id: str) -> None:
        kicker = self._sessions.pop(client_id, None)
        if kicker:
            return  # the kicker's own session
        device = self._device_of(client_id)
        if device is None:
            return
        at = now_ms()
        with self.realm.lock:
            if kicker is None and not device.connected:
                return  # no session of the device was known to end
            self.realm.sessions.append(SessionRecord(device.device_id, "disconnected", at))
            if device.connected:  # a forced disconnect marked it already
                device.connected = False
                device.last_disconnection = at

    def _all_sessions_lost(self) -> None:
        self._sessions.clear()
        at = now_ms()
        with self.realm.lock:
            for device in self.realm.devices.values():
                device.discard_messages = False
                if device.connected:
                    device.connected = False
                    device.last_disconnection = at
                    self.realm.sessions.append(SessionRecord(device.device_id, "disconnected", at))

    # -- errors ----------------------------------------------------------------------------
    def _device_error(self, device: Device, error_name: str, metadata: dict[str, str], *, disconnect: bool = True) -> None:
        self.realm.record_error(device.device_id, error_name, metadata)
        _log.info("device %s: %s %s", device.device_id, error_name, metadata)
        if disconnect:
            self._ask_clean_session(device, error_name)

    def _ask_clean_session(self, device: Device, reason: str) -> None:
        with self.realm.lock:
            device.pending_empty_cache = True
            device.discard_messages = True
            if device.connected:
                device.connected = False
                device.last_disconnection = now_ms()
        self._force_disconnect(device.device_id, device, reason)

    def _force_disconnect(self, device_id: str, device: Device | None, reason: str) -> None:
        taken_over = self.kicker.kick(f"{self.realm.name}/{device_id}") if self.kicker is not None else False
        with self.realm.lock:
            self.realm.disconnections.append(Disconnection(device_id, reason, now_ms(), taken_over))

    def _data_metadata(self, interface: str, path: str, payload: bytes) -> dict[str, str]:
        return {"interface": _inspect(interface), "path": _inspect(path),
                "base64_payload": base64.b64encode(payload).decode("ascii")}

    # -- introspection ---------------------------------------------------------------------
    def _introspection(self, device: Device, msg: _Incoming) -> None:
        parsed = _parse_introspection(msg.payload)
        if parsed is None:
            metadata = {"base64_payload": base64.b64encode(msg.payload).decode("ascii")}
            self._device_error(device, "invalid_introspection", metadata)
            return
        with self.realm.lock:
            device.count_exchange(None, None, len(msg.payload))
            old = device.introspection
            for name, (major, minor) in old.items():
                if parsed.get(name, (None,))[0] != major:
                    device.previous_interfaces[(name, major)] = minor  # its data stays, as in Astarte
            for name, (major, _minor) in parsed.items():
                device.previous_interfaces.pop((name, major), None)
            device.introspection = parsed

    # -- control ---------------------------------------------------------------------------
    def _control(self, device: Device, subtopic: bytes, msg: _Incoming) -> None:
        with self.realm.lock:
            device.count_exchange(None, None, len(msg.payload))
        if subtopic == b"emptyCache":
            self._empty_cache(device)
        elif subtopic == b"producer/properties":
            self._purge_device_properties(device, msg.payload)
        else:
            metadata = {"base64_payload": base64.b64encode(msg.payload).decode("ascii")}
            self._device_error(device, "unexpected_control_message", metadata)

    def _empty_cache(self, device: Device) -> None:
        assert self.back_office is not None
        base = f"{self.realm.name}/{device.device_id}"
        with self.realm.lock:
            entries: list[str] = []
            resend: list[tuple[Interface | None, str, int]] = []
            for name, (major, _minor) in device.introspection.items():
                interface = self.realm.installed(name, major)
                resend.append((interface, name, major))
                if interface is None or not (interface.is_properties and interface.ownership == "server"):
                    continue
                entries += [f"{name}{path}" for path in device.properties.get((name, major), {})]
        # Astarte gives up with device_session_not_found when this publish reaches no session;
        # the broker cannot tell us that here (see broker_link), so that error is not simulated.
        self.back_office.publish(f"{base}/control/consumer/properties", purge_payload(entries), 2)
        for interface, name, major in resend:
            if interface is None:
                self._device_error(device, "resend_interface_properties_failed", {})
                return
            if not (interface.is_properties and interface.ownership == "server"):
                continue
            with self.realm.lock:
                values = list(device.properties.get((name, major), {}).items())
            for path, value in values:
                mapping = resolve(interface, path).mapping
                if mapping is None:
                    continue
                payload = encode(BsonDocument.of(v=to_bson(mapping.type, value)))
                self.back_office.publish(f"{base}/{name}{path}", payload, 2)  # a failure is ignored (v1.2.0)
        with self.realm.lock:
            device.pending_empty_cache = False

    def _purge_device_properties(self, device: Device, payload: bytes) -> None:
        if len(payload) < 4:
            _log.warning("device %s: producer/properties shorter than 4 bytes (Astarte's handler crashes)",
                         device.device_id)
            return
        listed = set() if payload == b"\x00\x00\x00\x00" else _inflate_entries(payload[4:])
        if listed is None:
            _log.info("device %s: purge_properties_error", device.device_id)
            self._ask_clean_session(device, "purge_properties_error")
            return
        with self.realm.lock:
            for name, (major, _minor) in device.introspection.items():
                interface = self.realm.installed(name, major)
                if interface is None or not interface.is_properties or interface.ownership != "device":
                    continue
                stored = device.properties.get((name, major), {})
                for path in [p for p in stored if f"{name}{p}" not in listed]:
                    del stored[path]

    # -- data ------------------------------------------------------------------------------
    def _data(self, device: Device, raw_interface: bytes, raw_path: list[bytes], msg: _Incoming) -> None:
        try:
            interface_name = raw_interface.decode("utf-8")
        except UnicodeDecodeError:
            metadata = {"interface": _inspect(raw_interface.decode("utf-8", "replace")), "path": '""',
                        "base64_payload": base64.b64encode(msg.payload).decode("ascii")}
            self._device_error(device, "invalid_interface", metadata)
            return
        path_bytes = b"/" + b"/".join(raw_path)
        try:
            path = path_bytes.decode("utf-8")
        except UnicodeDecodeError:
            path = ""
        metadata = self._data_metadata(interface_name, path or path_bytes.decode("utf-8", "replace"), msg.payload)
        if not path or "//" in path:
            self._device_error(device, "invalid_path", metadata)
            return
        with self.realm.lock:
            interface = self.realm.introspected_interface(device, interface_name)
        if interface is None:
            self._device_error(device, "interface_loading_failed", metadata)
            return
        verdict = judge_device_payload(interface, path, msg.payload)
        if verdict.server_error_name is not None:
            self._device_error(device, verdict.server_error_name, metadata, disconnect=verdict.server_disconnects)
            return
        self._store(device, interface, path, msg)

    def _store(self, device: Device, interface: Interface, path: str, msg: _Incoming) -> None:
        key = (interface.name, interface.version_major)
        value, timestamp = _extract(msg.payload)
        mappings = server_resolve(interface, path).mappings
        with self.realm.lock:
            device.count_exchange(interface.name, interface.version_major,
                                  len(msg.payload) + len(interface.name) + len(path.encode()))
            if interface.is_properties:
                stored = device.properties.setdefault(key, {})
                if value is None:
                    stored.pop(path, None)
                else:
                    stored[path] = from_bson(mappings[0].type, value)
                return
            explicit = mappings[0].explicit_timestamp
            value_ts = timestamp if explicit and timestamp is not None else msg.received_at
            if interface.is_object:
                items = dict(value.value.items) if value is not None else {}
                by_key = interface.object_mappings()
                stored_value = {k: (from_bson(m.type, items[k]) if k in items else None) for k, m in by_key.items()}
            else:
                assert value is not None  # judge_device_payload refused an unset of a datastream
                stored_value = from_bson(mappings[0].type, value)
            rows = device.datastreams.setdefault(key, {}).setdefault(_canonical_path(path), [])
            rows.append(StoredRow(stored_value, value_ts, msg.received_at))


def _canonical_path(path: str) -> str:
    """Astarte stores the path as resolved: empty levels at the ends dropped."""
    return "/" + "/".join(token for token in path.split("/") if token)


def _extract(payload: bytes) -> tuple[BsonValue | None, int | None]:
    """The value (None = unset) and the ``t`` datetime in ms, as payloads_decoder.ex reads them."""
    if not payload:
        return None, None
    try:
        doc = decode(payload, strict=False)
    except BsonError:
        return None, None
    if "v" not in doc:
        return BsonValue(BsonType.DOCUMENT, doc), None
    value = doc["v"]
    t = doc.get("t")
    timestamp = t.value if t is not None and t.kind is BsonType.DATETIME else None
    if value.kind is BsonType.NULL or (value.kind is BsonType.BINARY and value.value == b""):
        return None, timestamp
    return value, timestamp


def _parse_introspection(payload: bytes) -> dict[str, tuple[int, int]] | None:
    if payload == b"":
        return {}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parsed: dict[str, tuple[int, int]] = {}
    for token in text.split(";"):
        fields = token.split(":")
        if len(fields) != 3 or not _INTERFACE_NAME.fullmatch(fields[0]):
            return None
        if not _VERSION.fullmatch(fields[1]) or not _VERSION.fullmatch(fields[2]):
            return None
        major, minor = int(fields[1]), int(fields[2])
        if major < 0 or minor < 0:
            return None
        parsed[fields[0]] = (major, minor)
    return parsed


def _inflate_entries(data: bytes) -> set[str] | None:
    """The ``iface/path`` entries of a zlib purge list, or None when it does not inflate."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, INFLATE_LIMIT + 1)
    except zlib.error:
        return None
    if len(text) > INFLATE_LIMIT or inflater.unconsumed_tail or not inflater.eof:
        return None
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return {entry for entry in decoded.split(";") if entry}
