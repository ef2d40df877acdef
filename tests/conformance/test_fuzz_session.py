"""Property 5: a device session as a Hypothesis state machine; the realm's properties follow the model.

Rules drive the real ``DeviceMqtt`` (add and remove interfaces, connect, disconnect, restart the
application with a new instance on the same persistency directory, set and unset device-owned
properties) and the server (set and unset server-owned properties through AppEngine). After every
step the invariant reads every property of the realm's introspection through AppEngine and
compares it with :class:`hil.fuzzing.session_model.SessionModel`. Every rule waits for its
effect on a server-side condition (the realm's message log, its session tracking), never on time.

Under the ``ci`` profile the machine is small (few examples, few steps, derandomised); any other
profile (``nightly``, ``hil fuzz``) runs longer sequences. Recorded findings are reproduced by the
model (so the machine still catches new disagreements) and each keeps a strict expected-failure
test with its minimal sequence.

:class:`HubDeviceSession` runs the same rules over ``DeviceGrpc`` and the simulated Message Hub,
with :class:`~hil.fuzzing.session_model.HubSessionModel`: a reconnect is Detach then Attach,
an application restart a new ``DeviceGrpc`` (same or new node id) that persisted nothing, and the
realm (read, and written by the server rules, on the hub's device id) keeps the properties in
the hub's device. The hub and its device outlive one example, so each example starts attached
from a state it makes known (every property the realm still shows is set or unset to a baseline).

The machine only draws; :mod:`hil.fuzzing.session_driver` performs each step and records it,
so under ``hil fuzz`` a failing (shrunk) sequence is saved as a capsule that ``hil replay`` runs
again on any target, step by step, without Hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.fixtures.plugin import hil_requires
from hil.targets.protocols import AppEngine, AstartePairing, MessageHubControl, MessageHubEndpoint, RealmMessageLog
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hil.fixtures.fuzzing import fuzz_check, run_machine
from hil.fixtures.hypothesis_profiles import CI_MAX_EXAMPLES
from hil.fixtures.strategies import valid_values
from hil.astarte.bsonwire import BsonDocument, encode
from hil.components.astarte import AstarteClient
from hil.fuzzing.known import known_finding
from hil.fuzzing.properties import Disagreement
from hil.fuzzing.requests import encode_python_value
from hil.fuzzing.session_driver import (
    DEVICE_PATHS,
    DIVERGES,
    DOCS,
    DP,
    PARSED,
    SERVER_PATHS,
    SERVER_UNSETTABLE,
    SESSION_MODEL,
    SESSION_MODEL_GRPC,
    SP,
    UNSETTABLE,
    HubSessionDriver,
    SessionDriver,
    mapping_type,
    step_allowed,
)
from hil.fuzzing.session_model import FORGETS_FALSY, SessionModel
from hil.oracle import Interface, ValueType, judge_device_payload, resolve

pytestmark = [hil_requires(AstartePairing, AppEngine, RealmMessageLog),  # judged on the realm's raw messages

              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _realm_accepts(interface: Interface, path: str, value: Any) -> bool:
    """Astarte stores the conforming message for ``value`` (v1.2.0 refuses e.g. -2**63, -2**31)."""
    mapping = resolve(interface, path).mapping
    assert mapping is not None
    bson = encode_python_value(mapping.type, value, [])
    return judge_device_payload(interface, path, encode(BsonDocument.of(v=bson))).server_error_name is None


def _small(value: Any) -> bool:
    """Keep the machine fast: property 4 covers the large values."""
    return len(value) <= 64 if isinstance(value, (str, bytes, list)) else True


@st.composite
def _device_set(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(DEVICE_PATHS))
    value = draw(valid_values(mapping_type(DP, path)).filter(
        lambda v: _small(v) and _realm_accepts(PARSED[DP], path, v)))
    return path, value


@st.composite
def _server_set(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(SERVER_PATHS))
    value_type = mapping_type(SP, path)
    if value_type is ValueType.BOOLEAN:
        return path, draw(st.booleans())
    if value_type is ValueType.STRING:
        return path, draw(st.text(max_size=10))
    if value_type is ValueType.INTEGER:
        return path, draw(st.integers(-(2**31) + 1, 2**31 - 1))
    return path, draw(st.integers(-(2**63) + 1, 2**63 - 1))


class DeviceSession(RuleBasedStateMachine):
    """Draws the steps of one device's life; :class:`SessionDriver` performs and records them.

    ``astarte``/``known`` are bound by :func:`_machine` before each run.
    """

    astarte: AstarteClient
    known: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.driver = self._driver()

    def _driver(self) -> SessionDriver:
        return SessionDriver(self.astarte, self.known)

    @property
    def model(self) -> SessionModel:
        return self.driver.model

    def teardown(self) -> None:
        self.driver.close()

    # -- application ---------------------------------------------------------------------------
    @precondition(lambda self: step_allowed("connect", self.model))
    @rule()
    def connect(self) -> None:
        self.driver.connect()

    @precondition(lambda self: step_allowed("disconnect", self.model))
    @rule()
    def disconnect(self) -> None:
        self.driver.disconnect()

    @precondition(lambda self: step_allowed("restart_application", self.model))
    @rule()
    def restart_application(self) -> None:
        self.driver.restart_application()

    @rule(name=st.sampled_from(sorted(DOCS)))
    def add_interface(self, name: str) -> None:
        self.driver.add_interface(name)

    @rule(name=st.sampled_from(sorted(DOCS)))
    def remove_interface(self, name: str) -> None:
        self.driver.remove_interface(name)

    @precondition(lambda self: step_allowed("set_property", self.model))
    @rule(change=_device_set())
    def set_property(self, change: tuple[str, Any]) -> None:
        fuzz_check(self._sent, self.driver.set_property, *change)

    @precondition(lambda self: step_allowed("unset_property", self.model))
    @rule(path=st.sampled_from(UNSETTABLE))
    def unset_property(self, path: str) -> None:
        fuzz_check(self._sent, self.driver.unset_property, path)

    @precondition(lambda self: step_allowed("set_property_offline", self.model))
    @rule(change=_device_set())
    def set_property_offline(self, change: tuple[str, Any]) -> None:
        self.driver.set_property_offline(*change)

    # -- server --------------------------------------------------------------------------------
    @precondition(lambda self: step_allowed("server_sets", self.model))
    @rule(change=_server_set())
    def server_sets(self, change: tuple[str, Any]) -> None:
        self.driver.server_sets(*change)

    @precondition(lambda self: step_allowed("server_unsets", self.model))
    @rule(path=st.sampled_from(SERVER_UNSETTABLE))
    def server_unsets(self, path: str) -> None:
        self.driver.server_unsets(path)

    # -- the property ----------------------------------------------------------------------------
    @invariant()
    def realm_holds_the_model(self) -> None:
        fuzz_check(self._checked)

    def _checked(self) -> list[str]:
        self.driver.check()
        return ["ASTARTE-MQTT-PROPERTIES-06"]

    @staticmethod
    def _sent(step: Callable[..., None], *args: Any) -> list[str]:
        """A set or unset the SDK must take (a refusal is a rejects-valid Disagreement)."""
        step(*args)
        return ["ASTARTE-MQTT-PROPERTIES-01"]


def _machine(astarte: AstarteClient, known: frozenset[str]) -> type[DeviceSession]:
    return type("BoundDeviceSession", (DeviceSession,), {"astarte": astarte, "known": known})


class HubDeviceSession(DeviceSession):
    """The same session over ``DeviceGrpc`` (:class:`HubSessionDriver`): ``astarte``/``hub`` are
    bound by :func:`_hub_machine`."""

    hub: Any

    def _driver(self) -> SessionDriver:
        return HubSessionDriver(self.astarte, self.hub)

    @precondition(lambda self: step_allowed("restart_application", self.model))
    @rule(new_node=st.booleans())
    def restart_application(self, new_node: bool) -> None:  # type: ignore[override]
        self.driver.restart_application(new_node)


def _hub_machine(astarte: AstarteClient, hub: Any) -> type[HubDeviceSession]:
    return type("BoundHubDeviceSession", (HubDeviceSession,), {"astarte": astarte, "hub": hub})


def _run(machine: type[DeviceSession], property_name: str, nodeid: str) -> None:
    """Run under the active profile's bounds (``ci``: small and derandomised) or ``hil fuzz``'s budget."""
    ci_like = settings.default.max_examples <= CI_MAX_EXAMPLES
    bounds = settings(max_examples=6, stateful_step_count=10) if ci_like else settings(
        max_examples=max(settings.default.max_examples // 50, 20), stateful_step_count=40)
    run_machine(machine, property_name=property_name, nodeid=nodeid, bounds=bounds)


@pytest.fixture
def trusted(astarte: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in astarte.trust_environment().items():
        monkeypatch.setenv(key, value)


@pytest.mark.requirement("ASTARTE-MQTT-PROPERTIES-01", "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-MQTT-PROPERTIES-06",
                         "ASTARTE-MQTT-SESSION-02", "ASTARTE-MQTT-PURGE-04", "ASTARTE-MQTT-INTROSPECTION-07",
                         "ASTARTE-APPENGINE-READ-01", "ASTARTE-APPENGINE-READ-03", "ASTARTE-APPENGINE-WRITE-01",
                         "ASTARTE-APPENGINE-UNSET-01")
def test_realm_properties_follow_the_session_model(astarte: AstarteClient, trusted: None,
                                                   request: pytest.FixtureRequest) -> None:
    _run(_machine(astarte, frozenset({FORGETS_FALSY})), SESSION_MODEL, request.node.nodeid)


@pytest.fixture
def private_hub(astarte: AstarteClient, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Message Hub of this test's own, on a fresh Astarte device.

    The session's shared hub device carries properties that other checks left behind; the model
    starts from an empty device instead, so the machine judges the SDK, not the suite's order.
    """
    import uuid

    from hil.components.message_hub import HubIdentity, MessageHubSim, hub_device_id, message_hub_spec, readiness
    from hil.services import ProcessBackend

    request.getfixturevalue("message_hub")  # skips on a target without a hub
    device_id = hub_device_id(f"fuzz-session-{uuid.uuid4()}")
    secret = astarte.register_device(device_id).credentials_secret
    identity = HubIdentity(realm=astarte.realm, device_id=device_id, ca_path=astarte.ca_path,
                           pairing_url=astarte.pairing_base_url, credentials_secret=secret)
    service = ProcessBackend(tmp_path / "services").create(message_hub_spec("fuzz-hub", tmp_path / "store", identity))
    service.start(readiness(), timeout=30.0)
    try:
        yield MessageHubSim(service, astarte.realm, device_id, identity)
    finally:
        service.stop()


@hil_requires(MessageHubEndpoint, MessageHubControl)
@pytest.mark.requirement("ASTARTE-MSGHUB-ATTACH-03", "ASTARTE-MSGHUB-DETACH-01", "ASTARTE-MSGHUB-INTERFACES-01",
                         "ASTARTE-MSGHUB-INTERFACES-02", "ASTARTE-MSGHUB-SEND-01", "ASTARTE-MQTT-PROPERTIES-01",
                         "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-APPENGINE-READ-01", "ASTARTE-APPENGINE-READ-03",
                         "ASTARTE-APPENGINE-WRITE-01", "ASTARTE-APPENGINE-UNSET-01")
def test_realm_properties_follow_the_hub_session_model(astarte: AstarteClient, private_hub: Any,
                                                       request: pytest.FixtureRequest) -> None:
    """Property 5 over ``DeviceGrpc``: the realm reads the hub's device."""
    _run(_hub_machine(astarte, private_hub), SESSION_MODEL_GRPC, request.node.nodeid)


# ------------------------------------------------------------------------------- recorded findings

_FALSY = known_finding(FORGETS_FALSY)


@pytest.mark.finding(_FALSY.requirement, reason=_FALSY.reason, sdk=_FALSY.sdk, raises=Disagreement)
@pytest.mark.parametrize(("path", "value"), [("/integer", 0), ("/boolean", False), ("/string", "")],
                         ids=["zero", "false", "empty-string"])
def test_finding_sdk_forgets_falsy_properties(astarte: AstarteClient, trusted: None, path: str, value: Any) -> None:
    """Minimal sequence: connect, set a device property to a falsy value, restart the application."""
    session = SessionDriver(astarte)
    try:
        session.connect()
        session.set_property(path, value)
        session.check()
        session.restart_application()
        try:
            session.check()
        except Disagreement as disagreement:
            # The finding is the realm losing the value, not the SDK refusing the set.
            assert disagreement.direction == DIVERGES, disagreement
            raise
    finally:
        session.close()
