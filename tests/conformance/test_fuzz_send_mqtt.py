"""Properties 2, 3 and 4 (wire), fuzzed end to end with the real SDK, per transport.

``mqtt``: a ``DeviceMqtt`` paired with the simulated Astarte and connected through the harness
broker. ``grpc``: a ``DeviceGrpc`` node attached to the simulated Message Hub, whose own Astarte
device publishes what the node sends (so a gRPC disagreement is the SDK's ``Send`` or the hub's
doing). Either way the realm records every raw message of the device. For each call: if the oracle accepts it the SDK must take it;
whatever the SDK publishes must be a message the oracle accepts, at the oracle's QoS, carrying the
value passed (see :func:`hil.fuzzing.properties.check_send_wire`). Calls use the shipped
device-owned interfaces (``interfaces/``), which the realm has installed.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from hil.fixtures.fuzz_devices import DEVICE_DOCS
from hil.fixtures.fuzzing import fuzz_check, run_property
from hil.fixtures.strategies import send_requests
from hil.fuzzing.astarte_grpc import ConnectedGrpcDevice
from hil.fuzzing.astarte_sdk import ConnectedDevice
from hil.fuzzing.known import known_finding
from hil.fuzzing.properties import SEND_WIRE_GRPC, SEND_WIRE_MQTT, Disagreement, check_send_wire
from hil.fuzzing.requests import SendRequest
from hil.oracle import parse_interface
from hil.targets.protocols import AstartePairing, RealmMessageLog
from hil.fixtures.plugin import hil_requires

pytestmark = [hil_requires(AstartePairing, RealmMessageLog),  # judged on the realm's raw messages
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BY_NAME = {doc["interface_name"]: doc for doc in DEVICE_DOCS}
#: End-to-end examples cost a round trip (and a reconnect when the realm disconnects the device).
CI_EXAMPLES = {"mqtt": 40, "grpc": 30}


@st.composite
def _shipped_call(draw: st.DrawFn) -> tuple[dict[str, Any], SendRequest]:
    doc = draw(st.sampled_from(DEVICE_DOCS))
    return doc, draw(send_requests(parse_interface(doc)))


@pytest.mark.requirement("ASTARTE-QOS-PROPERTIES-01", "ASTARTE-QOS-RELIABILITY-01", "ASTARTE-QOS-OBJECT-01",
                         "ASTARTE-PAYLOAD-V-01", "ASTARTE-PAYLOAD-T-03", "ASTARTE-PAYLOAD-INTEGER-01",
                         "ASTARTE-PAYLOAD-DOUBLE-01", "ASTARTE-PAYLOAD-DATETIME-01", "ASTARTE-PAYLOAD-BINARYBLOB-01")
def test_what_the_sdk_publishes_is_what_the_oracle_expects(
    connected_sdk: ConnectedDevice, request: pytest.FixtureRequest
) -> None:
    def run(case: tuple[dict[str, Any], SendRequest]) -> None:
        fuzz_check(check_send_wire, connected_sdk, *case)

    name = SEND_WIRE_GRPC if connected_sdk.transport == "grpc" else SEND_WIRE_MQTT
    run_property(given(case=_shipped_call()), run, property_name=name, nodeid=request.node.nodeid,
                 ci_examples=CI_EXAMPLES[connected_sdk.transport])


# ------------------------------------------------------------------------------- recorded findings


def _finding(finding_id: str, call: SendRequest, transport: str = "mqtt") -> Any:
    """A strict expected failure: ``call`` reproduces the recorded finding on ``transport``."""
    finding = known_finding(finding_id)

    def check(device: ConnectedDevice, case: tuple[dict[str, Any], SendRequest]) -> None:
        try:
            check_send_wire(device, *case)
        except Disagreement as disagreement:
            assert disagreement.known is not None and disagreement.known.id == finding_id, disagreement
            raise

    mark = pytest.mark.finding(finding.requirement, reason=finding.reason, sdk=finding.sdk,
                                raises=Disagreement)
    explicit_only = settings(phases=[Phase.explicit], database=None)
    case = (BY_NAME[call.interface], call)
    if transport == "grpc":
        @mark
        @explicit_only
        @given(case=_shipped_call())  # never drawn from: only the explicit example runs
        @example(case=case)
        def test(grpc_sdk: ConnectedGrpcDevice, case: tuple[dict[str, Any], SendRequest]) -> None:
            check(grpc_sdk, case)
    else:
        @mark
        @explicit_only
        @given(case=_shipped_call())
        @example(case=case)
        def test(mqtt_sdk: ConnectedDevice, case: tuple[dict[str, Any], SendRequest]) -> None:  # type: ignore[misc]
            check(mqtt_sdk, case)

    test.__doc__ = f"Finding {finding_id} ({transport}): {finding.reason}"
    return test


_DS = "org.hil.test.DeviceDatastream"
test_finding_wire_longinteger_as_int32 = _finding(
    "wire-longinteger-as-int32", SendRequest("send", _DS, "/longinteger", 0))
test_finding_wire_longinteger_overflow_as_uint64 = _finding(
    "wire-longinteger-overflow-as-uint64", SendRequest("send", _DS, "/longinteger", 2**63))
test_finding_wire_unset_without_allow_unset = _finding(
    "wire-unset-without-allow-unset", SendRequest("unset", "org.hil.test.DeviceProperties", "/integer"))
test_finding_wire_oversized_string = _finding(
    "wire-oversized-string", SendRequest("send", _DS, "/string", "a" * 65_537))

# DeviceGrpc through the Message Hub: the hub publishes what the SDK hands it without a size check.
test_finding_grpc_oversized_string = _finding(
    "grpc-oversized-string", SendRequest("send", _DS, "/string", "a" * 65_537), "grpc")
test_finding_grpc_oversized_blob = _finding(
    "grpc-oversized-blob", SendRequest("send", _DS, "/binaryblob", b"\x00" * 65_536), "grpc")
test_finding_grpc_oversized_array = _finding(
    "grpc-oversized-array", SendRequest("send", _DS, "/doublearray", [0.0] * 1025), "grpc")
