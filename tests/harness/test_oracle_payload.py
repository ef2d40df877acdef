"""Data message verdicts: the specification's and Astarte v1.2.0's, per type and per rule; QoS."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from hil.astarte.bsonwire import BsonDocument, BsonValue, encode
from hil.oracle import (
    Interface,
    ValueType,
    astarte_bson_value,
    check_value,
    expected_qos,
    judge_device_message,
    judge_device_payload,
    judge_server_message,
    load_interface,
    parse_interface,
    qos_rule,
    server_value_error,
)

INTERFACES = Path(__file__).resolve().parents[2] / "interfaces"


def shipped(name: str) -> Interface:
    return load_interface(INTERFACES / f"org.hil.test.{name}.json")


DATASTREAM = shipped("DeviceDatastream")
SERVER_DATASTREAM = shipped("ServerDatastream")
TIMESTAMPED = shipped("DeviceTimestamped")
PROPERTIES = shipped("DeviceProperties")
AGGREGATE = shipped("DeviceAggregate")
SERVER_AGGREGATE = shipped("ServerAggregate")
RELIABILITY = shipped("DeviceReliability")

V = BsonValue
NOW = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)

#: One conforming Python value per scalar type.
GOOD: dict[ValueType, Any] = {
    ValueType.DOUBLE: 1.0,
    ValueType.INTEGER: -(2**31) + 1,
    ValueType.BOOLEAN: True,
    ValueType.LONGINTEGER: 2**40,
    ValueType.STRING: "ünïcode",
    ValueType.BINARYBLOB: b"\x00\x01",
    ValueType.DATETIME: NOW,
}


def good_value(value_type: ValueType) -> BsonValue:
    scalar = GOOD[value_type.scalar]
    return astarte_bson_value(value_type, [scalar, scalar] if value_type.is_array else scalar)


def doc(value: BsonValue, **extra: BsonValue) -> BsonDocument:
    return BsonDocument.of(v=value, **extra)


# --------------------------------------------------------------------------- every type


@pytest.mark.parametrize("value_type", list(ValueType), ids=str)
def test_each_type_encoded_per_the_table_is_accepted_by_spec_and_server(value_type: ValueType) -> None:
    verdict = judge_device_payload(DATASTREAM, f"/{value_type}", encode(doc(good_value(value_type))))
    assert verdict.spec_ok and verdict.server_accepts, verdict.spec_violations


@pytest.mark.parametrize("value_type", list(ValueType), ids=str)
def test_each_type_in_a_property_and_an_object(value_type: ValueType) -> None:
    assert judge_device_message(PROPERTIES, f"/{value_type}", doc(good_value(value_type))).spec_ok
    obj = doc(V.document({str(value_type): good_value(value_type)}), t=V.datetime(NOW))
    verdict = judge_device_message(AGGREGATE, "/sensor1", obj)
    assert verdict.spec_ok and verdict.server_accepts, verdict.spec_violations


@pytest.mark.parametrize("value_type", list(ValueType), ids=str)
def test_empty_arrays_are_fine_and_scalars_are_not_arrays(value_type: ValueType) -> None:
    if value_type.is_array:
        assert check_value(value_type, V.array([])) == []
        assert check_value(value_type, good_value(value_type.scalar))[0].rule_id == "ASTARTE-PAYLOAD-ARRAY-01"
    else:
        assert check_value(value_type, V.array([good_value(value_type)])) != []


# --------------------------------------------------------------------------- value rules

# (type, value, spec rule broken or None, server error or None)
VALUES: list[Any] = [
    pytest.param("double", V.int32(1), "ASTARTE-PAYLOAD-DOUBLE-01", None, id="double-as-int32"),
    pytest.param("double", V.double(math.nan), "ASTARTE-PAYLOAD-DOUBLE-02", "undecodable_bson_payload", id="double-nan"),
    pytest.param("double", V.double(-math.inf), "ASTARTE-PAYLOAD-DOUBLE-02", "undecodable_bson_payload", id="double-inf"),
    pytest.param("double", V.string("1.0"), "ASTARTE-PAYLOAD-DOUBLE-01", "unexpected_value_type", id="double-as-string"),
    pytest.param("integer", V.int32(2**31 - 1), None, None, id="integer-max"),
    pytest.param("integer", V.int32(-(2**31)), None, "unexpected_value_type", id="integer-min-server-refuses"),
    pytest.param("integer", V.int64(5), "ASTARTE-PAYLOAD-INTEGER-01", None, id="integer-as-int64"),
    pytest.param("integer", V.int64(2**31), ["ASTARTE-PAYLOAD-INTEGER-01", "ASTARTE-PAYLOAD-INTEGER-02"],
                 "unexpected_value_type", id="integer-overflow"),
    pytest.param("integer", V.double(5.0), "ASTARTE-PAYLOAD-INTEGER-01", "unexpected_value_type", id="integer-as-double"),
    pytest.param("longinteger", V.int32(5), "ASTARTE-PAYLOAD-LONGINTEGER-01", None, id="longinteger-as-int32"),
    pytest.param("longinteger", V.int64(-(2**63)), None, "unexpected_value_type", id="longinteger-min-server-refuses"),
    pytest.param("longinteger", V.int64(2**63), "ASTARTE-PAYLOAD-LONGINTEGER-02", "unexpected_value_type",
                 id="longinteger-overflow-unencodable"),
    pytest.param("boolean", V.int32(1), "ASTARTE-PAYLOAD-BOOLEAN-01", "unexpected_value_type", id="boolean-as-int"),
    pytest.param("string", V.string("x" * 65536), None, None, id="string-65536-bytes"),
    pytest.param("string", V.string("é" * 32769), "ASTARTE-PAYLOAD-STRING-02", "value_size_exceeded", id="string-65538-bytes"),
    pytest.param("string", V(V.string("").kind, b"\xff"), "ASTARTE-PAYLOAD-STRING-01", "unexpected_value_type",
                 id="string-bad-utf8"),
    pytest.param("string", V.binary(b"text"), "ASTARTE-PAYLOAD-STRING-01", None, id="string-as-utf8-binary"),
    pytest.param("string", V.binary(b"\xff"), "ASTARTE-PAYLOAD-STRING-01", "unexpected_value_type",
                 id="string-as-non-utf8-binary"),
    pytest.param("binaryblob", V.binary(b"x" * 65535), None, None, id="blob-65535"),
    pytest.param("binaryblob", V.binary(b"x" * 65536), "ASTARTE-PAYLOAD-BINARYBLOB-02", None, id="blob-64KiB"),
    pytest.param("binaryblob", V.binary(b"x" * 65537), "ASTARTE-PAYLOAD-BINARYBLOB-02", "value_size_exceeded",
                 id="blob-too-big"),
    pytest.param("binaryblob", V.binary(b"x", subtype=0x80), None, None, id="blob-user-subtype"),
    pytest.param("binaryblob", V.string("x"), "ASTARTE-PAYLOAD-BINARYBLOB-01", None, id="blob-as-string"),
    pytest.param("binaryblob", V.binary(b""), None, "unset_on_datastream", id="blob-empty-is-an-unset-to-server"),
    pytest.param("datetime", V.int64(1_700_000_000_000), "ASTARTE-PAYLOAD-DATETIME-01", None, id="datetime-as-int64"),
    pytest.param("datetime", V.string("2026-01-01T00:00:00Z"), "ASTARTE-PAYLOAD-DATETIME-01", "unexpected_value_type",
                 id="datetime-as-string"),
    pytest.param("integer", V.null(), "ASTARTE-PAYLOAD-INTEGER-01", "unset_on_datastream", id="null-is-an-unset-to-server"),
    pytest.param("integer", V.document({"a": V.int32(1)}), "ASTARTE-PAYLOAD-INTEGER-01", "unexpected_value_type",
                 id="document-on-individual"),
    pytest.param("integerarray", V.array([V.int32(1)] * 1024), None, None, id="array-1024"),
    pytest.param("integerarray", V.array([V.int32(1)] * 1025), "ASTARTE-PAYLOAD-ARRAY-02", "value_size_exceeded",
                 id="array-1025"),
    pytest.param("integerarray", V.array([V.int32(1), V.double(2.0)]), "ASTARTE-PAYLOAD-INTEGER-01",
                 "unexpected_value_type", id="array-bad-item"),
    pytest.param("stringarray", V.array([V.string("x" * 65537)]), "ASTARTE-PAYLOAD-STRING-02",
                 "unexpected_value_type", id="array-oversized-item-is-a-type-error-to-server"),
    pytest.param("stringarray", V.array([V.binary(b"x")]), "ASTARTE-PAYLOAD-STRING-01", "unexpected_value_type",
                 id="stringarray-binary-item-not-unwrapped"),
    pytest.param("binaryblobarray", V.array([V.string("x")]), "ASTARTE-PAYLOAD-BINARYBLOB-01", None,
                 id="blobarray-string-item"),
    pytest.param("doublearray", V.double(1.0), "ASTARTE-PAYLOAD-ARRAY-01", "unexpected_value_type", id="array-as-scalar"),
    pytest.param("datetimearray", V.array([V.datetime(NOW), V.int32(5)]), "ASTARTE-PAYLOAD-DATETIME-01", None,
                 id="datetimearray-int-item"),
]


@pytest.mark.parametrize(("type_name", "value", "spec_rule", "server_error"), VALUES)
def test_value_verdicts(
    type_name: str, value: BsonValue, spec_rule: str | list[str] | None, server_error: str | None
) -> None:
    verdict = judge_device_message(DATASTREAM, f"/{type_name}", doc(value))
    expected = spec_rule if isinstance(spec_rule, list) else [spec_rule] if spec_rule else []
    assert verdict.rule_ids == expected
    assert verdict.server_error_name == server_error


def test_server_value_check_unwraps_binaries_only_at_the_top_level() -> None:
    assert server_value_error(ValueType.STRING, V.binary(b"ok"), top_level=True) is None
    assert server_value_error(ValueType.STRING, V.binary(b"ok"), top_level=False) == "unexpected_value_type"


# --------------------------------------------------------------------------- message rules


@pytest.mark.parametrize(
    ("interface", "path", "payload", "spec_rules", "server_error"),
    [
        pytest.param(DATASTREAM, "/integer", b"", ["ASTARTE-PAYLOAD-UNSET-02"], "unset_on_datastream",
                     id="unset-datastream"),
        pytest.param(PROPERTIES, "/integer", b"", ["ASTARTE-PAYLOAD-UNSET-03"], None, id="unset-without-allow-unset"),
        pytest.param(PROPERTIES, "/unsettable/integer", b"", [], None, id="unset-allowed"),
        pytest.param(AGGREGATE, "/s1", b"", ["ASTARTE-PAYLOAD-UNSET-02"], "unexpected_value_type", id="unset-object"),
        pytest.param(DATASTREAM, "/integer", b"\x05\x00\x00", ["ASTARTE-PAYLOAD-BSON-01"], "undecodable_bson_payload",
                     id="not-bson"),
        pytest.param(DATASTREAM, "/integer", encode(BsonDocument.of(x=V.int32(1))), ["ASTARTE-PAYLOAD-V-01"],
                     "unexpected_value_type", id="no-v-individual"),
        pytest.param(DATASTREAM, "/integer", encode(BsonDocument((("v", V.int32(1)), ("v", V.int32(2))))),
                     ["ASTARTE-PAYLOAD-BSON-01"], None, id="duplicate-v"),
        pytest.param(DATASTREAM, "/integer", encode(doc(V.int32(1), t=V.int64(5))), ["ASTARTE-PAYLOAD-T-01"], None,
                     id="t-not-datetime"),
        pytest.param(DATASTREAM, "/integer", encode(doc(V.int32(1), t=V.datetime(NOW))), [], None,
                     id="t-without-explicit-timestamp"),
        pytest.param(PROPERTIES, "/integer", encode(doc(V.int32(1), t=V.datetime(NOW))), ["ASTARTE-PAYLOAD-T-02"], None,
                     id="t-on-property"),
        pytest.param(TIMESTAMPED, "/integer", encode(doc(V.int32(1))), ["ASTARTE-PAYLOAD-T-03"], None,
                     id="missing-explicit-timestamp"),
        pytest.param(TIMESTAMPED, "/integer", encode(doc(V.int32(1), t=V.datetime(NOW))), [], None,
                     id="explicit-timestamp"),
        pytest.param(SERVER_DATASTREAM, "/integer", encode(doc(V.int32(1))), ["ASTARTE-PAYLOAD-OWNERSHIP-01"],
                     "write_on_server_owned_interface", id="device-writes-server-owned"),
        pytest.param(DATASTREAM, "/nope", encode(doc(V.int32(1))), ["ASTARTE-PAYLOAD-PATH-01"], "mapping_not_found",
                     id="unknown-path"),
        pytest.param(DATASTREAM, "//integer", encode(doc(V.int32(1))), ["ASTARTE-PAYLOAD-PATH-03"], "invalid_path",
                     id="double-slash"),
        pytest.param(SERVER_DATASTREAM, "//integer", b"", ["ASTARTE-PAYLOAD-OWNERSHIP-01", "ASTARTE-PAYLOAD-PATH-03",
                                                           "ASTARTE-PAYLOAD-UNSET-02"],
                     "invalid_path", id="invalid-path-reported-before-ownership"),
        pytest.param(DATASTREAM, "/integer/", encode(doc(V.int32(1))), ["ASTARTE-PAYLOAD-PATH-03"], None,
                     id="trailing-slash-tolerated-by-server"),
    ],
)
def test_message_verdicts(
    interface: Interface, path: str, payload: bytes, spec_rules: list[str], server_error: str | None
) -> None:
    verdict = judge_device_payload(interface, path, payload)
    assert verdict.rule_ids == spec_rules
    assert verdict.server_error_name == server_error


def _object(items: dict[str, BsonValue], **extra: BsonValue) -> BsonDocument:
    return doc(V.document(items), **extra)


@pytest.mark.parametrize(
    ("path", "payload", "spec_rules", "server_error"),
    [
        pytest.param("/s1", _object({"double": V.double(1.0), "integer": V.int32(2)}, t=V.datetime(NOW)), [], None,
                     id="subset-of-keys"),
        pytest.param("/s1", _object({}, t=V.datetime(NOW)), [], None, id="empty-object"),
        pytest.param("/s1", _object({"nope": V.int32(1)}, t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-OBJECT-02"],
                     "unexpected_object_key", id="unknown-key"),
        pytest.param("/s1", _object({"integer": V.double(1.0)}, t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-INTEGER-01"],
                     "unexpected_value_type", id="wrong-type-in-object"),
        pytest.param("/s1", _object({"string": V.binary(b"ok")}, t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-STRING-01"],
                     "unexpected_value_type", id="binary-for-string-in-object"),
        pytest.param("/s1", _object({"integer": V.null()}, t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-INTEGER-01"],
                     "unexpected_value_type", id="null-in-object"),
        pytest.param("/s1", doc(V.int32(1), t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-OBJECT-01"], "unexpected_value_type",
                     id="scalar-to-object"),
        pytest.param("/s1", BsonDocument.of(double=V.double(1.0)), ["ASTARTE-PAYLOAD-V-01"], None,
                     id="legacy-object-without-v"),
        pytest.param("/s1/double", _object({"double": V.double(1.0)}, t=V.datetime(NOW)), ["ASTARTE-PAYLOAD-PATH-02"],
                     "mapping_not_found", id="full-endpoint-path"),
        pytest.param("/s1", _object({"double": V.double(1.0)}), ["ASTARTE-PAYLOAD-T-03"], None, id="missing-t"),
    ],
)
def test_object_verdicts(path: str, payload: BsonDocument, spec_rules: list[str], server_error: str | None) -> None:
    verdict = judge_device_message(AGGREGATE, path, payload)
    assert verdict.rule_ids == spec_rules
    assert verdict.server_error_name == server_error


def test_required_object_mappings_are_a_spec_rule_only() -> None:
    interface = parse_interface({
        "interface_name": "org.hil.test.Required", "version_major": 0, "version_minor": 1,
        "type": "datastream", "ownership": "device", "aggregation": "object",
        "mappings": [{"endpoint": "/o/a", "type": "integer", "required": True},
                     {"endpoint": "/o/b", "type": "integer"}],
    })
    verdict = judge_device_message(interface, "/o", _object({"b": V.int32(1)}))
    assert verdict.rule_ids == ["ASTARTE-PAYLOAD-OBJECT-03"] and verdict.server_accepts
    assert judge_device_message(interface, "/o", _object({"a": V.int32(1)})).spec_ok


def test_server_object_errors_follow_key_order() -> None:
    # Elixir walks a small map in key order and stops at the first bad key.
    payload = _object({"zzz": V.int32(1), "integer": V.double(1.0)}, t=V.datetime(NOW))
    assert judge_device_message(AGGREGATE, "/s1", payload).server_error_name == "unexpected_value_type"


def test_bad_utf8_string_is_a_value_error_to_the_server_not_a_decoding_error() -> None:
    wire = bytes.fromhex("10000000 02 7600 04000000 fffe0000 00".replace(" ", ""))
    verdict = judge_device_payload(DATASTREAM, "/string", wire)
    assert verdict.rule_ids == ["ASTARTE-PAYLOAD-BSON-01"]
    assert verdict.server_error_name == "unexpected_value_type"


def test_disconnect_follows_the_error() -> None:
    assert judge_device_payload(DATASTREAM, "/integer", b"").server_disconnects is False
    assert judge_device_payload(DATASTREAM, "/nope", b"").server_disconnects is True
    assert judge_device_payload(DATASTREAM, "/integer", encode(doc(V.int32(1)))).server_disconnects is False


def test_server_messages_are_judged_by_the_spec_only() -> None:
    good = judge_server_message(SERVER_AGGREGATE, "/command", _object({"boolean": V.boolean(True)}))
    assert good.spec_ok and good.server_error_name is None
    wrong_direction = judge_server_message(DATASTREAM, "/integer", encode(doc(V.int32(1))))
    assert wrong_direction.rule_ids == ["ASTARTE-PAYLOAD-OWNERSHIP-01"]
    assert judge_server_message(SERVER_DATASTREAM, "/double", doc(V.int32(2))).rule_ids == ["ASTARTE-PAYLOAD-DOUBLE-01"]


def test_should_level_findings_are_advisories() -> None:
    verdict = judge_device_message(DATASTREAM, "/integer", doc(V.int32(1)))
    assert verdict.advisories == ()


# --------------------------------------------------------------------------- encoding helper


@pytest.mark.parametrize(
    ("value_type", "value", "expected"),
    [
        (ValueType.DOUBLE, 2, V.double(2.0)),
        (ValueType.INTEGER, 7, V.int32(7)),
        (ValueType.LONGINTEGER, 7, V.int64(7)),
        (ValueType.BINARYBLOB, b"a", V.binary(b"a")),
        (ValueType.DATETIME, 1000, V.datetime(1000)),
        (ValueType.STRINGARRAY, ["a"], V.array([V.string("a")])),
    ],
)
def test_astarte_encoding(value_type: ValueType, value: Any, expected: BsonValue) -> None:
    assert astarte_bson_value(value_type, value) == expected


@pytest.mark.parametrize(
    ("value_type", "value"),
    [(ValueType.INTEGER, 2**31), (ValueType.BOOLEAN, 1), (ValueType.DOUBLE, True), (ValueType.DOUBLEARRAY, 1.0)],
)
def test_astarte_encoding_refuses_values_that_do_not_fit(value_type: ValueType, value: Any) -> None:
    with pytest.raises(ValueError):
        astarte_bson_value(value_type, value)


# --------------------------------------------------------------------------- QoS


@pytest.mark.parametrize(
    ("interface", "endpoint", "qos", "rule_id"),
    [
        (PROPERTIES, "/integer", 2, "ASTARTE-QOS-PROPERTIES-01"),
        (RELIABILITY, "/unreliable", 0, "ASTARTE-QOS-RELIABILITY-01"),
        (RELIABILITY, "/guaranteed", 1, "ASTARTE-QOS-RELIABILITY-01"),
        (RELIABILITY, "/unique", 2, "ASTARTE-QOS-RELIABILITY-01"),
        (AGGREGATE, None, 1, "ASTARTE-QOS-OBJECT-01"),
        (SERVER_AGGREGATE, None, 2, "ASTARTE-QOS-OBJECT-01"),
    ],
)
def test_expected_qos(interface: Interface, endpoint: str | None, qos: int, rule_id: str) -> None:
    mapping = interface.mapping(endpoint) if endpoint else None
    assert expected_qos(interface, mapping) == qos and qos_rule(interface) == rule_id


def test_individual_datastream_qos_needs_the_mapping() -> None:
    with pytest.raises(ValueError):
        expected_qos(RELIABILITY)
