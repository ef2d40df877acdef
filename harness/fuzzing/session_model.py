"""The property state of one device session, as the specification says it must evolve (property 5).

A model of what the realm must hold for a device's properties after any sequence of application
actions (add or remove an interface, connect, disconnect, restart the application, set or unset a
device-owned property) and server actions (set or unset a server-owned property through
AppEngine). The fuzzing state machine (``tests/conformance/test_fuzz_session.py``) drives the real
SDK and the realm through the same sequence and compares AppEngine's property reads with
:meth:`SessionModel.realm_view` after every step.

What the model encodes, and where from (080-mqtt-v1-protocol.md, astarte-apis.md 5.5-5.7):

* a set or unset on a connected device reaches the realm (QoS 2, in order);
* every (re)connection is a clean session: the device republishes every device-owned property it
  has set, then ``producer/properties`` listing them, and the realm deletes the device-owned
  properties of the introspection not listed (ASTARTE-MQTT-SESSION-02, -PROPERTIES-06, -PURGE-04);
  properties persist across an application restart (same persistency directory);
* the realm keeps an interface's properties when it leaves the introspection (previous
  interfaces) and shows them again when it comes back; reads of an interface outside the
  introspection are 404;
* server-owned properties change only through AppEngine, whether the device is connected or not;
* a value the realm reads as an unset (``reads_as_unset``: Astarte takes ``{"v": <empty
  binary>}`` for one) unsets the property, whenever it is published.

Where the specification is silent the model follows the SDK's documented API: removing an
interface while connected forgets the device's properties of it; removed while disconnected,
they are forgotten at the next connection unless the interface is back by then.

``known`` lists recorded findings the model tolerates (so a fuzz run still catches new
disagreements): ``sdk-forgets-falsy-properties`` makes the device forget, at its next connection,
every property whose Python value is falsy (0, 0.0, False, "", b"", []), as the SDK's cache does.

:class:`HubSessionModel` is the same session over ``DeviceGrpc`` and a Message Hub
(sdk-contracts.md 2.2, 2.3): the node persists nothing and the realm sees the hub's own device,
whose MQTT session never restarts when a node detaches or attaches. So there is no clean session
and no purge on a node's reconnect: Attach adds the node's interfaces to the hub's introspection,
Detach (and RemoveInterfaces) drops those no other node holds, and the realm keeps every stored
property through both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["FORGETS_FALSY", "HubSessionModel", "SessionModel"]

FORGETS_FALSY: Final = "sdk-forgets-falsy-properties"


@dataclass
class SessionModel:
    """Device-side and realm-side property state of one device (see the module docstring).

    Attributes:
        device_owned: names of device-owned properties interfaces (the others are server-owned).
        device_interfaces: the interfaces the application added to its SDK instance.
        realm_interfaces: the introspection the realm last received.
        connected: whether the device has a session.
        device_cache: interface -> path -> value the device has set (what it must republish).
        realm: interface -> path -> value the realm stores (kept across introspection changes).
        known: recorded findings the model reproduces instead of flagging.
    """

    device_owned: frozenset[str]
    device_interfaces: set[str] = field(default_factory=set)
    realm_interfaces: set[str] = field(default_factory=set)
    connected: bool = False
    device_cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    realm: dict[str, dict[str, Any]] = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    reads_as_unset: Callable[[str, str, Any], bool] = field(default=lambda _interface, _path, _value: False)

    # -- application actions -------------------------------------------------------------------
    def add_interface(self, name: str) -> None:
        self.device_interfaces.add(name)
        if self.connected:
            self.realm_interfaces.add(name)

    def remove_interface(self, name: str) -> None:
        self.device_interfaces.discard(name)
        if self.connected:
            self.realm_interfaces.discard(name)
            self.device_cache.pop(name, None)

    def connect(self) -> None:
        """A clean session: introspection, the device's properties, then the purge list."""
        self.connected = True
        for name in list(self.device_cache):
            if name not in self.device_interfaces:
                del self.device_cache[name]
        if FORGETS_FALSY in self.known:
            for values in self.device_cache.values():
                for path in [p for p, v in values.items() if not v]:
                    del values[path]
        self.realm_interfaces = set(self.device_interfaces)
        for name in self.realm_interfaces & self.device_owned:
            self.realm[name] = {path: value for path, value in self.device_cache.get(name, {}).items()
                                if not self.reads_as_unset(name, path, value)}

    def disconnect(self) -> None:
        self.connected = False

    def set_property(self, interface: str, path: str, value: Any) -> None:
        """A device-owned set on a connected device."""
        self.device_cache.setdefault(interface, {})[path] = value
        if self.reads_as_unset(interface, path, value):
            self.realm.get(interface, {}).pop(path, None)
        else:
            self.realm.setdefault(interface, {})[path] = value

    def unset_property(self, interface: str, path: str) -> None:
        self.device_cache.get(interface, {}).pop(path, None)
        self.realm.get(interface, {}).pop(path, None)

    # -- server actions ------------------------------------------------------------------------
    def server_set(self, interface: str, path: str, value: Any) -> None:
        self.realm.setdefault(interface, {})[path] = value

    def server_unset(self, interface: str, path: str) -> None:
        self.realm.get(interface, {}).pop(path, None)

    # -- what AppEngine must show --------------------------------------------------------------
    def realm_view(self) -> dict[str, dict[str, Any]]:
        """Interface in the realm's introspection -> path -> value (other interfaces read 404)."""
        return {name: dict(self.realm.get(name, {})) for name in sorted(self.realm_interfaces)}


@dataclass
class HubSessionModel(SessionModel):
    """:class:`SessionModel` for a ``DeviceGrpc`` node on a Message Hub (see the module docstring).

    Attributes:
        shared: interfaces of the hub's introspection that the node does not control (other nodes',
            or cached by the hub from an earlier run): they stay whatever the node does.
    """

    shared: frozenset[str] = frozenset()

    def _follow_hub(self) -> None:
        """The hub's introspection: what others hold, plus the node's interfaces while attached."""
        self.realm_interfaces = set(self.shared) | (set(self.device_interfaces) if self.connected else set())

    def add_interface(self, name: str) -> None:
        self.device_interfaces.add(name)
        self._follow_hub()

    def remove_interface(self, name: str) -> None:
        self.device_interfaces.discard(name)
        self._follow_hub()

    def connect(self) -> None:
        """Attach: no session of the hub device starts, so nothing is republished or purged."""
        self.connected = True
        self._follow_hub()

    def disconnect(self) -> None:
        """Detach: the realm keeps the properties of the interfaces that left the introspection."""
        self.connected = False
        self._follow_hub()
