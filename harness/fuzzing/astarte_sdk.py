"""Driving astarte-device-sdk as an application would, and classifying what it does.

hil never patches an SDK or reaches into its internals: every call here is the SDK's public API
(``DeviceMqtt(...)``, ``add_interface_from_json``, ``remove_interface``, ``send``,
``send_aggregate``, ``unset_property``). The one trick is legitimate: a ``DeviceMqtt`` that was
never connected is in its DISCONNECTED state, and its send API validates a call *before* it
notices there is no connection (``DeviceDisconnectedError``). So, without any server, a
``DeviceDisconnectedError`` means "the SDK's checks let the call through to the transport" and
a ``ValidationError`` means "the SDK refused it". What the transport would then do (encode and
publish) is only visible end to end, against a broker.
"""

from __future__ import annotations

import enum
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from hil.fuzzing.requests import SendRequest
from hil.rundir import RunDirectory

if TYPE_CHECKING:
    import grpc

    from hil.components.astarte import SimulatedAstarteClient

__all__ = [
    "AttemptTiming",
    "ConnectedDevice",
    "OfflineDevice",
    "SdkOutcome",
    "SdkStatus",
    "WireMessage",
    "call_send_api",
    "neutral_value",
    "offline_device",
    "sdk_label",
]


def sdk_label() -> str:
    """``astarte-device-sdk==<installed version>``, as findings record it."""
    try:
        return f"astarte-device-sdk=={metadata.version('astarte-device-sdk')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - the SDK is a dependency
        return "astarte-device-sdk==?"


class SdkStatus(enum.StrEnum):
    """What the SDK did with one call.

    ``ACCEPTED``: it took the call (interface added; data published).
    ``PASSED_CHECKS``: offline only: its checks let the call through; it stopped at the missing
    connection.
    ``REJECTED``: it raised one of its documented errors (``AstarteError`` subclasses).
    ``CRASHED``: it raised something else (``AttributeError``, ``TypeError``, ...): the call was
    refused too, but not the way the API documents.
    """

    ACCEPTED = "accepted"
    PASSED_CHECKS = "passed_checks"
    REJECTED = "rejected"
    CRASHED = "crashed"

    @property
    def took_it(self) -> bool:
        return self in (SdkStatus.ACCEPTED, SdkStatus.PASSED_CHECKS)


@dataclass(frozen=True, slots=True)
class SdkOutcome:
    status: SdkStatus
    error_type: str | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "error_type": self.error_type, "message": self.message}


def _classify(exc: BaseException) -> SdkOutcome:
    from astarte.device.exceptions import AstarteError, DeviceDisconnectedError

    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    if isinstance(exc, DeviceDisconnectedError):
        return SdkOutcome(SdkStatus.PASSED_CHECKS, type(exc).__name__, text)
    if isinstance(exc, AstarteError):
        return SdkOutcome(SdkStatus.REJECTED, type(exc).__name__, text)
    if _is_rpc_error(exc):
        # DeviceGrpc documents that the hub's refusal of a Send reaches the caller as grpc.RpcError.
        code = exc.code()
        details = (exc.details() or "")[:300]
        return SdkOutcome(SdkStatus.REJECTED, f"RpcError({getattr(code, 'name', code)})", details)
    return SdkOutcome(SdkStatus.CRASHED, type(exc).__name__, text)


def _is_rpc_error(exc: BaseException) -> TypeGuard[grpc.RpcError]:
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpcio comes with the SDK
        return False
    return isinstance(exc, grpc.RpcError) and hasattr(exc, "code")


class OfflineDevice:
    """A ``DeviceMqtt`` that is never connected, with its own persistency directory.

    Use :func:`offline_device` (a context manager that removes the directory). Interfaces added
    through :meth:`load_interface` are removed again, so one device serves many examples.
    """

    def __init__(self, persistency_dir: Path, device_id: str = "fuzzOfflineDevice0000w") -> None:
        from astarte.device import DeviceMqtt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # paho callback API v1, see pyproject
            self.device = DeviceMqtt(
                device_id=device_id,
                realm="fuzz",
                credentials_secret="never-used-offline",
                pairing_base_url="https://127.0.0.1:9/pairing",  # never contacted: connect() is never called
                persistency_dir=str(persistency_dir),
            )
        self._added: set[str] = set()

    def load_interface(self, doc: Any, *, keep: bool = False) -> SdkOutcome:
        """``add_interface_from_json(doc)``; unless ``keep``, a successful add is undone."""
        try:
            self.device.add_interface_from_json(doc)
        except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
            return _classify(exc)
        name = doc.get("interface_name") if isinstance(doc, dict) else None
        if keep and isinstance(name, str):
            self._added.add(name)
        elif isinstance(name, str):
            self.device.remove_interface(name)
        return SdkOutcome(SdkStatus.ACCEPTED)

    def clear_interfaces(self) -> None:
        for name in sorted(self._added):
            self.device.remove_interface(name)
        self._added.clear()

    def attempt(self, request: SendRequest) -> SdkOutcome:
        """Make the call; offline, a call that passes every check ends in ``PASSED_CHECKS``."""
        return call_send_api(self.device, request)


def call_send_api(device: Any, request: SendRequest) -> SdkOutcome:
    """Call the SDK method for ``request`` on ``device`` and classify the result."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # py-bson's MissingTimezoneWarning for naive datetimes
            if request.operation == "send":
                device.send(request.interface, request.path, request.payload, request.timestamp)
            elif request.operation == "send_aggregate":
                device.send_aggregate(request.interface, request.path, request.payload, request.timestamp)
            else:
                device.unset_property(request.interface, request.path)
    except Exception as exc:  # noqa: BLE001
        return _classify(exc)
    return SdkOutcome(SdkStatus.ACCEPTED)


@contextmanager
def offline_device() -> Iterator[OfflineDevice]:
    """An :class:`OfflineDevice` in a temporary persistency directory, removed afterwards."""
    with RunDirectory(prefix="hil-fuzz-") as run_dir:  # labelled: a SIGKILL leaves no key for good
        yield OfflineDevice(run_dir.path)


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A data message as the realm received it: ``path`` below the interface, QoS, raw payload."""

    interface: str
    path: str
    qos: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class AttemptTiming:
    """Clock readings (``time.monotonic()``) of one :meth:`ConnectedDevice.attempt`."""

    call_started: float
    call_returned: float
    realm_handled: float | None  # when the realm's message log showed the call's message


class ConnectedDevice:
    """A ``DeviceMqtt`` paired with a (simulated) Astarte and connected through its broker.

    ``transport`` names the SDK transport the properties judge (:mod:`.astarte_grpc` has the
    ``DeviceGrpc`` twin).

    The realm records every raw device message (topic, QoS as delivered to its QoS-2 back-office
    subscription, i.e. as published, and payload), so a call's wire message can be judged by the
    oracle. The caller keeps the harness CA trusted in ``os.environ`` for the device's lifetime
    (``HarnessPKI.trust_environment()``): the SDK re-checks its certificate after a disconnect.

    A session is "set up" once the realm has handled its last setup message (the SDK sends
    introspection, emptyCache, its properties, then ``control/producer/properties``): waits are on
    that message in the realm's log, never on time. :meth:`restart` replaces the ``DeviceMqtt``
    by a new instance on the same persistency directory, as an application restart would.

    A property value the realm refuses poisons the SDK's property cache: the SDK stored it before
    publishing and republishes it at every reconnect, which the realm answers with another forced
    disconnect, forever. :meth:`recover_if_disconnected` heals that through the public API: in the
    ``on_connected`` callback of the next session (paho's thread, so the session is still up) it
    overwrites the cached value with a neutral one, and waits for a clean session.
    """

    transport = "mqtt"

    def __init__(self, astarte: SimulatedAstarteClient, persistency_dir: Path, interface_docs: list[dict[str, Any]]) -> None:
        import threading

        self.astarte = astarte
        registered = astarte.register_device()
        self.device_id: str = registered.device_id
        self.credentials_secret: str = registered.credentials_secret
        self.persistency_dir = persistency_dir
        self.interface_docs: dict[str, dict[str, Any]] = {doc["interface_name"]: doc for doc in interface_docs}
        self._connected = threading.Event()
        #: Guards the counters below; notified on every SDK connect/disconnect callback.
        self._events = threading.Condition()
        self._heal: list[SendRequest] = []
        self._sessions = 0  # on_connected callbacks so far
        self._drops = 0  # on_disconnected callbacks so far
        self._retire = False  # disconnect the SDK at its next on_connected (see recover_if_disconnected)
        self._retired = False
        self.base = f"{astarte.realm}/{self.device_id}/"
        self._http: Any = None  # one AppEngine client for all read-backs (no TLS handshake per read)
        self.last_timing: AttemptTiming | None = None
        self._start_following_realm_log()
        self.device: Any = self._new_sdk_device()

    def _new_sdk_device(self) -> Any:
        from astarte.device import DeviceMqtt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            device = DeviceMqtt(self.device_id, self.astarte.realm, self.credentials_secret,
                                self.astarte.pairing_base_url, str(self.persistency_dir))
        for doc in self.interface_docs.values():
            device.add_interface_from_json(doc)
        device.set_events_callbacks(on_connected=self._on_connected, on_disconnected=self._on_disconnected)
        return device

    def _on_connected(self, device: Any) -> None:
        # paho's network thread: no incoming packet (a forced disconnect) is processed meanwhile,
        # so a send made here reaches the SDK's cache whatever the realm does next.
        with self._events:
            heal, self._heal = self._heal, []
            retire, self._retire = self._retire, False
        for request in heal:
            call_send_api(device, request)
        if retire:
            device.disconnect()  # from paho's own thread: stops its loop, which no other call can now
        with self._events:
            self._sessions += 1
            self._retired = self._retired or retire
            self._connected.set()
            self._events.notify_all()

    def _on_disconnected(self, _device: Any, _rc: int) -> None:
        with self._events:
            self._drops += 1
            self._connected.clear()
            self._events.notify_all()

    # -- session -------------------------------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> None:
        """Connect and wait until the realm has the device's whole session setup."""
        mark = self.message_count()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.device.connect()
        self.wait_session(mark, timeout)

    def wait_connected(self, timeout: float = 15.0) -> None:
        """Kept for callers that connected the SDK themselves: waits for the first session setup."""
        self.wait_session(0, timeout)

    def wait_session(self, mark: int, timeout: float = 15.0) -> None:
        """Wait until the SDK is connected and the realm handled a whole session setup that started
        after its ``mark``-th message of this device (an introspection, later the setup's last
        message ``control/producer/properties``)."""
        from hil.errors import TargetError

        if not self._connected.wait(timeout):
            raise TargetError("astarte", f"the SDK did not connect within {timeout:.0f} s")
        root = self.base.rstrip("/")
        since, topics = mark, []
        while True:
            messages = self.astarte.device_messages(self.device_id, since=since, min_count=1, timeout=timeout)
            if not messages:
                raise TargetError("astarte", "the realm never saw a whole session setup (introspection .. producer/properties)")
            since += len(messages)
            topics += [m["topic"] for m in messages]
            if root in topics and any(t.endswith("/control/producer/properties") for t in topics[topics.index(root):]):
                return

    def drop_count(self) -> int:
        """How many sessions the SDK has seen end (its on_disconnected callbacks)."""
        with self._events:
            return self._drops

    def is_session_up(self) -> bool:
        """Whether the SDK's current session is still up (its callbacks said so)."""
        return self._connected.is_set()

    def disconnect(self) -> None:
        """Disconnect explicitly and wait until the realm followed the end of the session."""
        if self.device.is_connected():
            try:
                self.device.disconnect()
            except AttributeError:
                # DeviceMqtt.disconnect() races its own on_disconnect callback: both call paho's
                # loop_stop(), and the loser finds the thread gone ('NoneType' has no 'join').
                # The connection is closed either way.
                pass
        self._connected.clear()
        self.astarte.wait_device_disconnected(self.device_id)

    def restart(self, timeout: float = 15.0) -> None:
        """An application restart: a new ``DeviceMqtt`` on the same persistency directory, connected."""
        self.disconnect()
        self.device = self._new_sdk_device()
        self.connect(timeout)

    def add_interface(self, doc: dict[str, Any], timeout: float = 5.0) -> None:
        """Add an interface; when connected, wait until the realm handled the new introspection."""
        mark = self.message_count()
        self.device.add_interface_from_json(doc)
        self.interface_docs[doc["interface_name"]] = doc
        self._wait_introspection(mark, timeout)

    def remove_interface(self, name: str, timeout: float = 5.0) -> None:
        """Remove an interface; when connected, wait until the realm handled the new introspection."""
        mark = self.message_count()
        self.device.remove_interface(name)
        self.interface_docs.pop(name, None)
        self._wait_introspection(mark, timeout)

    def _wait_introspection(self, mark: int, timeout: float) -> None:
        from hil.errors import TargetError

        if not self.device.is_connected():
            return
        root, since = self.base.rstrip("/"), mark
        while True:
            messages = self.astarte.device_messages(self.device_id, since=since, min_count=1, timeout=timeout)
            if not messages:
                raise TargetError("astarte", "the realm never saw the device's new introspection")
            if any(m["topic"] == root for m in messages):
                return
            since += len(messages)

    # -- data ----------------------------------------------------------------------------------
    def message_count(self) -> int:
        return self.astarte.message_count(self.device_id)

    def disconnection_count(self) -> int:
        return len(self.astarte.disconnections(self.device_id))

    def attempt(self, request: SendRequest, *, timeout: float = 5.0) -> tuple[SdkOutcome, WireMessage | None]:
        """Make the call; when the SDK takes it, return the data message the realm received.

        :attr:`last_timing` keeps when the call started and ended and when the realm had handled
        its message (``time.monotonic()``), for ``hil benchmark fuzz``.
        """
        before = self.message_count()
        started = time.monotonic()
        outcome = call_send_api(self.device, request)
        returned = time.monotonic()
        self.last_timing = AttemptTiming(started, returned, None)
        if outcome.status is not SdkStatus.ACCEPTED:
            return outcome, None
        wire = self.wait_wire(request, before, timeout=timeout)
        if wire is not None:
            self.last_timing = AttemptTiming(started, returned, time.monotonic())
        return outcome, wire

    def wait_wire(self, request: SendRequest, before: int, *, timeout: float = 5.0) -> WireMessage | None:
        """The first message on ``request``'s topic after the realm's ``before``-th, or None."""
        topic = f"{self.base}{request.interface}{request.path}"
        since = before
        drops = self.drop_count()
        deadline = time.monotonic() + timeout
        while True:
            # Long-poll in short slices: when the broker drops the session the message is lost,
            # and there is no point in waiting the whole timeout for it.
            slice_s = min(0.5, max(deadline - time.monotonic(), 0.0))
            messages = self.astarte.device_messages(self.device_id, since=since, min_count=1, timeout=slice_s)
            for message in messages:
                if message["topic"] == topic:
                    return WireMessage(request.interface, request.path, int(message["qos"]),
                                       bytes.fromhex(message["payload_hex"]))
            if not messages and (time.monotonic() >= deadline or self.drop_count() > drops):
                return None
            since += len(messages)

    def recover_if_disconnected(self, disconnections_before: int, *, expect: bool,
                                poisoned: SendRequest | None = None, dropped: bool = False,
                                timeout: float = 15.0) -> None:
        """After a message the realm (or the broker) answers with a disconnect, wait for a clean session.

        ``poisoned``: a property set the SDK cached that the realm refused or the broker dropped
        the connection for. Its value is overwritten with a neutral one at the start of the next
        session (which is still doomed: the cached value went out first); the session after that
        is clean.

        ``dropped``: the broker closed the connection on the call's publish (e.g. a control
        character in the topic). paho keeps an unacknowledged QoS 1/2 publish and sends it again
        after every reconnect, clean session or not, so that connection never recovers: the SDK
        instance is disconnected from its own ``on_connected`` callback and replaced by a new one
        on the same persistency directory (an application restart).
        """
        from hil.errors import TargetError

        deadline = time.monotonic() + timeout
        if dropped:
            with self._events:
                if poisoned is not None:
                    self._heal.append(SendRequest("send", poisoned.interface, poisoned.path,
                                                  neutral_value(self.interface_docs, poisoned)))
                self._retired, self._retire = False, True
            if self.device.is_connected():  # back already (nothing was in flight): stop it from here
                self.device.disconnect()
                with self._events:
                    self._retire, self._retired = False, True
            with self._events:
                if not self._events.wait_for(lambda: self._retired, timeout):
                    raise TargetError("astarte", "the SDK did not reconnect after the broker dropped it")
                self._retire = False
            self.device = self._new_sdk_device()
            self.connect(max(deadline - time.monotonic(), 0.1))
            return
        if poisoned is not None:
            with self._events:
                self._heal.append(SendRequest("send", poisoned.interface, poisoned.path,
                                              neutral_value(self.interface_docs, poisoned)))
                sessions = self._sessions
                # the poisoned session ends; the next one applies the heal (the loop below then
                # waits out that one too when the cached value still went out first)
                if not self._events.wait_for(lambda: self._sessions > sessions and not self._heal, timeout):
                    raise TargetError("astarte", "the SDK did not reconnect after a refused property")
        elif expect:
            self.astarte.disconnections(self.device_id, min_count=disconnections_before + 1, timeout=5.0)
        elif self.disconnection_count() == disconnections_before and self._connected.is_set():
            return
        try:
            self._wait_clean_session(min(deadline, time.monotonic() + 5.0))
        except TargetError:
            if self._connected.is_set():
                raise
            # The SDK gave up reconnecting (seen once after the broker closed a session with
            # "Protocol error": no further on_connected ever came). Restart the application.
            self.device = self._new_sdk_device()
            self.connect(max(deadline - time.monotonic(), 5.0))

    def _wait_clean_session(self, deadline: float) -> None:
        """Wait until the SDK's live session is one the realm fully set up and did not disconnect.

        The realm's view: its last introspection of the device is followed by the setup's
        ``producer/properties`` (a session the broker dropped never delivers that one), and no
        forced disconnect is stamped at or after that introspection (a previous session's kick
        is at least paho's one-second reconnect delay older). The SDK's view: still the same
        session as when the realm's log was read.
        """
        from hil.errors import TargetError

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._connected.wait(remaining):
                raise TargetError("astarte", "the device keeps being disconnected after its session setup")
            with self._events:
                session = (self._sessions, self._drops)
            self._follow_realm_log()
            if self._setup_start is not None and self._setup_done:
                since = self._setup_start
                kicked = any(d["timestamp_ms"] >= since for d in self.astarte.disconnections(self.device_id))
                with self._events:
                    same = session == (self._sessions, self._drops)
                if same and not kicked:
                    return
            # something is still to happen: the next message of the device (or the deadline)
            self._follow_realm_log(timeout=max(min(deadline - time.monotonic(), 5.0), 0.0))

    # -- the realm's log of this device, read once ---------------------------------------------
    def _start_following_realm_log(self) -> None:
        self._log_since = 0
        self._latest: dict[str, dict[str, Any]] = {}  # topic -> the realm's latest message on it
        self._setup_start: int | None = None  # when the latest session setup began (ms)
        self._setup_done = False  # whether that setup's last message, producer/properties, came

    def _session_start_topic(self) -> str:
        """The message that opens a session setup: the introspection (also sent on add/remove)."""
        return self.base.rstrip("/")

    def _follow_realm_log(self, timeout: float = 0.0) -> int:
        """Read the realm's new messages of this device (waiting up to ``timeout`` for one).

        Only new messages are read, however long the run (the realm keeps the latest 20,000 of
        all devices; older ones no longer matter here). Returns how many arrived.
        """
        first, messages = self.astarte.message_page(self.device_id, since=self._log_since, min_count=1,
                                                    timeout=timeout)
        self._log_since = first + len(messages)
        start = self._session_start_topic()
        for message in messages:
            topic = message["topic"]
            self._latest[topic] = message
            if topic == start:
                self._setup_start, self._setup_done = int(message["timestamp_ms"]), False
            elif topic.endswith("/control/producer/properties") and self._setup_start is not None:
                self._setup_done = True
        return len(messages)

    def read_values(self, interface: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        """AppEngine ``GET`` of this device's ``interface`` values at ``path`` (see :mod:`.stored`)."""
        from hil.fuzzing.stored import appengine_values_path

        if self._http is None:
            self._http = self.astarte.http()
        values_path = appengine_values_path(self.device_id, interface, path)
        url = f"{self.astarte.appengine_url}/v1/{self.astarte.realm}/{values_path}"
        response = self._http.get(url, params=params)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def read_interfaces(self) -> tuple[int, Any]:
        """AppEngine ``GET devices/<id>/interfaces`` (the realm's view of the introspection)."""
        if self._http is None:
            self._http = self.astarte.http()
        response = self._http.get(f"{self.astarte.appengine_url}/v1/{self.astarte.realm}/devices/{self.device_id}/interfaces")
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self.disconnect()


def neutral_value(interface_docs: dict[str, dict[str, Any]], request: SendRequest) -> Any:
    """A value every realm accepts for the mapping ``request`` targets (heals a poisoned cache)."""
    import datetime as _dt

    from hil.oracle import ValueType, parse_interface, resolve

    mapping = resolve(parse_interface(interface_docs[request.interface]), request.path).mapping
    value_type = mapping.type if mapping is not None else ValueType.INTEGER
    if value_type.is_array:
        return []
    return {ValueType.DOUBLE: 0.0, ValueType.INTEGER: 0, ValueType.LONGINTEGER: 0, ValueType.BOOLEAN: False,
            ValueType.STRING: "", ValueType.BINARYBLOB: b"",
            ValueType.DATETIME: _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)}[value_type]
