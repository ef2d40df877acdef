"""The hub's behaviour, independent of gRPC: nodes, the shared introspection, routing, validation.

Modelled on astarte-message-hub v0.7.0 (``src/server.rs``, ``src/astarte/handler.rs``) and the Rust
device SDK 0.9.2 it embeds (``client.rs``, ``validate.rs``, ``types.rs``):

* a node is its id and the set of interfaces it declared; the device introspection is the union
  of all nodes' interfaces plus the interfaces cached from earlier runs;
* Attach parses every interface (a bad one: INVALID_ARGUMENT), installs the new ones on the
  device, queues the stored server properties of the node's interfaces, then registers the node;
* Send is validated against the *device* introspection, not the node's: a node may send on an
  interface another node declared, as on the real hub. Every Send failure is INTERNAL
  ``Unable to publish astarte message, err: ...``;
* release-build leniencies of the Rust SDK are kept: a Send on a server-owned interface, or with a
  timestamp on a mapping without ``explicit_timestamp``, is logged and published anyway; an
  ``integer`` value is accepted for ``longinteger`` and ``double`` mappings (and goes out as int32);
  object fields that match no mapping are dropped, and every mapping must then be present;
  setting a device property to the value it already has publishes nothing;
* server data goes to the nodes whose introspection holds the interface; data on an unknown
  mapping becomes a MessageHubEvent error for those nodes, other receive errors go to all nodes.

Locking: one lock guards the nodes and the introspection, and it is never held while waiting on
the network. paho's network thread takes it to route server data (:meth:`MessageHub._broadcast`)
and is also the thread that reads the broker's acknowledgement of a new introspection, so a node
call that waited for that acknowledgement under the lock would stall until the timeout whenever
server data was flowing. A node call therefore changes the nodes and the introspection in one
critical section (the link publishes the introspection in that order), lets go, and only then
waits for the acknowledgement before it answers. An attaching node is *pending* meanwhile: it is
routed (so no server message falls between its stored properties and the live ones) and counts as
a user of its interfaces (so a concurrent Detach keeps them), but it is not attached to callers
(control API, node-id check) until the broker has its introspection, so a check that waited for
the Attach may send on the new interfaces at once. That holds when another node's call installed
the same interfaces a moment earlier, too: with nothing new to send, a call waits for the last
introspection sent (see :meth:`AstarteLink.change_interfaces`).

Errors are :class:`HubError` with a gRPC status *name*, so this module needs no gRPC import.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from hil.astarte.bsonwire import BsonDocument, BsonError, BsonType, BsonValue, decode, encode
from hil.errors import ConfigError
from hil.oracle import Interface, Ownership, PathStatus, Profile, ValueType, expected_qos, parse_interface, resolve

from hil.simulators.message_hub.astarte_link import NOTHING_SENT, AstarteLink, IntrospectionAck
from hil.simulators.message_hub.codec import Codec, NodeMessage, TypedValue
from hil.simulators.message_hub.property_store import InterfaceCache, PropertyStore, StoredProperty

__all__ = ["CLOSE", "HubError", "MessageHub", "Node"]

log = logging.getLogger("message_hub.hub")

CLOSE: Final = object()  # queued to end a node's event stream
PUBLISH_ERROR: Final = "Unable to publish astarte message, err: "
#: Nodes the hub holds at once (above the open-stream limit, so live nodes never hit it first).
MAX_NODES: Final = 1024


class HubError(Exception):
    """A refusal with the gRPC status the real hub returns (``code`` is a StatusCode name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _publish_error(detail: str) -> HubError:
    return HubError("INTERNAL", PUBLISH_ERROR + detail)


@dataclass
class Node:
    """An attached node: its declared interfaces and the queue behind its Attach stream."""

    id: uuid.UUID
    interfaces: set[str]
    events: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    stream_open: bool = True

    def describe(self) -> dict[str, Any]:
        return {"node_id": str(self.id), "interfaces": sorted(self.interfaces), "stream_open": self.stream_open}


def _parse(text: str | bytes) -> tuple[Interface, dict[str, Any]]:
    """An interface from node JSON; ConfigError when the real hub's parser would refuse it."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"interface is not JSON: {exc}") from None
    except RecursionError:  # serde_json, too, refuses nesting past its limit (128)
        raise ConfigError("interface is not JSON: nested too deeply") from None
    try:
        return parse_interface(document, profile=Profile.SERVER), document
    except RecursionError:
        raise ConfigError("interface is nested too deeply") from None


def _version_conflict(new: Interface, old: Interface) -> str | None:
    """The Rust SDK's ``validate_with``: a changed interface must carry a higher version."""
    if (new.version_major, new.version_minor) > (old.version_major, old.version_minor):
        return None
    return (
        f"interface {new.name} {new.version_major}.{new.version_minor} does not supersede the installed "
        f"{old.version_major}.{old.version_minor}"
    )


def _accepts(mapping_type: ValueType, sent: ValueType) -> bool:
    """Rust SDK 0.9.2 ``PartialEq<MappingType> for AstarteType``."""
    return sent is mapping_type or (
        sent is ValueType.INTEGER and mapping_type in (ValueType.LONGINTEGER, ValueType.DOUBLE)
    )


class MessageHub:
    """Nodes and their routing on top of one :class:`AstarteLink`.

    Args:
        max_nodes: nodes held at once. Like the real hub, a node whose Attach stream was cancelled
            stays attached; when the table is full the oldest such node is forgotten (as if it
            had detached) to make room, and with none to forget an Attach is RESOURCE_EXHAUSTED.
    """

    def __init__(self, link: AstarteLink | None, codec: Codec, store: PropertyStore, cache: InterfaceCache,
                 *, max_nodes: int = MAX_NODES) -> None:
        self.link = link
        self.max_nodes = max_nodes
        self.codec = codec
        self.store = store
        self.cache = cache
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._nodes: dict[uuid.UUID, Node] = {}
        #: Attaching nodes waiting for the broker: routed and using their interfaces, not yet attached.
        self._pending: list[Node] = []
        self._documents: dict[str, dict[str, Any]] = {}
        self.published = 0
        self.delivered = 0
        #: (name, major, minor, path) -> mapping for the Send hot path (a changed interface needs a new version).
        self._resolved: dict[tuple[str, int, int, str], Any] = {}

    # -- start-up --------------------------------------------------------------------------------
    def restore_cached_interfaces(self) -> list[str]:
        """Install the interfaces cached by an earlier run (the real hub does it before serving)."""
        restored: list[Interface] = []
        for name, document in self.cache.load().items():
            try:
                interface = parse_interface(document, profile=Profile.SERVER)
            except ConfigError:
                self.cache.remove(name)
                continue
            self._documents[interface.name] = document
            restored.append(interface)
        if self.link is not None and restored:
            self.link.update_interfaces(restored, [])
        return [i.name for i in restored]

    def device_interfaces(self) -> dict[str, Interface]:
        return self.link.introspection() if self.link is not None else {}

    # -- node life cycle ---------------------------------------------------------------------------
    def is_attached(self, node_id: uuid.UUID) -> bool:
        with self._lock:
            return node_id in self._nodes

    def nodes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [node.describe() for node in self._nodes.values()]

    def wait_for_node(self, node_id: uuid.UUID, timeout: float, *, attached: bool = True) -> bool:
        """Block until the node is (or is no longer) attached; the control API's long poll."""
        with self._changed:
            return self._changed.wait_for(lambda: (node_id in self._nodes) is attached, timeout)

    def _routed(self) -> Iterator[Node]:
        """Every node that gets server data and keeps its interfaces installed (pending ones too)."""
        yield from self._nodes.values()
        yield from self._pending

    def _install(self, parsed: list[tuple[Interface, dict[str, Any]]], error_code: str) -> IntrospectionAck:
        """Add interfaces to the device introspection (and the cache) unless a version conflicts.

        Called under the lock; the caller waits on the returned acknowledgement after releasing it.
        With nothing fresh that is still the link's last introspection: another node may have
        installed these interfaces a moment ago and still be waiting for the broker to take them.
        """
        installed = self.device_interfaces()
        fresh: list[Interface] = []
        for interface, _document in parsed:
            old = installed.get(interface.name)
            if old is not None and old == interface:
                continue
            if old is not None and (conflict := _version_conflict(interface, old)):
                raise HubError(error_code, f"failed to add interfaces: {conflict}")
            fresh.append(interface)
        for interface, document in parsed:
            if interface in fresh:
                self._documents[interface.name] = document
                self.cache.store(interface.name, document)
        if self.link is not None:
            return self.link.change_interfaces(fresh, [])
        return NOTHING_SENT

    def _uninstall_unused(self, names: set[str]) -> IntrospectionAck:
        """Drop those of ``names`` that no routed node declares (the caller already let go of them)."""
        still_used = {name for node in self._routed() for name in node.interfaces}
        gone = sorted(names - still_used)
        if not gone:
            return NOTHING_SENT
        for name in gone:
            self.cache.remove(name)
            self._documents.pop(name, None)
        if self.link is not None:
            return self.link.change_interfaces([], gone)
        return NOTHING_SENT

    @staticmethod
    def _settle(ack: IntrospectionAck, what: str) -> None:
        """Wait, holding no lock, until the broker has the introspection a node call changed."""
        if not ack.wait():
            log.warning("%s: the broker did not acknowledge the new introspection in time", what)

    def _queue_stored_properties(self, node: Node) -> None:
        """The real hub pushes the stored server properties of a node's interfaces before live data."""
        for prop in self.store.all("server"):
            if prop.interface in node.interfaces:
                event = self._server_event(prop.interface, prop.path, prop.payload)
                if event is not None:
                    node.events.put(event)

    def attach(self, node_id: uuid.UUID, interfaces_json: list[str]) -> Node:
        try:
            parsed = [_parse(text) for text in interfaces_json]
        except ConfigError as exc:
            log.info("attach of %s refused: %s", node_id, exc)
            raise HubError("INVALID_ARGUMENT", "error returned by the device") from None
        node = Node(node_id, {interface.name for interface, _ in parsed})
        with self._changed:
            evicted = self._make_room(node_id)
            ack = self._install(parsed, "INTERNAL")
            # Stored properties and routing in one critical section: none is missed or reordered.
            self._queue_stored_properties(node)
            self._pending.append(node)
        try:
            self._settle(evicted, f"room for {node_id}")
            self._settle(ack, f"attach of {node_id}")
        except BaseException:
            # As if the node had attached and detached: what it alone used goes (no wait, it is failing).
            with self._changed:
                self._pending.remove(node)
                self._uninstall_unused(node.interfaces)
            raise
        self._register(node)
        log.info("node %s attached with %s", node_id, sorted(node.interfaces))
        return node

    def _make_room(self, node_id: uuid.UUID) -> IntrospectionAck:
        """Under the lock: forget the oldest node with a cancelled stream if the table is full."""
        if node_id in self._nodes or len(self._nodes) + len(self._pending) < self.max_nodes:
            return NOTHING_SENT
        stale = next((node for node in self._nodes.values() if not node.stream_open), None)
        if stale is None:
            raise HubError("RESOURCE_EXHAUSTED", f"the hub holds at most {self.max_nodes} nodes")
        del self._nodes[stale.id]
        log.info("node %s forgotten to make room: its stream had ended", stale.id)
        self._changed.notify_all()
        return self._uninstall_unused(stale.interfaces)

    def _register(self, node: Node) -> None:
        """A pending node becomes attached, replacing (and closing) an earlier one with its id."""
        with self._changed:
            self._pending.remove(node)
            previous = self._nodes.pop(node.id, None)
            if previous is not None:
                previous.events.put(CLOSE)
            self._nodes[node.id] = node
            self._changed.notify_all()

    def detach(self, node_id: uuid.UUID) -> None:
        with self._changed:
            node = self._nodes.pop(node_id, None)
            if node is None:  # only reachable in a race: the interceptor checked it
                raise HubError("INVALID_ARGUMENT", f"node id not found {node_id}")
            ack = self._uninstall_unused(node.interfaces)
            node.events.put(CLOSE)
            self._changed.notify_all()
        self._settle(ack, f"detach of {node_id}")
        log.info("node %s detached", node_id)

    def stream_closed(self, node: Node) -> None:
        """The node's Attach stream ended (cancelled); like the real hub, it stays attached."""
        node.stream_open = False

    def add_interfaces(self, node_id: uuid.UUID, interfaces_json: list[str]) -> None:
        try:
            parsed = [_parse(text) for text in interfaces_json]
        except ConfigError:
            raise HubError("INTERNAL", "failed to parse am Interface") from None
        with self._changed:
            node = self._nodes.get(node_id)
            if node is None:
                raise HubError("INVALID_ARGUMENT", f"node id not found {node_id}")
            ack = self._install(parsed, "INTERNAL")
            node.interfaces |= {interface.name for interface, _ in parsed}
            self._changed.notify_all()
        self._settle(ack, f"add interfaces of {node_id}")

    def remove_interfaces(self, node_id: uuid.UUID, names: list[str]) -> None:
        with self._changed:
            node = self._nodes.get(node_id)
            if node is None:
                raise HubError("INVALID_ARGUMENT", f"node id not found {node_id}")
            node.interfaces -= set(names)
            ack = self._uninstall_unused(set(names))
            self._changed.notify_all()
        self._settle(ack, f"remove interfaces of {node_id}")

    # -- node -> Astarte ---------------------------------------------------------------------------
    def send(self, message: NodeMessage) -> None:
        """Validate like the Rust SDK and publish on the hub device's MQTT connection."""
        interface = self.device_interfaces().get(message.interface)
        if interface is None:
            raise _publish_error(f'Astarte(InterfaceNotFound {{ name: "{message.interface}" }})')
        if interface.ownership is Ownership.SERVER:
            log.error("send validation failed: %s is server-owned (published anyway, as a release build does)", interface.name)
        if message.value is None:
            self._unset(interface, message.path)
        elif isinstance(message.value, dict):
            self._send_object(interface, message.path, message.value, message.timestamp_ms)
        else:
            self._send_individual(interface, message.path, message.value, message.timestamp_ms)

    def _mapping(self, interface: Interface, path: str) -> Any:
        key = (interface.name, interface.version_major, interface.version_minor, path)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        mapping = self._resolve_mapping(interface, path)
        if len(self._resolved) > 10_000:  # parametric paths are unbounded; keep the cache small
            self._resolved.clear()
        self._resolved[key] = mapping
        return mapping

    def _resolve_mapping(self, interface: Interface, path: str) -> Any:
        if interface.is_object:
            raise _publish_error(f'Astarte(Aggregation {{ interface: "{interface.name}", path: "{path}", '
                                 "exp: Individual, got: Object })")
        resolution = resolve(interface, path)
        if resolution.status is PathStatus.INVALID_PATH:
            raise _publish_error(f'Astarte(InvalidEndpoint("{path}"))')
        if resolution.mapping is None:
            raise _publish_error(f'Astarte(MappingNotFound {{ interface: "{interface.name}", mapping: "{path}" }})')
        return resolution.mapping

    def _send_individual(self, interface: Interface, path: str, value: TypedValue, timestamp: int | None) -> None:
        mapping = self._mapping(interface, path)
        if not _accepts(mapping.type, value.type):
            raise _publish_error(
                f'Astarte(Validation(SerializeType {{ expected: "{mapping.type}", got: "{value.type}" }}))'
            )
        if timestamp is not None and not mapping.explicit_timestamp:
            log.error("send validation failed: timestamp on %s%s without explicit_timestamp", interface.name, path)
        items: list[tuple[str, BsonValue]] = [("v", value.bson)]
        if timestamp is not None and interface.is_datastream:
            items.append(("t", BsonValue.datetime(timestamp)))
        payload = encode(BsonDocument(tuple(items)))
        if interface.is_properties and interface.ownership is Ownership.DEVICE:
            stored = self.store.get(interface.name, path)
            if stored is not None and stored.payload == payload:
                return  # "property was already sent, no need to send it again"
            self.store.put(StoredProperty(interface.name, path, interface.version_major, "device", str(value.type), payload))
        self._publish(interface, path, payload, expected_qos(interface, mapping))

    def _send_object(self, interface: Interface, path: str, fields: dict[str, TypedValue], timestamp: int | None) -> None:
        if not interface.is_object:
            raise _publish_error(
                f'Astarte(Aggregation {{ interface: "{interface.name}", path: "{path}", '
                "exp: Object, got: Individual })"
            )
        resolution = resolve(interface, path)
        if not resolution.ok:
            raise _publish_error(f'Astarte(InvalidEndpoint("{path}"))')
        by_key = interface.object_mappings()
        kept: list[tuple[str, BsonValue]] = []
        for key, value in sorted(fields.items()):
            mapping = by_key.get(key)
            if mapping is None:
                log.warning("unrecognized mapping %s/%s, ignoring", path, key)
                continue
            if not _accepts(mapping.type, value.type):
                raise _publish_error(
                    f'Astarte(Validation(SerializeType {{ expected: "{mapping.type}", got: "{value.type}" }}))'
                )
            kept.append((key, value.bson))
        if len(kept) != len(by_key):
            raise _publish_error("Astarte(Validation(MissingMapping))")
        items: list[tuple[str, BsonValue]] = [("v", BsonValue.document(BsonDocument(tuple(kept))))]
        if timestamp is not None:
            items.append(("t", BsonValue.datetime(timestamp)))
        self._publish(interface, path, encode(BsonDocument(tuple(items))), expected_qos(interface))

    def _unset(self, interface: Interface, path: str) -> None:
        mapping = self._mapping(interface, path)
        if not interface.is_properties:
            raise _publish_error(f'Astarte(Aggregation {{ interface: "{interface.name}", path: "{path}", exp: Property }})')
        if not mapping.allow_unset:
            raise _publish_error(f'Astarte(Validation(Unset {{ interface: "{interface.name}", mapping: "{path}" }}))')
        self.store.delete(interface.name, path)
        self._publish(interface, path, b"", 2)

    def _publish(self, interface: Interface, path: str, payload: bytes, qos: int) -> None:
        if self.link is None:
            return
        self.link.publish(interface.name, path, payload, qos)
        self.published += 1

    # -- Astarte -> nodes -------------------------------------------------------------------------
    def on_server_data(self, interface_name: str, path: str, payload: bytes) -> None:
        """A message from Astarte on a data topic: store server properties, route to nodes."""
        interface = self.device_interfaces().get(interface_name)
        if interface is None:
            self._broadcast(self.codec.event_error(f"couldn't find interface '{interface_name}'", []), None)
            return
        if interface.is_properties and interface.ownership is Ownership.SERVER:
            if payload:
                value_type = self._mapping_type(interface, path)
                self.store.put(StoredProperty(interface_name, path, interface.version_major, "server", str(value_type or ""), payload))
            else:
                self.store.delete(interface_name, path)
        event = self._server_event(interface_name, path, payload, interface)
        if event is not None:
            self._broadcast(event, interface_name)

    def _mapping_type(self, interface: Interface, path: str) -> ValueType | None:
        resolution = resolve(interface, path)
        return resolution.mapping.type if resolution.mapping is not None else None

    def _server_event(self, interface_name: str, path: str, payload: bytes, interface: Interface | None = None) -> Any:
        """The MessageHubEvent for one server message (a value, an unset or an error event)."""
        interface = interface or self.device_interfaces().get(interface_name)
        if interface is None:
            return None
        resolution = resolve(interface, path)
        if not resolution.ok or not resolution.mappings:
            return self.codec.event_error(f"couldn't find mapping {path} in interface {interface_name}", [interface_name])
        if not payload:
            if not interface.is_properties:
                return self.codec.event_error(f"unset on datastream {interface_name}{path}", [interface_name])
            return self.codec.event_message(interface_name, path, None)
        try:
            document = decode(payload)
            value = document["v"]
            timestamp = document.get("t")
            stamp = timestamp.value if timestamp is not None and timestamp.kind is BsonType.DATETIME else None
            if interface.is_object:
                if value.kind is not BsonType.DOCUMENT:
                    raise ValueError("object value is not a document")
                by_key = interface.object_mappings()
                fields = {}
                for key, item in value.value.items:
                    if key not in by_key:
                        raise ValueError(f"unexpected object key {key}")
                    fields[key] = (by_key[key].type, _as_type(by_key[key].type, item))
                return self.codec.event_message(interface_name, path, fields, stamp)
            mapping_type = resolution.mappings[0].type
            return self.codec.event_message(interface_name, path, (mapping_type, _as_type(mapping_type, value)), stamp)
        except (BsonError, KeyError, ValueError, TypeError) as exc:
            return self.codec.event_error(f"couldn't deserialize {interface_name}{path}: {exc}", [interface_name])

    def _broadcast(self, event: Any, interface_name: str | None) -> None:
        """Queue ``event`` for its nodes; runs in paho's thread, so it only ever takes the lock briefly."""
        with self._lock:
            targets = [n for n in self._routed() if interface_name is None or interface_name in n.interfaces]
        for node in targets:
            node.events.put(event)
            self.delivered += 1


_ACCEPTED_KINDS: Final = {
    ValueType.DOUBLE: (BsonType.DOUBLE,),
    ValueType.INTEGER: (BsonType.INT32,),
    ValueType.LONGINTEGER: (BsonType.INT32, BsonType.INT64),
    ValueType.BOOLEAN: (BsonType.BOOLEAN,),
    ValueType.STRING: (BsonType.STRING,),
    ValueType.BINARYBLOB: (BsonType.BINARY,),
    ValueType.DATETIME: (BsonType.DATETIME,),
}


def _as_type(value_type: ValueType, value: BsonValue) -> BsonValue:
    """Check a received BSON value against the mapping type, as the Rust SDK's conversion does."""
    if value_type.is_array:
        if value.kind is not BsonType.ARRAY:
            raise ValueError(f"{value_type} needs an array, got {value.kind.name}")
        return BsonValue.array(_as_type(value_type.scalar, item) for item in value.value)
    if value.kind not in _ACCEPTED_KINDS[value_type]:
        raise ValueError(f"{value_type} cannot hold BSON {value.kind.name}")
    return value

