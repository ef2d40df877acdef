"""Protobuf messages of the hub <-> typed Astarte values (BSON-ready), by reflection.

Conversions go through field *names* of the generated messages (``WhichOneof``, ``getattr``), not
through imported classes, so the same code serves any proto version whose messages keep these
names. The proto 0.7.0 shape (``AstarteMessage.payload = astarte_data | astarte_unset``,
``AstarteDataType.data = astarte_individual | astarte_object``) is checked once at start-up:
:meth:`Codec.supports_data` says whether Send and the event stream can work with this version.

A node's value keeps the Astarte type it was sent as (``astarte_integer`` -> ``integer``), because
the real hub (Rust SDK 0.9.2 ``AstarteType``) checks that type against the mapping and then
serialises the value *as sent*: an ``integer`` is accepted for a ``longinteger`` or ``double``
mapping and goes out as BSON int32.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Final

from hil.astarte.bsonwire import BsonType, BsonValue
from hil.oracle import ValueType

from hil.simulators.message_hub.protos import Protos

__all__ = ["Codec", "CodecError", "NodeMessage", "TypedValue"]

#: chrono's DateTime<Utc> range, which the real hub converts protobuf timestamps into.
_MIN_SECONDS: Final = -8_334_601_228_800  # year -262143
_MAX_SECONDS: Final = 8_210_266_876_799  # year 262142


class CodecError(Exception):
    """A message the hub cannot convert; ``detail`` mirrors the real hub's error text."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One value with the Astarte type it was sent as and its BSON encoding."""

    type: ValueType
    bson: BsonValue


@dataclass(frozen=True, slots=True)
class NodeMessage:
    """What a node sent: ``value`` is a TypedValue, a dict of them (object), or None (unset)."""

    interface: str
    path: str
    value: TypedValue | dict[str, TypedValue] | None
    timestamp_ms: int | None


def _field_type(field_name: str) -> ValueType:
    """``astarte_long_integer_array`` -> ``longintegerarray``."""
    return ValueType(field_name.removeprefix("astarte_").replace("_", ""))


def _type_field(value_type: ValueType) -> str:
    names = {
        ValueType.DOUBLE: "astarte_double",
        ValueType.INTEGER: "astarte_integer",
        ValueType.BOOLEAN: "astarte_boolean",
        ValueType.LONGINTEGER: "astarte_long_integer",
        ValueType.STRING: "astarte_string",
        ValueType.BINARYBLOB: "astarte_binary_blob",
        ValueType.DATETIME: "astarte_date_time",
    }
    scalar = names[value_type.scalar]
    return f"{scalar}_array" if value_type.is_array else scalar


def timestamp_ms(timestamp: Any) -> int:
    """A google.protobuf.Timestamp as epoch milliseconds; refuses what chrono refuses."""
    seconds, nanos = int(timestamp.seconds), int(timestamp.nanos)
    if not 0 <= nanos <= 999_999_999 or not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise CodecError('Timestamp("out of range")')
    return seconds * 1000 + nanos // 1_000_000


def _scalar_bson(value_type: ValueType, raw: Any) -> BsonValue:
    if value_type is ValueType.DOUBLE:
        return BsonValue.double(raw)
    if value_type is ValueType.INTEGER:
        return BsonValue.int32(raw)
    if value_type is ValueType.BOOLEAN:
        return BsonValue.boolean(raw)
    if value_type is ValueType.LONGINTEGER:
        return BsonValue.int64(raw)
    if value_type is ValueType.STRING:
        return BsonValue.string(raw)
    if value_type is ValueType.BINARYBLOB:
        return BsonValue.binary(bytes(raw))
    return BsonValue.datetime(timestamp_ms(raw))


class Codec:
    """Converts between the generated messages of ``protos`` and hub values."""

    def __init__(self, protos: Protos) -> None:
        self.protos = protos
        self._data_shape = self._check_data_shape()
        # Proto 0.6.x (astarte-device-sdk 0.13.x) has no MessageHubEvent: Attach streams bare
        # AstarteMessages, and a hub error has no message to travel in.
        self.has_events = protos.has_message("MessageHubEvent")

    def _check_data_shape(self) -> str | None:
        """None when AstarteMessage has the 0.7.0 shape, else why not."""
        if not self.protos.has_message("AstarteMessage"):
            return "no AstarteMessage"
        fields = self.protos.message("AstarteMessage").DESCRIPTOR.fields_by_name
        missing = [f for f in ("interface_name", "path", "astarte_data", "astarte_unset", "timestamp") if f not in fields]
        if missing:
            return f"AstarteMessage lacks {', '.join(missing)}"
        return None

    def supports_data(self) -> tuple[bool, str]:
        """Whether Send and server events can be converted with this proto version, and why not."""
        return (self._data_shape is None, self._data_shape or "")

    # -- node -> hub ------------------------------------------------------------------------
    def decode_message(self, message: Any) -> NodeMessage:
        """An AstarteMessage as a NodeMessage; CodecError for what the real hub refuses."""
        timestamp = timestamp_ms(message.timestamp) if message.HasField("timestamp") else None
        kind = message.WhichOneof("payload")
        if kind is None:
            raise CodecError('AstarteInvalidData("Invalid payload")')
        if kind == "astarte_unset":
            return NodeMessage(message.interface_name, message.path, None, timestamp)
        data = message.astarte_data
        data_kind = data.WhichOneof("data")
        if data_kind is None:
            raise CodecError('AstarteInvalidData("Invalid Astarte data type")')
        if data_kind == "astarte_individual":
            value: TypedValue | dict[str, TypedValue] = self.decode_individual(data.astarte_individual)
        else:
            value = {key: self.decode_individual(item) for key, item in data.astarte_object.object_data.items()}
        return NodeMessage(message.interface_name, message.path, value, timestamp)

    def decode_individual(self, individual: Any) -> TypedValue:
        field = individual.WhichOneof("individual_data")
        if field is None:
            raise CodecError('AstarteInvalidData("Invalid individual data")')
        value_type = _field_type(field)
        raw = getattr(individual, field)
        if value_type.is_array:
            items = tuple(_scalar_bson(value_type.scalar, item) for item in raw.values)
            return TypedValue(value_type, BsonValue.array(items))
        return TypedValue(value_type, _scalar_bson(value_type, raw))

    # -- hub -> node ------------------------------------------------------------------------
    def individual(self, value_type: ValueType, value: BsonValue) -> Any:
        """An AstarteDataTypeIndividual for a value of ``value_type`` (decoded from Astarte's BSON)."""
        message = self.protos.message("AstarteDataTypeIndividual")()
        field = _type_field(value_type)
        if value_type.is_array:
            target = getattr(message, field)
            if value_type.scalar is ValueType.DATETIME:
                for item in value.value:
                    target.values.add().CopyFrom(self._timestamp(item))
            else:
                target.values.extend(self._scalar_python(value_type.scalar, item) for item in value.value)
            if not value.value:
                target.SetInParent()  # an empty array is still a value
        elif value_type is ValueType.DATETIME:
            getattr(message, field).CopyFrom(self._timestamp(value))
        else:
            setattr(message, field, self._scalar_python(value_type, value))
        return message

    def _timestamp(self, value: BsonValue) -> Any:
        from google.protobuf.timestamp_pb2 import Timestamp

        ms = value.value if value.kind is BsonType.DATETIME else int(value.value)
        stamp = Timestamp()
        stamp.seconds, stamp.nanos = divmod(ms, 1000)[0], (ms % 1000) * 1_000_000
        return stamp

    @staticmethod
    def _scalar_python(value_type: ValueType, value: BsonValue) -> Any:
        if value_type is ValueType.DOUBLE:
            return float(value.value)
        if value_type is ValueType.STRING and isinstance(value.value, bytes):
            return value.value.decode("utf-8")
        return value.value

    def event_message(
        self,
        interface: str,
        path: str,
        value: tuple[ValueType, BsonValue] | dict[str, tuple[ValueType, BsonValue]] | None,
        timestamp_ms_value: int | None = None,
    ) -> Any:
        """A MessageHubEvent carrying server data (None = unset); a bare AstarteMessage on 0.6.x."""
        message = self.protos.message("AstarteMessage")(interface_name=interface, path=path)
        if value is None:
            message.astarte_unset.SetInParent()
        elif isinstance(value, dict):
            object_data = message.astarte_data.astarte_object.object_data
            for key, (value_type, item) in value.items():
                object_data[key].CopyFrom(self.individual(value_type, item))
            message.astarte_data.astarte_object.SetInParent()
        else:
            message.astarte_data.astarte_individual.CopyFrom(self.individual(*value))
        if timestamp_ms_value is not None:
            message.timestamp.CopyFrom(self._timestamp(BsonValue.datetime(timestamp_ms_value)))
        if not self.has_events:
            return message
        event = self.protos.message("MessageHubEvent")()
        event.message.CopyFrom(message)
        return event

    def event_error(self, description: str, sources: list[str]) -> Any:
        """A MessageHubEvent carrying an error; ``None`` on 0.6.x, where nodes get none (the
        stream skips it)."""
        if not self.has_events:
            return None
        event = self.protos.message("MessageHubEvent")()
        event.error.description = description
        event.error.source.extend(sources)
        return event


def utc_from_ms(ms: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(milliseconds=ms)
