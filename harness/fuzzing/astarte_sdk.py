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
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.fuzzing.requests import SendRequest

__all__ = ["OfflineDevice", "SdkOutcome", "SdkStatus", "offline_device", "sdk_label"]


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
    return SdkOutcome(SdkStatus.CRASHED, type(exc).__name__, text)


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
    directory = Path(tempfile.mkdtemp(prefix="hil-fuzz-sdk-"))
    try:
        yield OfflineDevice(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A data message as the realm received it: ``path`` below the interface, QoS, raw payload."""

    interface: str
    path: str
    qos: int
    payload: bytes


class ConnectedDevice:
    """A ``DeviceMqtt`` paired with a (simulated) Astarte and connected through its broker.

    The realm records every raw device message (topic, QoS as delivered to its QoS-2 back-office
    subscription, i.e. as published, and payload), so a call's wire message can be judged by the
    oracle. The caller keeps the harness CA trusted in ``os.environ`` for the device's lifetime
    (``HarnessPKI.trust_environment()``): the SDK re-checks its certificate after a disconnect.
    """

    def __init__(self, astarte: Any, persistency_dir: Path, interface_docs: list[dict[str, Any]]) -> None:
        import threading

        from astarte.device import DeviceMqtt

        self.astarte = astarte
        registered = astarte.register_device()
        self.device_id: str = registered.device_id
        self._connected = threading.Event()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.device = DeviceMqtt(self.device_id, astarte.realm, registered.credentials_secret,
                                     astarte.pairing_base_url, str(persistency_dir))
        for doc in interface_docs:
            self.device.add_interface_from_json(doc)
        self.device.set_events_callbacks(on_connected=lambda _device: self._connected.set(),
                                         on_disconnected=lambda _device, _rc: self._connected.clear())
        self.base = f"{astarte.realm}/{self.device_id}/"

    def connect(self, timeout: float = 15.0) -> None:
        """Connect and wait until the realm has the device's whole session setup."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.device.connect()
        self.wait_connected(timeout)

    def wait_connected(self, timeout: float = 15.0) -> None:
        from harness.errors import TargetError

        if not self._connected.wait(timeout):
            raise TargetError(f"the SDK did not connect within {timeout:.0f} s")
        # The setup's last message (purge list) tells the realm's side is ready for data.
        if self.astarte.wait_for_message(self.device_id, "/control/producer/properties", timeout=timeout) is None:
            raise TargetError("the realm never saw the device's control/producer/properties message")

    def message_count(self) -> int:
        return len(self.astarte.device_messages(self.device_id))

    def disconnection_count(self) -> int:
        return len(self.astarte.disconnections(self.device_id))

    def attempt(self, request: SendRequest, *, timeout: float = 5.0) -> tuple[SdkOutcome, WireMessage | None]:
        """Make the call; when the SDK takes it, return the data message the realm received."""
        before = self.message_count()
        outcome = call_send_api(self.device, request)
        if outcome.status is not SdkStatus.ACCEPTED:
            return outcome, None
        topic = f"{self.base}{request.interface}{request.path}"
        seen = before
        while True:
            messages = self.astarte.device_messages(self.device_id, min_count=seen + 1, timeout=timeout)
            for message in messages[before:]:
                if message["topic"] == topic:
                    return outcome, WireMessage(request.interface, request.path, int(message["qos"]),
                                                bytes.fromhex(message["payload_hex"]))
            if len(messages) <= seen:
                return outcome, None
            seen = len(messages)

    def recover_if_disconnected(self, disconnections_before: int, *, expect: bool, timeout: float = 15.0) -> None:
        """After a message the realm answers with a forced disconnect, wait for the SDK to come back."""
        if expect:
            self.astarte.disconnections(self.device_id, min_count=disconnections_before + 1, timeout=5.0)
        if self.disconnection_count() > disconnections_before or not self._connected.is_set():
            before = self.message_count()
            self._connected.wait(timeout)
            self.astarte.device_messages(self.device_id, min_count=before + 1, timeout=timeout)
            self.wait_connected(timeout)

    def close(self) -> None:
        if self.device.is_connected():
            self.device.disconnect()
        self.astarte.mark_disconnected(self.device_id)
