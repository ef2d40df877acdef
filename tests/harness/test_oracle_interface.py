"""Interface validity: every rule accepted and rejected, the shipped interfaces, the catalog link."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hil.errors import ConfigError
from hil.oracle import (
    RULES,
    Aggregation,
    InvalidInterface,
    Profile,
    Reliability,
    ValueType,
    interface_advisories,
    load_interface,
    names_collide,
    parse_interface,
    validate_interface,
)
from hil.requirements import default_registry

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "interfaces").glob("*.json"))
INVALID = ROOT / "tests" / "data" / "interfaces-invalid"

Doc = dict[str, Any]


def base(**overrides: Any) -> Doc:
    doc: Doc = {
        "interface_name": "org.hil.test.Sample",
        "version_major": 1,
        "version_minor": 0,
        "type": "datastream",
        "ownership": "device",
        "mappings": [{"endpoint": "/sensor/value", "type": "double"}],
    }
    doc.update(overrides)
    return doc


def properties(*mappings: Doc) -> Doc:
    return base(type="properties", mappings=list(mappings))


def obj(*mappings: Doc, **extra: Any) -> Doc:
    return base(aggregation="object", mappings=list(mappings), **extra)


def m(endpoint: str, type_: str = "integer", **extra: Any) -> Doc:
    return {"endpoint": endpoint, "type": type_, **extra}


def rule_ids(doc: Any, profile: Profile = Profile.SPEC) -> set[str]:
    return {v.rule_id for v in validate_interface(doc, profile=profile)}


def without(key: str) -> Doc:
    doc = base()
    del doc[key]
    return doc


# --------------------------------------------------------------------------- rejections

REJECTED: list[Any] = [
    pytest.param([], "ASTARTE-IFACE-DOC-01", id="not-an-object"),
    *[pytest.param(without(k), "ASTARTE-IFACE-REQUIRED-01", id=f"missing-{k}")
      for k in ("interface_name", "version_major", "version_minor", "type", "ownership", "mappings")],
    pytest.param(base(interface_name=42), "ASTARTE-IFACE-NAME-01", id="name-not-string"),
    pytest.param(base(interface_name="org.hil.1Bad"), "ASTARTE-IFACE-NAME-01", id="name-label-starts-with-digit"),
    pytest.param(base(interface_name="org-x.hil.Bad"), "ASTARTE-IFACE-NAME-01", id="name-hyphen-in-first-label"),
    pytest.param(base(interface_name="org.hil.Ba-d"), "ASTARTE-IFACE-NAME-01", id="name-hyphen-in-last-label"),
    pytest.param(base(interface_name="org..Bad"), "ASTARTE-IFACE-NAME-01", id="name-empty-label"),
    pytest.param(base(interface_name="org.hil.Bad "), "ASTARTE-IFACE-NAME-01", id="name-trailing-space"),
    # The schema's pattern has unescaped dots ("any character"); the server's is the intended one.
    pytest.param(base(interface_name="org_hil.Bad"), "ASTARTE-IFACE-NAME-01", id="schema-dot-slip-not-copied"),
    pytest.param(base(interface_name="o." + "a" * 127), "ASTARTE-IFACE-NAME-02", id="name-129-chars"),
    pytest.param(base(interface_name="control"), "ASTARTE-IFACE-NAME-03", id="name-reserved"),
    pytest.param(base(interface_name="Values"), "ASTARTE-IFACE-NAME-04", id="name-not-qualified"),
    pytest.param(base(version_major=-1), "ASTARTE-IFACE-VERSION-01", id="major-negative"),
    pytest.param(base(version_minor=1.0), "ASTARTE-IFACE-VERSION-01", id="minor-float"),
    pytest.param(base(version_major=True), "ASTARTE-IFACE-VERSION-01", id="major-boolean"),
    pytest.param(base(version_major="1"), "ASTARTE-IFACE-VERSION-01", id="major-string"),
    pytest.param(base(version_major=0, version_minor=0), "ASTARTE-IFACE-VERSION-02", id="version-0.0"),
    pytest.param(base(type="property"), "ASTARTE-IFACE-TYPE-01", id="type-unknown"),
    pytest.param(base(type="Datastream"), "ASTARTE-IFACE-TYPE-01", id="type-case"),
    pytest.param(base(ownership="producer"), "ASTARTE-IFACE-OWNERSHIP-01", id="ownership-legacy-value"),
    pytest.param(base(ownership=1), "ASTARTE-IFACE-OWNERSHIP-01", id="ownership-not-string"),
    pytest.param(base(aggregation="aggregate"), "ASTARTE-IFACE-AGGREGATION-01", id="aggregation-unknown"),
    pytest.param(properties(m("/a/b")) | {"aggregation": "object"}, "ASTARTE-IFACE-AGGREGATION-02",
                 id="properties-object"),
    pytest.param(base(description="x" * 1001), "ASTARTE-IFACE-TEXT-01", id="description-too-long"),
    pytest.param(base(doc=["x"]), "ASTARTE-IFACE-TEXT-01", id="doc-not-string"),
    pytest.param(base(mappings={}), "ASTARTE-IFACE-MAPPINGS-01", id="mappings-not-array"),
    pytest.param(base(mappings=[]), "ASTARTE-IFACE-MAPPINGS-01", id="mappings-empty"),
    pytest.param(base(mappings=[m(f"/m{i}") for i in range(1025)]), "ASTARTE-IFACE-MAPPINGS-01",
                 id="mappings-1025"),
    pytest.param(base(mappings=["/a"]), "ASTARTE-IFACE-MAPPING-REQUIRED-01", id="mapping-not-object"),
    pytest.param(base(mappings=[{"type": "integer"}]), "ASTARTE-IFACE-MAPPING-REQUIRED-01", id="mapping-no-endpoint"),
    pytest.param(base(mappings=[{"endpoint": "/a"}]), "ASTARTE-IFACE-MAPPING-REQUIRED-01", id="mapping-no-type"),
    pytest.param(base(mappings=[m("a/b")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-no-leading-slash"),
    pytest.param(base(mappings=[m("/a/")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-trailing-slash"),
    pytest.param(base(mappings=[m("/a//b")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-empty-level"),
    pytest.param(base(mappings=[m("/1a")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-level-digit"),
    pytest.param(base(mappings=[m("/a-b")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-hyphen"),
    pytest.param(base(mappings=[m("/%{1x}")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-bad-parameter-name"),
    pytest.param(base(mappings=[m("/x%{p}")]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-parameter-in-level"),
    pytest.param(base(mappings=[m("/a" * 65)]), "ASTARTE-IFACE-ENDPOINT-01", id="endpoint-65-levels"),
    pytest.param(base(mappings=[m("/")]), "ASTARTE-IFACE-ENDPOINT-02", id="endpoint-1-char"),
    pytest.param(base(mappings=[m("/" + "a" * 256)]), "ASTARTE-IFACE-ENDPOINT-02", id="endpoint-257-chars"),
    pytest.param(base(mappings=[m("/Value"), m("/value")]), "ASTARTE-IFACE-ENDPOINT-03", id="endpoints-differ-by-case"),
    pytest.param(base(mappings=[m("/%{a}/x"), m("/%{b}/x")]), "ASTARTE-IFACE-ENDPOINT-03",
                 id="endpoints-differ-by-parameter-name"),
    pytest.param(base(mappings=[m("/%{itemIndex}/value"), m("/myPath/value")]), "ASTARTE-IFACE-ENDPOINT-04",
                 id="parameter-vs-literal"),
    pytest.param(base(mappings=[m("/%{a}/x"), m("/y/%{b}")]), "ASTARTE-IFACE-ENDPOINT-04", id="crossed-parameters"),
    pytest.param(base(mappings=[m("/some/thing"), m("/some/%{param}/value")]), "ASTARTE-IFACE-ENDPOINT-05",
                 id="prefix-doc-example"),
    pytest.param(base(mappings=[m("/a/b/c"), m("/a/b")]), "ASTARTE-IFACE-ENDPOINT-05", id="prefix-literal"),
    pytest.param(base(mappings=[m("/%{p}"), m("/b/c")]), "ASTARTE-IFACE-ENDPOINT-05", id="prefix-parameter"),
    pytest.param(base(mappings=[m("/a", "int")]), "ASTARTE-IFACE-MAPPING-TYPE-01", id="type-unknown"),
    pytest.param(base(mappings=[m("/a", reliability="reliable")]), "ASTARTE-IFACE-MAPPING-RELIABILITY-01",
                 id="reliability-unknown"),
    pytest.param(base(mappings=[m("/a", retention="forever")]), "ASTARTE-IFACE-MAPPING-RETENTION-01",
                 id="retention-unknown"),
    pytest.param(base(mappings=[m("/a", expiry=-1)]), "ASTARTE-IFACE-MAPPING-EXPIRY-01", id="expiry-negative"),
    pytest.param(base(mappings=[m("/a", expiry="60")]), "ASTARTE-IFACE-MAPPING-EXPIRY-01", id="expiry-string"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="ttl")]), "ASTARTE-IFACE-MAPPING-DBRETENTION-01",
                 id="db-policy-unknown"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="use_ttl", database_retention_ttl=59)]),
                 "ASTARTE-IFACE-MAPPING-DBRETENTION-02", id="ttl-59"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="use_ttl", database_retention_ttl=630720000)]),
                 "ASTARTE-IFACE-MAPPING-DBRETENTION-02", id="ttl-20-years"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="use_ttl")]), "ASTARTE-IFACE-MAPPING-DBRETENTION-03",
                 id="use-ttl-without-ttl"),
    pytest.param(base(mappings=[m("/a", database_retention_ttl=120)]), "ASTARTE-IFACE-MAPPING-DBRETENTION-03",
                 id="ttl-without-use-ttl"),
    pytest.param(properties(m("/a", allow_unset="yes")), "ASTARTE-IFACE-MAPPING-FLAGS-01", id="allow-unset-string"),
    pytest.param(base(mappings=[m("/a", explicit_timestamp=1)]), "ASTARTE-IFACE-MAPPING-FLAGS-01",
                 id="explicit-timestamp-int"),
    pytest.param(base(mappings=[m("/a", doc="d" * 100_001)]), "ASTARTE-IFACE-MAPPING-TEXT-01", id="mapping-doc-long"),
    *[pytest.param(properties(m("/a", **{key: value})), "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01",
                   id=f"properties-with-{key}")
      for key, value in (("reliability", "unique"), ("retention", "stored"), ("expiry", 10),
                         ("explicit_timestamp", True), ("database_retention_policy", "use_ttl"),
                         ("database_retention_ttl", 120))],
    pytest.param(base(mappings=[m("/a", allow_unset=True)]), "ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01",
                 id="datastream-with-allow-unset"),
    pytest.param(base(mappings=[m("/a/b", required=True)]), "ASTARTE-IFACE-MAPPING-REQUIRED-FLAG-01",
                 id="required-on-individual"),
    pytest.param(obj(m("/a/x"), m("/b/y")), "ASTARTE-IFACE-OBJECT-01", id="object-different-parents"),
    pytest.param(obj(m("/a/x"), m("/a/b/y")), "ASTARTE-IFACE-OBJECT-01", id="object-different-depths"),
    pytest.param(obj(m("/%{p}/x"), m("/%{q}/y")), "ASTARTE-IFACE-OBJECT-01", id="object-parameter-names-differ"),
    pytest.param(obj(m("/%{p}/x"), m("/a/y")), "ASTARTE-IFACE-OBJECT-01", id="object-parameter-counts-differ"),
    *[pytest.param(obj(m("/a/x"), m("/a/y", **{key: value})), "ASTARTE-IFACE-OBJECT-02", id=f"object-mixed-{key}")
      for key, value in (("reliability", "unique"), ("retention", "stored"), ("expiry", 5),
                         ("explicit_timestamp", True),
                         ("database_retention_policy", "use_ttl"))],
]


@pytest.mark.parametrize(("doc", "expected"), REJECTED)
def test_each_rule_rejects_what_it_names(doc: Any, expected: str) -> None:
    assert expected in rule_ids(doc)


# --------------------------------------------------------------------------- acceptances

ACCEPTED: list[Any] = [
    pytest.param(base(), id="baseline"),
    pytest.param(base(interface_name="o." + "A" * 126), id="name-128-chars"),
    pytest.param(base(interface_name="org.astarte-platform.Values"), id="name-hyphen-inside"),
    pytest.param(base(interface_name="com.a1.b-2.C3"), id="name-digits-and-hyphens"),
    pytest.param(base(version_major=0, version_minor=1), id="version-0.1"),
    pytest.param(base(aggregation="individual"), id="aggregation-individual-explicit"),
    pytest.param(base(mappings=[m(f"/m{i}") for i in range(1024)]), id="mappings-1024"),
    pytest.param(base(mappings=[m("/a" * 64)]), id="endpoint-64-levels"),
    pytest.param(base(mappings=[m("/_x/%{_p1}/y_2")]), id="endpoint-underscores"),
    pytest.param(base(mappings=[m("/" + "a" * 255)]), id="endpoint-256-chars"),
    pytest.param(base(mappings=[m("/%{a}/x"), m("/b/y")]), id="parameter-and-literal-never-meet"),
    pytest.param(base(mappings=[m("/a/b"), m("/a/c"), m("/d")]), id="siblings"),
    pytest.param(base(mappings=[m("/A/%{p}"), m("/a/x")]), id="case-differs-only-in-literal-level"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="use_ttl", database_retention_ttl=60)]), id="ttl-60"),
    pytest.param(base(mappings=[m("/a", database_retention_policy="use_ttl", database_retention_ttl=630719999)]),
                 id="ttl-max"),
    pytest.param(base(mappings=[m("/a", allow_unset=False)]), id="datastream-allow-unset-false"),
    # mapping.ex only sees values that differ from the default: these are not "must be blank".
    pytest.param(properties(m("/a", reliability="unreliable", retention="discard", expiry=0,
                              explicit_timestamp=False, database_retention_policy="no_ttl")),
                 id="properties-with-default-datastream-fields"),
    pytest.param(properties(m("/a", allow_unset=True)), id="properties-allow-unset"),
    pytest.param(obj(m("/a/x", required=True), m("/a/y")), id="object-required"),
    pytest.param(obj(m("/%{p}/x", reliability="guaranteed"), m("/%{p}/y", reliability="guaranteed")),
                 id="object-parametric-shared-attributes"),
    pytest.param(obj(m("/x"), m("/y")), id="object-depth-1-deprecated-but-valid"),
    pytest.param(base(extra_key="additional properties are allowed"), id="unknown-key"),
    pytest.param(base(mappings=[m("/a", encrypted=False, description="d", doc="x")]), id="mapping-optional-fields"),
]


@pytest.mark.parametrize("doc", ACCEPTED)
def test_valid_definitions_are_accepted(doc: Doc) -> None:
    assert validate_interface(doc) == []
    assert validate_interface(doc, profile=Profile.SERVER) == []


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(obj(m("/x"), m("/y")), "ASTARTE-IFACE-OBJECT-03", id="depth-1-object"),
        pytest.param(base(mappings=[m("/a/timestamp")]), "ASTARTE-IFACE-ENDPOINT-06", id="timestamp-endpoint"),
        pytest.param(base(interface_name="Org.hil.Sample"), "ASTARTE-IFACE-NAME-06", id="upper-case-domain"),
        pytest.param(base(interface_name="org.hil.sample"), "ASTARTE-IFACE-NAME-06", id="lower-case-last-label"),
    ],
)
def test_should_rules_are_advisories_not_errors(doc: Doc, expected: str) -> None:
    assert validate_interface(doc) == []
    assert expected in {v.rule_id for v in interface_advisories(doc)}


def test_baseline_has_no_advisories() -> None:
    assert interface_advisories(base()) == []


# --------------------------------------------------------------------------- profiles


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({**without("ownership"), "quality": "producer"}, id="quality-producer"),
        pytest.param(base(ownership="consumer"), id="ownership-consumer"),
        pytest.param(base(mappings=[{"path": "/a", "type": "integer"}]), id="mapping-path"),
    ],
)
def test_legacy_aliases_only_under_the_server_profile(doc: Doc) -> None:
    assert validate_interface(doc, profile=Profile.SERVER) == []
    assert validate_interface(doc) != []


def test_legacy_aggregate_true_means_object_only_to_the_server() -> None:
    doc = {**base(aggregate=True), "mappings": [m("/a/x"), m("/a/b")]}
    assert parse_interface(doc, profile=Profile.SERVER).aggregation is Aggregation.OBJECT
    assert parse_interface(doc).aggregation is Aggregation.INDIVIDUAL  # an unknown key to the schema


def test_legacy_quality_parses_as_ownership() -> None:
    doc = {**without("ownership"), "quality": "consumer"}
    assert parse_interface(doc, profile=Profile.SERVER).ownership == "server"


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(base(interface_name="Values"), id="unqualified-name"),
        pytest.param(base(mappings=[m("/a/b", required=True)]), id="required-outside-object"),
    ],
)
def test_documented_rules_the_server_does_not_enforce(doc: Doc) -> None:
    assert validate_interface(doc) != []
    assert validate_interface(doc, profile=Profile.SERVER) == []


# --------------------------------------------------------------------------- parsing


def test_parse_fills_defaults_and_keeps_order() -> None:
    interface = parse_interface(base(mappings=[m("/b"), m("/a", "doublearray", reliability="unique")]))
    first, second = interface.mappings
    assert [first.endpoint, second.endpoint] == ["/b", "/a"]
    assert first.reliability is Reliability.UNRELIABLE and first.expiry == 0 and not first.allow_unset
    assert second.type is ValueType.DOUBLEARRAY and second.type.scalar is ValueType.DOUBLE
    assert interface.introspection_entry == "org.hil.test.Sample:1:0"


def test_parse_raises_a_config_error_listing_every_violation() -> None:
    doc = base(version_major=-1, type="nope")
    with pytest.raises(InvalidInterface) as caught:
        parse_interface(doc, source="x.json")
    assert isinstance(caught.value, ConfigError)
    assert {v.rule_id for v in caught.value.violations} == {"ASTARTE-IFACE-VERSION-01", "ASTARTE-IFACE-TYPE-01"}
    assert str(caught.value).startswith("x.json: invalid interface:") and "\n" not in str(caught.value)


def test_load_interface_reports_bad_json_as_a_violation(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(InvalidInterface) as caught:
        load_interface(path)
    assert [v.rule_id for v in caught.value.violations] == ["ASTARTE-IFACE-DOC-01"]


def test_violation_paths_point_at_the_field() -> None:
    doc = base(mappings=[m("/a"), m("/b", "nope")])
    assert [(v.json_path, v.rule_id) for v in validate_interface(doc)] == [
        ("$.mappings[1].type", "ASTARTE-IFACE-MAPPING-TYPE-01")
    ]


@pytest.mark.parametrize(
    ("a", "b", "collide"),
    [
        ("org.hil.MyValues", "org.hil.Myvalues", True),
        ("org.astarte-platform.Values", "org.astarteplatform.Values", True),
        ("org.hil.Values", "org.hil.Values", False),
        ("org.hil.Values", "org.hil.Value", False),
    ],
)
def test_name_collisions(a: str, b: str, collide: bool) -> None:
    assert names_collide(a, b) is collide


def test_validation_does_not_modify_the_document() -> None:
    doc = obj(m("/a/x"), m("/a/y"))
    before = copy.deepcopy(doc)
    validate_interface(doc)
    parse_interface(doc)
    assert doc == before


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_interface_is_valid_and_named_after_its_file(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert validate_interface(doc) == [] and interface_advisories(doc) == []
    assert load_interface(path).name == path.stem


def test_shipped_interfaces_cover_what_tests_need() -> None:
    interfaces = [load_interface(p) for p in SHIPPED]
    by_name = {i.name: i for i in interfaces}
    for name in ("DeviceDatastream", "ServerDatastream", "DeviceProperties", "ServerProperties",
                 "DeviceAggregate", "ServerAggregate"):
        types = {mapping.type for mapping in by_name[f"org.hil.test.{name}"].mappings}
        assert types == set(ValueType), name
    assert {(i.ownership.value, i.type.value, i.aggregation.value) for i in interfaces} >= {
        ("device", "datastream", "individual"), ("server", "datastream", "individual"),
        ("device", "datastream", "object"), ("server", "datastream", "object"),
        ("device", "properties", "individual"), ("server", "properties", "individual"),
    }
    mappings = [mapping for i in interfaces for mapping in i.mappings]
    assert {mapping.reliability for mapping in mappings} == set(Reliability)
    assert any(mapping.explicit_timestamp for mapping in mappings)
    assert {mapping.allow_unset for i in interfaces if i.is_properties for mapping in i.mappings} == {True, False}
    assert any(mapping.template.parameters for i in interfaces if not i.is_object for mapping in i.mappings)
    assert any(mapping.template.parameters for i in interfaces if i.is_object for mapping in i.mappings)


def test_systematic_endpoints_are_named_after_their_type() -> None:
    for name in ("DeviceDatastream", "ServerDatastream"):
        interface = load_interface(ROOT / "interfaces" / f"org.hil.test.{name}.json")
        for value_type in ValueType:
            assert interface.mapping(f"/{value_type}").type is value_type


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("bad-name", "ASTARTE-IFACE-NAME-01"),
        ("zero-version", "ASTARTE-IFACE-VERSION-02"),
        ("properties-object", "ASTARTE-IFACE-AGGREGATION-02"),
        ("ambiguous-endpoints", "ASTARTE-IFACE-ENDPOINT-04"),
        ("prefix-endpoints", "ASTARTE-IFACE-ENDPOINT-05"),
        ("object-different-parents", "ASTARTE-IFACE-OBJECT-01"),
        ("reliability-on-properties", "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01"),
        ("no-mappings", "ASTARTE-IFACE-MAPPINGS-01"),
        ("not-json", "ASTARTE-IFACE-DOC-01"),
    ],
)
def test_invalid_samples_fail_with_their_rule(stem: str, expected: str) -> None:
    with pytest.raises(InvalidInterface) as caught:
        load_interface(INVALID / f"{stem}.json")
    assert expected in {v.rule_id for v in caught.value.violations}


def test_every_invalid_sample_has_a_case() -> None:
    assert len(list(INVALID.glob("*.json"))) == 9


# --------------------------------------------------------------------------- rules <-> catalog


def test_every_rule_is_a_catalog_requirement_with_the_same_level_and_title() -> None:
    registry = default_registry()
    for rule in RULES.values():
        requirement = registry.get(rule.id)
        assert (requirement.level, requirement.title) == (rule.level, rule.title), rule.id


def test_every_catalog_entry_of_our_files_is_a_rule() -> None:
    ours = [r for r in default_registry() if r.id.startswith(("ASTARTE-IFACE-", "ASTARTE-PAYLOAD-", "ASTARTE-QOS-"))]
    assert {r.id for r in ours} == set(RULES)


def _rule_ids_in_source() -> set[str]:
    import re

    source = "".join(p.read_text() for p in (ROOT / "harness" / "oracle").glob("*.py") if p.name != "rules.py")
    return set(re.findall(r'"(ASTARTE-(?:IFACE|PAYLOAD|QOS)-[A-Z0-9-]+-\d\d)"', source))


def test_every_rule_id_the_code_names_exists() -> None:
    assert _rule_ids_in_source() <= set(RULES)


def _unused_rules() -> set[str]:
    # Rules that are statements about the realm or server rather than one document check.
    return {"ASTARTE-IFACE-NAME-05", "ASTARTE-IFACE-LEGACY-01", "ASTARTE-PAYLOAD-UNSET-01",
            "ASTARTE-PAYLOAD-SERVER-01", "ASTARTE-QOS-PROPERTIES-01", "ASTARTE-QOS-RELIABILITY-01",
            "ASTARTE-QOS-OBJECT-01"}


def test_every_checkable_rule_has_a_check() -> None:
    assert set(RULES) - _rule_ids_in_source() <= _unused_rules()

