"""Astarte values in the simulator: one Python form, converted from BSON and JSON, rendered back.

Stored form per mapping type (what the realm keeps): ``double`` float, ``integer``/``longinteger``
int, ``boolean`` bool, ``string`` str, ``binaryblob`` bytes, ``datetime`` int epoch milliseconds,
arrays lists of those; an object value is a dict key -> stored form.

* :func:`from_bson` takes a value the data updater accepted (the oracle's server verdict already
  said the wire type is acceptable) and normalises it: an int32 on a ``double`` becomes a float,
  a BSON string on a ``binaryblob`` its UTF-8 bytes, as Astarte v1.2.0 stores them.
* :func:`cast_json` is AppEngine's write cast + validation (astarte-apis.md 3.8 steps 4-5).
* :func:`render` is AppEngine's JSON rendering (3.7): blobs as padded base64, datetimes as ISO
  8601 UTC with milliseconds, ``longinteger`` as a string where AppEngine makes it one.
* :func:`to_bson` is how the realm publishes a value to a device (Astarte's BSON types).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from typing import Any, Final

from hil.astarte.bsonwire import INT32_MAX, INT64_MAX, BsonType, BsonValue
from hil.oracle import ValueType, astarte_bson_value
from hil.simulators.astarte.api_errors import ApiError, detail

__all__ = ["cast_json", "from_bson", "iso_ms", "now_ms", "parse_iso", "render", "to_bson"]

SIZE_LIMIT: Final = 65_536
ARRAY_LIMIT: Final = 1024
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def iso_ms(ms: int) -> str:
    """``2017-09-28T03:45:00.000Z``: AppEngine's timestamp rendering."""
    try:
        moment = _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    # Not strftime: glibc's %Y does not zero-pad years below 1000 ("1-01-02"), Elixir's ISO 8601 does.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def parse_iso(text: Any) -> int | None:
    """Epoch milliseconds of an ISO 8601 datetime *with* an offset (or ``Z``), else None."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# --------------------------------------------------------------------------- device -> realm


def from_bson(value_type: ValueType, value: BsonValue) -> Any:
    """The stored form of an accepted BSON value."""
    if value_type.is_array:
        return [from_bson(value_type.scalar, item) for item in value.value]
    kind, raw = value.kind, value.value
    if value_type is ValueType.DOUBLE:
        return float(raw)
    if value_type in (ValueType.INTEGER, ValueType.LONGINTEGER):
        return int(raw)
    if value_type is ValueType.BOOLEAN:
        return bool(raw)
    if value_type is ValueType.STRING:
        return raw.decode("utf-8") if isinstance(raw, bytes) else raw
    if value_type is ValueType.BINARYBLOB:
        if kind is BsonType.STRING:
            return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        return bytes(raw)
    return int(raw)  # DATETIME: BSON datetime or integer, both epoch milliseconds


# --------------------------------------------------------------------------- realm -> device


def to_bson(value_type: ValueType, value: Any) -> BsonValue:
    """The wire form Astarte publishes: double always a BSON double, longinteger int64, ..."""
    return astarte_bson_value(value_type, value)


# --------------------------------------------------------------------------- AppEngine JSON


def _type_error(expected: Any) -> ApiError:
    return detail(422, "Unexpected value type", expected_type=expected)


def _size_error() -> ApiError:
    return detail(422, "Value size exceeds size limits")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def cast_json(value_type: ValueType, value: Any) -> Any:
    """Cast and validate a JSON value written through AppEngine; raises 422 :class:`ApiError`.

    v1.2.0 answers a non-number on a ``double`` with a 500 (the cast raises); the simulator gives
    HEAD's 422 instead, because it must never answer 500 to bad input.
    """
    if value_type.is_array:
        if not isinstance(value, list):
            raise _type_error(value_type.value)
        if len(value) > ARRAY_LIMIT:
            raise _size_error()
        try:
            return [cast_json(value_type.scalar, item) for item in value]
        except ApiError as exc:
            if exc.body["errors"].get("detail") == "Unexpected value type":
                raise _type_error(value_type.value) from None
            raise
    if value_type is ValueType.DOUBLE:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise _type_error(value_type.value)
    if value_type is ValueType.INTEGER:
        if _is_int(value) and abs(value) <= INT32_MAX:
            return value
        raise _type_error(value_type.value)
    if value_type is ValueType.LONGINTEGER:
        if _is_int(value) and abs(value) <= INT64_MAX:
            return value
        raise _type_error(value_type.value)  # a decimal string is refused at v1.2.0
    if value_type is ValueType.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise _type_error(value_type.value)
    if value_type is ValueType.STRING:
        if not isinstance(value, str):
            raise _type_error(value_type.value)
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise _type_error(value_type.value) from None
        if size > SIZE_LIMIT:
            raise _size_error()
        return value
    if value_type is ValueType.BINARYBLOB:
        if not isinstance(value, str):
            raise _type_error(value_type.value)
        try:
            blob = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _type_error(value_type.value) from None
        if len(blob) > SIZE_LIMIT:
            raise _size_error()
        return blob
    # DATETIME: an ISO 8601 string with an offset, or integer epoch milliseconds.
    if _is_int(value) and abs(value) <= INT64_MAX:
        return value
    parsed = parse_iso(value)
    if parsed is None:
        raise _type_error(value_type.value)
    return parsed


def render(value_type: ValueType, value: Any, *, longinteger_as_string: bool) -> Any:
    """A stored value as AppEngine renders it in JSON.

    An empty array renders as ``null``, as Astarte 1.2.0 does: its array columns are non-frozen
    CQL lists, and Cassandra stores an empty list as no value at all.
    """
    if value is None:
        return None
    if value_type.is_array:
        if not value:
            return None
        return [render(value_type.scalar, item, longinteger_as_string=longinteger_as_string) for item in value]
    if value_type is ValueType.BINARYBLOB:
        return base64.b64encode(value).decode("ascii")
    if value_type is ValueType.DATETIME:
        return iso_ms(value)
    if value_type is ValueType.LONGINTEGER and longinteger_as_string:
        return str(value)
    return value
