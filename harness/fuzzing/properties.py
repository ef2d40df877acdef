"""The fuzzing properties as plain functions: oracle verdict vs what the SDK did.

Each check takes one example, drives the real SDK through its public API, asks the oracle, and
raises :class:`Disagreement` when the two differ. Pytest properties (``tests/conformance``) feed
them Hypothesis examples; ``hil replay`` feeds them the example stored in a capsule. The verdict
always comes from :mod:`harness.oracle`, never from the SDK.

Properties (names are the capsule ``property`` field):

* ``interface-acceptance``: the SDK accepts an interface iff the oracle says it is valid.
* ``send-wire-mqtt`` (properties 2, 3 and the wire half of 4, end to end): on a connected
  ``DeviceMqtt``, every call the SDK takes puts one message on the wire that the oracle accepts,
  at the oracle's QoS, carrying the value that was passed; every call the oracle accepts is taken.
* ``send-validation-offline``: a never-connected device's send API refuses exactly the calls the
  oracle refuses (see :mod:`harness.fuzzing.astarte_sdk` for why this is observable offline).
  Unsets are not decided offline: the SDK checks the connection before an unset's path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from harness.bsonwire import BsonError, decode
from harness.fuzzing.astarte_sdk import ConnectedDevice, OfflineDevice, SdkOutcome, SdkStatus, sdk_label
from harness.fuzzing.jsonvalues import from_json, to_json
from harness.fuzzing.known import KnownFinding, match_known
from harness.fuzzing.requests import Expectation, RequestJudgement, SendRequest, judge_request
from harness.oracle import expected_qos, judge_device_payload, parse_interface, qos_rule, validate_interface

__all__ = [
    "INTERFACE_ACCEPTANCE",
    "PROPERTIES",
    "SEND_VALIDATION_OFFLINE",
    "Disagreement",
    "check_interface_acceptance",
    "check_send_offline",
    "request_from_json",
    "request_to_json",
]

INTERFACE_ACCEPTANCE: Final = "interface-acceptance"
SEND_WIRE_MQTT: Final = "send-wire-mqtt"
SENDS_NONCONFORMING: Final = "sends-nonconforming"
WRONG_QOS: Final = "wrong-qos"
VALUE_CHANGED: Final = "value-changed"
MESSAGE_LOST: Final = "message-lost"
SEND_VALIDATION_OFFLINE: Final = "send-validation-offline"
ACCEPTS_INVALID: Final = "accepts-invalid"
REJECTS_VALID: Final = "rejects-valid"
UNCLASSIFIED: Final = "UNCLASSIFIED"


class Disagreement(AssertionError):
    """The SDK and the oracle disagree on one example.

    Attributes:
        property: the property name.
        direction: ``accepts-invalid`` or ``rejects-valid``.
        requirement: the requirement id concerned (from the known finding, else the first broken
            rule, else ``UNCLASSIFIED`` for a valid example the SDK refuses for a new reason).
        example: the JSON-safe example (what a capsule stores).
        oracle / observed: JSON-safe summaries of the two sides.
        known: the recorded finding this matches, if any.
    """

    def __init__(
        self,
        *,
        property: str,
        direction: str,
        requirement: str,
        example: dict[str, Any],
        oracle: dict[str, Any],
        observed: dict[str, Any],
        known: KnownFinding | None,
    ) -> None:
        self.property = property
        self.direction = direction
        self.requirement = requirement
        self.example = example
        self.oracle = oracle
        self.observed = observed
        self.known = known
        label = f" (known finding {known.id})" if known else ""
        super().__init__(
            f"{property}: SDK {direction.replace('-', ' ')} [{requirement}]{label}: "
            f"oracle {oracle}, SDK {observed}, example {example}"
        )

    @property
    def summary(self) -> str:
        return f"{sdk_label()} {self.direction.replace('-', ' ')} ({self.requirement}) in {self.property}"


@dataclass(frozen=True, slots=True)
class PropertyCheck:
    """A replayable property: ``run(device, example)`` raises :class:`Disagreement` or returns."""

    name: str
    run: Callable[[Any, dict[str, Any]], list[str]]  # (OfflineDevice or ConnectedDevice, example)
    needs: tuple[str, ...] = field(default=())  # target capabilities; () = no server needed


def check_interface_acceptance(device: OfflineDevice, doc: Any) -> list[str]:
    """Property 1: ``add_interface_from_json(doc)`` succeeds iff the oracle finds no violation.

    Returns the rule ids the example exercised (broken rules; none for a valid document).
    """
    violations = validate_interface(doc)
    outcome = device.load_interface(doc)
    valid = not violations
    if valid == outcome.status.took_it:
        return sorted({v.rule_id for v in violations})
    direction = REJECTS_VALID if valid else ACCEPTS_INVALID
    example = {"interface": to_json(doc)}
    rule_ids = sorted({v.rule_id for v in violations})
    known = match_known(INTERFACE_ACCEPTANCE, direction, example=doc, rule_ids=rule_ids)
    requirement = known.requirement if known else (rule_ids[0] if rule_ids else UNCLASSIFIED)
    raise Disagreement(
        property=INTERFACE_ACCEPTANCE,
        direction=direction,
        requirement=requirement,
        example=example,
        oracle={"valid": valid, "violations": [str(v) for v in violations]},
        observed=outcome.to_json(),
        known=known,
    )


def request_to_json(request: SendRequest) -> dict[str, Any]:
    return {
        "operation": request.operation,
        "interface": request.interface,
        "path": request.path,
        "payload": to_json(request.payload),
        "timestamp": to_json(request.timestamp),
    }


def request_from_json(data: dict[str, Any]) -> SendRequest:
    return SendRequest(
        operation=data["operation"],
        interface=data["interface"],
        path=data["path"],
        payload=from_json(data.get("payload")),
        timestamp=from_json(data.get("timestamp")),
    )


def judge_offline(judgement: RequestJudgement, outcome: SdkOutcome, request: SendRequest) -> str | None:
    """The disagreement direction for an offline call, or None when they agree (or it is undecided)."""
    if judgement.expectation is Expectation.ACCEPT and not outcome.status.took_it:
        return REJECTS_VALID
    if judgement.expectation is Expectation.REJECT and outcome.status.took_it and request.operation != "unset":
        return ACCEPTS_INVALID
    return None


def check_send_offline(device: OfflineDevice, interface_doc: dict[str, Any], request: SendRequest) -> list[str]:
    """Property 2, client-side half, on a never-connected device (see the module docstring).

    Returns the rule ids the example exercised (the broken ones, or the QoS rule of a valid call).
    """
    interface = parse_interface(interface_doc)
    judgement = judge_request(interface, request)
    loaded = device.load_interface(interface_doc, keep=True)
    try:
        if not loaded.status.took_it:
            return []  # property 1's business; the send property needs the interface in the introspection
        outcome = device.attempt(request)
    finally:
        device.clear_interfaces()
    direction = judge_offline(judgement, outcome, request)
    if direction is None:
        return judgement.rule_ids or [qos_rule(interface)]
    example = {"interface": to_json(interface_doc), "request": request_to_json(request)}
    known = match_known(SEND_VALIDATION_OFFLINE, direction, example=(interface, request), rule_ids=judgement.rule_ids)
    requirement = known.requirement if known else (judgement.rule_ids[0] if judgement.rule_ids else UNCLASSIFIED)
    raise Disagreement(
        property=SEND_VALIDATION_OFFLINE,
        direction=direction,
        requirement=requirement,
        example=example,
        oracle={"expectation": judgement.expectation.value, "violations": [str(v) for v in judgement.violations],
                "lenient": list(judgement.lenient_reasons)},
        observed=outcome.to_json(),
        known=known,
    )


def check_send_wire(device: ConnectedDevice, interface_doc: dict[str, Any], request: SendRequest) -> list[str]:
    """Properties 2, 3 and 4 (wire) for one call on a connected device (see the module docstring).

    The interface must be in the device's introspection (and installed in the realm).
    """
    interface = parse_interface(interface_doc)
    judgement = judge_request(interface, request)
    disconnections = device.disconnection_count()
    expect_disconnect = False
    example = {"interface": to_json(interface_doc), "request": request_to_json(request)}
    oracle: dict[str, Any] = {"expectation": judgement.expectation.value, "qos": judgement.qos,
                              "violations": [str(v) for v in judgement.violations]}
    try:
        outcome, wire = device.attempt(request)
        if outcome.status is not SdkStatus.ACCEPTED:
            if judgement.expectation is Expectation.ACCEPT:
                known = match_known(SEND_VALIDATION_OFFLINE, REJECTS_VALID, example=(interface, request), rule_ids=[])
                raise Disagreement(property=SEND_WIRE_MQTT, direction=REJECTS_VALID,
                                   requirement=known.requirement if known else UNCLASSIFIED, example=example,
                                   oracle=oracle, observed=outcome.to_json(), known=known)
            return judgement.rule_ids
        if wire is None:
            if (judgement.qos or 0) > 0:
                raise Disagreement(property=SEND_WIRE_MQTT, direction=MESSAGE_LOST, requirement=qos_rule(interface),
                                   example=example, oracle=oracle, observed=outcome.to_json(), known=None)
            return [qos_rule(interface)]
        verdict = judge_device_payload(interface, wire.path, wire.payload)
        expect_disconnect = verdict.server_disconnects
        observed = {"qos": wire.qos, "payload_hex": wire.payload.hex(), "server_error": verdict.server_error_name}
        if not verdict.spec_ok:
            rule_ids = sorted(set(verdict.rule_ids))
            known = match_known(SEND_WIRE_MQTT, SENDS_NONCONFORMING, example=(interface, request), rule_ids=rule_ids)
            raise Disagreement(property=SEND_WIRE_MQTT, direction=SENDS_NONCONFORMING,
                               requirement=known.requirement if known else rule_ids[0], example=example,
                               oracle={**oracle, "wire_violations": [str(v) for v in verdict.spec_violations]},
                               observed=observed, known=known)
        want_qos = expected_qos(interface, verdict.resolution.mapping)
        if wire.qos != want_qos:
            raise Disagreement(property=SEND_WIRE_MQTT, direction=WRONG_QOS, requirement=qos_rule(interface),
                               example=example, oracle={**oracle, "qos": want_qos}, observed=observed, known=None)
        if judgement.document is not None and not _same_value(judgement.document, wire.payload):
            raise Disagreement(property=SEND_WIRE_MQTT, direction=VALUE_CHANGED,
                               requirement="ASTARTE-PAYLOAD-V-01", example=example,
                               oracle={**oracle, "document": str(judgement.document)}, observed=observed, known=None)
        return [qos_rule(interface), *judgement.rule_ids]
    finally:
        device.recover_if_disconnected(disconnections, expect=expect_disconnect)


def _same_value(expected: Any, payload: bytes) -> bool:
    """The wire ``v`` carries the value the conforming document would carry (types already judged)."""
    try:
        sent = decode(payload)
    except BsonError:
        return False
    want, got = expected.get("v"), sent.get("v")
    if want is None or got is None:
        return want is got
    return bool(want.to_python() == got.to_python())


def _replay_interface(device: OfflineDevice, example: dict[str, Any]) -> list[str]:
    return check_interface_acceptance(device, from_json(example["interface"]))


def _replay_send_offline(device: OfflineDevice, example: dict[str, Any]) -> list[str]:
    return check_send_offline(device, from_json(example["interface"]), request_from_json(example["request"]))


def _replay_send_wire(device: ConnectedDevice, example: dict[str, Any]) -> list[str]:
    return check_send_wire(device, from_json(example["interface"]), request_from_json(example["request"]))


#: Property name -> replayable check (``hil replay`` looks capsules up here).
PROPERTIES: Final[dict[str, PropertyCheck]] = {
    SEND_WIRE_MQTT: PropertyCheck(SEND_WIRE_MQTT, _replay_send_wire, needs=("astarte.pairing", "broker")),
    INTERFACE_ACCEPTANCE: PropertyCheck(INTERFACE_ACCEPTANCE, _replay_interface),
    SEND_VALIDATION_OFFLINE: PropertyCheck(SEND_VALIDATION_OFFLINE, _replay_send_offline),
}
