"""Parsed Astarte interfaces: the typed view the rest of hil works with.

Build them with :func:`hil.oracle.interface.parse_interface`, which validates first; the
dataclasses here never hold an invalid definition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hil.oracle.endpoints import EndpointTemplate

__all__ = [
    "Aggregation",
    "DatabaseRetentionPolicy",
    "Interface",
    "InterfaceType",
    "Mapping",
    "Ownership",
    "Reliability",
    "Retention",
    "ValueType",
]


class InterfaceType(enum.StrEnum):
    DATASTREAM = "datastream"
    PROPERTIES = "properties"


class Ownership(enum.StrEnum):
    DEVICE = "device"
    SERVER = "server"


class Aggregation(enum.StrEnum):
    INDIVIDUAL = "individual"
    OBJECT = "object"


class Reliability(enum.StrEnum):
    UNRELIABLE = "unreliable"
    GUARANTEED = "guaranteed"
    UNIQUE = "unique"


class Retention(enum.StrEnum):
    DISCARD = "discard"
    VOLATILE = "volatile"
    STORED = "stored"


class DatabaseRetentionPolicy(enum.StrEnum):
    NO_TTL = "no_ttl"
    USE_TTL = "use_ttl"


class ValueType(enum.StrEnum):
    """The 14 Astarte mapping types: 7 scalars and an array of each."""

    DOUBLE = "double"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LONGINTEGER = "longinteger"
    STRING = "string"
    BINARYBLOB = "binaryblob"
    DATETIME = "datetime"
    DOUBLEARRAY = "doublearray"
    INTEGERARRAY = "integerarray"
    BOOLEANARRAY = "booleanarray"
    LONGINTEGERARRAY = "longintegerarray"
    STRINGARRAY = "stringarray"
    BINARYBLOBARRAY = "binaryblobarray"
    DATETIMEARRAY = "datetimearray"

    @property
    def is_array(self) -> bool:
        return self.value.endswith("array")

    @property
    def scalar(self) -> ValueType:
        """The item type of an array type; a scalar type is its own scalar."""
        return ValueType(self.value.removesuffix("array")) if self.is_array else self

    @classmethod
    def scalars(cls) -> tuple[ValueType, ...]:
        return tuple(t for t in cls if not t.is_array)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One mapping, with every optional field resolved to its default."""

    endpoint: str
    type: ValueType
    reliability: Reliability = Reliability.UNRELIABLE
    retention: Retention = Retention.DISCARD
    expiry: int = 0
    database_retention_policy: DatabaseRetentionPolicy = DatabaseRetentionPolicy.NO_TTL
    database_retention_ttl: int | None = None
    allow_unset: bool = False
    explicit_timestamp: bool = False
    required: bool = False
    description: str | None = None
    doc: str | None = None
    template: EndpointTemplate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", EndpointTemplate.parse(self.endpoint))

    @property
    def object_key(self) -> str:
        """The key of this mapping inside an object aggregated BSON value."""
        return self.template.last.name


@dataclass(frozen=True, slots=True)
class Interface:
    """A valid Astarte interface."""

    name: str
    version_major: int
    version_minor: int
    type: InterfaceType
    ownership: Ownership
    aggregation: Aggregation
    mappings: tuple[Mapping, ...]
    description: str | None = None
    doc: str | None = None

    @property
    def is_object(self) -> bool:
        return self.aggregation is Aggregation.OBJECT

    @property
    def is_properties(self) -> bool:
        return self.type is InterfaceType.PROPERTIES

    @property
    def is_datastream(self) -> bool:
        return self.type is InterfaceType.DATASTREAM

    @property
    def introspection_entry(self) -> str:
        """``name:major:minor``, as the device lists it in its introspection."""
        return f"{self.name}:{self.version_major}:{self.version_minor}"

    def mapping(self, endpoint: str) -> Mapping:
        """The mapping with exactly this endpoint text; ``KeyError`` if there is none."""
        for mapping in self.mappings:
            if mapping.endpoint == endpoint:
                return mapping
        raise KeyError(endpoint)

    def object_mappings(self) -> dict[str, Mapping]:
        """For object aggregates: BSON key -> mapping."""
        return {mapping.object_key: mapping for mapping in self.mappings}
