"""Is this Astarte interface definition valid? And its parsed form.

The rules come from the interface JSON schema (``libs/astarte_core/specs/{interface,mapping}.json``),
the interface documentation (``doc/pages/architecture/030-interface.md``, ``040-interface_schema.md``)
and the checks Astarte's own changesets add (``libs/astarte_core/lib/astarte_core/interface.ex``,
``mapping.ex``, ``mapping/endpoints_automaton.ex``). Each check names its rule id.

Decisions where the sources leave room (each is a comment at its check too):

* Depth-1 object endpoints (``/value`` in an object interface): the docs call them deprecated,
  the current server still installs them. The oracle accepts them and reports ASTARTE-IFACE-OBJECT-03
  as an advisory only (:func:`interface_advisories`).
* Datastream-only mapping fields on properties (``reliability``, ``explicit_timestamp``, ...): the
  schema only says they are "useful only with datastream"; the server rejects them with
  "must be blank" but *only when they differ from their default*, because Ecto's ``cast`` records
  no change for a value equal to the default and ``validate_change`` skips nil
  (``mapping.ex`` ``validate_not_set_unless``). The oracle rejects exactly that. Same for
  ``allow_unset`` on datastreams.
* Legacy aliases (``quality``, ``aggregate``, mapping ``path``, ownership ``producer``/``consumer``)
  are honoured by the server (``interface.ex`` ``handle_legacy_*``, ``ownership.ex``) but are not
  part of the schema: accepted under :attr:`Profile.SERVER` only.
* A name without a dot (``Values``) passes the server's regex but the docs say it "will not be
  accepted": rejected under :attr:`Profile.SPEC` only (ASTARTE-IFACE-NAME-04).
* Known gap: Ecto also casts numeric strings to integers and ``"true"`` to booleans; the oracle
  keeps JSON types strict in both profiles.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping as AbcMapping
from pathlib import Path
from typing import Any, Final

from hil.oracle.endpoints import ENDPOINT_PATTERN, EndpointTemplate
from hil.oracle.model import (
    Aggregation,
    DatabaseRetentionPolicy,
    Interface,
    InterfaceType,
    Mapping,
    Ownership,
    Reliability,
    Retention,
    ValueType,
)
from hil.oracle.rules import Profile, rule
from hil.oracle.violations import InvalidInterface, Violation

__all__ = [
    "Interface",
    "Mapping",
    "interface_advisories",
    "load_interface",
    "names_collide",
    "parse_interface",
    "read_interface_json",
    "validate_interface",
]

#: interface.ex ``interface_name_regex``. (The schema's copy has unescaped dots, an upstream slip;
#: the server's escaped form is the intended one.)
NAME_PATTERN: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9]*\.([a-zA-Z0-9][a-zA-Z0-9-]*\.)*)?[a-zA-Z][a-zA-Z0-9]*")
NAME_MAX: Final = 128
RESERVED_NAMES: Final = frozenset({"astarte", "control", "device"})
DESCRIPTION_MAX: Final = 1000
DOC_MAX: Final = 100_000
MAPPINGS_MAX: Final = 1024
ENDPOINT_MIN, ENDPOINT_MAX = 2, 256
#: mapping.ex: ttl >= 60 and < 20 years of 365 days; mapping.json states the same as max 630719999.
TTL_MIN, TTL_MAX = 60, 20 * 365 * 24 * 3600 - 1
_LEGACY_OWNERSHIP: Final = {"producer": "device", "consumer": "server"}

#: Datastream-only mapping fields and the default the server tolerates on properties.
_DATASTREAM_ONLY_DEFAULTS: Final[dict[str, Any]] = {
    "reliability": "unreliable",
    "retention": "discard",
    "expiry": 0,
    "explicit_timestamp": False,
    "database_retention_policy": "no_ttl",
    "database_retention_ttl": None,
}


def validate_interface(doc: Any, *, profile: Profile = Profile.SPEC) -> list[Violation]:
    """Every MUST rule ``doc`` (a decoded JSON value) breaks under ``profile``; empty = valid."""
    return [v for v in _Checker(profile).run(doc) if rule(v.rule_id).level == "MUST"]


def interface_advisories(doc: Any) -> list[Violation]:
    """SHOULD-level findings (naming convention, depth-1 objects, ``/timestamp`` endpoints)."""
    return [v for v in _Checker(Profile.SPEC).run(doc) if rule(v.rule_id).level == "SHOULD"]


def parse_interface(
    doc: Any, *, profile: Profile = Profile.SPEC, source: str | Path | None = None
) -> Interface:
    """Validate ``doc`` and return its typed form.

    Raises:
        InvalidInterface: listing every violation (a :class:`~hil.errors.ConfigError`).
    """
    violations = validate_interface(doc, profile=profile)
    if violations:
        raise InvalidInterface(violations, source=source)
    fields = _effective_fields(doc, profile)
    mappings = tuple(_build_mapping(m, profile) for m in doc["mappings"])
    return Interface(
        name=doc["interface_name"],
        version_major=doc["version_major"],
        version_minor=doc["version_minor"],
        type=InterfaceType(doc["type"]),
        ownership=Ownership(fields["ownership"]),
        aggregation=Aggregation(fields["aggregation"] or "individual"),
        mappings=mappings,
        description=doc.get("description"),
        doc=doc.get("doc"),
    )


def load_interface(path: str | Path, *, profile: Profile = Profile.SPEC) -> Interface:
    """Read, validate and parse an interface JSON file.

    Raises:
        InvalidInterface: the file is unreadable, not JSON, or not a valid interface.
    """
    return parse_interface(read_interface_json(path), profile=profile, source=path)


def read_interface_json(path: str | Path) -> Any:
    """The decoded JSON of ``path``; unreadable files and bad JSON raise :class:`InvalidInterface`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInterface([Violation("ASTARTE-IFACE-DOC-01", "$", f"cannot read file: {reason}")], source=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InvalidInterface([Violation("ASTARTE-IFACE-DOC-01", "$", message)], source=path) from None
    except RecursionError:
        message = "not usable JSON: nested too deeply"
        raise InvalidInterface([Violation("ASTARTE-IFACE-DOC-01", "$", message)], source=path) from None


def names_collide(a: str, b: str) -> bool:
    """True if a realm cannot hold both names: they differ only in case or hyphens (ASTARTE-IFACE-NAME-05).

    Identical names do not *collide*; installing the same name twice is a version question.
    """
    return a != b and _collision_key(a) == _collision_key(b)


def _collision_key(name: str) -> str:
    return name.lower().replace("-", "")


# --------------------------------------------------------------------------- the checks


def _is_int(value: Any) -> bool:
    # JSON true/false decode to bool, which Python counts as int; the schema does not.
    return isinstance(value, int) and not isinstance(value, bool)


def _effective_fields(doc: AbcMapping[str, Any], profile: Profile) -> dict[str, Any]:
    """ownership and aggregation after the legacy aliases the profile honours."""
    ownership = doc.get("ownership")
    aggregation = doc.get("aggregation")
    if profile is Profile.SERVER:
        # ASTARTE-IFACE-LEGACY-01: interface.ex handle_legacy_ownership / handle_legacy_aggregation.
        if not ownership:
            ownership = doc.get("quality")
        ownership = _LEGACY_OWNERSHIP.get(ownership, ownership) if isinstance(ownership, str) else ownership
        if aggregation is None and doc.get("aggregate") is True:
            aggregation = "object"
    return {"ownership": ownership, "aggregation": aggregation}


def _mapping_endpoint(mapping: AbcMapping[str, Any], profile: Profile) -> Any:
    endpoint = mapping.get("endpoint")
    if endpoint is None and profile is Profile.SERVER:
        endpoint = mapping.get("path")  # ASTARTE-IFACE-LEGACY-01: mapping.ex handle_legacy_endpoint
    return endpoint


def _build_mapping(raw: AbcMapping[str, Any], profile: Profile) -> Mapping:
    return Mapping(
        endpoint=_mapping_endpoint(raw, profile),
        type=ValueType(raw["type"]),
        reliability=Reliability(raw.get("reliability") or "unreliable"),
        retention=Retention(raw.get("retention") or "discard"),
        expiry=raw.get("expiry") or 0,
        database_retention_policy=DatabaseRetentionPolicy(raw.get("database_retention_policy") or "no_ttl"),
        database_retention_ttl=raw.get("database_retention_ttl"),
        allow_unset=bool(raw.get("allow_unset", False)),
        explicit_timestamp=bool(raw.get("explicit_timestamp", False)),
        required=bool(raw.get("required", False)),
        description=raw.get("description"),
        doc=raw.get("doc"),
    )


class _Checker:
    """Runs every check once over one document and collects the violations."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.found: list[Violation] = []

    def add(self, rule_id: str, path: str, message: str) -> None:
        if rule(rule_id).applies(self.profile):
            self.found.append(Violation(rule_id, path, message))

    def run(self, doc: Any) -> list[Violation]:
        if not isinstance(doc, AbcMapping):
            self.add("ASTARTE-IFACE-DOC-01", "$", f"expected a JSON object, got {_json_kind(doc)}")
            return self.found
        fields = _effective_fields(doc, self.profile)
        for key in ("interface_name", "version_major", "version_minor", "type", "ownership", "mappings"):
            value = fields["ownership"] if key == "ownership" else doc.get(key)
            if value is None:
                self.add("ASTARTE-IFACE-REQUIRED-01", "$", f"missing required key {key!r}")
        self.check_name(doc.get("interface_name"))
        self.check_versions(doc.get("version_major"), doc.get("version_minor"))
        interface_type = self.check_enum(doc.get("type"), InterfaceType, "$.type", "ASTARTE-IFACE-TYPE-01")
        self.check_enum(fields["ownership"], Ownership, "$.ownership", "ASTARTE-IFACE-OWNERSHIP-01")
        aggregation = self.check_enum(
            fields["aggregation"], Aggregation, "$.aggregation", "ASTARTE-IFACE-AGGREGATION-01"
        ) or (Aggregation.INDIVIDUAL if fields["aggregation"] is None else None)
        if interface_type is InterfaceType.PROPERTIES and aggregation is Aggregation.OBJECT:
            self.add("ASTARTE-IFACE-AGGREGATION-02", "$.aggregation", "properties interfaces must be individual")
        self.check_text(doc, "$", "ASTARTE-IFACE-TEXT-01")
        self.check_mappings(doc.get("mappings"), interface_type, aggregation)
        return self.found

    # ------------------------------------------------------------------ interface fields

    def check_name(self, name: Any) -> None:
        if name is None:
            return
        if not isinstance(name, str):
            self.add("ASTARTE-IFACE-NAME-01", "$.interface_name", f"must be a string, got {_json_kind(name)}")
            return
        if len(name) > NAME_MAX:
            self.add("ASTARTE-IFACE-NAME-02", "$.interface_name", f"{len(name)} characters, at most {NAME_MAX}")
        if not NAME_PATTERN.fullmatch(name):
            self.add("ASTARTE-IFACE-NAME-01", "$.interface_name", f"{name!r} is not a reverse domain name")
            return
        if name in RESERVED_NAMES:
            self.add("ASTARTE-IFACE-NAME-03", "$.interface_name", f"{name!r} is reserved")
        labels = name.split(".")
        if len(labels) < 2:
            # 030-interface.md: "`Values` will not be accepted"; the server regex lets it through.
            self.add("ASTARTE-IFACE-NAME-04", "$.interface_name", f"{name!r} is not fully qualified (no domain)")
        elif any(label != label.lower() for label in labels[:-1]) or not labels[-1][0].isupper():
            self.add(
                "ASTARTE-IFACE-NAME-06",
                "$.interface_name",
                f"{name!r}: use lower-case domain labels and a CamelCase last label",
            )

    def check_versions(self, major: Any, minor: Any) -> None:
        for key, value in (("version_major", major), ("version_minor", minor)):
            if value is None:
                continue
            if not _is_int(value):
                self.add("ASTARTE-IFACE-VERSION-01", f"$.{key}", f"must be an integer, got {_json_kind(value)}")
            elif value < 0:
                self.add("ASTARTE-IFACE-VERSION-01", f"$.{key}", f"must be >= 0, got {value}")
        if _is_int(major) and _is_int(minor) and major == 0 and minor == 0:
            self.add("ASTARTE-IFACE-VERSION-02", "$.version_minor", "must be > 0 when version_major is 0")

    def check_enum[E: enum.StrEnum](self, value: Any, enum_type: type[E], path: str, rule_id: str) -> E | None:
        """The enum member for ``value``, or None (with a violation unless ``value`` is absent)."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return enum_type(value)
            except ValueError:
                pass
        allowed = ", ".join(member.value for member in enum_type)
        self.add(rule_id, path, f"{value!r} is not one of: {allowed}")
        return None

    def check_text(self, doc: AbcMapping[str, Any], path: str, rule_id: str) -> None:
        for key, limit in (("description", DESCRIPTION_MAX), ("doc", DOC_MAX)):
            value = doc.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                self.add(rule_id, f"{path}.{key}", f"must be a string, got {_json_kind(value)}")
            elif len(value) > limit:
                self.add(rule_id, f"{path}.{key}", f"{len(value)} characters, at most {limit}")

    # ------------------------------------------------------------------ mappings

    def check_mappings(
        self, mappings: Any, interface_type: InterfaceType | None, aggregation: Aggregation | None
    ) -> None:
        if mappings is None:
            return
        if not isinstance(mappings, list):
            self.add("ASTARTE-IFACE-MAPPINGS-01", "$.mappings", f"must be an array, got {_json_kind(mappings)}")
            return
        if not 1 <= len(mappings) <= MAPPINGS_MAX:
            self.add("ASTARTE-IFACE-MAPPINGS-01", "$.mappings", f"{len(mappings)} mappings, need 1 to {MAPPINGS_MAX}")
        parsed: list[tuple[int, EndpointTemplate, AbcMapping[str, Any]]] = []
        for index, raw in enumerate(mappings):
            template = self.check_mapping(raw, f"$.mappings[{index}]", interface_type, aggregation)
            if template is not None:
                parsed.append((index, template, raw))
        self.check_clashes(parsed)
        if aggregation is Aggregation.OBJECT and parsed:
            self.check_object(parsed)

    def check_mapping(
        self,
        raw: Any,
        path: str,
        interface_type: InterfaceType | None,
        aggregation: Aggregation | None,
    ) -> EndpointTemplate | None:
        if not isinstance(raw, AbcMapping):
            self.add("ASTARTE-IFACE-MAPPING-REQUIRED-01", path, f"expected a JSON object, got {_json_kind(raw)}")
            return None
        endpoint = _mapping_endpoint(raw, self.profile)
        for key, value in (("endpoint", endpoint), ("type", raw.get("type"))):
            if value is None:
                self.add("ASTARTE-IFACE-MAPPING-REQUIRED-01", path, f"missing required key {key!r}")
        template = self.check_endpoint(endpoint, f"{path}.endpoint")
        self.check_enum(raw.get("type"), ValueType, f"{path}.type", "ASTARTE-IFACE-MAPPING-TYPE-01")
        self.check_enum(raw.get("reliability"), Reliability, f"{path}.reliability", "ASTARTE-IFACE-MAPPING-RELIABILITY-01")
        self.check_enum(raw.get("retention"), Retention, f"{path}.retention", "ASTARTE-IFACE-MAPPING-RETENTION-01")
        expiry = raw.get("expiry")
        if expiry is not None and (not _is_int(expiry) or expiry < 0):
            self.add("ASTARTE-IFACE-MAPPING-EXPIRY-01", f"{path}.expiry", f"must be an integer >= 0, got {expiry!r}")
        policy = self.check_enum(
            raw.get("database_retention_policy"),
            DatabaseRetentionPolicy,
            f"{path}.database_retention_policy",
            "ASTARTE-IFACE-MAPPING-DBRETENTION-01",
        )
        ttl = raw.get("database_retention_ttl")
        if ttl is not None and (not _is_int(ttl) or not TTL_MIN <= ttl <= TTL_MAX):
            self.add(
                "ASTARTE-IFACE-MAPPING-DBRETENTION-02",
                f"{path}.database_retention_ttl",
                f"must be an integer from {TTL_MIN} to {TTL_MAX}, got {ttl!r}",
            )
        if raw.get("database_retention_policy") is None or policy is not None:
            effective = policy or DatabaseRetentionPolicy.NO_TTL
            if effective is DatabaseRetentionPolicy.USE_TTL and ttl is None:
                self.add("ASTARTE-IFACE-MAPPING-DBRETENTION-03", f"{path}.database_retention_ttl",
                         "must be set when database_retention_policy is use_ttl")
            elif effective is DatabaseRetentionPolicy.NO_TTL and ttl is not None:
                self.add("ASTARTE-IFACE-MAPPING-DBRETENTION-03", f"{path}.database_retention_policy",
                         "must be use_ttl when database_retention_ttl is set")
        for flag in ("allow_unset", "explicit_timestamp", "required", "encrypted"):
            value = raw.get(flag)
            if value is not None and not isinstance(value, bool):
                self.add("ASTARTE-IFACE-MAPPING-FLAGS-01", f"{path}.{flag}", f"must be a boolean, got {_json_kind(value)}")
        self.check_text(raw, path, "ASTARTE-IFACE-MAPPING-TEXT-01")
        self.check_type_specific_fields(raw, path, interface_type, aggregation, template)
        return template

    def check_endpoint(self, endpoint: Any, path: str) -> EndpointTemplate | None:
        if endpoint is None:
            return None
        if not isinstance(endpoint, str):
            self.add("ASTARTE-IFACE-ENDPOINT-01", path, f"must be a string, got {_json_kind(endpoint)}")
            return None
        if not ENDPOINT_MIN <= len(endpoint) <= ENDPOINT_MAX:
            self.add("ASTARTE-IFACE-ENDPOINT-02", path, f"{len(endpoint)} characters, need {ENDPOINT_MIN} to {ENDPOINT_MAX}")
        if not ENDPOINT_PATTERN.fullmatch(endpoint):
            self.add("ASTARTE-IFACE-ENDPOINT-01", path, f"{endpoint!r} is not a valid endpoint")
            return None
        return EndpointTemplate.parse(endpoint)

    def check_type_specific_fields(
        self,
        raw: AbcMapping[str, Any],
        path: str,
        interface_type: InterfaceType | None,
        aggregation: Aggregation | None,
        template: EndpointTemplate | None,
    ) -> None:
        # mapping.ex validate_not_set_unless: the server only sees fields whose value differs from
        # the field default (Ecto cast drops no-op changes; validate_change skips nil), so
        # `"reliability": "unreliable"` on a property is accepted while "unique" is "must be blank".
        if interface_type is InterfaceType.PROPERTIES:
            for key, default in _DATASTREAM_ONLY_DEFAULTS.items():
                value = raw.get(key)
                if value is not None and value != default:
                    self.add("ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01", f"{path}.{key}",
                             f"{key} is for datastreams only; a properties mapping must leave it out")
        if interface_type is InterfaceType.DATASTREAM and raw.get("allow_unset") not in (None, False):
            self.add("ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01", f"{path}.allow_unset",
                     "allow_unset is for properties only; a datastream mapping must leave it out")
        # `required` (030-interface.md "Requiring mappings to always be present") is newer than
        # v1.2.0, which ignores the key; HEAD's mapping.ex refuses it outside object interfaces.
        if raw.get("required") not in (None, False) and aggregation is not Aggregation.OBJECT:
            self.add("ASTARTE-IFACE-MAPPING-REQUIRED-FLAG-01", f"{path}.required",
                     "required is meaningful only in object aggregated interfaces")
        if (
            interface_type is InterfaceType.DATASTREAM
            and template is not None
            and not template.last.parameter
            and template.last.name == "timestamp"
        ):
            self.add("ASTARTE-IFACE-ENDPOINT-06", f"{path}.endpoint",
                     "mapping.json reserves /timestamp on datastreams; pick another name")

    def check_clashes(self, parsed: list[tuple[int, EndpointTemplate, AbcMapping[str, Any]]]) -> None:
        first_by_key: dict[str, int] = {}
        for index, template, _ in parsed:
            key = template.normalized()
            if key in first_by_key:
                self.add("ASTARTE-IFACE-ENDPOINT-03", f"$.mappings[{index}].endpoint",
                         f"{template.text!r} conflicts with $.mappings[{first_by_key[key]}] "
                         "(same endpoint once parameters and case are ignored)")
            else:
                first_by_key[key] = index
        for (index_a, a), (index_b, b) in _candidate_pairs([(i, t) for i, t, _ in parsed]):
            if a.normalized() == b.normalized():
                continue  # already reported as ASTARTE-IFACE-ENDPOINT-03
            if a.overlaps(b):
                self.add("ASTARTE-IFACE-ENDPOINT-04", f"$.mappings[{index_b}].endpoint",
                         f"{b.text!r} and {a.text!r} ($.mappings[{index_a}]) can match the same path")
            elif a.is_prefix_of(b) or b.is_prefix_of(a):
                short, long_ = (a, b) if a.depth < b.depth else (b, a)
                self.add("ASTARTE-IFACE-ENDPOINT-05", f"$.mappings[{index_b}].endpoint",
                         f"a path of {short.text!r} is a prefix of a path of {long_.text!r}")

    def check_object(self, parsed: list[tuple[int, EndpointTemplate, AbcMapping[str, Any]]]) -> None:
        _, first, first_raw = parsed[0]
        first_attributes = _object_attributes(first_raw)
        for index, template, raw in parsed:
            path = f"$.mappings[{index}]"
            if template.parent != first.parent:
                # interface.ex validate_all_mappings_have_same_prefix compares the parent text,
                # parameter names included: this covers depth, parameter count and names.
                self.add("ASTARTE-IFACE-OBJECT-01", f"{path}.endpoint",
                         f"{template.text!r} does not share the parent of {first.text!r}")
            if _object_attributes(raw) != first_attributes:
                self.add("ASTARTE-IFACE-OBJECT-02", path,
                         "reliability, retention, expiry, allow_unset, explicit_timestamp and database "
                         "retention must equal those of $.mappings[0]")
            if template.depth == 1:
                # Deprecated since Astarte 0.11 but still installed by the current server: advisory.
                self.add("ASTARTE-IFACE-OBJECT-03", f"{path}.endpoint",
                         f"{template.text!r} has depth 1; use /<group>/<name>")


def _candidate_pairs(
    items: list[tuple[int, EndpointTemplate]],
) -> list[tuple[tuple[int, EndpointTemplate], tuple[int, EndpointTemplate]]]:
    """Pairs that could clash, in index order: endpoints whose first levels can match the same value.

    Two endpoints starting with different literals never clash, so grouping by the first level
    keeps a 1024-mapping interface fast without changing the verdict.
    """
    by_first: dict[str, list[tuple[int, EndpointTemplate]]] = {}
    parametric: list[tuple[int, EndpointTemplate]] = []
    for item in items:
        first = item[1].levels[0]
        (parametric if first.parameter else by_first.setdefault(first.name, [])).append(item)
    pairs = []
    for group in [*by_first.values(), parametric]:
        pairs += [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
    for group in by_first.values():
        pairs += [(a, b) if a[0] < b[0] else (b, a) for a in group for b in parametric]
    return sorted(pairs, key=lambda pair: (pair[0][0], pair[1][0]))


def _object_attributes(raw: AbcMapping[str, Any]) -> tuple[Any, ...]:
    """The attributes interface.ex same_object_attributes? compares, defaults filled in."""
    return (
        raw.get("reliability") or "unreliable",
        raw.get("retention") or "discard",
        raw.get("expiry") or 0,
        bool(raw.get("allow_unset", False)),
        bool(raw.get("explicit_timestamp", False)),
        raw.get("database_retention_policy") or "no_ttl",
        raw.get("database_retention_ttl"),
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, AbcMapping):
        return "an object"
    return type(value).__name__
