"""Property 1, fuzzed: astarte-device-sdk loads an interface iff the oracle says it is valid.

The SDK is driven as an application drives it (``DeviceMqtt.add_interface_from_json`` on a
device that is never connected); the verdict comes from :func:`hil.oracle.validate_interface`.
Recorded findings pass the generic properties (they are Hypothesis events) and each keeps a strict
expected-failure test below with its minimal example, so a fixed SDK turns CI red (XPASS) and the
entry can be removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import Phase, example, given, settings

from hil.fixtures.fuzzing import fuzz_check, run_property
from hil.fixtures.strategies import NEAR_MISS_RULES, NearMiss, near_miss_interfaces, valid_interfaces
from hil.fuzzing.astarte_sdk import OfflineDevice, offline_device
from hil.fuzzing.known import known_finding
from hil.fuzzing.properties import INTERFACE_ACCEPTANCE, Disagreement, check_interface_acceptance

pytestmark = pytest.mark.sdk_has("astarte.device", "DeviceMqtt")


@pytest.fixture(scope="module")
def offline_sdk() -> Iterator[OfflineDevice]:
    with offline_device() as device:
        yield device


@pytest.mark.requirement("ASTARTE-IFACE-REQUIRED-01", "ASTARTE-IFACE-MAPPINGS-01", "ASTARTE-IFACE-ENDPOINT-01")
def test_sdk_loads_every_valid_interface(offline_sdk: OfflineDevice, request: pytest.FixtureRequest) -> None:
    def run(doc: dict[str, Any]) -> None:
        fuzz_check(check_interface_acceptance, offline_sdk, doc)

    run_property(given(doc=valid_interfaces()), run, property_name=INTERFACE_ACCEPTANCE, nodeid=request.node.nodeid)


@pytest.mark.requirement(*NEAR_MISS_RULES)
def test_sdk_refuses_every_near_miss(offline_sdk: OfflineDevice, request: pytest.FixtureRequest) -> None:
    def run(near: NearMiss) -> None:
        fuzz_check(check_interface_acceptance, offline_sdk, near.doc)

    run_property(given(near=near_miss_interfaces()), run, property_name=INTERFACE_ACCEPTANCE, nodeid=request.node.nodeid)


# ------------------------------------------------------------------------------- recorded findings


def _doc(**changes: Any) -> dict[str, Any]:
    """A minimal valid interface with ``changes`` applied (``mappings`` replaces the one mapping)."""
    doc: dict[str, Any] = {"interface_name": "a.A", "version_major": 1, "version_minor": 0, "type": "datastream",
                           "ownership": "device", "mappings": [{"endpoint": "/a", "type": "integer"}]}
    doc.update(changes)
    return doc


def _finding(finding_id: str, doc: dict[str, Any]) -> Any:
    """A strict expected-failure test replaying ``doc`` (the minimal example) for a known finding."""
    finding = known_finding(finding_id)

    @pytest.mark.finding(finding.requirement, reason=finding.reason, sdk=finding.sdk,
                         raises=Disagreement)
    @settings(phases=[Phase.explicit], database=None)
    @given(doc=valid_interfaces())  # never drawn from: only the explicit example runs
    @example(doc=doc)
    def test(offline_sdk: OfflineDevice, doc: dict[str, Any]) -> None:
        try:
            check_interface_acceptance(offline_sdk, doc)
        except Disagreement as disagreement:
            assert disagreement.known is not None and disagreement.known.id == finding_id, disagreement
            raise

    test.__doc__ = f"Finding {finding_id}: {finding.reason}"
    return test


_LONG_NAME = "a." + "A" * 127  # 129 characters
test_finding_iface_name_too_long = _finding("iface-name-too-long", _doc(interface_name=_LONG_NAME))
test_finding_iface_name_not_qualified = _finding("iface-name-not-qualified", _doc(interface_name="A"))
test_finding_iface_negative_version = _finding("iface-negative-version", _doc(version_major=-1))
test_finding_iface_long_description = _finding("iface-long-description", _doc(description="d" * 1001))
test_finding_iface_too_many_mappings = _finding(
    "iface-too-many-mappings", _doc(mappings=[{"endpoint": f"/m{i}", "type": "integer"} for i in range(1025)]))
test_finding_iface_long_endpoint = _finding(
    "iface-long-endpoint", _doc(mappings=[{"endpoint": "/" + "a" * 256, "type": "integer"}]))
test_finding_iface_equivalent_endpoints = _finding(
    "iface-equivalent-endpoints",
    _doc(mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/A", "type": "integer"}]))
test_finding_iface_ambiguous_endpoints = _finding(
    "iface-ambiguous-endpoints",
    _doc(mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/%{p}", "type": "integer"}]))
test_finding_iface_prefix_endpoints = _finding(
    "iface-prefix-endpoints",
    _doc(mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/a/b", "type": "integer"}]))
test_finding_iface_bad_retention = _finding(
    "iface-bad-retention", _doc(mappings=[{"endpoint": "/a", "type": "integer", "retention": "forever"}]))
test_finding_iface_bad_expiry = _finding(
    "iface-bad-expiry", _doc(mappings=[{"endpoint": "/a", "type": "integer", "expiry": -1}]))
test_finding_iface_bad_db_retention_policy = _finding(
    "iface-bad-db-retention-policy",
    _doc(mappings=[{"endpoint": "/a", "type": "integer", "database_retention_policy": "ttl"}]))
test_finding_iface_bad_db_retention_ttl = _finding(
    "iface-bad-db-retention-ttl",
    _doc(mappings=[{"endpoint": "/a", "type": "integer", "database_retention_policy": "use_ttl",
                    "database_retention_ttl": 59}]))
test_finding_iface_db_retention_mismatch = _finding(
    "iface-db-retention-mismatch",
    _doc(mappings=[{"endpoint": "/a", "type": "integer", "database_retention_ttl": 120}]))
test_finding_iface_non_boolean_flags = _finding(
    "iface-non-boolean-flags", _doc(mappings=[{"endpoint": "/a", "type": "integer", "encrypted": "yes"}]))
test_finding_iface_long_mapping_description = _finding(
    "iface-long-mapping-description",
    _doc(mappings=[{"endpoint": "/a", "type": "integer", "description": "d" * 1001}]))
test_finding_iface_datastream_fields_on_properties = _finding(
    "iface-datastream-fields-on-properties",
    _doc(type="properties", mappings=[{"endpoint": "/a", "type": "integer", "retention": "stored"}]))
test_finding_iface_required_outside_object = _finding(
    "iface-required-outside-object", _doc(mappings=[{"endpoint": "/a", "type": "integer", "required": True}]))
test_finding_iface_object_different_parents = _finding(
    "iface-object-different-parents",
    _doc(aggregation="object", mappings=[{"endpoint": "/a/b", "type": "integer"},
                                         {"endpoint": "/c/d", "type": "integer"}]))
test_finding_iface_object_different_attributes = _finding(
    "iface-object-different-attributes",
    _doc(aggregation="object", mappings=[{"endpoint": "/a/b", "type": "integer"},
                                         {"endpoint": "/a/c", "type": "integer", "retention": "stored"}]))
test_finding_iface_refuses_default_datastream_fields_on_properties = _finding(
    "iface-refuses-default-datastream-fields-on-properties",
    _doc(type="properties", mappings=[{"endpoint": "/a", "type": "integer", "explicit_timestamp": False}]))
test_finding_iface_refuses_allow_unset_false_on_datastream = _finding(
    "iface-refuses-allow-unset-false-on-datastream",
    _doc(mappings=[{"endpoint": "/a", "type": "integer", "allow_unset": False}]))
