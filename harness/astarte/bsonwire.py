"""A small BSON codec that keeps the wire type of every value.

Why our own codec: general-purpose BSON libraries (py-bson, pymongo) turn a document into plain
Python values, so an ``int`` no longer says whether it travelled as int32 (0x10) or int64 (0x12),
and a whole ``float`` may come back as an ``int``. The Astarte MQTT v1 protocol gives each Astarte
type one BSON type (``double`` -> 0x01, ``integer`` -> 0x10, ``longinteger`` -> 0x12, ...), and the
real server reacts to the wire type, so the harness must see exactly what was sent.

Written from the BSON 1.1 specification (bsonspec.org). Only the element types Astarte can carry
are supported; every other type byte (ObjectId, regex, decimal128, ...) is rejected with a
:class:`BsonError`, as is any malformed input (truncated data, inconsistent lengths, missing
terminators, bad UTF-8, trailing bytes).

Usage::

    doc = decode(payload)
    value = doc["v"]                # a BsonValue
    if value.kind is BsonType.INT32: ...
    payload = encode(BsonDocument.of(v=BsonValue.double(1.0)))
"""

from __future__ import annotations

import datetime as _dt
import enum
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hil.errors import BsonError

__all__ = [
    "BsonDocument",
    "BsonError",
    "BsonType",
    "BsonValue",
    "decode",
    "encode",
    "from_python",
]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Largest document we agree to decode or encode: BSON sizes are signed int32.
_MAX_DOCUMENT: Final = INT32_MAX
#: Nesting limit, so a hostile payload cannot exhaust the Python stack.
_MAX_DEPTH: Final = 100
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

_INT32 = struct.Struct("<i")
_INT64 = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")


class BsonType(enum.IntEnum):
    """The element type bytes we support, named as in the BSON specification."""

    DOUBLE = 0x01
    STRING = 0x02
    DOCUMENT = 0x03
    ARRAY = 0x04
    BINARY = 0x05
    BOOLEAN = 0x08
    DATETIME = 0x09
    NULL = 0x0A
    INT32 = 0x10
    INT64 = 0x12


@dataclass(frozen=True, slots=True)
class BsonValue:
    """One typed BSON value.

    ``value`` by kind: DOUBLE ``float``; STRING ``str`` (``bytes`` only when decoded with
    ``strict=False`` and the bytes were not UTF-8); DOCUMENT :class:`BsonDocument`; ARRAY
    ``tuple[BsonValue, ...]``; BINARY ``bytes`` (with ``subtype``); BOOLEAN ``bool``; DATETIME
    ``int`` milliseconds since the Unix epoch (kept as the wire integer so nothing is rounded);
    NULL ``None``; INT32/INT64 ``int``.
    """

    kind: BsonType
    value: Any
    subtype: int = 0

    # Constructors read as the wire type they produce, so test code states the encoding.
    @classmethod
    def double(cls, value: float) -> BsonValue:
        return cls(BsonType.DOUBLE, float(value))

    @classmethod
    def string(cls, value: str) -> BsonValue:
        return cls(BsonType.STRING, value)

    @classmethod
    def document(cls, value: BsonDocument | Mapping[str, BsonValue]) -> BsonValue:
        doc = value if isinstance(value, BsonDocument) else BsonDocument(tuple(value.items()))
        return cls(BsonType.DOCUMENT, doc)

    @classmethod
    def array(cls, items: Iterable[BsonValue]) -> BsonValue:
        return cls(BsonType.ARRAY, tuple(items))

    @classmethod
    def binary(cls, value: bytes, subtype: int = 0) -> BsonValue:
        return cls(BsonType.BINARY, bytes(value), subtype)

    @classmethod
    def boolean(cls, value: bool) -> BsonValue:
        return cls(BsonType.BOOLEAN, bool(value))

    @classmethod
    def datetime(cls, value: _dt.datetime | int) -> BsonValue:
        """A UTC datetime; a naive ``datetime`` is refused because its instant is unknown."""
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                raise BsonError("naive datetime: give it a timezone")
            delta = value - _EPOCH
            value = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return cls(BsonType.DATETIME, int(value))

    @classmethod
    def null(cls) -> BsonValue:
        return cls(BsonType.NULL, None)

    @classmethod
    def int32(cls, value: int) -> BsonValue:
        return cls(BsonType.INT32, int(value))

    @classmethod
    def int64(cls, value: int) -> BsonValue:
        return cls(BsonType.INT64, int(value))

    def as_datetime(self) -> _dt.datetime:
        """The DATETIME value as an aware UTC ``datetime`` (millisecond precision)."""
        if self.kind is not BsonType.DATETIME:
            raise BsonError(f"{self.kind.name} is not a datetime")
        try:
            return _EPOCH + _dt.timedelta(milliseconds=self.value)
        except OverflowError as exc:
            raise BsonError(f"datetime {self.value} ms is outside the Python datetime range") from exc

    def to_python(self) -> Any:
        """The value as plain Python data (documents as dicts, arrays as lists, datetimes aware)."""
        if self.kind is BsonType.DOCUMENT:
            return self.value.to_python()
        if self.kind is BsonType.ARRAY:
            return [item.to_python() for item in self.value]
        if self.kind is BsonType.DATETIME:
            return self.as_datetime()
        return self.value


@dataclass(frozen=True, slots=True)
class BsonDocument:
    """An ordered BSON document; duplicate keys are kept because the wire allows them.

    Lookups (``doc["v"]``, ``get``) return the *last* element with that key, which is what a
    decoder that builds a map in wire order ends up with.
    """

    items: tuple[tuple[str, BsonValue], ...] = ()

    @classmethod
    def of(cls, **values: BsonValue) -> BsonDocument:
        """Build a document from keyword arguments, in argument order."""
        return cls(tuple(values.items()))

    def keys(self) -> list[str]:
        return [key for key, _ in self.items]

    def get(self, key: str, default: BsonValue | None = None) -> BsonValue | None:
        found = default
        for item_key, value in self.items:
            if item_key == key:
                found = value
        return found

    def __getitem__(self, key: str) -> BsonValue:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return any(item_key == key for item_key, _ in self.items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.items)

    def duplicate_keys(self) -> list[str]:
        """Keys that occur more than once, each listed once."""
        seen: set[str] = set()
        duplicates: list[str] = []
        for key, _ in self.items:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen.add(key)
        return duplicates

    def to_python(self) -> dict[str, Any]:
        return {key: value.to_python() for key, value in self.items}


# --------------------------------------------------------------------------- decoding


def decode(data: bytes, *, strict: bool = True) -> BsonDocument:
    """Decode exactly one BSON document.

    Args:
        data: the whole payload; trailing bytes after the document are an error.
        strict: with ``False`` the decoder tolerates what a lax server-side decoder tolerates
            (string bytes that are not UTF-8 are kept as ``bytes``; array keys are not checked
            to be ``"0"``, ``"1"``, ...), so that a simulator can tell "undecodable" from "wrong
            value". Structural errors are errors in both modes.

    Raises:
        BsonError: the bytes are not a well-formed document of supported element types.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BsonError(f"expected bytes, got {type(data).__name__}")
    view = bytes(data)
    document, end = _Decoder(view, strict).document(0, 0)
    if end != len(view):
        raise BsonError(f"{len(view) - end} trailing byte(s) after the document", offset=end)
    return document


class _Decoder:
    """Recursive-descent decoder over one immutable buffer."""

    def __init__(self, data: bytes, strict: bool) -> None:
        self.data = data
        self.strict = strict

    def _need(self, offset: int, size: int, what: str, limit: int) -> None:
        if offset + size > limit:
            raise BsonError(f"truncated {what}", offset=offset)

    def _int32(self, offset: int, limit: int, what: str) -> int:
        self._need(offset, 4, what, limit)
        return int(_INT32.unpack_from(self.data, offset)[0])

    def document(self, offset: int, depth: int, limit: int | None = None) -> tuple[BsonDocument, int]:
        """Decode the document at ``offset``; return it and the offset just past it."""
        limit = len(self.data) if limit is None else limit
        if depth > _MAX_DEPTH:
            raise BsonError(f"documents nested deeper than {_MAX_DEPTH}", offset=offset)
        size = self._int32(offset, limit, "document length")
        if size < 5:
            raise BsonError(f"document length {size} is below the minimum of 5", offset=offset)
        end = offset + size
        if end > limit:
            raise BsonError(f"document length {size} runs past the available data", offset=offset)
        if self.data[end - 1] != 0:
            raise BsonError("document does not end with a 0x00 byte", offset=end - 1)
        items: list[tuple[str, BsonValue]] = []
        position = offset + 4
        while position < end - 1:
            type_byte = self.data[position]
            try:
                kind = BsonType(type_byte)
            except ValueError:
                raise BsonError(f"unsupported element type 0x{type_byte:02x}", offset=position) from None
            key, position = self.cstring(position + 1, end - 1)
            value, position = self.value(kind, position, end - 1, depth)
            items.append((key, value))
        if position != end - 1:
            raise BsonError("element runs past the end of its document", offset=position)
        return BsonDocument(tuple(items)), end

    def cstring(self, offset: int, limit: int) -> tuple[str, int]:
        nul = self.data.find(b"\x00", offset, limit)
        if nul < 0:
            raise BsonError("unterminated element name", offset=offset)
        raw = self.data[offset:nul]
        try:
            return raw.decode("utf-8"), nul + 1
        except UnicodeDecodeError:
            raise BsonError("element name is not valid UTF-8", offset=offset) from None

    def value(self, kind: BsonType, offset: int, limit: int, depth: int) -> tuple[BsonValue, int]:
        data = self.data
        if kind is BsonType.DOUBLE:
            self._need(offset, 8, "double", limit)
            return BsonValue(kind, _DOUBLE.unpack_from(data, offset)[0]), offset + 8
        if kind is BsonType.INT32:
            return BsonValue(kind, self._int32(offset, limit, "int32")), offset + 4
        if kind in (BsonType.INT64, BsonType.DATETIME):
            self._need(offset, 8, kind.name.lower(), limit)
            return BsonValue(kind, _INT64.unpack_from(data, offset)[0]), offset + 8
        if kind is BsonType.BOOLEAN:
            self._need(offset, 1, "boolean", limit)
            if data[offset] not in (0, 1):
                raise BsonError(f"boolean byte 0x{data[offset]:02x} is neither 0 nor 1", offset=offset)
            return BsonValue(kind, data[offset] == 1), offset + 1
        if kind is BsonType.NULL:
            return BsonValue(kind, None), offset
        if kind is BsonType.STRING:
            return self.string(offset, limit)
        if kind is BsonType.BINARY:
            size = self._int32(offset, limit, "binary length")
            if size < 0:
                raise BsonError(f"negative binary length {size}", offset=offset)
            self._need(offset + 4, 1 + size, "binary data", limit)
            subtype = data[offset + 4]
            start = offset + 5
            return BsonValue(kind, data[start : start + size], subtype), start + size
        if kind is BsonType.DOCUMENT:
            document, end = self.document(offset, depth + 1, limit)
            return BsonValue(kind, document), end
        # ARRAY: a document whose keys are "0", "1", ... in order.
        document, end = self.document(offset, depth + 1, limit)
        if self.strict:
            for index, key in enumerate(document.keys()):
                if key != str(index):
                    raise BsonError(f"array key {key!r} where {str(index)!r} was expected", offset=offset)
        return BsonValue(kind, tuple(value for _, value in document.items)), end

    def string(self, offset: int, limit: int) -> tuple[BsonValue, int]:
        size = self._int32(offset, limit, "string length")
        if size < 1:
            raise BsonError(f"string length {size} is below the minimum of 1", offset=offset)
        self._need(offset + 4, size, "string", limit)
        end = offset + 4 + size
        if self.data[end - 1] != 0:
            raise BsonError("string does not end with a 0x00 byte", offset=end - 1)
        raw = self.data[offset + 4 : end - 1]
        try:
            return BsonValue(BsonType.STRING, raw.decode("utf-8")), end
        except UnicodeDecodeError:
            if self.strict:
                raise BsonError("string is not valid UTF-8", offset=offset) from None
            return BsonValue(BsonType.STRING, raw), end


# --------------------------------------------------------------------------- encoding


def encode(document: BsonDocument | Mapping[str, BsonValue | Any]) -> bytes:
    """Encode a document; plain Python values in a mapping go through :func:`from_python`.

    Raises:
        BsonError: a value does not fit its declared wire type (an int32 out of range, a key
            containing NUL, a string that cannot be UTF-8 encoded, ...).
    """
    typed = document if isinstance(document, BsonDocument) else from_python(dict(document)).value
    return _encode_document(typed, 0)


def _encode_document(document: BsonDocument, depth: int) -> bytes:
    if depth > _MAX_DEPTH:
        raise BsonError(f"documents nested deeper than {_MAX_DEPTH}")
    body = bytearray()
    for key, value in document.items:
        if not isinstance(value, BsonValue):
            raise BsonError(f"element {key!r} is a {type(value).__name__}, not a BsonValue")
        body.append(value.kind)
        body += _cstring(key)
        body += _encode_value(value, depth)
    size = len(body) + 5
    if size > _MAX_DOCUMENT:
        raise BsonError("document too large")
    return _INT32.pack(size) + bytes(body) + b"\x00"


def _cstring(key: str) -> bytes:
    raw = _utf8(key, "element name")
    if b"\x00" in raw:
        raise BsonError(f"element name {key!r} contains a NUL byte")
    return raw + b"\x00"


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BsonError(f"{what} cannot be encoded as UTF-8") from None


def _encode_value(value: BsonValue, depth: int) -> bytes:
    kind, payload = value.kind, value.value
    if kind is BsonType.DOUBLE:
        return _DOUBLE.pack(payload)
    if kind is BsonType.INT32:
        if not INT32_MIN <= payload <= INT32_MAX:
            raise BsonError(f"{payload} does not fit in int32")
        return _INT32.pack(payload)
    if kind in (BsonType.INT64, BsonType.DATETIME):
        if not INT64_MIN <= payload <= INT64_MAX:
            raise BsonError(f"{payload} does not fit in int64")
        return _INT64.pack(payload)
    if kind is BsonType.BOOLEAN:
        return b"\x01" if payload else b"\x00"
    if kind is BsonType.NULL:
        return b""
    if kind is BsonType.STRING:
        raw = payload if isinstance(payload, bytes) else _utf8(payload, "string")
        return _INT32.pack(len(raw) + 1) + raw + b"\x00"
    if kind is BsonType.BINARY:
        if not 0 <= value.subtype <= 0xFF:
            raise BsonError(f"binary subtype {value.subtype} is not a byte")
        data: bytes = payload
        return _INT32.pack(len(data)) + bytes([value.subtype]) + data
    if kind is BsonType.DOCUMENT:
        return _encode_document(payload, depth + 1)
    if kind is BsonType.ARRAY:
        indexed = BsonDocument(tuple((str(index), item) for index, item in enumerate(payload)))
        return _encode_document(indexed, depth + 1)
    raise BsonError(f"cannot encode kind {kind!r}")  # pragma: no cover - enum is exhaustive


def from_python(value: Any) -> BsonValue:
    """Map plain Python data to BSON the obvious way.

    ``bool`` -> BOOLEAN, ``int`` -> INT32 when it fits else INT64 (the rule most BSON libraries
    use, and the reason Astarte ``longinteger`` values need an explicit :meth:`BsonValue.int64`),
    ``float`` -> DOUBLE, ``str`` -> STRING, ``bytes`` -> BINARY subtype 0, aware ``datetime`` ->
    DATETIME, ``None`` -> NULL, mappings -> DOCUMENT, lists/tuples -> ARRAY. ``BsonValue`` passes
    through unchanged.
    """
    if isinstance(value, BsonValue):
        return value
    if isinstance(value, bool):
        return BsonValue.boolean(value)
    if isinstance(value, int):
        if INT32_MIN <= value <= INT32_MAX:
            return BsonValue.int32(value)
        if INT64_MIN <= value <= INT64_MAX:
            return BsonValue.int64(value)
        raise BsonError(f"{value} does not fit in int64")
    if isinstance(value, float):
        return BsonValue.double(value)
    if isinstance(value, str):
        return BsonValue.string(value)
    if isinstance(value, (bytes, bytearray)):
        return BsonValue.binary(bytes(value))
    if isinstance(value, _dt.datetime):
        return BsonValue.datetime(value)
    if value is None:
        return BsonValue.null()
    if isinstance(value, BsonDocument):
        return BsonValue(BsonType.DOCUMENT, value)
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise BsonError(f"document key {key!r} is not a string")
            items.append((key, from_python(item)))
        return BsonValue(BsonType.DOCUMENT, BsonDocument(tuple(items)))
    if isinstance(value, (list, tuple)):
        return BsonValue.array(from_python(item) for item in value)
    raise BsonError(f"no BSON type for {type(value).__name__}")

