"""Reading a sent value back through AppEngine, and saying how it differs from what was sent.

Property 4 asks the realm, through its public AppEngine API only (so the check means the same
against a real Astarte), for the value one call stored, and compares it with the value the call
passed (:mod:`.appengine_values`). Which read finds "the value this call stored" depends on the
interface (astarte-apis.md 3.5, 3.6):

* a property: ``GET <interface><path>``, the bare value; after an unset ``{}``;
* a datastream without ``explicit_timestamp``: the value timestamp is the reception time, so the
  newest row (``limit=1``, newest first) is this call's;
* a datastream with ``explicit_timestamp``: the value timestamp is the sent ``t``, and earlier
  examples may have used any instant, so the read is the window of the millisecond the wire
  message carried (``since`` inclusive, ``to`` exclusive), oldest first; without the wire ``t``,
  the window ``[floor, ceil + 1 ms)`` of the passed instant, which an earlier example's row in
  the neighbouring millisecond can shadow (a sender may truncate or round); rows with the same
  value timestamp are ordered by reception, so the window's last row is this call's. Object
  interfaces read the same way on their common path.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import quote

from hil.fuzzing.appengine_values import (
    iso_ms,
    object_rendering_mismatch,
    rendering_mismatch,
    timestamp_mismatch,
)
from hil.fuzzing.requests import SendRequest
from hil.oracle import Interface, ValueType, resolve

__all__ = ["AppEngineReader", "StoredCheck", "appengine_values_path", "check_stored", "reads_as_unset"]

#: Requirement ids per read form: what a mismatch there is filed under when the realm is to blame.
READ_PROPERTY: Final = "ASTARTE-APPENGINE-READ-03"
READ_DATASTREAM: Final = "ASTARTE-APPENGINE-READ-05"
READ_OBJECT: Final = "ASTARTE-APPENGINE-READ-08"
READ_RENDERING: Final = "ASTARTE-APPENGINE-READ-09"
STORED_TIMESTAMP: Final = "ASTARTE-MQTT-TIMESTAMP-04"


class AppEngineReader(Protocol):
    """``GET`` on a device's interface values: returns the status and the decoded JSON body."""

    def read_values(self, interface: str, path: str, params: dict[str, str]) -> tuple[int, Any]: ...


def appengine_values_path(device_id: str, interface: str, path: str) -> str:
    """``devices/<id>/interfaces/<interface>/<level>/...``, every level percent-encoded.

    Parameter values may hold spaces, ``%``, ``?`` or non-ASCII letters; a level of only dots is
    encoded too, or URL normalisation would read it as ``.``/``..`` and climb the path.
    """
    levels = [quote(level, safe="") for level in path.split("/") if level]
    levels = [level.replace(".", "%2E") if set(level) == {"."} else level for level in levels]
    return "/".join(["devices", quote(device_id, safe=""), "interfaces", quote(interface, safe=""), *levels])


@dataclass(frozen=True, slots=True)
class StoredCheck:
    """The outcome of one read-back.

    Attributes:
        mismatch: why the realm's view differs from what was sent (None when it agrees).
        requirement: the requirement a mismatch concerns (the read form's, or the timestamp's).
        shown: the JSON AppEngine returned for the selected row or value (for the capsule).
        exercised: the requirement ids the read-back covered.
    """

    mismatch: str | None
    requirement: str
    shown: Any
    exercised: tuple[str, ...]


def reads_as_unset(value_type: ValueType, value: Any) -> bool:
    """Astarte reads ``{"v": <empty binary>}`` as an unset (astarte-apis.md 5.3, ASTARTE-MQTT-DATA-08):
    an empty binaryblob cannot be stored, a property set to one is unset."""
    return value_type is ValueType.BINARYBLOB and isinstance(value, (bytes, bytearray)) and not value


def check_stored(reader: AppEngineReader, interface: Interface, request: SendRequest, *,
                 wire_t_ms: int | None = None) -> StoredCheck:
    """Read back the value ``request`` stored and compare it with what it sent.

    The request must be one the oracle accepts (or leaves to the API), that the SDK published
    and the realm stored (its server verdict found no error). ``wire_t_ms``: the ``t`` of the
    published message (epoch ms), which is the value timestamp the realm stored.
    """
    if interface.is_properties:
        return _property(reader, interface, request)
    if interface.is_object:
        return _object(reader, interface, request, wire_t_ms)
    return _individual(reader, interface, request, wire_t_ms)


def _property(reader: AppEngineReader, interface: Interface, request: SendRequest) -> StoredCheck:
    status, body = reader.read_values(interface.name, request.path, {})
    shown = body.get("data") if isinstance(body, dict) else body
    exercised = ("ASTARTE-MQTT-PROPERTIES-02" if request.operation == "unset" else "ASTARTE-MQTT-PROPERTIES-01",
                 READ_PROPERTY)
    if status != 200:
        return StoredCheck(f"property read answered {status}", READ_PROPERTY, body, exercised)
    mapping = resolve(interface, request.path).mapping
    assert mapping is not None  # the oracle accepted the request
    if request.operation == "unset" or reads_as_unset(mapping.type, request.payload):
        why = None if shown == {} else f"an unset property reads {shown!r}, not {{}}"
        return StoredCheck(why, READ_PROPERTY, shown, exercised)
    why = rendering_mismatch(mapping.type, request.payload, shown, longinteger_as_string=False)
    return StoredCheck(why, READ_RENDERING if why else READ_PROPERTY, shown, exercised)


def _window(reader: AppEngineReader, interface: Interface, request: SendRequest,
            explicit: bool, wire_t_ms: int | None = None) -> tuple[int, Any, Any]:
    """Status, body and the row this call stored (None when there is none)."""
    if explicit and request.timestamp is not None:
        if wire_t_ms is not None:
            low = high = wire_t_ms
        else:
            stamp = request.timestamp if request.timestamp.tzinfo else request.timestamp.replace(tzinfo=_dt.UTC)
            micros = _micros(stamp)
            low, high = micros // 1000, -(-micros // 1000)
        params = {"since": iso_ms(low), "to": iso_ms(high + 1)}
        status, body = reader.read_values(interface.name, request.path, params)
        rows = body.get("data") if isinstance(body, dict) else None
        return status, body, rows[-1] if isinstance(rows, list) and rows else None
    status, body = reader.read_values(interface.name, request.path, {"limit": "1"})
    rows = body.get("data") if isinstance(body, dict) else None
    return status, body, rows[0] if isinstance(rows, list) and rows else None


def _micros(moment: _dt.datetime) -> int:
    delta = moment - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _row_timestamp(row: dict[str, Any], explicit: bool, request: SendRequest) -> str | None:
    if "timestamp" not in row:
        return "row has no timestamp"
    if explicit and request.timestamp is not None:
        return timestamp_mismatch(request.timestamp, row["timestamp"])
    return None


def _individual(reader: AppEngineReader, interface: Interface, request: SendRequest,
                wire_t_ms: int | None = None) -> StoredCheck:
    mapping = resolve(interface, request.path).mapping
    assert mapping is not None
    explicit = mapping.explicit_timestamp
    exercised = (READ_DATASTREAM, READ_RENDERING, *((STORED_TIMESTAMP,) if explicit else ()))
    status, body, row = _window(reader, interface, request, explicit, wire_t_ms)
    if row is None:
        return StoredCheck(f"no stored row found (answer {status})", READ_DATASTREAM, body, exercised)
    if not isinstance(row, dict) or set(row) != {"timestamp", "value"}:
        return StoredCheck("a datastream path row is not {timestamp, value}", READ_DATASTREAM, row, exercised)
    why = rendering_mismatch(mapping.type, request.payload, row["value"], longinteger_as_string=True)
    if why is not None:
        return StoredCheck(why, READ_RENDERING, row, exercised)
    why = _row_timestamp(row, explicit, request)
    return StoredCheck(why, STORED_TIMESTAMP, row, exercised)


def _object(reader: AppEngineReader, interface: Interface, request: SendRequest,
            wire_t_ms: int | None = None) -> StoredCheck:
    explicit = interface.mappings[0].explicit_timestamp
    exercised = (READ_OBJECT, READ_RENDERING, *((STORED_TIMESTAMP,) if explicit else ()))
    status, body, row = _window(reader, interface, request, explicit, wire_t_ms)
    if row is None:
        return StoredCheck(f"no stored object row found (answer {status})", READ_OBJECT, body, exercised)
    sent = request.payload if isinstance(request.payload, AbcMapping) else {}
    by_key = {key: mapping.type for key, mapping in interface.object_mappings().items()}
    why = object_rendering_mismatch(by_key, sent, row)
    if why is not None:
        return StoredCheck(why, READ_OBJECT, row, exercised)
    why = _row_timestamp(row, explicit, request)
    return StoredCheck(why, STORED_TIMESTAMP, row, exercised)
