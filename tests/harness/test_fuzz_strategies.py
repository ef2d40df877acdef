"""The fuzzing strategies produce what they claim, judged by the oracle.

Valid interfaces pass the oracle, each near miss breaks exactly its labelled rule (and every
breakable rule is covered), concrete paths resolve and near-miss paths do not, and generated
send calls get the expectation their family promises.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hil.fixtures.strategies import (
    NEAR_MISS_RULES,
    NearMiss,
    concrete_paths,
    invalid_values,
    near_miss_interfaces,
    near_miss_paths,
    send_requests,
    valid_interfaces,
    valid_values,
)
from hil.fuzzing.requests import Expectation, WrongPythonType, encode_python_value, judge_request
from hil.oracle import RULES, ValueType, check_value, parse_interface, resolve, validate_interface


@settings(max_examples=300)
@given(doc=valid_interfaces())
def test_every_generated_valid_interface_passes_the_oracle(doc: dict[str, Any]) -> None:
    assert validate_interface(doc) == []


@settings(max_examples=400)
@given(near=near_miss_interfaces())
def test_every_near_miss_breaks_exactly_its_labelled_rule(near: NearMiss) -> None:
    assert {v.rule_id for v in validate_interface(near.doc)} == {near.rule}, near.change


def test_near_misses_cover_every_must_rule_that_can_be_broken_alone() -> None:
    interface_musts = {r.id for r in RULES.values() if r.id.startswith("ASTARTE-IFACE-") and r.level == "MUST"}
    not_alone = {"ASTARTE-IFACE-NAME-03", "ASTARTE-IFACE-NAME-05"}  # see hil.fixtures.strategies.interfaces
    assert set(NEAR_MISS_RULES) == interface_musts - not_alone


@given(rule=st.sampled_from(NEAR_MISS_RULES), data=st.data())
@settings(max_examples=len(NEAR_MISS_RULES) * 3)
def test_each_rule_can_be_asked_for(rule: str, data: st.DataObject) -> None:
    near = data.draw(near_miss_interfaces(rules=(rule,)))
    assert near.rule == rule


@settings(max_examples=150)
@given(data=st.data(), doc=valid_interfaces())
def test_concrete_paths_resolve_and_near_miss_paths_do_not(data: st.DataObject, doc: dict[str, Any]) -> None:
    interface = parse_interface(doc)
    assert resolve(interface, data.draw(concrete_paths(interface))).ok
    assert not resolve(interface, data.draw(near_miss_paths(interface))).ok


@settings(max_examples=200)
@given(data=st.data(), value_type=st.sampled_from(list(ValueType)))
def test_valid_values_pass_and_invalid_values_fail(data: st.DataObject, value_type: ValueType) -> None:
    good = encode_python_value(value_type, data.draw(valid_values(value_type)), [])
    assert check_value(value_type, good) == []
    bad = data.draw(invalid_values(value_type))
    try:
        encoded = encode_python_value(value_type, bad, [])
    except WrongPythonType:
        return  # a wrong Python type has no encoding: rejected
    assert check_value(value_type, encoded), bad


@settings(max_examples=300)
@given(data=st.data(), doc=valid_interfaces(ownership="device", max_mappings=3),
       kind=st.sampled_from(["valid", "invalid"]))
def test_send_requests_get_the_expectation_of_their_family(data: st.DataObject, doc: dict[str, Any], kind: str) -> None:
    interface = parse_interface(doc)
    request = data.draw(send_requests(interface, kinds=(kind,)))
    expected = Expectation.ACCEPT if kind == "valid" else Expectation.REJECT
    assert judge_request(interface, request).expectation is expected, request
