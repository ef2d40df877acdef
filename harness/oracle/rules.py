"""Every rule the Astarte oracle enforces, as data.

Each rule id is a requirement id of ``harness/catalog/astarte-interfaces.toml`` or
``harness/catalog/astarte-payloads.toml`` (a test keeps the two in step), so a violation links
straight to the statement it breaks and the coverage report can count it.

``server`` says whether Astarte v1.2.0 itself enforces the rule (rejects the interface, or
discards the message). The oracle has two verdicts because the specification and the server do
not always agree: conformance checks judge an SDK by every MUST rule, while the realm simulator
only reacts to what the real server reacts to.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["RULES", "Profile", "Rule", "rule"]

Level = Literal["MUST", "SHOULD", "MAY"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``id`` (= requirement id), one-line ``title``, RFC 2119 ``level``, and whether
    Astarte v1.2.0 enforces it (``server``)."""

    id: str
    title: str
    level: Level
    server: bool

    def applies(self, profile: Profile) -> bool:
        """Whether a check of this rule runs under ``profile``."""
        return profile is Profile.SPEC or self.server


class Profile(enum.StrEnum):
    """Whose rules to apply.

    ``SPEC``: every rule of the specification *and* every rule the server enforces (an interface
    the server refuses cannot be right); legacy aliases are not accepted. Use it to judge SDKs and
    to check the interfaces we ship.
    ``SERVER``: only what Astarte v1.2.0 enforces, with its legacy aliases; use it where hil must
    behave like the real server (the realm simulator).
    """

    SPEC = "spec"
    SERVER = "server"


def _r(id: str, title: str, level: Level = "MUST", *, server: bool = True) -> Rule:
    return Rule(id, title, level, server)


_ALL: Final = (
    # ---------------------------------------------------------------- interface document
    _r("ASTARTE-IFACE-DOC-01", "An interface definition is a JSON object"),
    _r("ASTARTE-IFACE-REQUIRED-01",
       "interface_name, version_major, version_minor, type, ownership and mappings are present"),
    _r("ASTARTE-IFACE-NAME-01",
       "interface_name is dot-separated alphanumeric labels; first and last start with a letter and "
       "have no hyphen, inner labels may hold hyphens"),
    _r("ASTARTE-IFACE-NAME-02", "interface_name is at most 128 characters long"),
    _r("ASTARTE-IFACE-NAME-03", "interface_name is not one of the reserved names astarte, control, device"),
    _r("ASTARTE-IFACE-NAME-04", "interface_name is a fully qualified reverse domain name (two labels or more)",
       server=False),
    _r("ASTARTE-IFACE-NAME-05",
       "Interface names that differ only in letter case or hyphens collide; a realm installs only one"),
    _r("ASTARTE-IFACE-NAME-06",
       "interface_name labels are lower case except the last one, which is CamelCase", "SHOULD",
       server=False),
    _r("ASTARTE-IFACE-VERSION-01", "version_major and version_minor are integers >= 0"),
    _r("ASTARTE-IFACE-VERSION-02", "version_major and version_minor are not both 0"),
    _r("ASTARTE-IFACE-TYPE-01", "type is datastream or properties"),
    _r("ASTARTE-IFACE-OWNERSHIP-01", "ownership is device or server"),
    _r("ASTARTE-IFACE-AGGREGATION-01", "aggregation, when given, is individual (the default) or object"),
    _r("ASTARTE-IFACE-AGGREGATION-02", "properties interfaces are individual; only datastreams can be object"),
    _r("ASTARTE-IFACE-TEXT-01",
       "Interface description is a string of at most 1000 characters, doc at most 100000"),
    _r("ASTARTE-IFACE-MAPPINGS-01", "mappings is an array of 1 to 1024 mapping objects"),
    _r("ASTARTE-IFACE-LEGACY-01",
       "Astarte accepts legacy aliases: quality (also producer/consumer) for ownership, aggregate: true "
       "for object aggregation, path for a mapping endpoint", "MAY"),
    _r("ASTARTE-IFACE-MAPPING-REQUIRED-01", "Every mapping is an object with endpoint and type"),
    _r("ASTARTE-IFACE-ENDPOINT-01",
       "endpoint is 1 to 64 levels '/x', each a name [A-Za-z_][A-Za-z0-9_]* or a parameter %{name}"),
    _r("ASTARTE-IFACE-ENDPOINT-02", "endpoint is 2 to 256 characters long"),
    _r("ASTARTE-IFACE-ENDPOINT-03",
       "Endpoints stay distinct once parameter names are removed and letter case is ignored"),
    _r("ASTARTE-IFACE-ENDPOINT-04",
       "No path matches two endpoints: a parameter and a literal at the same level are ambiguous"),
    _r("ASTARTE-IFACE-ENDPOINT-05", "No path matched by one endpoint is a prefix of a path matched by another"),
    _r("ASTARTE-IFACE-ENDPOINT-06", "Datastream endpoints do not end with /timestamp, which the schema reserves",
       "SHOULD", server=False),
    _r("ASTARTE-IFACE-MAPPING-TYPE-01", "Mapping type is one of the 14 Astarte types"),
    _r("ASTARTE-IFACE-MAPPING-RELIABILITY-01", "reliability is unreliable (default), guaranteed or unique"),
    _r("ASTARTE-IFACE-MAPPING-RETENTION-01", "retention is discard (default), volatile or stored"),
    _r("ASTARTE-IFACE-MAPPING-EXPIRY-01", "expiry is an integer >= 0"),
    _r("ASTARTE-IFACE-MAPPING-DBRETENTION-01", "database_retention_policy is no_ttl (default) or use_ttl"),
    _r("ASTARTE-IFACE-MAPPING-DBRETENTION-02",
       "database_retention_ttl is an integer from 60 to 630719999 seconds"),
    _r("ASTARTE-IFACE-MAPPING-DBRETENTION-03",
       "database_retention_ttl is set exactly when database_retention_policy is use_ttl"),
    _r("ASTARTE-IFACE-MAPPING-FLAGS-01", "allow_unset, explicit_timestamp, required and encrypted are booleans"),
    _r("ASTARTE-IFACE-MAPPING-TEXT-01",
       "Mapping description is a string of at most 1000 characters, doc at most 100000"),
    _r("ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01",
       "On properties, reliability, retention, expiry, explicit_timestamp and database_retention_* keep "
       "their defaults"),
    _r("ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01", "On datastreams, allow_unset keeps its default (false)"),
    _r("ASTARTE-IFACE-MAPPING-REQUIRED-FLAG-01", "required: true is used only in object aggregated interfaces",
       server=False),
    _r("ASTARTE-IFACE-OBJECT-01",
       "Object endpoints share one parent: same depth, same parameters with the same names at the same levels"),
    _r("ASTARTE-IFACE-OBJECT-02",
       "Object mappings share reliability, retention, expiry, allow_unset, explicit_timestamp and database "
       "retention"),
    _r("ASTARTE-IFACE-OBJECT-03", "Object endpoints have depth 2 or more (depth 1 is deprecated)", "SHOULD",
       server=False),
    # ---------------------------------------------------------------- data messages
    _r("ASTARTE-PAYLOAD-BSON-01",
       "A data payload is one well-formed BSON document with unique keys (only an unset is empty)"),
    _r("ASTARTE-PAYLOAD-V-01", "The payload document carries the value under key v", server=False),
    _r("ASTARTE-PAYLOAD-T-01", "t, when present, is a BSON UTC datetime (0x09)", server=False),
    _r("ASTARTE-PAYLOAD-T-02", "t is sent on datastream messages only", server=False),
    _r("ASTARTE-PAYLOAD-T-03", "With explicit_timestamp true every message carries t", server=False),
    _r("ASTARTE-PAYLOAD-OWNERSHIP-01", "Data is published only by the owner of the interface"),
    _r("ASTARTE-PAYLOAD-PATH-01", "On individual interfaces the path resolves to exactly one endpoint"),
    _r("ASTARTE-PAYLOAD-PATH-02",
       "On object interfaces the path is the endpoints' common parent ('/' for depth-1 endpoints)"),
    _r("ASTARTE-PAYLOAD-PATH-03",
       "The path is '/'-separated non-empty levels in valid UTF-8 (no '//', no trailing '/')"),
    _r("ASTARTE-PAYLOAD-PARAM-01",
       "Parameter values are non-empty UTF-8 strings without '/', '+' or '#'", server=False),
    _r("ASTARTE-PAYLOAD-DOUBLE-01", "double values are BSON doubles (0x01)", server=False),
    _r("ASTARTE-PAYLOAD-DOUBLE-02", "double values are finite (no NaN, no infinity)"),
    _r("ASTARTE-PAYLOAD-INTEGER-01", "integer values are BSON int32 (0x10)", server=False),
    _r("ASTARTE-PAYLOAD-INTEGER-02", "integer values fit in signed 32 bits"),
    _r("ASTARTE-PAYLOAD-LONGINTEGER-01", "longinteger values are BSON int64 (0x12)", server=False),
    _r("ASTARTE-PAYLOAD-LONGINTEGER-02", "longinteger values fit in signed 64 bits"),
    _r("ASTARTE-PAYLOAD-BOOLEAN-01", "boolean values are BSON booleans (0x08)"),
    _r("ASTARTE-PAYLOAD-STRING-01", "string values are BSON strings (0x02) holding valid UTF-8"),
    _r("ASTARTE-PAYLOAD-STRING-02", "string values are at most 65536 bytes"),
    _r("ASTARTE-PAYLOAD-BINARYBLOB-01", "binaryblob values are BSON binary (0x05)", server=False),
    _r("ASTARTE-PAYLOAD-BINARYBLOB-02", "binaryblob values are shorter than 64 KiB"),
    _r("ASTARTE-PAYLOAD-DATETIME-01", "datetime values are BSON UTC datetimes (0x09)", server=False),
    _r("ASTARTE-PAYLOAD-ARRAY-01", "Array values are BSON arrays (0x04) whose items follow the scalar type's rules"),
    _r("ASTARTE-PAYLOAD-ARRAY-02", "Array values have at most 1024 items"),
    _r("ASTARTE-PAYLOAD-OBJECT-01", "An object aggregated value is a BSON document under v"),
    _r("ASTARTE-PAYLOAD-OBJECT-02", "Each object key is the last level of one of the interface's endpoints"),
    _r("ASTARTE-PAYLOAD-OBJECT-03", "Object values hold every mapping marked required: true", server=False),
    _r("ASTARTE-PAYLOAD-UNSET-01", "An unset is an empty (0-byte) payload"),
    _r("ASTARTE-PAYLOAD-UNSET-02", "Unset is used on properties only, never on datastreams"),
    _r("ASTARTE-PAYLOAD-UNSET-03", "Unset is used only on property mappings with allow_unset true", server=False),
    _r("ASTARTE-PAYLOAD-SERVER-01",
       "Astarte discards an invalid device message and forces a clean-session disconnect, except for an "
       "unset on a datastream"),
    _r("ASTARTE-QOS-PROPERTIES-01", "Property messages, set and unset, are published at QoS 2"),
    _r("ASTARTE-QOS-RELIABILITY-01",
       "Individual datastream messages use the mapping reliability: unreliable 0, guaranteed 1, unique 2"),
    _r("ASTARTE-QOS-OBJECT-01", "Object datastream messages use the QoS of the reliability all their mappings share"),
)

#: All rules by id.
RULES: Final[dict[str, Rule]] = {r.id: r for r in _ALL}


def rule(rule_id: str) -> Rule:
    """The rule with this id; a ``KeyError`` means a typo in the oracle itself."""
    return RULES[rule_id]
