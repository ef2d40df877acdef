"""Toxics: the faults a proxy applies to the bytes of a connection, in Toxiproxy's words.

A toxic has a ``name`` (by default ``<type>_<stream>``), a ``type``, a ``stream`` (``upstream``:
client to server, ``downstream``: server to client; ``downstream`` by default), a ``toxicity``
(the probability, 0 to 1, that the toxic applies to a given connection; 1 by default) and the
``attributes`` of its type. The types and their attributes (all non-negative integers, 0 by
default) are Toxiproxy 2's, so a user's words and a real Toxiproxy on a bench mean the same:

=============== ================================= ==============================================
type            attributes                        what it does
=============== ================================= ==============================================
latency         latency, jitter (ms)              delays each chunk by latency ± jitter
bandwidth       rate (KB/s)                       lets at most ``rate`` KB through per second
slow_close      delay (ms)                        delays the close after the source closed
timeout         timeout (ms)                      lets nothing through; closes after ``timeout``
                                                  (0: holds the connection until removed)
reset_peer      timeout (ms)                      resets the connection (TCP RST) after timeout
slicer          average_size, size_variation      cuts chunks into pieces of average_size ±
                (bytes), delay (µs)               size_variation bytes, ``delay`` apart
limit_data      bytes                             closes the connection after ``bytes`` bytes
packet_loss     probability (percent, 0-100)      drops each chunk with that probability (hil's:
                                                  not in Toxiproxy 2's releases)
=============== ================================= ==============================================

This module is the vocabulary and its validation only; :mod:`hil.faults.proxy` applies it.
Toxiproxy accepts unknown or mistyped attributes silently (Go's JSON decoder); hil refuses them
with one line, because a misspelt ``latnecy`` that does nothing would make a check pass for the
wrong reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hil.errors import FaultError

__all__ = ["STREAMS", "TOXIC_TYPES", "Toxic", "parse_toxic", "update_toxic"]

STREAMS: Final = ("upstream", "downstream")

TOXIC_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "packet_loss": ("probability",),
}

_BAD_BODY: Final = "bad request body"


@dataclass
class Toxic:
    """One toxic on one proxy (mutable: Toxiproxy's update changes attributes and toxicity)."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The toxic as Toxiproxy's API shows it."""
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise FaultError(f"{_BAD_BODY}: toxicity must be a number from 0 to 1, got {value!r}")
    return float(value)


def _attributes(kind: str, value: Any, current: Mapping[str, int] | None = None) -> dict[str, int]:
    allowed = TOXIC_TYPES[kind]
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise FaultError(f"{_BAD_BODY}: attributes must be an object, got {type(value).__name__}")
    result = dict(current) if current is not None else dict.fromkeys(allowed, 0)
    for key, number in value.items():
        if key not in allowed:
            raise FaultError(f"{_BAD_BODY}: {kind} has no attribute {key!r} (it has {', '.join(allowed)})")
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise FaultError(f"{_BAD_BODY}: {kind} attribute {key!r} must be a non-negative integer, got {number!r}")
        result[key] = number
    if kind == "packet_loss" and result["probability"] > 100:
        raise FaultError(f"{_BAD_BODY}: packet_loss probability is a percentage (0-100), got {result['probability']}")
    return result


def parse_toxic(data: Any) -> Toxic:
    """A toxic from the JSON body of ``POST /proxies/{name}/toxics`` (defaults as Toxiproxy's).

    Raises:
        FaultError: 400 with Toxiproxy's message for a bad stream or type, or a ``bad request
            body`` line naming the field.
    """
    if not isinstance(data, dict):
        raise FaultError(f"{_BAD_BODY}: expected a JSON object")
    unknown = sorted(set(data) - {"name", "type", "stream", "toxicity", "attributes"})
    if unknown:
        raise FaultError(f"{_BAD_BODY}: unknown field {unknown[0]!r}")
    stream = data.get("stream", "downstream")
    if not isinstance(stream, str) or stream.lower() not in STREAMS:
        raise FaultError("stream was invalid, can be either upstream or downstream")
    stream = stream.lower()
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in TOXIC_TYPES:
        raise FaultError(f"invalid toxic type: {kind!r} (one of {', '.join(TOXIC_TYPES)})")
    name = data.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise FaultError(f"{_BAD_BODY}: name must be a string")
    return Toxic(name=name, type=kind, stream=stream, toxicity=_toxicity(data.get("toxicity", 1.0)),
                 attributes=_attributes(kind, data.get("attributes")))


def update_toxic(toxic: Toxic, data: Any) -> None:
    """Apply the body of ``POST /proxies/{name}/toxics/{toxic}``: new attributes and toxicity.

    Validates everything before changing anything, so a refused update leaves the toxic as it was.
    """
    if not isinstance(data, dict):
        raise FaultError(f"{_BAD_BODY}: expected a JSON object")
    unknown = sorted(set(data) - {"name", "type", "stream", "toxicity", "attributes"})
    if unknown:
        raise FaultError(f"{_BAD_BODY}: unknown field {unknown[0]!r}")
    attributes = _attributes(toxic.type, data.get("attributes"), toxic.attributes)
    toxicity = _toxicity(data["toxicity"]) if "toxicity" in data else toxic.toxicity
    toxic.attributes, toxic.toxicity = attributes, toxicity
