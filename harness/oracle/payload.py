"""Is this data message right? The specification's verdict and Astarte v1.2.0's reaction.

Two verdicts because the two differ, and hil needs both:

* the **specification verdict** (``spec_violations``): what a conforming sender must do, from
  080-mqtt-v1-protocol.md ("Astarte payload standard fields", "Astarte data types to BSON types",
  the message formats) and 030-interface.md ("Supported data types", parameter limits). Conformance
  checks and fuzzing judge an SDK by this one.
* the **server verdict** (``server_error_name``): what Astarte v1.2.0's data updater does with a
  device message (``impl.ex`` ``handle_data``, ``payloads_decoder.ex``, astarte_core
  ``value_type.ex``), with the ``error_name`` of its ``device_error`` event. The realm simulator
  uses it to react like Astarte. Examples of disagreement: the server accepts an int32 for a
  ``longinteger`` or a BSON string for a ``binaryblob``, rejects ``-2**31`` for an ``integer``,
  accepts unsets on properties without ``allow_unset``, and treats ``{"v": <empty binary>}`` and
  ``{"v": null}`` as unsets.

Entry points: :func:`judge_device_message` (a decoded payload), :func:`judge_device_payload`
(raw bytes), :func:`judge_server_message` (server -> device, specification only), and
:func:`check_value` for a single value. Realm-level conditions (the interface is not in the
device introspection: ``interface_loading_failed``) are the caller's to check.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Final

from hil.astarte.bsonwire import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    BsonDocument,
    BsonError,
    BsonType,
    BsonValue,
    decode,
)
from hil.oracle.model import Interface, Ownership, ValueType
from hil.oracle.paths import Resolution, resolve, server_resolve
from hil.oracle.rules import rule
from hil.oracle.violations import Violation

__all__ = [
    "ARRAY_MAX_ITEMS",
    "BLOB_MAX_BYTES",
    "NO_DISCONNECT_ERRORS",
    "STRING_MAX_BYTES",
    "Verdict",
    "astarte_bson_value",
    "check_value",
    "judge_device_message",
    "judge_device_payload",
    "judge_server_message",
    "server_value_error",
]

STRING_MAX_BYTES: Final = 65_536
#: 030-interface.md: a blob "should be shorter than 64 KiB"; the server allows up to 65536 bytes.
BLOB_MAX_BYTES: Final = 65_535
SERVER_BLOB_MAX_BYTES: Final = 65_536
ARRAY_MAX_ITEMS: Final = 1024
#: Server errors after which Astarte v1.2.0 does *not* force a disconnect (impl.ex: the unset on a
#: datastream is discarded, a trigger fires, and the device keeps its session).
NO_DISCONNECT_ERRORS: Final = frozenset({"unset_on_datastream"})

_SCALAR_KIND: Final = {
    ValueType.DOUBLE: (BsonType.DOUBLE, "ASTARTE-PAYLOAD-DOUBLE-01"),
    ValueType.INTEGER: (BsonType.INT32, "ASTARTE-PAYLOAD-INTEGER-01"),
    ValueType.LONGINTEGER: (BsonType.INT64, "ASTARTE-PAYLOAD-LONGINTEGER-01"),
    ValueType.BOOLEAN: (BsonType.BOOLEAN, "ASTARTE-PAYLOAD-BOOLEAN-01"),
    ValueType.STRING: (BsonType.STRING, "ASTARTE-PAYLOAD-STRING-01"),
    ValueType.BINARYBLOB: (BsonType.BINARY, "ASTARTE-PAYLOAD-BINARYBLOB-01"),
    ValueType.DATETIME: (BsonType.DATETIME, "ASTARTE-PAYLOAD-DATETIME-01"),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The oracle's judgement of one data message.

    Attributes:
        spec_violations: MUST rules of the specification the message breaks (empty = conforming).
        advisories: SHOULD rules it breaks.
        server_error_name: the ``error_name`` Astarte v1.2.0 reports, or None if it accepts the
            message (for server -> device messages always None: the server is the sender).
        resolution: how the path resolved under the specification.
    """

    spec_violations: tuple[Violation, ...]
    advisories: tuple[Violation, ...]
    server_error_name: str | None
    resolution: Resolution

    @property
    def spec_ok(self) -> bool:
        return not self.spec_violations

    @property
    def server_accepts(self) -> bool:
        return self.server_error_name is None

    @property
    def server_disconnects(self) -> bool:
        """Astarte v1.2.0 forces a clean-session disconnect (ASTARTE-PAYLOAD-SERVER-01)."""
        return self.server_error_name is not None and self.server_error_name not in NO_DISCONNECT_ERRORS

    @property
    def rule_ids(self) -> list[str]:
        return [v.rule_id for v in self.spec_violations]


def judge_device_message(interface: Interface, path: str, payload: BsonDocument | None) -> Verdict:
    """Judge a device -> Astarte message whose payload is already decoded (None = empty payload)."""
    return _judge(interface, path, payload, payload, Ownership.DEVICE, with_server=True)


def judge_device_payload(interface: Interface, path: str, payload: bytes) -> Verdict:
    """Judge a device -> Astarte message from its raw MQTT payload bytes."""
    spec_doc, server_doc = _decode_both(payload)
    return _judge(interface, path, spec_doc, server_doc, Ownership.DEVICE, with_server=True)


def judge_server_message(interface: Interface, path: str, payload: BsonDocument | bytes | None) -> Verdict:
    """Judge an Astarte -> device message by the specification (what an SDK should accept)."""
    spec_doc = _decode_both(payload)[0] if isinstance(payload, bytes) else payload
    return _judge(interface, path, spec_doc, spec_doc, Ownership.SERVER, with_server=False)


def _decode_both(payload: bytes) -> tuple[BsonDocument | BsonError | None, BsonDocument | BsonError | None]:
    if len(payload) == 0:
        return None, None
    try:
        lenient: BsonDocument | BsonError = decode(payload, strict=False)
    except BsonError as exc:
        return exc, exc
    try:
        return decode(payload, strict=True), lenient
    except BsonError as exc:
        return exc, lenient


def _judge(
    interface: Interface,
    path: str,
    spec_doc: BsonDocument | BsonError | None,
    server_doc: BsonDocument | BsonError | None,
    sender: Ownership,
    *,
    with_server: bool,
) -> Verdict:
    resolution = resolve(interface, path)
    found = _spec_message(interface, path, resolution, spec_doc, sender)
    must = tuple(v for v in found if rule(v.rule_id).level == "MUST")
    should = tuple(v for v in found if rule(v.rule_id).level != "MUST")
    server_error = _server_message(interface, path, server_doc) if with_server else None
    return Verdict(must, should, server_error, resolution)


# --------------------------------------------------------------------------- specification


def _spec_message(
    interface: Interface,
    path: str,
    resolution: Resolution,
    doc: BsonDocument | BsonError | None,
    sender: Ownership,
) -> list[Violation]:
    found: list[Violation] = []
    if interface.ownership is not sender:
        found.append(Violation("ASTARTE-PAYLOAD-OWNERSHIP-01", "$",
                               f"{interface.name} is {interface.ownership}-owned; the {sender} must not publish on it"))
    if not resolution.ok:
        found.append(Violation(resolution.rule_id or "ASTARTE-PAYLOAD-PATH-01", "path", resolution.reason))
    if doc is None:  # an empty payload: an unset
        if interface.is_datastream:
            found.append(Violation("ASTARTE-PAYLOAD-UNSET-02", "$", "unset (empty payload) on a datastream"))
        elif resolution.mapping is not None and not resolution.mapping.allow_unset:
            found.append(Violation("ASTARTE-PAYLOAD-UNSET-03", "$",
                                   f"unset on {resolution.mapping.endpoint}, which has allow_unset false"))
        return found
    if isinstance(doc, BsonError):
        found.append(Violation("ASTARTE-PAYLOAD-BSON-01", "$", str(doc)))
        return found
    for key in doc.duplicate_keys():
        found.append(Violation("ASTARTE-PAYLOAD-BSON-01", f"$.{key}", f"key {key!r} appears more than once"))
    value = doc.get("v")
    if value is None:
        found.append(Violation("ASTARTE-PAYLOAD-V-01", "$", "no 'v' key in the payload document"))
        return found
    if not resolution.mappings:
        return found  # the path named no mapping: no type to check the value against
    mapping = resolution.mappings[0]  # object mappings share explicit_timestamp (ASTARTE-IFACE-OBJECT-02)
    timestamp = doc.get("t")
    if timestamp is not None:
        if timestamp.kind is not BsonType.DATETIME:
            found.append(Violation("ASTARTE-PAYLOAD-T-01", "$.t", f"t is {timestamp.kind.name}, not a UTC datetime"))
        if interface.is_properties:
            found.append(Violation("ASTARTE-PAYLOAD-T-02", "$.t", "t is for datastreams; properties carry no timestamp"))
    elif interface.is_datastream and mapping.explicit_timestamp:
        found.append(Violation("ASTARTE-PAYLOAD-T-03", "$", "explicit_timestamp is true but the payload has no t"))
    if interface.is_object:
        found += _spec_object(interface, value)
    else:
        found += check_value(mapping.type, value, "$.v")
    return found


def _spec_object(interface: Interface, value: BsonValue) -> list[Violation]:
    if value.kind is not BsonType.DOCUMENT:
        return [Violation("ASTARTE-PAYLOAD-OBJECT-01", "$.v", f"object value is {value.kind.name}, not a document")]
    found: list[Violation] = []
    by_key = interface.object_mappings()
    document: BsonDocument = value.value
    for key in document.duplicate_keys():
        found.append(Violation("ASTARTE-PAYLOAD-BSON-01", f"$.v.{key}", f"key {key!r} appears more than once"))
    for key, item in document.items:
        mapping = by_key.get(key)
        if mapping is None:
            found.append(Violation("ASTARTE-PAYLOAD-OBJECT-02", f"$.v.{key}", f"{key!r} is not a mapping of {interface.name}"))
        else:
            found += check_value(mapping.type, item, f"$.v.{key}")
    for key, mapping in by_key.items():
        if mapping.required and key not in document:
            found.append(Violation("ASTARTE-PAYLOAD-OBJECT-03", "$.v", f"required mapping {key!r} is missing"))
    return found


def check_value(value_type: ValueType, value: BsonValue, where: str = "$.v") -> list[Violation]:
    """Specification check of one value against a mapping type (empty list = conforming)."""
    if value_type.is_array:
        if value.kind is not BsonType.ARRAY:
            return [Violation("ASTARTE-PAYLOAD-ARRAY-01", where, f"{value_type} needs a BSON array, got {value.kind.name}")]
        found: list[Violation] = []
        if len(value.value) > ARRAY_MAX_ITEMS:
            found.append(Violation("ASTARTE-PAYLOAD-ARRAY-02", where, f"{len(value.value)} items, at most {ARRAY_MAX_ITEMS}"))
        for index, item in enumerate(value.value):
            found += check_value(value_type.scalar, item, f"{where}[{index}]")
        return found
    kind, rule_id = _SCALAR_KIND[value_type]
    found = []
    if value.kind is not kind:
        found.append(Violation(rule_id, where, f"{value_type} needs BSON {kind.name}, got {value.kind.name}"))
    if value_type is ValueType.DOUBLE and value.kind is BsonType.DOUBLE and not math.isfinite(value.value):
        found.append(Violation("ASTARTE-PAYLOAD-DOUBLE-02", where, f"{value.value} is not a finite number"))
    elif value_type is ValueType.INTEGER and value.kind in (BsonType.INT32, BsonType.INT64):
        if not INT32_MIN <= value.value <= INT32_MAX:
            found.append(Violation("ASTARTE-PAYLOAD-INTEGER-02", where, f"{value.value} does not fit in 32 bits"))
    elif value_type is ValueType.LONGINTEGER and value.kind in (BsonType.INT32, BsonType.INT64):
        if not INT64_MIN <= value.value <= INT64_MAX:
            found.append(Violation("ASTARTE-PAYLOAD-LONGINTEGER-02", where, f"{value.value} does not fit in 64 bits"))
    elif value_type is ValueType.STRING and value.kind is BsonType.STRING:
        if not isinstance(value.value, str) or not _is_utf8(value.value):
            found.append(Violation("ASTARTE-PAYLOAD-STRING-01", where, "string is not valid UTF-8"))
        elif len(value.value.encode("utf-8")) > STRING_MAX_BYTES:
            size = len(value.value.encode("utf-8"))
            found.append(Violation("ASTARTE-PAYLOAD-STRING-02", where, f"{size} bytes, at most {STRING_MAX_BYTES}"))
    elif value_type is ValueType.BINARYBLOB and value.kind is BsonType.BINARY and len(value.value) > BLOB_MAX_BYTES:
        found.append(Violation("ASTARTE-PAYLOAD-BINARYBLOB-02", where,
                               f"{len(value.value)} bytes; a blob must be shorter than 64 KiB"))
    return found


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- Astarte v1.2.0


def _server_message(interface: Interface, path: str, doc: BsonDocument | BsonError | None) -> str | None:
    """The data updater's checks, in its order; the first failure wins (astarte-apis.md 5.2)."""
    resolved = server_resolve(interface, path)
    if resolved.error_name == "invalid_path":
        return "invalid_path"
    if interface.ownership is Ownership.SERVER:
        return "write_on_server_owned_interface"
    if resolved.error_name is not None:
        return resolved.error_name
    if isinstance(doc, BsonError) or (doc is not None and _has_non_finite_double(doc)):
        # Erlang floats cannot hold NaN or infinity, so the BSON decoder fails on them (derived).
        return "undecodable_bson_payload"
    value = _server_extract_value(doc)
    if interface.is_object:
        error = _server_object_error(interface, value)
    elif value is None:
        error = None
    else:
        error = server_value_error(resolved.mappings[0].type, value, top_level=True)
    if error is not None:
        return error
    if value is None and interface.is_datastream:
        return "unset_on_datastream"
    return None  # note: an unset on a property is accepted even with allow_unset false (v1.2.0)


def _server_extract_value(doc: BsonDocument | None) -> BsonValue | None:
    """payloads_decoder.ex decode_bson_payload: the value, None meaning unset."""
    if doc is None:
        return None
    if "v" not in doc:
        return BsonValue(BsonType.DOCUMENT, doc)  # legacy object form: the whole document
    value = doc["v"]
    if value.kind is BsonType.BINARY and value.value == b"":
        return None  # {"v": <empty binary>} is an unset
    if value.kind is BsonType.NULL:
        return None  # nil goes through validation as "no value", i.e. an unset (derived)
    return value


def _server_object_error(interface: Interface, value: BsonValue | None) -> str | None:
    if value is None or value.kind is not BsonType.DOCUMENT:
        return "unexpected_value_type"
    expected = interface.object_mappings()
    items: dict[str, BsonValue] = dict(value.value.items)  # a map: the last duplicate wins
    # Elixir iterates small maps in key order and stops at the first error.
    for key in sorted(items, key=lambda k: k.encode("utf-8", "surrogatepass")):
        mapping = expected.get(key)
        if mapping is None:
            return "unexpected_object_key"
        error = server_value_error(mapping.type, items[key], top_level=False)
        if error is not None:
            return error
    return None


def server_value_error(value_type: ValueType, value: BsonValue, *, top_level: bool = True) -> str | None:
    """astarte_core ``ValueType.validate_value`` on a decoded BSON value; None when accepted.

    ``top_level``: the value is the ``v`` of an individual message; there (only) a BSON binary is
    unwrapped to its bytes first, so it is accepted for ``string`` when the bytes are UTF-8.
    """
    term = _elixir_term(value, unwrap_binary=top_level)
    return _validate(value_type, term)


# The decoded value as the Elixir term Astarte would see: (tag, payload).
def _elixir_term(value: BsonValue, *, unwrap_binary: bool) -> tuple[str, Any]:
    kind = value.kind
    if kind is BsonType.DOUBLE:
        return ("float", value.value)
    if kind in (BsonType.INT32, BsonType.INT64):
        return ("int", value.value)
    if kind is BsonType.BOOLEAN:
        return ("bool", value.value)
    if kind is BsonType.STRING:
        raw = value.value if isinstance(value.value, bytes) else value.value.encode("utf-8", "surrogatepass")
        return ("bin", raw)
    if kind is BsonType.BINARY:
        return ("bin", value.value) if unwrap_binary else ("binary_struct", value.value)
    if kind is BsonType.DATETIME:
        return ("datetime", value.value)
    if kind is BsonType.ARRAY:
        return ("list", [_elixir_term(item, unwrap_binary=False) for item in value.value])
    if kind is BsonType.DOCUMENT:
        return ("map", value.value)
    return ("nil", None)


def _validate(value_type: ValueType, term: tuple[str, Any]) -> str | None:
    tag, payload = term
    scalar_error = "unexpected_value_type"
    if value_type is ValueType.DOUBLE and tag in ("float", "int"):
        return None
    if value_type is ValueType.INTEGER and tag == "int":
        return None if abs(payload) <= INT32_MAX else scalar_error  # so -2**31 is refused
    if value_type is ValueType.BOOLEAN and tag == "bool":
        return None
    if value_type is ValueType.LONGINTEGER and tag == "int":
        return None if abs(payload) <= INT64_MAX else scalar_error  # so -2**63 is refused
    if value_type is ValueType.STRING and tag == "bin":
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return "unexpected_value_type"
        return "value_size_exceeded" if len(payload) > STRING_MAX_BYTES else None
    if value_type is ValueType.DATETIME and tag in ("datetime", "int"):
        return None
    if value_type is ValueType.BINARYBLOB:
        if tag in ("bin", "binary_struct"):
            return "value_size_exceeded" if len(payload) > SERVER_BLOB_MAX_BYTES else None
        return scalar_error
    if tag == "list":
        if not value_type.is_array:
            return scalar_error
        if len(payload) > ARRAY_MAX_ITEMS:
            return "value_size_exceeded"
        if any(_validate(value_type.scalar, item) is not None for item in payload):
            return "unexpected_value_type"  # even an oversized item counts as a type error
        return None
    return scalar_error


def _has_non_finite_double(doc: BsonDocument) -> bool:
    return any(_non_finite(value) for _, value in doc.items)


def _non_finite(value: BsonValue) -> bool:
    if value.kind is BsonType.DOUBLE:
        return not math.isfinite(value.value)
    if value.kind is BsonType.ARRAY:
        return any(_non_finite(item) for item in value.value)
    if value.kind is BsonType.DOCUMENT:
        return _has_non_finite_double(value.value)
    return False


# --------------------------------------------------------------------------- encoding


def astarte_bson_value(value_type: ValueType, value: Any) -> BsonValue:
    """Encode a Python value the way the Astarte type table prescribes (sdk-contracts.md 3.2).

    ``double`` is always a BSON double (whole numbers too), ``integer`` int32, ``longinteger``
    int64, ``binaryblob`` binary subtype 0, ``datetime`` a UTC datetime (an aware ``datetime`` or
    epoch milliseconds); arrays apply the same per item. Raises ``ValueError`` for a Python value
    that cannot represent the type.
    """
    if value_type.is_array:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{value_type} needs a list, got {type(value).__name__}")
        return BsonValue.array(astarte_bson_value(value_type.scalar, item) for item in value)
    if value_type is ValueType.DOUBLE and isinstance(value, (int, float)) and not isinstance(value, bool):
        return BsonValue.double(float(value))
    if value_type is ValueType.INTEGER and _is_int(value) and INT32_MIN <= value <= INT32_MAX:
        return BsonValue.int32(value)
    if value_type is ValueType.LONGINTEGER and _is_int(value) and INT64_MIN <= value <= INT64_MAX:
        return BsonValue.int64(value)
    if value_type is ValueType.BOOLEAN and isinstance(value, bool):
        return BsonValue.boolean(value)
    if value_type is ValueType.STRING and isinstance(value, str):
        return BsonValue.string(value)
    if value_type is ValueType.BINARYBLOB and isinstance(value, (bytes, bytearray)):
        return BsonValue.binary(bytes(value))
    if value_type is ValueType.DATETIME and (isinstance(value, _dt.datetime) or _is_int(value)):
        return BsonValue.datetime(value)
    raise ValueError(f"cannot encode {value!r} as {value_type}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

