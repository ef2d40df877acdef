"""Driving astarte-device-sdk's ``DeviceGrpc`` through an Astarte Message Hub, for the fuzz properties.

On the gRPC transport the SDK never talks to Astarte: it hands every call to the hub in one
``Send`` and the hub (itself one Astarte MQTT device, its own device id) validates and publishes.
So what the realm receives, and what AppEngine reads back, is the *hub device's* traffic. A
disagreement found here comes either from the SDK (what it put in ``Send``) or from the hub; against
the simulated hub the second kind is a simulator bug to fix, not a finding.

:class:`ConnectedGrpcDevice` has the surface of :class:`~.astarte_sdk.ConnectedDevice` that the
properties use (``attempt``, ``drop_count``, ``disconnection_count``, ``recover_if_disconnected``,
``read_values``, ``interface_docs``, ``last_timing``) and reuses its realm-side observation: the
realm's raw message log (topic, QoS as published, payload) for the wire message, AppEngine for the
read-back, both for the hub's device id. What differs is the session: the node's gRPC channel to
the hub never drops when the realm kicks the hub device; the hub reconnects by itself.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from hil.fuzzing.astarte_sdk import (
    AttemptTiming,
    ConnectedDevice,
    SdkOutcome,
    SdkStatus,
    WireMessage,
    call_send_api,
    neutral_value,
)
from hil.fuzzing.requests import SendRequest

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hil.components.astarte import SimulatedAstarteClient

__all__ = ["ConnectedGrpcDevice"]


class ConnectedGrpcDevice(ConnectedDevice):
    """A ``DeviceGrpc`` node attached to a (simulated) Message Hub whose device is in the realm.

    Args:
        astarte: the realm's client (``AstarteClient``): message log, disconnections, AppEngine.
        hub: the hub handle (``MessageHubSim``): ``grpc_address``, ``device_id``, ``state()``,
            ``wait_attached``.
        interface_docs: the interfaces the node declares in its Attach (installed in the realm).

    The hub skips a device property set to the value it already holds (the Rust SDK it embeds:
    "property was already sent"), so such a call publishes nothing; :meth:`attempt` then returns
    the message the realm already holds for that property (the hub found it byte-identical).
    """

    transport = "grpc"

    def __init__(self, astarte: SimulatedAstarteClient, hub: Any, interface_docs: list[dict[str, Any]]) -> None:
        import threading

        # No registration and no persistency: the node borrows the hub's Astarte device.
        self.astarte = astarte
        self.hub = hub
        self.device_id = hub.device_id
        self.node_id = str(uuid.uuid4())
        self.interface_docs = {doc["interface_name"]: doc for doc in interface_docs}
        self.base = f"{astarte.realm}/{self.device_id}/"
        self._connected = threading.Event()  # the node's channel to the hub (never the realm session)
        self._events = threading.Condition()
        self._heal: list[SendRequest] = []
        self._sessions = 0
        self._drops = 0
        self._http: Any = None
        self.last_timing: AttemptTiming | None = None
        self._start_following_realm_log()
        self.device: Any = self._new_sdk_device()

    def _new_sdk_device(self) -> Any:
        from astarte.device import DeviceGrpc

        device = DeviceGrpc(self.hub.grpc_address, self.node_id)
        for doc in self.interface_docs.values():
            device.add_interface_from_json(doc)
        return device

    # -- session -------------------------------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> None:
        """Attach the node and wait until the hub processed the Attach and its realm session is clean."""
        from hil.errors import TargetError

        self.device.connect()
        if self.hub.wait_attached(self.node_id, timeout) is None:
            raise TargetError("message_hub", f"the hub did not attach node {self.node_id} within {timeout:.0f} s")
        self._connected.set()
        self._wait_clean_session(time.monotonic() + timeout)
        self._wait_realm_introspection(timeout)

    def drop_count(self) -> int:
        """How many times the hub device lost its Astarte session (monotonic).

        ``sessions_started`` counts the hub's MQTT sessions; while the hub is between sessions the
        count of the one being lost is included, so a drop shows at once, before the reconnect.
        """
        state = self.hub.state()["device"]
        return int(state["sessions"]) + (0 if state["mqtt_connected"] else 1)

    def is_session_up(self) -> bool:
        return bool(self.hub.state()["device"]["mqtt_connected"])

    def disconnect(self) -> None:
        """Detach the node (the hub removes the interfaces no other node declared)."""
        if self.device.is_connected():
            self.device.disconnect()
            self.hub.wait_detached(self.node_id)
            self._wait_realm_introspection(5.0)
        self._connected.clear()

    def restart(self, timeout: float = 15.0, *, new_node: bool = False) -> None:
        """An application restart: detach, then attach a new ``DeviceGrpc`` (``new_node``: new node id)."""
        self.disconnect()
        if new_node:
            self.node_id = str(uuid.uuid4())
        self.device = self._new_sdk_device()
        self.connect(timeout)

    def _wait_introspection(self, mark: int, timeout: float) -> None:
        """AddInterfaces/RemoveInterfaces return once the broker acknowledged the hub's new
        introspection; the realm handles it a moment later, so wait for that too."""
        if self.device.is_connected():
            self._wait_realm_introspection(timeout)

    def _wait_realm_introspection(self, timeout: float) -> None:
        """Wait until the realm's last introspection of the hub device is the hub's current one.

        The hub publishes an introspection only when it changed (an Attach of interfaces already
        installed publishes nothing), so the wait is on equality, not on a new message.
        """
        from hil.errors import TargetError

        root = self.base.rstrip("/")
        deadline = time.monotonic() + timeout
        self._follow_realm_log()
        while True:
            want = set(filter(None, str(self.hub.state()["device"]["introspection"]).split(";")))
            shown = self._latest.get(root)
            if shown and set(filter(None, bytes.fromhex(shown["payload_hex"]).decode("ascii", "replace").split(";"))) == want:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TargetError("message_hub", f"the realm never received the hub's introspection {sorted(want)}")
            self._follow_realm_log(timeout=min(remaining, 1.0))

    # -- data ----------------------------------------------------------------------------------
    def _published(self) -> int:
        return int(self.hub.state()["published"])

    def attempt(self, request: SendRequest, *, timeout: float = 5.0) -> tuple[SdkOutcome, WireMessage | None]:
        """Make the call; when the SDK takes it, return the data message the realm received for it."""
        before = self.message_count()
        published = self._published()
        started = time.monotonic()
        outcome = call_send_api(self.device, request)
        returned = time.monotonic()
        self.last_timing = AttemptTiming(started, returned, None)
        if outcome.status is not SdkStatus.ACCEPTED:
            return outcome, None
        # The hub's Send returns after it queued the publication: the counter is final here.
        if self._published() == published:
            return outcome, self._held(request)
        wire = self.wait_wire(request, before, timeout=timeout)
        if wire is not None:
            self.last_timing = AttemptTiming(started, returned, time.monotonic())
        return outcome, wire

    def _held(self, request: SendRequest) -> WireMessage | None:
        """The realm's latest message on ``request``'s topic (what an unchanged property still is)."""
        self._follow_realm_log()
        message = self._latest.get(f"{self.base}{request.interface}{request.path}")
        if message is None:
            return None
        return WireMessage(request.interface, request.path, int(message["qos"]), bytes.fromhex(message["payload_hex"]))

    def recover_if_disconnected(self, disconnections_before: int, *, expect: bool,
                                poisoned: SendRequest | None = None, dropped: bool = False,
                                timeout: float = 15.0) -> None:
        """After a message the realm refused, wait until the hub's Astarte session is clean again.

        The hub keeps a device property before publishing it and republishes its stored properties
        at every session start, so a refused property would get the hub kicked forever (the real
        hub does the same): ``poisoned`` is overwritten through the SDK with a neutral value, which
        the node's channel (never dropped by the realm's kick) delivers at once. ``dropped`` needs
        nothing more: the hub reconnects by itself.
        """
        deadline = time.monotonic() + timeout
        if poisoned is not None:
            call_send_api(self.device, SendRequest("send", poisoned.interface, poisoned.path,
                                                   neutral_value(self.interface_docs, poisoned)))
        elif expect:
            self.astarte.disconnections(self.device_id, min_count=disconnections_before + 1, timeout=5.0)
        elif not dropped and self.disconnection_count() == disconnections_before and self.is_session_up():
            return
        self._wait_clean_session(deadline)

    def _wait_clean_session(self, deadline: float) -> None:
        """Wait until the hub's live Astarte session is one the realm fully set up and did not kick.

        A hub session starts with ``control/emptyCache`` (only sent at a session start; the
        introspection is also republished whenever a node changes it) and ends its set-up with
        ``control/producer/properties``. Clean: the realm's last ``emptyCache`` is followed by a
        ``producer/properties``, no forced disconnect is stamped at or after that ``emptyCache``,
        and the hub is connected in the same session as when the log was read.
        """
        from hil.errors import TargetError

        while True:
            before = self.hub.state()["device"]
            self._follow_realm_log()
            if self._setup_start is not None and before["mqtt_connected"] and self._setup_done:
                since = self._setup_start
                kicked = any(d["timestamp_ms"] >= since for d in self.astarte.disconnections(self.device_id))
                after = self.hub.state()["device"]
                if not kicked and after["mqtt_connected"] and after["sessions"] == before["sessions"]:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TargetError("message_hub", "the hub device keeps being disconnected after its session setup")
            # something is still to happen: the hub's next message (its next session's set-up)
            self._follow_realm_log(timeout=min(remaining, 1.0))

    def _session_start_topic(self) -> str:
        """A hub session opens with ``control/emptyCache``; its introspection is also republished
        whenever a node changes it."""
        return f"{self.base}control/emptyCache"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        try:
            self.disconnect()
        except Exception:  # noqa: BLE001 - a hub that forgot the node refuses Detach; teardown goes on
            self._connected.clear()
