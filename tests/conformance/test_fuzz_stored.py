"""Property 4 end to end: what the realm stores is what the SDK was given, type and value.

Per transport: the real ``DeviceMqtt`` paired with the simulated Astarte and connected through the
harness broker, or the real ``DeviceGrpc`` attached to the simulated Message Hub (whose own
Astarte device stores what the node sends, so the read-back is of the hub's device); every call the oracle accepts (or leaves to the API) that the SDK publishes and the realm
stores is read back through the AppEngine API (the public one, so the check means the same
against a real Astarte) and compared with the value passed, in the documented rendering of its
type (see :func:`hil.fuzzing.properties.check_send_stored`). The explicit examples pin the
edges: years below 1000, sub-millisecond instants, ``-0.0``, 64-bit integers, objects, unsets.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hil.fixtures.plugin import hil_requires
from hil.targets.protocols import AppEngine, AstartePairing, RealmMessageLog
from hypothesis import example, given
from hypothesis import strategies as st

from hil.fixtures.fuzz_devices import DEVICE_DOCS
from hil.fixtures.fuzzing import fuzz_check, run_property
from hil.fixtures.strategies import send_requests
from hil.fuzzing.astarte_sdk import ConnectedDevice
from hil.fuzzing.properties import SEND_STORED, SEND_STORED_GRPC, check_send_stored
from hil.fuzzing.requests import SendRequest
from hil.oracle import parse_interface

pytestmark = [hil_requires(AstartePairing, AppEngine, RealmMessageLog),  # judged on the realm's raw messages

              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BY_NAME = {doc["interface_name"]: doc for doc in DEVICE_DOCS}
#: Each example is a round trip plus an AppEngine read.
CI_EXAMPLES = {"mqtt": 30, "grpc": 25}

_DS = "org.hil.test.DeviceDatastream"
_TS = "org.hil.test.DeviceTimestamped"
_PROPS = "org.hil.test.DeviceProperties"
_AGG = "org.hil.test.DeviceAggregate"
_UTC = dt.UTC


@st.composite
def _accepted_call(draw: st.DrawFn) -> tuple[dict[str, Any], SendRequest]:
    doc = draw(st.sampled_from(DEVICE_DOCS))
    return doc, draw(send_requests(parse_interface(doc), kinds=("valid", "lenient")))


def _call(request: SendRequest) -> tuple[dict[str, Any], SendRequest]:
    return BY_NAME[request.interface], request


_AGG_VALUE = {"double": -0.0, "integer": -(2**31) + 1, "boolean": True, "longinteger": 2**62, "string": "é",
              "binaryblob": b"\x00\xff", "datetime": dt.datetime(1, 1, 2, tzinfo=_UTC), "doublearray": [1.5],
              "integerarray": [], "booleanarray": [False], "longintegerarray": [-(2**63)], "stringarray": [""],
              "binaryblobarray": [b""], "datetimearray": [dt.datetime(2024, 2, 29, 12, 0, 0, 999_999, tzinfo=_UTC)]}


@pytest.mark.requirement("ASTARTE-MQTT-PROPERTIES-01", "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-MQTT-TIMESTAMP-04",
                         "ASTARTE-APPENGINE-READ-03", "ASTARTE-APPENGINE-READ-05", "ASTARTE-APPENGINE-READ-08",
                         "ASTARTE-APPENGINE-READ-09", "ASTARTE-PAYLOAD-V-01")
def test_what_the_realm_stores_is_what_was_sent(connected_sdk: ConnectedDevice, request: pytest.FixtureRequest) -> None:
    # A year below 1000 must render zero-padded (the simulator once wrote "1-01-02T...").
    @example(case=_call(SendRequest("send", _PROPS, "/datetime", dt.datetime(1, 1, 2, tzinfo=_UTC))))
    # Sub-millisecond instants: the SDK rounds to the millisecond, which the spec allows.
    @example(case=_call(SendRequest("send", _DS, "/datetime", dt.datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=_UTC))))
    @example(case=_call(SendRequest("send", _TS, "/double", -0.0, dt.datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=_UTC))))
    @example(case=_call(SendRequest("send", _DS, "/longinteger", 2**63 - 1)))
    @example(case=_call(SendRequest("send", _PROPS, "/longinteger", -(2**63))))
    @example(case=_call(SendRequest("send", _DS, "/binaryblobarray", [b"", b"\x00", b"\xfb\xff"])))
    @example(case=_call(SendRequest("send_aggregate", _AGG, "/s1", _AGG_VALUE, dt.datetime(9999, 12, 30, tzinfo=_UTC))))
    @example(case=_call(SendRequest("unset", _PROPS, "/unsettable/string")))
    # Astarte reads {"v": <empty binary>} as an unset: the property must read {} afterwards.
    @example(case=_call(SendRequest("send", _PROPS, "/binaryblob", b"")))
    def run(case: tuple[dict[str, Any], SendRequest]) -> None:
        fuzz_check(check_send_stored, connected_sdk, *case)

    name = SEND_STORED_GRPC if connected_sdk.transport == "grpc" else SEND_STORED
    stats = run_property(given(case=_accepted_call()), run, property_name=name, nodeid=request.node.nodeid,
                         ci_examples=CI_EXAMPLES[connected_sdk.transport])
    # The property must have judged stored values, not skipped every call.
    assert stats.requirements["ASTARTE-APPENGINE-READ-09"] > 0 and stats.requirements["ASTARTE-MQTT-PROPERTIES-01"] > 0
