"""How AppEngine must show a value that was sent, written from astarte-apis.md 3.5 and 3.7.

Property 4 (what the realm stores equals what was sent) reads values back through the AppEngine
API, so it needs the documented JSON rendering of each Astarte type, independent of the
simulator's own code (which it judges too):

* ``double``, ``integer``, ``boolean``, ``string``: plain JSON; a double is a JSON float, its
  sign kept (``-0.0``), an integer a JSON integer (never a boolean);
* ``longinteger``: a decimal *string* in datastream path and object reads, a JSON number in
  property reads (``longinteger_as_string``);
* ``binaryblob``: standard base64 with padding;
* ``datetime`` and row timestamps: ISO 8601 UTC with exactly three fractional digits and ``Z``.

A Python ``datetime`` carries microseconds and the wire carries milliseconds; the specification
says the value is kept "at millisecond precision" but not how a finer instant is brought there,
so truncation and rounding are both accepted (the shown instant must be within one millisecond,
on the right side, of the sent one). A naive ``datetime`` is read as UTC (the oracle's lenient
reading). The same comparison serves the wire: :func:`bson_mismatch` tells whether the SDK
already changed the value before the realm saw it, which decides who is to blame.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import re
from collections.abc import Mapping as AbcMapping
from typing import Any, Final

from hil.astarte.bsonwire import BsonType, BsonValue
from hil.oracle import ValueType

__all__ = [
    "bson_mismatch",
    "iso_ms",
    "object_rendering_mismatch",
    "parse_iso_ms",
    "rendering_mismatch",
    "timestamp_mismatch",
]

_ISO_MS: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _exact_us(moment: _dt.datetime) -> int:
    """Microseconds since the epoch (naive = UTC), exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_ms(ms: int) -> str:
    """Epoch milliseconds in AppEngine's form, ``0001-01-02T00:00:00.000Z`` (years zero-padded)."""
    moment = _EPOCH + _dt.timedelta(milliseconds=ms)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def parse_iso_ms(text: Any) -> int | None:
    """Epoch milliseconds of a string in exactly AppEngine's form, else None."""
    if not isinstance(text, str):
        return None
    match = _ISO_MS.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups())
    try:
        moment = _dt.datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=_dt.UTC)
    except ValueError:
        return None
    return _exact_us(moment) // 1000


def _instant_mismatch(sent_us: int, shown_ms: int) -> str | None:
    low, high = sent_us // 1000, -(-sent_us // 1000)  # floor and ceiling in milliseconds
    if low <= shown_ms <= high:
        return None
    return f"instant {iso_ms(shown_ms)} is not {iso_ms(low)} at millisecond precision"


def timestamp_mismatch(sent: _dt.datetime, shown: Any) -> str | None:
    """Why ``shown`` (a row ``timestamp``) is not ``sent`` at millisecond precision, or None."""
    shown_ms = parse_iso_ms(shown)
    if shown_ms is None:
        return f"timestamp {shown!r} is not ISO 8601 UTC with milliseconds"
    return _instant_mismatch(_exact_us(sent), shown_ms)


def rendering_mismatch(value_type: ValueType, sent: Any, shown: Any, *, longinteger_as_string: bool) -> str | None:
    """Why ``shown`` (AppEngine JSON) is not how ``sent`` (the Python value) must appear, or None.

    ``sent`` must be a value the oracle accepts for ``value_type`` (or leaves to the API).
    """
    if value_type.is_array:
        if shown is None and not sent:
            return None  # Astarte 1.2.0 renders an empty array as null (a CQL list cannot be empty)
        if not isinstance(shown, list):
            return f"{value_type} shown as {type(shown).__name__}, not a list"
        if len(shown) != len(sent):
            return f"{value_type} of {len(sent)} items shown with {len(shown)}"
        for index, (item, shown_item) in enumerate(zip(sent, shown, strict=True)):
            why = rendering_mismatch(value_type.scalar, item, shown_item, longinteger_as_string=longinteger_as_string)
            if why is not None:
                return f"item {index}: {why}"
        return None
    match value_type:
        case ValueType.DOUBLE:
            if not isinstance(shown, float):
                return f"double shown as {type(shown).__name__} {shown!r}, not a JSON float"
            if shown != float(sent) or math.copysign(1.0, shown) != math.copysign(1.0, float(sent)):
                return f"double {sent!r} shown as {shown!r}"
        case ValueType.INTEGER:
            if type(shown) is not int or shown != sent:
                return f"integer {sent!r} shown as {shown!r}"
        case ValueType.LONGINTEGER:
            want: Any = str(sent) if longinteger_as_string else sent
            if type(shown) is not type(want) or shown != want:
                form = "a decimal string" if longinteger_as_string else "a JSON number"
                return f"longinteger {sent!r} shown as {shown!r} (must be {form})"
        case ValueType.BOOLEAN:
            if type(shown) is not bool or shown != sent:
                return f"boolean {sent!r} shown as {shown!r}"
        case ValueType.STRING:
            if not isinstance(shown, str) or shown != sent:
                return f"string of {len(sent)} characters shown as {_short(shown)}"
        case ValueType.BINARYBLOB:
            want = base64.b64encode(bytes(sent)).decode("ascii")
            if shown != want:
                return f"binaryblob of {len(sent)} bytes shown as {_short(shown)}, not padded base64 {_short(want)}"
        case ValueType.DATETIME:
            shown_ms = parse_iso_ms(shown)
            if shown_ms is None:
                return f"datetime shown as {_short(shown)}, not ISO 8601 UTC with milliseconds"
            return _instant_mismatch(_exact_us(sent), shown_ms)
    return None


def bson_mismatch(value_type: ValueType, sent: Any, wire: BsonValue) -> str | None:
    """Why the wire value (as Astarte reads it for ``value_type``) is not ``sent``, or None.

    Astarte reads any BSON number as a double, an integer of any width as (long)integer, a
    datetime as its milliseconds; this compares *values*, the wire *types* are property 3's.
    """
    if value_type.is_array:
        if wire.kind is not BsonType.ARRAY or not isinstance(sent, (list, tuple)):
            return f"{value_type} travelled as BSON {wire.kind.name}"
        items = list(wire.value)
        if len(items) != len(sent):
            return f"{value_type} of {len(sent)} items travelled with {len(items)}"
        for index, (item, wire_item) in enumerate(zip(sent, items, strict=True)):
            why = bson_mismatch(value_type.scalar, item, wire_item)
            if why is not None:
                return f"item {index}: {why}"
        return None
    raw = wire.value
    match value_type:
        case ValueType.DOUBLE:
            ok = wire.kind in (BsonType.DOUBLE, BsonType.INT32, BsonType.INT64) and float(raw) == float(sent) and (
                math.copysign(1.0, float(raw)) == math.copysign(1.0, float(sent)))
        case ValueType.INTEGER | ValueType.LONGINTEGER:
            ok = wire.kind in (BsonType.INT32, BsonType.INT64) and raw == sent
        case ValueType.BOOLEAN:
            ok = wire.kind is BsonType.BOOLEAN and raw is sent
        case ValueType.STRING:
            ok = wire.kind is BsonType.STRING and raw == sent
        case ValueType.BINARYBLOB:
            ok = wire.kind is BsonType.BINARY and bytes(raw) == bytes(sent)
        case ValueType.DATETIME:
            if wire.kind is not BsonType.DATETIME:
                return f"datetime travelled as BSON {wire.kind.name}"
            return _instant_mismatch(_exact_us(sent), int(raw))
        case _:  # pragma: no cover - ValueType is exhaustive
            ok = False
    return None if ok else f"{value_type} {_short(sent)} travelled as BSON {wire.kind.name} {_short(raw)}"


def object_rendering_mismatch(by_key: AbcMapping[str, ValueType], sent: AbcMapping[str, Any],
                              row: Any) -> str | None:
    """Why an object row (``timestamp`` apart) is not the sent object: every mapping key present,
    unsent ones ``null``, longintegers as strings (3.5, 3.7)."""
    if not isinstance(row, dict):
        return f"object row shown as {type(row).__name__}"
    extra = set(row) - set(by_key) - {"timestamp"}
    if extra:
        return f"object row has keys that are no mapping: {sorted(extra)}"
    for key, value_type in by_key.items():
        if key not in row:
            return f"object row lacks key {key!r} (unsent keys must be null)"
        if key not in sent:
            if row[key] is not None:
                return f"unsent key {key!r} shown as {_short(row[key])}, not null"
            continue
        why = rendering_mismatch(value_type, sent[key], row[key], longinteger_as_string=True)
        if why is not None:
            return f"key {key!r}: {why}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
