"""The property-5 model and the AppEngine rendering expectations, checked on their own."""

from __future__ import annotations

import datetime as dt

import pytest

from hil.astarte.bsonwire import BsonValue
from hil.fuzzing.appengine_values import (
    bson_mismatch,
    iso_ms,
    object_rendering_mismatch,
    parse_iso_ms,
    rendering_mismatch,
)
from hil.fuzzing.session_model import FORGETS_FALSY, SessionModel
from hil.fuzzing.stored import appengine_values_path
from hil.oracle import ValueType

UTC = dt.UTC


def test_iso_ms_zero_pads_years_and_round_trips() -> None:
    ms = -62135510400000  # 0001-01-02
    assert iso_ms(ms) == "0001-01-02T00:00:00.000Z"
    assert parse_iso_ms(iso_ms(ms)) == ms
    assert parse_iso_ms("1-01-02T00:00:00.000Z") is None
    assert parse_iso_ms("2024-01-01T00:00:00Z") is None  # milliseconds are mandatory


@pytest.mark.parametrize(("value_type", "sent", "shown", "as_string", "ok"), [
    (ValueType.DOUBLE, 1.0, 1.0, False, True),
    (ValueType.DOUBLE, 1.0, 1, False, False),  # a JSON integer is not a double
    (ValueType.DOUBLE, -0.0, 0.0, False, False),  # the sign is part of the value
    (ValueType.INTEGER, 1, True, False, False),
    (ValueType.LONGINTEGER, 2**62, str(2**62), True, True),
    (ValueType.LONGINTEGER, 2**62, 2**62, True, False),
    (ValueType.LONGINTEGER, 2**62, 2**62, False, True),
    (ValueType.BINARYBLOB, b"\x00", "AA==", False, True),
    (ValueType.BINARYBLOB, b"\x00", "AA", False, False),  # padding is required
    (ValueType.DATETIME, dt.datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC), "2020-01-01T00:00:01.000Z", False, True),
    (ValueType.DATETIME, dt.datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC), "2020-01-01T00:00:00.999Z", False, True),
    (ValueType.DATETIME, dt.datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC), "2020-01-01T00:00:00.998Z", False, False),
    (ValueType.LONGINTEGERARRAY, [1, -1], ["1", "-1"], True, True),
    (ValueType.STRINGARRAY, ["a"], ["a", "b"], False, False),
    (ValueType.INTEGERARRAY, [], None, False, True),  # Astarte 1.2.0 renders an empty array as null
    (ValueType.INTEGERARRAY, [1], None, False, False),
])
def test_rendering_mismatch(value_type: ValueType, sent: object, shown: object, as_string: bool, ok: bool) -> None:
    assert (rendering_mismatch(value_type, sent, shown, longinteger_as_string=as_string) is None) is ok


def test_bson_mismatch_compares_values_not_widths() -> None:
    assert bson_mismatch(ValueType.LONGINTEGER, 0, BsonValue.int32(0)) is None
    assert bson_mismatch(ValueType.DOUBLE, 2, BsonValue.double(2.0)) is None
    assert bson_mismatch(ValueType.INTEGER, 1, BsonValue.int32(2)) is not None
    moment = dt.datetime(2020, 1, 1, 0, 0, 0, 999_600, tzinfo=UTC)
    assert bson_mismatch(ValueType.DATETIME, moment, BsonValue.datetime(moment)) is None  # truncated
    assert bson_mismatch(ValueType.DATETIME, moment, BsonValue(BsonValue.datetime(moment).kind, 1577836801000)) is None


def test_object_rows_need_every_key_and_null_for_unsent() -> None:
    by_key = {"a": ValueType.INTEGER, "b": ValueType.LONGINTEGER}
    assert object_rendering_mismatch(by_key, {"a": 1}, {"timestamp": "x", "a": 1, "b": None}) is None
    assert object_rendering_mismatch(by_key, {"a": 1}, {"timestamp": "x", "a": 1}) is not None
    assert object_rendering_mismatch(by_key, {"b": 5}, {"timestamp": "x", "a": None, "b": 5}) is not None


def test_values_path_escapes_levels() -> None:
    assert appengine_values_path("d", "i.I", "/a b/../%{x}") == "devices/d/interfaces/i.I/a%20b/%2E%2E/%25%7Bx%7D"


def _model(**kwargs: object) -> SessionModel:
    return SessionModel(device_owned=frozenset({"D"}), device_interfaces={"D", "S"}, **kwargs)  # type: ignore[arg-type]


def test_model_republishes_and_purges_on_connect() -> None:
    model = _model()
    model.connect()
    model.set_property("D", "/a", 0)
    model.server_set("S", "/s", 1)
    model.realm["D"]["/stale"] = 9  # e.g. left by an earlier installation
    model.disconnect()
    model.connect()
    assert model.realm_view() == {"D": {"/a": 0}, "S": {"/s": 1}}


def test_model_keeps_realm_data_of_removed_interfaces_and_forgets_device_cache() -> None:
    model = _model()
    model.connect()
    model.set_property("D", "/a", 1)
    model.remove_interface("D")
    assert model.realm_view() == {"S": {}}
    model.add_interface("D")
    assert model.realm_view()["D"] == {"/a": 1}  # shown again: the realm kept it
    model.disconnect()
    model.connect()
    assert model.realm_view()["D"] == {}  # the device forgot it, so the purge drops it


def test_model_reproduces_the_falsy_finding_only_when_told() -> None:
    for known, expected in ((frozenset(), {"/a": 0, "/b": 2}), (frozenset({FORGETS_FALSY}), {"/b": 2})):
        model = _model(known=known)
        model.connect()
        model.set_property("D", "/a", 0)
        model.set_property("D", "/b", 2)
        model.connect()
        assert model.realm_view()["D"] == expected
