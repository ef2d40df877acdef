"""Python payload values <-> JSON, losslessly, so a counterexample file replays the exact call.

JSON has no bytes, datetimes, NaN, infinities or tuples, and a fuzzer's most interesting values
are exactly those. Each such value becomes a one-key object with a ``$`` tag; plain JSON values
stay as they are, so a capsule remains readable. Big integers are fine (Python's json keeps them).
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
from typing import Any

__all__ = ["from_json", "to_json"]

_TAGS = ("$bytes", "$bytearray", "$float", "$datetime", "$tuple", "$dict")


def to_json(value: Any) -> Any:
    """A JSON-safe form of ``value`` that :func:`from_json` turns back into an equal value."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, bytearray):
        return {"$bytearray": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, _dt.date):  # a wrong-typed value the strategies offer for datetime mappings
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [to_json(item) for item in value]}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: to_json(item) for key, item in value.items()}
        return {"$dict": [[to_json(key), to_json(item)] for key, item in value.items()]}
    raise TypeError(f"cannot store a {type(value).__name__} in a counterexample file")


def from_json(value: Any) -> Any:
    """The Python value :func:`to_json` encoded."""
    if isinstance(value, list):
        return [from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$bytearray":
            return bytearray(base64.b64decode(inner))
        if tag == "$float":
            return float(inner)
        if tag == "$datetime":
            return _dt.datetime.fromisoformat(inner)
        if tag == "$date":
            return _dt.date.fromisoformat(inner)
        if tag == "$tuple":
            return tuple(from_json(item) for item in inner)
        if tag == "$dict":
            return {from_json(key): from_json(item) for key, item in inner}
    return {key: from_json(item) for key, item in value.items()}
