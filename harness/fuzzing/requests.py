"""What should an SDK do with one call of its send API? The oracle's answer for Python requests.

The oracle judges MQTT messages (BSON bytes on a topic). An SDK is driven through a Python API
(``send(interface, path, value, timestamp)``, ``send_aggregate``, ``unset_property``), so the
fuzzer needs one more step: the message a *conforming* SDK would publish for that call, and the
oracle's verdict on it. This module is that step, and it is deliberately SDK-neutral.

The Python reading of each Astarte type is the one every Astarte Python API uses: ``double`` is a
``float``, ``integer``/``longinteger`` an ``int``, ``boolean`` a ``bool``, ``string`` a ``str``,
``binaryblob`` ``bytes``, ``datetime`` an aware ``datetime``, arrays a ``list`` of those. A value
of that type is encoded the way the specification's type table says (080-mqtt-v1-protocol.md,
"Astarte data types to BSON types") and judged; a value of no matching type is a wrong type.

Three outcomes, because some calls are not decided by the specification:

* ``ACCEPT``: the message is conforming; an SDK that refuses the call disagrees with the spec.
* ``REJECT``: no conforming message carries this call; an SDK that publishes it disagrees.
* ``EITHER``: the specification leaves it to the API. Cases: an ``int`` for a ``double`` (a
  lossless conversion exists), a naive ``datetime`` (the SDK may assume UTC), a ``bytearray``
  for a blob, an explicit timestamp on a datastream mapping without ``explicit_timestamp`` (the
  protocol allows ``t`` there but Astarte ignores it, so refusing it is an API choice), and calling
  the API meant for another aggregation. If the SDK publishes such a call, the message on the wire
  is still judged by the oracle.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from hil.astarte.bsonwire import INT32_MAX, INT32_MIN, BsonDocument, BsonError, BsonType, BsonValue, from_python
from hil.oracle import expected_qos
from hil.oracle import Interface, ValueType, Verdict, Violation, judge_device_message, resolve

__all__ = [
    "Expectation",
    "Operation",
    "RequestJudgement",
    "SendRequest",
    "WrongPythonType",
    "encode_python_value",
    "judge_request",
    "python_value_rule",
]

Operation = Literal["send", "send_aggregate", "unset"]


class Expectation(enum.StrEnum):
    """What a conforming SDK does with a call (see the module docstring)."""

    ACCEPT = "accept"
    REJECT = "reject"
    EITHER = "either"


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One call of a device SDK's send API.

    Attributes:
        operation: ``send`` (individual value), ``send_aggregate`` (object) or ``unset``.
        interface: the interface name.
        path: the path argument, as the application passes it.
        payload: the Python value (``None`` for an unset).
        timestamp: the explicit timestamp argument, or None.
    """

    operation: Operation
    interface: str
    path: str
    payload: Any = None
    timestamp: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestJudgement:
    """The oracle's view of a :class:`SendRequest`.

    Attributes:
        expectation: accept, reject or either.
        violations: the MUST rules the conforming message (or the call itself) breaks.
        document: the payload a conforming SDK would publish (None for an unset, or when the
            value has no encoding for the mapping type).
        qos: the QoS that message must travel at (None when the message is not conforming).
        lenient_reasons: why the expectation is ``EITHER`` (empty otherwise).
    """

    expectation: Expectation
    violations: tuple[Violation, ...] = ()
    document: BsonDocument | None = None
    qos: int | None = None
    lenient_reasons: tuple[str, ...] = field(default=())

    @property
    def rule_ids(self) -> list[str]:
        return sorted({v.rule_id for v in self.violations})


_KIND_RULE: Final = {
    ValueType.DOUBLE: "ASTARTE-PAYLOAD-DOUBLE-01",
    ValueType.INTEGER: "ASTARTE-PAYLOAD-INTEGER-01",
    ValueType.LONGINTEGER: "ASTARTE-PAYLOAD-LONGINTEGER-01",
    ValueType.BOOLEAN: "ASTARTE-PAYLOAD-BOOLEAN-01",
    ValueType.STRING: "ASTARTE-PAYLOAD-STRING-01",
    ValueType.BINARYBLOB: "ASTARTE-PAYLOAD-BINARYBLOB-01",
    ValueType.DATETIME: "ASTARTE-PAYLOAD-DATETIME-01",
}


def python_value_rule(value_type: ValueType) -> str:
    """The rule a wrong-typed Python value for ``value_type`` breaks."""
    return "ASTARTE-PAYLOAD-ARRAY-01" if value_type.is_array else _KIND_RULE[value_type]


class WrongPythonType(Exception):
    """A Python value of no type the Astarte type reads as; ``rule_id`` is the rule it breaks."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(message)
        self.rule_id = rule_id


def judge_request(interface: Interface, request: SendRequest) -> RequestJudgement:
    """The expectation for ``request`` on ``interface`` (which the device has in its introspection)."""
    lenient: list[str] = []
    expected_operation: Operation = (
        "unset" if request.operation == "unset" else "send_aggregate" if interface.is_object else "send"
    )
    if request.operation != expected_operation:
        lenient.append(f"{request.operation} is not the API for this interface ({expected_operation})")
    if request.operation == "unset":
        verdict = judge_device_message(interface, request.path, None)
        return _conclude(interface, verdict, None, lenient, extra=[])
    extra: list[Violation] = []
    try:
        value = _encode_request_value(interface, request, lenient)
    except WrongPythonType as exc:
        extra.append(Violation(exc.rule_id, "$.v", str(exc)))
        value = None
    items: list[tuple[str, BsonValue]] = []
    if value is not None:
        items.append(("v", value))
    if request.timestamp is not None:
        stamp = request.timestamp
        if not isinstance(stamp, _dt.datetime):
            extra.append(Violation("ASTARTE-PAYLOAD-T-01", "$.t", f"timestamp is {type(stamp).__name__}"))
        else:
            if stamp.tzinfo is None:
                lenient.append("naive timestamp (the SDK may assume UTC)")
                stamp = stamp.replace(tzinfo=_dt.UTC)
            items.append(("t", BsonValue.datetime(stamp)))
            resolution = resolve(interface, request.path)
            if (interface.is_datastream and resolution.mappings
                    and not resolution.mappings[0].explicit_timestamp):
                lenient.append("timestamp on a mapping without explicit_timestamp (t is optional; Astarte ignores it)")
    document = BsonDocument(tuple(items))
    if value is None:
        # No encodable value: judge the path and ownership with a placeholder so those rules
        # still show, then add the wrong-type violation.
        verdict = judge_device_message(interface, request.path, BsonDocument((("v", BsonValue.null()),)))
        violations = [v for v in verdict.spec_violations if v.rule_id.startswith(("ASTARTE-PAYLOAD-OWNERSHIP",
                                                                                  "ASTARTE-PAYLOAD-PATH",
                                                                                  "ASTARTE-PAYLOAD-PARAM"))]
        return RequestJudgement(Expectation.REJECT, tuple(violations + extra), None, None, tuple(lenient))
    verdict = judge_device_message(interface, request.path, document)
    return _conclude(interface, verdict, document, lenient, extra)


def _conclude(
    interface: Interface,
    verdict: Verdict,
    document: BsonDocument | None,
    lenient: list[str],
    extra: list[Violation],
) -> RequestJudgement:
    violations = tuple(verdict.spec_violations) + tuple(extra)
    if violations:
        return RequestJudgement(Expectation.REJECT, violations, document, None, tuple(lenient))
    qos = expected_qos(interface, verdict.resolution.mapping)
    expectation = Expectation.EITHER if lenient else Expectation.ACCEPT
    return RequestJudgement(expectation, (), document, qos, tuple(lenient))


def _encode_request_value(interface: Interface, request: SendRequest, lenient: list[str]) -> BsonValue | None:
    """The BSON value a conforming SDK publishes; None when the path names no mapping."""
    if interface.is_object:
        if not isinstance(request.payload, AbcMapping):
            raise WrongPythonType("ASTARTE-PAYLOAD-OBJECT-01", f"object value is {type(request.payload).__name__}, not a dict")
        by_key = interface.object_mappings()
        items: list[tuple[str, BsonValue]] = []
        for key, item in request.payload.items():
            if not isinstance(key, str):
                raise WrongPythonType("ASTARTE-PAYLOAD-OBJECT-02", f"object key {key!r} is not a string")
            mapping = by_key.get(key)
            if mapping is None:
                items.append((key, _encode_unknown(item)))
            else:
                items.append((key, encode_python_value(mapping.type, item, lenient)))
        return BsonValue.document(BsonDocument(tuple(items)))
    resolution = resolve(interface, request.path)
    if resolution.mapping is None:
        return _encode_unknown(request.payload)
    return encode_python_value(resolution.mapping.type, request.payload, lenient)


def _encode_unknown(value: Any) -> BsonValue:
    """Some BSON for a value whose mapping is unknown (the path or key is already a violation)."""
    try:
        return from_python(value)
    except BsonError:
        return BsonValue.null()


def encode_python_value(value_type: ValueType, value: Any, lenient: list[str]) -> BsonValue:
    """Encode ``value`` for ``value_type`` by the Python reading of the type table.

    Range and size limits are *not* checked here (the encoding keeps the out-of-range value so
    the oracle names the broken limit); a value of no matching Python type raises ``WrongPythonType``.
    """
    if value_type.is_array:
        if isinstance(value, tuple):
            lenient.append("tuple for an array")
        elif not isinstance(value, list):
            raise WrongPythonType("ASTARTE-PAYLOAD-ARRAY-01", f"{value_type} needs a list, got {type(value).__name__}")
        return BsonValue.array(encode_python_value(value_type.scalar, item, lenient) for item in value)
    rule_id = _KIND_RULE[value_type]
    wrong = WrongPythonType(rule_id, f"{value_type} needs {_PYTHON_NAME[value_type]}, got {type(value).__name__}")
    match value_type:
        case ValueType.DOUBLE:
            if isinstance(value, float):
                return BsonValue.double(value)
            if isinstance(value, int) and not isinstance(value, bool) and _exact_float(value):
                lenient.append("int for a double")
                return BsonValue.double(float(value))
        case ValueType.INTEGER | ValueType.LONGINTEGER:
            if isinstance(value, int) and not isinstance(value, bool):
                if value_type is ValueType.INTEGER and INT32_MIN <= value <= INT32_MAX:
                    return BsonValue.int32(value)
                # Beyond 32 bits an integer cannot travel as int32, and beyond 64 bits as nothing:
                # keep the value so the oracle names the broken kind and range rules.
                return BsonValue(BsonType.INT64, value)
        case ValueType.BOOLEAN:
            if isinstance(value, bool):
                return BsonValue.boolean(value)
        case ValueType.STRING:
            if isinstance(value, str):
                return BsonValue.string(value)
        case ValueType.BINARYBLOB:
            if isinstance(value, bytes):
                return BsonValue.binary(value)
            if isinstance(value, bytearray):
                lenient.append("bytearray for a binaryblob")
                return BsonValue.binary(bytes(value))
        case ValueType.DATETIME:
            if isinstance(value, _dt.datetime):
                if value.tzinfo is None:
                    lenient.append("naive datetime (the SDK may assume UTC)")
                    value = value.replace(tzinfo=_dt.UTC)
                return BsonValue.datetime(value)
    raise wrong


_PYTHON_NAME: Final = {
    ValueType.DOUBLE: "a float",
    ValueType.INTEGER: "an int",
    ValueType.LONGINTEGER: "an int",
    ValueType.BOOLEAN: "a bool",
    ValueType.STRING: "a str",
    ValueType.BINARYBLOB: "bytes",
    ValueType.DATETIME: "a datetime",
}


def _exact_float(value: int) -> bool:
    try:
        return math.isfinite(float(value)) and int(float(value)) == value
    except OverflowError:
        return False
