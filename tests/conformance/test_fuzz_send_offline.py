"""Property 2, client-side half, fuzzed: the send API refuses exactly what the oracle refuses.

No server is needed: a ``DeviceMqtt`` that was never connected validates ``send`` and
``send_aggregate`` calls before it notices the missing connection (see
:mod:`hil.fuzzing.astarte_sdk`). Refusing a call the oracle accepts, or letting through one it
rejects, is a disagreement. What the SDK then puts on the wire (BSON types, QoS) needs a broker
and is the end-to-end half of this property.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from hil.fixtures.fuzzing import fuzz_check, run_property
from hil.fixtures.strategies import send_requests, valid_interfaces
from hil.fuzzing.astarte_sdk import OfflineDevice, offline_device
from hil.fuzzing.known import known_finding
from hil.fuzzing.properties import SEND_VALIDATION_OFFLINE, Disagreement, check_send_offline
from hil.fuzzing.requests import SendRequest
from hil.oracle import parse_interface

pytestmark = pytest.mark.sdk_has("astarte.device", "DeviceMqtt")

PAYLOAD_RULES = (
    "ASTARTE-PAYLOAD-OWNERSHIP-01", "ASTARTE-PAYLOAD-PATH-01", "ASTARTE-PAYLOAD-PATH-02", "ASTARTE-PAYLOAD-PATH-03",
    "ASTARTE-PAYLOAD-PARAM-01", "ASTARTE-PAYLOAD-DOUBLE-02", "ASTARTE-PAYLOAD-INTEGER-02",
    "ASTARTE-PAYLOAD-STRING-02", "ASTARTE-PAYLOAD-BINARYBLOB-02", "ASTARTE-PAYLOAD-ARRAY-01",
    "ASTARTE-PAYLOAD-ARRAY-02", "ASTARTE-PAYLOAD-OBJECT-02", "ASTARTE-PAYLOAD-T-02", "ASTARTE-PAYLOAD-T-03",
)


@pytest.fixture(scope="module")
def offline_sdk() -> Iterator[OfflineDevice]:
    with offline_device() as device:
        yield device


@st.composite
def _interface_and_request(draw: st.DrawFn, ownership: str | None = "device") -> tuple[dict[str, Any], SendRequest]:
    doc = draw(valid_interfaces(ownership=ownership, max_mappings=3))
    return doc, draw(send_requests(parse_interface(doc), encodable_only=True))


@pytest.mark.requirement(*PAYLOAD_RULES)
def test_send_api_refuses_exactly_what_the_oracle_refuses(
    offline_sdk: OfflineDevice, request: pytest.FixtureRequest
) -> None:
    def run(case: tuple[dict[str, Any], SendRequest]) -> None:
        fuzz_check(check_send_offline, offline_sdk, *case)

    run_property(given(case=_interface_and_request()), run, property_name=SEND_VALIDATION_OFFLINE, nodeid=request.node.nodeid)


@pytest.mark.requirement("ASTARTE-PAYLOAD-OWNERSHIP-01")
def test_send_api_refuses_server_owned_interfaces(offline_sdk: OfflineDevice, request: pytest.FixtureRequest) -> None:
    def run(case: tuple[dict[str, Any], SendRequest]) -> None:
        fuzz_check(check_send_offline, offline_sdk, *case)

    run_property(given(case=_interface_and_request(ownership="server")), run, property_name=SEND_VALIDATION_OFFLINE,
                 nodeid=request.node.nodeid)


# ------------------------------------------------------------------------------- recorded findings


def _iface(*endpoints: str, type: str = "integer", aggregation: str = "individual") -> dict[str, Any]:
    return {"interface_name": "a.A", "version_major": 1, "version_minor": 0, "type": "datastream",
            "ownership": "device", "aggregation": aggregation,
            "mappings": [{"endpoint": endpoint, "type": type} for endpoint in endpoints]}


def _finding(finding_id: str, doc: dict[str, Any], call: SendRequest) -> Any:
    """A strict expected-failure test replaying one minimal call for a known finding."""
    finding = known_finding(finding_id)

    @pytest.mark.finding(finding.requirement, reason=finding.reason, sdk=finding.sdk,
                         raises=Disagreement)
    @settings(phases=[Phase.explicit], database=None)
    @given(case=_interface_and_request())  # never drawn from: only the explicit example runs
    @example(case=(doc, call))
    def test(offline_sdk: OfflineDevice, case: tuple[dict[str, Any], SendRequest]) -> None:
        try:
            check_send_offline(offline_sdk, *case)
        except Disagreement as disagreement:
            assert disagreement.known is not None and disagreement.known.id == finding_id, disagreement
            raise

    test.__doc__ = f"Finding {finding_id}: {finding.reason}"
    return test


test_finding_send_refuses_non_identifier_parameters = _finding(
    "send-refuses-non-identifier-parameters", _iface("/%{sensor}/v"), SendRequest("send", "a.A", "/0/v", 0))
test_finding_send_refuses_partial_objects = _finding(
    "send-refuses-partial-objects", _iface("/g/a", "/g/b", aggregation="object"),
    SendRequest("send_aggregate", "a.A", "/g", {"a": 0}))
test_finding_send_refuses_depth_one_objects = _finding(
    "send-refuses-depth-one-objects", _iface("/a", aggregation="object"),
    SendRequest("send_aggregate", "a.A", "/", {"a": 0}))
test_finding_send_oversized_string = _finding(
    "send-oversized-string", _iface("/a", type="string"), SendRequest("send", "a.A", "/a", "a" * 65_537))
test_finding_send_oversized_blob = _finding(
    "send-oversized-blob", _iface("/a", type="binaryblob"), SendRequest("send", "a.A", "/a", b"\x00" * 65_536))
test_finding_send_oversized_array = _finding(
    "send-oversized-array", _iface("/a", type="integerarray"), SendRequest("send", "a.A", "/a", [0] * 1025))
test_finding_send_accepts_path_with_trailing_newline = _finding(
    "send-accepts-path-with-trailing-newline", _iface("/a"), SendRequest("send", "a.A", "/a\n", 0))
