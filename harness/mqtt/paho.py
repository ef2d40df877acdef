"""paho-mqtt clients with the version-2 callback API, on paho 2.x and on paho 1.6.

Why a seam at all: hil's own MQTT code (checks, readiness probes, the simulators' back-office
links) is written against paho 2's callback API, but astarte-device-sdk 0.13.4 and 0.12.1 pin
``paho-mqtt==1.6.1``, and a set's environment holds exactly one paho (see
:mod:`hil.sdk_sets`). Measured alternatives: running hil beside the SDK in a second
environment would put every in-process observation of the SDK (broker capture, readiness) behind
a process boundary; porting hil to paho 1 would lose paho 2's reason codes on MQTT 3.1.1. The
callback signatures are the only difference hil meets, so this module is the one place that
knows both lines, and everything else calls :func:`new_client` and reads callbacks the paho 2
way:

* ``on_connect(client, userdata, flags, reason_code, properties)``
* ``on_disconnect(client, userdata, flags, reason_code, properties)``
* ``on_subscribe(client, userdata, mid, reason_code_list, properties)``
* ``on_publish(client, userdata, mid, reason_code, properties)``
* ``on_message(client, userdata, message)`` (the same on both lines)

On paho 1.6 the reason codes are built the way paho 2 builds them from MQTT 3.1.1 return codes
(CONNACK return code 5 becomes "Not authorized", 135; a lost connection becomes "Unspecified
error"), and carry paho 2's ``is_failure``. Two behaviours of paho 1.6 are brought in line with
paho 2 through its (private, but frozen: 1.6.1 is the last 1.x) packet handlers, because checks
depend on them: a TLS alert while reading (a refused client certificate under TLS 1.3) is a lost
connection, not an ``ssl.SSLError`` out of ``loop()``; and an MQTT 5 PUBACK/PUBCOMP reason code
("Not authorized") reaches ``on_publish`` instead of being dropped.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes

__all__ = ["PAHO_2", "ReasonCode", "new_client"]

PAHO_2: Final = hasattr(mqtt, "CallbackAPIVersion")

if PAHO_2:
    from paho.mqtt.reasoncodes import ReasonCode
else:  # paho 1.6: ReasonCodes without is_failure
    from paho.mqtt.reasoncodes import ReasonCodes as _ReasonCodes

    class ReasonCode(_ReasonCodes):  # type: ignore[no-redef]
        """paho 1.6's reason code with paho 2's ``is_failure`` (codes 0x80 and up are failures)."""

        @property
        def is_failure(self) -> bool:
            return bool(self.value >= 0x80)

        def __repr__(self) -> str:
            return f"ReasonCode({self.value}, {self.getName()!r})"


#: MQTT 3.1.1 CONNACK return codes as the MQTT 5 reason codes paho 2 reports for them.
_CONNACK_V3: Final = {0: 0, 1: 132, 2: 133, 3: 136, 4: 134, 5: 135}


@dataclass(frozen=True, slots=True)
class ConnectFlags:
    session_present: bool


@dataclass(frozen=True, slots=True)
class DisconnectFlags:
    is_disconnect_packet_from_server: bool


def _reason(packet_type: int, code: Any) -> Any:
    """A paho 1.6 reason (an int, or ReasonCodes) as a :data:`ReasonCode` with ``is_failure``."""
    value = getattr(code, "value", code)
    return ReasonCode(packet_type, identifier=int(value))


def _disconnect_reason(rc: Any) -> Any:
    if not isinstance(rc, int):  # an MQTT 5 DISCONNECT from the server: a real reason code
        return _reason(PacketTypes.DISCONNECT, rc)
    if rc == mqtt.MQTT_ERR_SUCCESS:
        return ReasonCode(PacketTypes.DISCONNECT, identifier=0)
    if rc == mqtt.MQTT_ERR_KEEPALIVE:
        return ReasonCode(PacketTypes.DISCONNECT, identifier=141)  # Keep alive timeout
    if rc == mqtt.MQTT_ERR_PROTOCOL:
        return ReasonCode(PacketTypes.DISCONNECT, identifier=130)  # Protocol error
    return ReasonCode(PacketTypes.DISCONNECT, identifier=128)  # Unspecified error


Callback = Callable[..., None] | None


class _Paho1WithV2Callbacks(mqtt.Client):
    """A paho 1.6 client whose callback setters accept paho 2 (VERSION2) callbacks."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ack_reasons: dict[int, int] = {}

    def _v5(self) -> bool:
        return bool(self._protocol == mqtt.MQTTv5)

    def _packet_read(self) -> int:
        try:
            return int(super()._packet_read())  # type: ignore[misc]
        except (ssl.SSLError, OSError) as exc:  # paho 2: a lost connection
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", exc)  # type: ignore[attr-defined]
            return int(mqtt.MQTT_ERR_CONN_LOST)

    def _handle_pubackcomp(self, cmd: str) -> int:
        packet = self._in_packet["packet"]  # type: ignore[attr-defined]
        if self._v5() and self._in_packet["remaining_length"] > 2:  # type: ignore[attr-defined]
            (mid,) = struct.unpack("!H", packet[:2])
            self._ack_reasons[mid] = packet[2]
        return int(super()._handle_pubackcomp(cmd))  # type: ignore[misc,arg-type]

    @property
    def on_connect(self) -> Callback:
        return self._on_connect

    @on_connect.setter
    def on_connect(self, func: Callback) -> None:
        def adapted(client: Any, userdata: Any, flags: Any, rc: Any, properties: Any = None) -> None:
            if self._v5():
                reason = _reason(PacketTypes.CONNACK, rc)
            else:
                reason = ReasonCode(PacketTypes.CONNACK, identifier=_CONNACK_V3.get(int(rc), 128))
            present = bool(flags.get("session present", 0)) if isinstance(flags, dict) else False
            func(client, userdata, ConnectFlags(present), reason, properties)  # type: ignore[misc]

        mqtt.Client.on_connect.fset(self, None if func is None else adapted)  # type: ignore[attr-defined]

    @property
    def on_disconnect(self) -> Callback:
        return self._on_disconnect

    @on_disconnect.setter
    def on_disconnect(self, func: Callback) -> None:
        def adapted(client: Any, userdata: Any, rc: Any, properties: Any = None) -> None:
            from_server = not isinstance(rc, int)
            func(client, userdata, DisconnectFlags(from_server), _disconnect_reason(rc), properties)  # type: ignore[misc]

        mqtt.Client.on_disconnect.fset(self, None if func is None else adapted)  # type: ignore[attr-defined]

    @property
    def on_subscribe(self) -> Callback:
        return self._on_subscribe

    @on_subscribe.setter
    def on_subscribe(self, func: Callback) -> None:
        def adapted(client: Any, userdata: Any, mid: int, granted: Any, properties: Any = None) -> None:
            codes = [_reason(PacketTypes.SUBACK, code) for code in granted]
            func(client, userdata, mid, codes, properties)  # type: ignore[misc]

        mqtt.Client.on_subscribe.fset(self, None if func is None else adapted)  # type: ignore[attr-defined]

    @property
    def on_publish(self) -> Callback:
        return self._on_publish

    @on_publish.setter
    def on_publish(self, func: Callback) -> None:
        # The reason code of an MQTT 5 PUBACK/PUBCOMP, kept by _handle_pubackcomp; 0 otherwise
        # (MQTT 3.1.1 has none, and paho 2 reports Success there too).
        def adapted(client: Any, userdata: Any, mid: int) -> None:
            code = self._ack_reasons.pop(mid, 0)
            func(client, userdata, mid, ReasonCode(PacketTypes.PUBACK, identifier=code), None)  # type: ignore[misc]

        mqtt.Client.on_publish.fset(self, None if func is None else adapted)  # type: ignore[attr-defined]


def new_client(*, client_id: str = "", protocol: int = mqtt.MQTTv311, reconnect_on_failure: bool = True) -> mqtt.Client:
    """A paho client that takes paho 2 callbacks, whichever paho line is installed."""
    if PAHO_2:
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # paho 2 only

        return mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion(protocol),
            reconnect_on_failure=reconnect_on_failure,
        )
    return _Paho1WithV2Callbacks(client_id=client_id, protocol=protocol, reconnect_on_failure=reconnect_on_failure)
