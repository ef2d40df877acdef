"""Recorded SDK-vs-spec findings, so the fuzzer can tell a new disagreement from a known one.

Each entry was found by the fuzzer, shrunk, and checked against the specification text (the
``reason`` says where). The conformance suite keeps one strict expected-failure test per entry
(``tests/conformance/test_fuzz_*.py``, with the shrunk example); the generic properties skip
examples that match a recorded finding, so CI stays green and still catches new disagreements.

Matching is by property, direction and either the broken rules (an SDK that accepts invalid
input: every broken rule must be recorded) or a feature of the example (an SDK that refuses valid
input: the rule it wrongly enforces cannot be computed from the oracle's verdict).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hil.oracle import Interface, resolve

__all__ = ["KNOWN_FINDINGS", "KnownFinding", "match_known"]

# The releases the known findings were seen in (hil matrix, sets astarte-0.13 and current).
SDK: Final = "astarte-device-sdk>=0.13.4,<=0.14.0"


@dataclass(frozen=True, slots=True)
class KnownFinding:
    """One recorded disagreement.

    ``rule``: for ``accepts-invalid``, the broken rule this entry covers. ``feature``: for
    ``rejects-valid``, a predicate on the example (the interface document, or ``(interface,
    request)`` for send properties).
    """

    id: str
    property: str
    direction: str
    requirement: str
    reason: str
    rule: str | None = None
    feature: Callable[[Any], bool] | None = None
    sdk: str = SDK


_IDENTIFIER: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _properties_mapping_has_datastream_key(doc: Any) -> bool:
    return doc.get("type") == "properties" and any(
        "reliability" in m or "explicit_timestamp" in m for m in doc.get("mappings", []))


def _datastream_mapping_has_allow_unset(doc: Any) -> bool:
    return doc.get("type") == "datastream" and any("allow_unset" in m for m in doc.get("mappings", []))


def _non_identifier_parameter(example: tuple[Interface, Any]) -> bool:
    interface, request = example
    resolution = resolve(interface, request.path)
    if not resolution.ok:
        return False
    template = (resolution.mapping or interface.mappings[0]).template
    levels = request.path.split("/")[1:]
    # Walk the levels, not resolution.parameters: an endpoint may repeat a parameter name.
    return any(level.parameter and not _IDENTIFIER.fullmatch(value)
               for level, value in zip(template.levels, levels, strict=False))


def _partial_object(example: tuple[Interface, Any]) -> bool:
    interface, request = example
    return (interface.is_object and isinstance(request.payload, dict)
            and set(request.payload) < set(interface.object_mappings()))


def _depth_one_object(example: tuple[Interface, Any]) -> bool:
    interface, _ = example
    return interface.is_object and interface.mappings[0].template.depth == 1


_IFACE = "interface-acceptance"
_SEND = "send-validation-offline"
_ACCEPTS = "accepts-invalid"
_REJECTS = "rejects-valid"


_WIRE = "send-wire-mqtt"
_NONCONFORMING = "sends-nonconforming"


def _accepts(id: str, rule: str, reason: str, prop: str = _IFACE) -> KnownFinding:
    return KnownFinding(id, prop, _ACCEPTS, rule, reason, rule=rule)


_WIRE_GRPC = "send-wire-grpc"


def _wire(id: str, rule: str, reason: str, prop: str = _WIRE, *, requirement: str | None = None) -> KnownFinding:
    """A nonconforming message; ``requirement`` when the SDK's fault is another rule than the
    one the wire breaks (a value it should have refused, sent in a type Astarte never reads)."""
    return KnownFinding(id, prop, _NONCONFORMING, requirement or rule, reason, rule=rule)


#: Why the hub adds no size check of its own (what makes the gRPC findings the SDK's too).
_HUB_NO_SIZE_CHECK = ("; astarte-message-hub v0.7.0 publishes it as its own device: the Rust SDK 0.9.2 it "
                      "embeds validates interface, mapping, type and timestamp but no size (src/validate.rs)")


KNOWN_FINDINGS: Final[tuple[KnownFinding, ...]] = (
    # ------------------------------------------------------------- interfaces the SDK loads wrongly
    _accepts("iface-name-too-long", "ASTARTE-IFACE-NAME-02",
             "Interface() checks the name pattern but not the 128-character limit (interface.json maxLength)"),
    _accepts("iface-name-not-qualified", "ASTARTE-IFACE-NAME-04",
             "a single-label name such as 'Values' passes the SDK regex; 030-interface.md: 'Values will not be accepted'"),
    _accepts("iface-negative-version", "ASTARTE-IFACE-VERSION-01",
             "versions are only checked with isinstance(int): negative numbers and JSON booleans pass (interface.ex "
             "changeset: an integer greater than or equal to 0)"),
    _accepts("iface-long-description", "ASTARTE-IFACE-TEXT-01",
             "description/doc lengths are not checked (description at most 1000 characters, doc 100000)"),
    _accepts("iface-too-many-mappings", "ASTARTE-IFACE-MAPPINGS-01",
             "more than 1024 mappings are accepted (interface.json maxItems 1024)"),
    _accepts("iface-long-endpoint", "ASTARTE-IFACE-ENDPOINT-02",
             "endpoint length is not checked (mapping.json maxLength 256)"),
    _accepts("iface-equivalent-endpoints", "ASTARTE-IFACE-ENDPOINT-03",
             "only byte-identical endpoints are refused; /a/%{x} next to /a/%{y}, or /Value next to /value, pass"),
    _accepts("iface-ambiguous-endpoints", "ASTARTE-IFACE-ENDPOINT-04",
             "a parameter and a literal at the same level (/%{p}/v next to /a/v) pass; 030-interface.md Limitations"),
    _accepts("iface-prefix-endpoints", "ASTARTE-IFACE-ENDPOINT-05",
             "an endpoint that is a prefix of another (/a next to /a/b) passes; 030-interface.md Limitations"),
    _accepts("iface-bad-retention", "ASTARTE-IFACE-MAPPING-RETENTION-01",
             "retention is never read, so any value passes (mapping.json enum discard/volatile/stored)"),
    _accepts("iface-bad-expiry", "ASTARTE-IFACE-MAPPING-EXPIRY-01",
             "expiry is never read, so negative or non-integer values pass (mapping.json integer, minimum 0)"),
    _accepts("iface-bad-db-retention-policy", "ASTARTE-IFACE-MAPPING-DBRETENTION-01",
             "database_retention_policy is never read (mapping.json enum no_ttl/use_ttl)"),
    _accepts("iface-bad-db-retention-ttl", "ASTARTE-IFACE-MAPPING-DBRETENTION-02",
             "database_retention_ttl is never read (mapping.json minimum 60, maximum 630719999)"),
    _accepts("iface-db-retention-mismatch", "ASTARTE-IFACE-MAPPING-DBRETENTION-03",
             "a ttl without use_ttl (or use_ttl without ttl) passes; mapping.ex refuses both"),
    _accepts("iface-non-boolean-flags", "ASTARTE-IFACE-MAPPING-FLAGS-01",
             "required and encrypted are never read, so non-boolean values pass (mapping.json boolean)"),
    _accepts("iface-long-mapping-description", "ASTARTE-IFACE-MAPPING-TEXT-01",
             "mapping description/doc lengths are not checked"),
    _accepts("iface-datastream-fields-on-properties", "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01",
             "retention, expiry and database_retention_* with non-default values pass on properties mappings"),
    _accepts("iface-required-outside-object", "ASTARTE-IFACE-MAPPING-REQUIRED-FLAG-01",
             "required: true passes on individual interfaces (030-interface.md: required is for object aggregates)"),
    _accepts("iface-object-different-parents", "ASTARTE-IFACE-OBJECT-01",
             "object endpoints with different parents pass (030-interface.md Limitations: same depth, same parameters)"),
    _accepts("iface-object-different-attributes", "ASTARTE-IFACE-OBJECT-02",
             "only explicit_timestamp and reliability are compared across object mappings; retention, expiry and "
             "database retention may differ"),
    KnownFinding(
        "iface-refuses-default-datastream-fields-on-properties", _IFACE, _REJECTS,
        "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01",
        "a properties mapping that states reliability or explicit_timestamp at its default value is refused; "
        "mapping.json only calls them 'useful only with datastream' and Astarte installs such interfaces",
        feature=_properties_mapping_has_datastream_key),
    KnownFinding(
        "iface-refuses-allow-unset-false-on-datastream", _IFACE, _REJECTS,
        "ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01",
        "a datastream mapping with allow_unset: false (the default) is refused; Astarte installs it",
        feature=_datastream_mapping_has_allow_unset),
    # ------------------------------------------------------------- send API, checked offline
    KnownFinding(
        "send-refuses-non-identifier-parameters", _SEND, _REJECTS, "ASTARTE-PAYLOAD-PARAM-01",
        "path parameters must match [a-zA-Z_][a-zA-Z0-9_]* in the SDK; 030-interface.md allows any non-empty "
        "UTF-8 string without '/', '+' and '#' (so /sensors/1/value is refused)",
        feature=_non_identifier_parameter),
    KnownFinding(
        "send-refuses-partial-objects", _SEND, _REJECTS, "ASTARTE-PAYLOAD-OBJECT-03",
        "send_aggregate demands every mapping; Astarte v1.2.0's data updater checks only the keys sent "
        "(impl.ex validate_value_type walks the object) and stores a partial object, and 030-interface.md "
        "says so from v1.4 on (#1862): any subset of the mappings, only required: true ones must be present",
        feature=_partial_object),
    KnownFinding(
        "send-refuses-depth-one-objects", _SEND, _REJECTS, "ASTARTE-PAYLOAD-PATH-02",
        "objects whose endpoints have depth 1 cannot be sent: the SDK joins '/' and the key into '//key'; "
        "080-mqtt-v1-protocol.md: '/' is a valid path for object aggregated interfaces",
        feature=_depth_one_object),
    _accepts("send-accepts-path-with-trailing-newline", "ASTARTE-PAYLOAD-PATH-01",
             "paths are matched with re.match(endpoint_regex + '$'), and '$' also matches before a final newline, "
             "so '/a\\n' passes the path check for endpoint /a and goes to the transport; '/a<LF>' names no endpoint", _SEND),
    _accepts("send-oversized-string", "ASTARTE-PAYLOAD-STRING-02",
             "strings over 65536 bytes pass validation", _SEND),
    _accepts("send-oversized-blob", "ASTARTE-PAYLOAD-BINARYBLOB-02",
             "blobs of 64 KiB or more pass validation", _SEND),
    _accepts("send-oversized-array", "ASTARTE-PAYLOAD-ARRAY-02",
             "arrays of more than 1024 items pass validation", _SEND),
    # ------------------------------------------------------------- what reaches the realm over MQTT
    _wire("wire-longinteger-as-int32", "ASTARTE-PAYLOAD-LONGINTEGER-01",
          "py-bson writes every int that fits 32 bits as int32 (0x10), so longinteger 0 travels as int32; "
          "080-mqtt-v1-protocol.md maps longinteger to int64 (0x12). Astarte v1.2.0 tolerates it"),
    _wire("wire-longinteger-overflow-as-uint64", "ASTARTE-PAYLOAD-BSON-01",
          "a longinteger of 2**63 or more is not refused (030-interface.md: signed 64-bit): py-bson writes it "
          "as BSON 0x11 (uint64/timestamp), a type Astarte payloads never carry; the realm answers "
          "undecodable_bson_payload and disconnects", requirement="ASTARTE-PAYLOAD-LONGINTEGER-02"),
    _wire("wire-unset-without-allow-unset", "ASTARTE-PAYLOAD-UNSET-03",
          "unset_property never checks allow_unset and publishes an empty payload on a mapping without it"),
    _wire("wire-oversized-string", "ASTARTE-PAYLOAD-STRING-02", "strings over 65536 bytes are published"),
    _wire("wire-oversized-blob", "ASTARTE-PAYLOAD-BINARYBLOB-02", "blobs of 64 KiB or more are published"),
    _wire("wire-oversized-array", "ASTARTE-PAYLOAD-ARRAY-02", "arrays of more than 1024 items are published"),
    # ------------------------------------------------------------- what reaches the realm through a Message Hub
    _wire("grpc-oversized-string", "ASTARTE-PAYLOAD-STRING-02",
          "DeviceGrpc hands a string over 65536 bytes to the hub's Send (030-interface.md: 'at most 65536 bytes "
          "long')" + _HUB_NO_SIZE_CHECK, _WIRE_GRPC),
    _wire("grpc-oversized-blob", "ASTARTE-PAYLOAD-BINARYBLOB-02",
          "DeviceGrpc hands a blob of 64 KiB or more to the hub's Send (030-interface.md: 'shorter than 64 KiB')"
          + _HUB_NO_SIZE_CHECK, _WIRE_GRPC),
    _wire("grpc-oversized-array", "ASTARTE-PAYLOAD-ARRAY-02",
          "DeviceGrpc hands an array of more than 1024 items to the hub's Send (030-interface.md: 'up to 1024 "
          "items')" + _HUB_NO_SIZE_CHECK, _WIRE_GRPC),
    # ------------------------------------------------------------- device session (property 5)
    KnownFinding(
        "sdk-forgets-falsy-properties", "session-model", "realm-differs", "ASTARTE-MQTT-PROPERTIES-06",
        "the property cache deletes instead of storing any falsy value (AstarteDatabaseSQLite.store_prop: "
        "'if not value: delete_prop'), so a device property set to 0, 0.0, False, '', b'' or [] is not "
        "republished after a reconnect or restart and is missing from producer/properties, and Astarte purges it"),
)


def match_known(property: str, direction: str, *, example: Any, rule_ids: Sequence[str]) -> KnownFinding | None:
    """The recorded finding that explains this disagreement, or None if it is new."""
    candidates = [k for k in KNOWN_FINDINGS if k.property == property and k.direction == direction]
    if direction != _REJECTS:
        by_rule = {k.rule: k for k in candidates}
        if rule_ids and all(rule in by_rule for rule in rule_ids):
            return by_rule[rule_ids[0]]
        return None
    for finding in candidates:
        try:
            if finding.feature is not None and finding.feature(example):
                return finding
        except (AttributeError, TypeError, KeyError):
            continue
    return None


def known_finding(finding_id: str) -> KnownFinding:
    """The recorded finding with this id (``KeyError`` for a typo in a test)."""
    for finding in KNOWN_FINDINGS:
        if finding.id == finding_id:
            return finding
    raise KeyError(finding_id)
