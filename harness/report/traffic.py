"""The MQTT traffic of a check, as evidence: every publish on the broker, decoded.

A finding is only believable with what went over the wire. For the simulated target hil owns the
broker, so a capture session with the broker's admin identity subscribes to everything (``#`` at
QoS 2, retain as published, so the QoS and retain flag a message was *published* with are what
the capture shows) for the whole pytest session; each check's evidence is the slice of messages
received while it ran. Payloads are BSON (Astarte MQTT v1) decoded to a readable form; what is not
BSON is shown as text or hex. Secrets are removed later, when the evidence is written
(``hil.report.evidence``).

It is evidence, never an oracle: checks judge traffic with their own clients, so a capture that
misses a message (a broker restarted by a fault test) can only make evidence thinner.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterable
from typing import Final

from hil.targets.protocols import BrokerAdmin
from hil.astarte.bsonwire import BsonError, decode
from hil.mqtt.client import MqttSession, ReceivedMessage

__all__ = ["MqttCapture", "describe_messages"]

#: Enough for any one check; bounds the memory of a long fuzz session.
_KEEP: Final = 20_000
_PAYLOAD_LIMIT: Final = 2_000
#: Outside any realm's topic tree (``<realm>/...``), so no simulator or device sees it as data.
_FLUSH_TOPIC: Final = "hil-capture-flush"


class MqttCapture:
    """A session-long subscriber to everything on ``broker``, started with :meth:`start`."""

    def __init__(self, broker: BrokerAdmin) -> None:
        self._session = MqttSession(broker.admin_endpoint, broker.admin_identity, protocol="5", keep=_KEEP)
        self._started = False

    def start(self) -> bool:
        """Connect and subscribe; ``False`` if the broker refused (the evidence then lacks traffic)."""
        self._started = True
        if not self._session.connect().accepted:
            return False
        codes = self._session.subscribe("#", qos=2, retain_as_published=True)
        return bool(codes) and codes[0].startswith("Granted")

    @property
    def alive(self) -> bool:
        return self._started and self._session.online

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything the broker delivered before now has arrived here.

        A marker published by the capture itself comes back through the same connection after
        every message the broker queued for it earlier (one connection's deliveries keep their
        order), so once the marker is back, the slice of a check that just ended is complete.
        """
        if not self.alive:
            return False
        marker = f"{_FLUSH_TOPIC}/{uuid.uuid4()}"
        self._session.publish(marker, b"", qos=1, timeout=timeout)
        return self._session.wait_for_message(lambda m: m.topic == marker, timeout) is not None

    def since(self, moment: float) -> list[ReceivedMessage]:
        """Messages received at or after ``moment`` (``time.monotonic()``), without flush markers."""
        return [m for m in self._session.messages()
                if m.received_at >= moment and not m.topic.startswith(_FLUSH_TOPIC + "/")]

    def close(self) -> None:
        self._session.close()


def describe_messages(messages: Iterable[ReceivedMessage], start: float | None = None) -> str:
    """One block per message: time since ``start``, topic, QoS, retain, decoded payload."""
    lines = []
    origin = start if start is not None else time.monotonic()
    for message in messages:
        lines.append(f"+{message.received_at - origin:8.3f}s PUBLISH {message.topic} qos={message.qos} "
                     f"retain={message.retain} bytes={len(message.payload)}")
        lines.append(f"    {_payload(message.payload)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _payload(payload: bytes) -> str:
    if not payload:
        return "(empty payload)"
    try:
        text = repr(decode(payload, strict=False).to_python())
        kind = "BSON"
    except (BsonError, ValueError, UnicodeDecodeError, IndexError):
        text, kind = _not_bson(payload)
    if len(text) > _PAYLOAD_LIMIT:
        text = text[:_PAYLOAD_LIMIT] + f"… ({len(text) - _PAYLOAD_LIMIT} more characters)"
    return f"{kind}: {text}"


def _not_bson(payload: bytes) -> tuple[str, str]:
    """Astarte's other payloads: deflated property lists (4-byte size, then zlib), text, or bytes."""
    if len(payload) > 6 and payload[4] == 0x78:
        try:
            inflated = zlib.decompress(payload[4:])
        except zlib.error:
            pass
        else:
            size = int.from_bytes(payload[:4], "big")
            return repr(inflated.decode("utf-8", "replace")), f"deflated (declared {size} bytes)"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.hex(), "hex"
    return (text, "text") if text.isprintable() else (repr(text), "text")
