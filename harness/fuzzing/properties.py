"""The fuzzing properties as plain functions: oracle verdict vs what the SDK did.

Each check takes one example, drives the real SDK through its public API, asks the oracle, and
raises :class:`Disagreement` when the two differ. Pytest properties (``tests/conformance``) feed
them Hypothesis examples; ``hil replay`` feeds them the example stored in a capsule. The verdict
always comes from :mod:`hil.oracle`, never from the SDK.

Properties (names are the capsule ``property`` field):

* ``interface-acceptance``: the SDK accepts an interface iff the oracle says it is valid.
* ``send-wire-mqtt`` (properties 2, 3 and the wire half of 4, end to end): on a connected
  ``DeviceMqtt``, every call the SDK takes puts one message on the wire that the oracle accepts,
  at the oracle's QoS, carrying the value that was passed; every call the oracle accepts is taken.
* ``send-stored`` (property 4, end to end): a call the oracle accepts, that the SDK publishes and
  the realm stores, reads back through AppEngine as the value (and explicit timestamp) it passed,
  in the documented rendering of its type (:mod:`hil.fuzzing.stored`).
* ``send-wire-grpc`` / ``send-stored-grpc``: the same two over ``DeviceGrpc`` through a Message
  Hub (the SDK hands each call to the hub, which validates and publishes as its own device).
* ``send-validation-offline``: a never-connected device's send API refuses exactly the calls the
  oracle refuses (see :mod:`hil.fuzzing.astarte_sdk` for why this is observable offline).
  Unsets are not decided offline: the SDK checks the connection before an unset's path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from hil.targets.protocols import AppEngine, AstartePairing, MessageHubControl, RealmMessageLog
from hil.astarte.bsonwire import BsonError, BsonType, decode, encode
from hil.fuzzing.appengine_values import bson_mismatch
from hil.fuzzing.astarte_grpc import ConnectedGrpcDevice
from hil.fuzzing.astarte_sdk import ConnectedDevice, OfflineDevice, SdkOutcome, SdkStatus, sdk_label
from hil.fuzzing.jsonvalues import from_json, to_json
from hil.fuzzing.known import KnownFinding, match_known
from hil.fuzzing.requests import Expectation, RequestJudgement, SendRequest, judge_request
from hil.fuzzing.stored import check_stored
from hil.oracle import Interface, expected_qos, judge_device_payload, parse_interface, qos_rule, resolve
from hil.oracle import validate_interface

__all__ = [
    "INTERFACE_ACCEPTANCE",
    "PROPERTIES",
    "SEND_STORED",
    "SEND_STORED_GRPC",
    "SEND_VALIDATION_OFFLINE",
    "SEND_WIRE_GRPC",
    "SEND_WIRE_MQTT",
    "Disagreement",
    "check_interface_acceptance",
    "check_send_offline",
    "check_send_stored",
    "check_send_wire",
    "request_from_json",
    "request_to_json",
]

INTERFACE_ACCEPTANCE: Final = "interface-acceptance"
SEND_WIRE_MQTT: Final = "send-wire-mqtt"
SEND_WIRE_GRPC: Final = "send-wire-grpc"
SENDS_NONCONFORMING: Final = "sends-nonconforming"
WRONG_QOS: Final = "wrong-qos"
VALUE_CHANGED: Final = "value-changed"
MESSAGE_LOST: Final = "message-lost"
SEND_VALIDATION_OFFLINE: Final = "send-validation-offline"
SEND_STORED: Final = "send-stored"
SEND_STORED_GRPC: Final = "send-stored-grpc"
STORED_DIFFERS: Final = "stored-differs"
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
    run: Callable[[Any, dict[str, Any]], list[str]]  # (OfflineDevice, ConnectedDevice or ConnectedGrpcDevice, example)
    needs: tuple[type, ...] = field(default=())  # capability protocols of the target; () = no server needed


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


def check_send_wire(device: ConnectedDevice | ConnectedGrpcDevice, interface_doc: dict[str, Any], request: SendRequest) -> list[str]:
    """Properties 2, 3 and 4 (wire) for one call on a connected device (see the module docstring).

    The interface must be in the device's introspection (and installed in the realm). ``device``
    is a ``ConnectedDevice`` (``DeviceMqtt``, property ``send-wire-mqtt``) or a
    ``ConnectedGrpcDevice`` (``DeviceGrpc`` through a Message Hub, ``send-wire-grpc``): findings
    are recorded per transport, since the wire message comes from different code.
    """
    prop = SEND_WIRE_GRPC if getattr(device, "transport", "mqtt") == "grpc" else SEND_WIRE_MQTT
    interface = parse_interface(interface_doc)
    judgement = judge_request(interface, request)
    disconnections, drops, dropped = device.disconnection_count(), device.drop_count(), False
    expect_disconnect = False
    example = {"interface": to_json(interface_doc), "request": request_to_json(request)}
    oracle: dict[str, Any] = {"expectation": judgement.expectation.value, "qos": judgement.qos,
                              "violations": [str(v) for v in judgement.violations]}
    try:
        outcome, wire = device.attempt(request)
        if outcome.status is not SdkStatus.ACCEPTED:
            if judgement.expectation is Expectation.ACCEPT:
                known = match_known(SEND_VALIDATION_OFFLINE, REJECTS_VALID, example=(interface, request), rule_ids=[])
                raise Disagreement(property=prop, direction=REJECTS_VALID,
                                   requirement=known.requirement if known else UNCLASSIFIED, example=example,
                                   oracle=oracle, observed=outcome.to_json(), known=known)
            return judgement.rule_ids
        if wire is None:
            dropped = device.drop_count() > drops
            if (judgement.qos or 0) > 0:
                raise Disagreement(property=prop, direction=MESSAGE_LOST, requirement=qos_rule(interface),
                                   example=example, oracle=oracle, observed=outcome.to_json(), known=None)
            return [qos_rule(interface)]
        verdict = judge_device_payload(interface, wire.path, wire.payload)
        expect_disconnect = verdict.server_disconnects
        observed = {"qos": wire.qos, "payload_hex": wire.payload.hex(), "server_error": verdict.server_error_name}
        if not verdict.spec_ok:
            rule_ids = sorted(set(verdict.rule_ids))
            known = match_known(prop, SENDS_NONCONFORMING, example=(interface, request), rule_ids=rule_ids)
            raise Disagreement(property=prop, direction=SENDS_NONCONFORMING,
                               requirement=known.requirement if known else rule_ids[0], example=example,
                               oracle={**oracle, "wire_violations": [str(v) for v in verdict.spec_violations]},
                               observed=observed, known=known)
        want_qos = expected_qos(interface, verdict.resolution.mapping)
        if wire.qos != want_qos:
            raise Disagreement(property=prop, direction=WRONG_QOS, requirement=qos_rule(interface),
                               example=example, oracle={**oracle, "qos": want_qos}, observed=observed, known=None)
        changed = wire_value_mismatch(interface, request, wire.payload) if judgement.document is not None else None
        if changed is not None:
            raise Disagreement(property=prop, direction=VALUE_CHANGED,
                               requirement="ASTARTE-PAYLOAD-V-01", example=example,
                               oracle={**oracle, "document": str(judgement.document)},
                               observed={**observed, "changed": changed}, known=None)
        return [qos_rule(interface), *judgement.rule_ids]
    finally:
        device.recover_if_disconnected(disconnections, expect=expect_disconnect, dropped=dropped,
                                       poisoned=_poisoned(interface, request, expect_disconnect or dropped))


def wire_value_mismatch(interface: Interface, request: SendRequest, payload: bytes) -> str | None:
    """How the wire ``v`` differs from the value the call passed, or None (types are judged apart).

    Compared by value as Astarte reads it, so a datetime may be truncated or rounded to the
    millisecond (see :mod:`hil.fuzzing.appengine_values`).
    """
    if request.operation == "unset":
        return None
    try:
        sent = decode(payload)
    except BsonError:
        return "the payload is not BSON"
    wire = sent.get("v")
    if wire is None:
        return "the payload has no v"
    if interface.is_object:
        if not isinstance(request.payload, dict) or wire.value is None or not hasattr(wire.value, "keys"):
            return "the object value is not a document"
        by_key = interface.object_mappings()
        if sorted(wire.value.keys()) != sorted(request.payload):
            return f"object keys {sorted(wire.value.keys())} on the wire, {sorted(request.payload)} passed"
        for key, value in request.payload.items():
            why = bson_mismatch(by_key[key].type, value, wire.value[key])
            if why is not None:
                return f"key {key!r}: {why}"
        return None
    mapping = resolve(interface, request.path).mapping
    return None if mapping is None else bson_mismatch(mapping.type, request.payload, wire)


def _wire_timestamp(payload: bytes) -> int | None:
    """The ``t`` (epoch ms) of a published message, if it carries a BSON datetime one."""
    try:
        t = decode(payload).get("t")
    except BsonError:
        return None
    return t.value if t is not None and t.kind is BsonType.DATETIME else None


def _poisoned(interface: Interface, request: SendRequest, refused: bool) -> SendRequest | None:
    """The property set the SDK cached and the realm refused, or whose publish the broker dropped
    the connection for (e.g. a control character in the topic), if any (see ``ConnectedDevice``)."""
    return request if refused and interface.is_properties and request.operation == "send" else None


def _realm_refuses(interface: Interface, request: SendRequest, judgement: RequestJudgement) -> bool:
    """Whether Astarte refuses even the conforming message of the call (e.g. a longinteger of
    -2**63: v1.2.0 wants ``abs(v) <= 2**63 - 1``); nothing would be stored, so property 4 skips it."""
    if judgement.document is None or request.operation == "unset":
        return False
    return judge_device_payload(interface, request.path, encode(judgement.document)).server_error_name is not None


def check_send_stored(device: ConnectedDevice | ConnectedGrpcDevice, interface_doc: dict[str, Any], request: SendRequest) -> list[str]:
    """Property 4 for one call: what the realm stores (read through AppEngine) is what was sent.

    Only calls the oracle accepts (or leaves to the API) that the SDK published and the realm
    stored are judged here; refusals, lost messages and non-conforming wire messages are
    properties 2 and 3. A difference is blamed on the SDK when the wire value already differs
    from the passed one (requirement ``ASTARTE-PAYLOAD-V-01``), else on the realm (the read
    form's requirement): against the simulator that is a simulator bug.
    """
    prop = SEND_STORED_GRPC if getattr(device, "transport", "mqtt") == "grpc" else SEND_STORED
    interface = parse_interface(interface_doc)
    judgement = judge_request(interface, request)
    if judgement.expectation is Expectation.REJECT or _realm_refuses(interface, request, judgement):
        return []
    disconnections = device.disconnection_count()
    expect_disconnect = False
    try:
        outcome, wire = device.attempt(request)
        if outcome.status is not SdkStatus.ACCEPTED or wire is None:
            return []
        verdict = judge_device_payload(interface, wire.path, wire.payload)
        expect_disconnect = verdict.server_disconnects
        if verdict.server_error_name is not None:
            return []
        stored = check_stored(device, interface, request, wire_t_ms=_wire_timestamp(wire.payload))
        if stored.mismatch is None:
            return list(stored.exercised)
        changed = wire_value_mismatch(interface, request, wire.payload)
        blame = "sdk" if changed is not None else "realm"
        raise Disagreement(
            property=prop, direction=STORED_DIFFERS,
            requirement="ASTARTE-PAYLOAD-V-01" if changed is not None else stored.requirement,
            example={"interface": to_json(interface_doc), "request": request_to_json(request)},
            oracle={"expectation": judgement.expectation.value, "document": str(judgement.document)},
            observed={"shown": stored.shown, "mismatch": stored.mismatch, "wire_changed": changed, "blame": blame,
                      "payload_hex": wire.payload.hex()},
            known=match_known(prop, STORED_DIFFERS, example=(interface, request),
                              rule_ids=[stored.requirement]),
        )
    finally:
        device.recover_if_disconnected(disconnections, expect=expect_disconnect,
                                       poisoned=_poisoned(interface, request, expect_disconnect))


def _replay_interface(device: OfflineDevice, example: dict[str, Any]) -> list[str]:
    return check_interface_acceptance(device, from_json(example["interface"]))


def _replay_send_offline(device: OfflineDevice, example: dict[str, Any]) -> list[str]:
    return check_send_offline(device, from_json(example["interface"]), request_from_json(example["request"]))


def _replay_send_wire(device: ConnectedDevice | ConnectedGrpcDevice, example: dict[str, Any]) -> list[str]:
    return check_send_wire(device, from_json(example["interface"]), request_from_json(example["request"]))


def _replay_send_stored(device: ConnectedDevice | ConnectedGrpcDevice, example: dict[str, Any]) -> list[str]:
    return check_send_stored(device, from_json(example["interface"]), request_from_json(example["request"]))


#: Property name -> replayable check (``hil replay`` looks capsules up here).
PROPERTIES: Final[dict[str, PropertyCheck]] = {
    # Judged on the simulated realm's raw messages, hence RealmMessageLog.
    SEND_WIRE_MQTT: PropertyCheck(SEND_WIRE_MQTT, _replay_send_wire, needs=(AstartePairing, RealmMessageLog)),
    SEND_STORED: PropertyCheck(SEND_STORED, _replay_send_stored, needs=(AstartePairing, AppEngine, RealmMessageLog)),
    # Over DeviceGrpc: ``hil replay`` attaches a node to the target's Message Hub instead.
    SEND_WIRE_GRPC: PropertyCheck(SEND_WIRE_GRPC, _replay_send_wire,
                                  needs=(AstartePairing, MessageHubControl, RealmMessageLog)),
    SEND_STORED_GRPC: PropertyCheck(SEND_STORED_GRPC, _replay_send_stored,
                                    needs=(AstartePairing, MessageHubControl, AppEngine, RealmMessageLog)),
    INTERFACE_ACCEPTANCE: PropertyCheck(INTERFACE_ACCEPTANCE, _replay_interface),
    SEND_VALIDATION_OFFLINE: PropertyCheck(SEND_VALIDATION_OFFLINE, _replay_send_offline),
}
