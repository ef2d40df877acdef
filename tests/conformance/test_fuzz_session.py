"""Property 5: a device session as a Hypothesis state machine; the realm's properties follow the model.

Rules drive the real ``DeviceMqtt`` (add and remove interfaces, connect, disconnect, restart the
application with a new instance on the same persistency directory, set and unset device-owned
properties) and the server (set and unset server-owned properties through AppEngine). After every
step the invariant reads every property of the realm's introspection through AppEngine and
compares it with :class:`harness.fuzzing.session_model.SessionModel`. Every rule waits for its
effect on a server-side condition (the realm's message log, its session tracking), never on time.

Under the ``ci`` profile the machine is small (few examples, few steps, derandomised); any other
profile (``nightly``, ``hil fuzz``) runs longer sequences. Recorded findings are reproduced by the
model (so the machine still catches new disagreements) and each keeps a strict expected-failure
test with its minimal sequence.

:class:`HubDeviceSession` runs the same rules over ``DeviceGrpc`` and the simulated Message Hub,
with :class:`~harness.fuzzing.session_model.HubSessionModel`: a reconnect is Detach then Attach,
an application restart a new ``DeviceGrpc`` (same or new node id) that persisted nothing, and the
realm (read, and written by the server rules, on the hub's device id) keeps the properties in
the hub's device. The hub and its device outlive one example, so each example starts attached
from a state it makes known (every property the realm still shows is set or unset to a baseline).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from fixtures.hypothesis_profiles import CI_MAX_EXAMPLES
from fixtures.strategies import valid_values
from harness.bsonwire import BsonDocument, encode
from harness.components.astarte import INTERFACES_DIR, AstarteClient
from harness.fuzzing.appengine_values import rendering_mismatch
from harness.fuzzing.astarte_grpc import ConnectedGrpcDevice
from harness.fuzzing.astarte_sdk import ConnectedDevice, SdkStatus, call_send_api, neutral_value
from harness.fuzzing.known import known_finding
from harness.fuzzing.requests import SendRequest, encode_python_value
from harness.fuzzing.session_model import FORGETS_FALSY, HubSessionModel, SessionModel
from harness.fuzzing.stored import reads_as_unset
from harness.oracle import Interface, ValueType, judge_device_payload, parse_interface, resolve

pytestmark = [pytest.mark.hil_requires("astarte.pairing", "astarte.appengine"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DP: Final = "org.hil.test.DeviceProperties"
SP: Final = "org.hil.test.ServerProperties"
DOCS: Final = {name: json.loads((INTERFACES_DIR / f"{name}.json").read_text()) for name in (DP, SP)}
PARSED: Final = {name: parse_interface(doc) for name, doc in DOCS.items()}
DEVICE_PATHS: Final = ("/integer", "/double", "/boolean", "/string", "/longinteger", "/binaryblob", "/datetime",
                       "/integerarray", "/unsettable/integer", "/unsettable/string")
UNSETTABLE: Final = tuple(p for p in DEVICE_PATHS if p.startswith("/unsettable/"))
SERVER_PATHS: Final = ("/integer", "/boolean", "/string", "/unsettable/longinteger", "/unsettable/boolean")
SERVER_UNSETTABLE: Final = tuple(p for p in SERVER_PATHS if p.startswith("/unsettable/"))


def _type(interface: str, path: str) -> ValueType:
    mapping = resolve(PARSED[interface], path).mapping
    assert mapping is not None
    return mapping.type


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
    value = draw(valid_values(_type(DP, path)).filter(
        lambda v: _small(v) and _realm_accepts(PARSED[DP], path, v)))
    return path, value


@st.composite
def _server_set(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(SERVER_PATHS))
    value_type = _type(SP, path)
    if value_type is ValueType.BOOLEAN:
        return path, draw(st.booleans())
    if value_type is ValueType.STRING:
        return path, draw(st.text(max_size=10))
    if value_type is ValueType.INTEGER:
        return path, draw(st.integers(-(2**31) + 1, 2**31 - 1))
    return path, draw(st.integers(-(2**63) + 1, 2**63 - 1))


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A property read's tree of bare values -> path -> value (property values are never objects)."""
    if not isinstance(tree, dict):
        return {prefix or "/": tree}
    flat: dict[str, Any] = {}
    for key, child in tree.items():
        flat.update(_flatten(child, f"{prefix}/{key}"))
    return flat


def realm_mismatches(device: ConnectedDevice, model: SessionModel) -> list[str]:
    """How the realm's properties (AppEngine reads) differ from the model's view."""
    problems: list[str] = []
    status, body = device.read_interfaces()
    listed = sorted(body.get("data", [])) if status == 200 and isinstance(body, dict) else body
    want = model.realm_view()
    if listed != sorted(want):
        problems.append(f"introspection {listed} != model {sorted(want)}")
    for name in DOCS:
        status, body = device.read_values(name, "/", {})
        if name not in want:
            if status != 404:
                problems.append(f"{name} is not in the introspection but reads {status}")
            continue
        shown = _flatten(body.get("data")) if status == 200 and isinstance(body, dict) else None
        if shown is None:
            problems.append(f"{name} reads {status} {body!r}")
            continue
        shown = {} if shown == {"/": {}} else shown
        expected = want[name]
        for path in sorted(set(shown) | set(expected)):
            if path not in expected:
                problems.append(f"{name}{path} is {shown[path]!r} in the realm, unset in the model")
            elif path not in shown:
                problems.append(f"{name}{path} is unset in the realm, {expected[path]!r} in the model")
            else:
                why = rendering_mismatch(_type(name, path), expected[path], shown[path], longinteger_as_string=False)
                if why is not None:
                    problems.append(f"{name}{path}: {why}")
    return problems


class DeviceSession(RuleBasedStateMachine):
    """One device's life; ``astarte``/``known`` are bound by :func:`_machine` before each run."""

    astarte: AstarteClient
    known: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="hil-fuzz-session-"))
        self.device = ConnectedDevice(self.astarte, self.directory, list(DOCS.values()))
        self.model = SessionModel(device_owned=frozenset({DP}), device_interfaces=set(DOCS), known=self.known,
                                  reads_as_unset=lambda name, path, value: reads_as_unset(_type(name, path), value))

    def teardown(self) -> None:
        try:
            self.device.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- application ---------------------------------------------------------------------------
    @precondition(lambda self: not self.model.connected)
    @rule()
    def connect(self) -> None:
        self.device.connect()
        self.model.connect()

    @precondition(lambda self: self.model.connected)
    @rule()
    def disconnect(self) -> None:
        self.device.disconnect()
        self.model.disconnect()

    @precondition(lambda self: self.model.connected)
    @rule()
    def restart_application(self) -> None:
        self.device.restart()
        self.model.disconnect()
        self.model.connect()

    @rule(name=st.sampled_from(sorted(DOCS)))
    def add_interface(self, name: str) -> None:
        if name in self.model.device_interfaces:
            return
        self.device.add_interface(DOCS[name])
        self.model.add_interface(name)

    @rule(name=st.sampled_from(sorted(DOCS)))
    def remove_interface(self, name: str) -> None:
        if name not in self.model.device_interfaces:
            return
        self.device.remove_interface(name)
        self.model.remove_interface(name)

    @precondition(lambda self: self.model.connected and DP in self.model.device_interfaces)
    @rule(change=_device_set())
    def set_property(self, change: tuple[str, Any]) -> None:
        path, value = change
        outcome, wire = self.device.attempt(SendRequest("send", DP, path, value))
        assert outcome.status is SdkStatus.ACCEPTED and wire is not None, (outcome, wire)
        self.model.set_property(DP, path, value)

    @precondition(lambda self: self.model.connected and DP in self.model.device_interfaces)
    @rule(path=st.sampled_from(UNSETTABLE))
    def unset_property(self, path: str) -> None:
        outcome, wire = self.device.attempt(SendRequest("unset", DP, path))
        assert outcome.status is SdkStatus.ACCEPTED and wire is not None, (outcome, wire)
        self.model.unset_property(DP, path)

    @precondition(lambda self: not self.model.connected and DP in self.model.device_interfaces)
    @rule(change=_device_set())
    def set_property_offline(self, change: tuple[str, Any]) -> None:
        """The SDK may refuse a set while offline; one it takes must reach the realm on reconnect."""
        path, value = change
        outcome = call_send_api(self.device.device, SendRequest("send", DP, path, value))
        if outcome.status is SdkStatus.ACCEPTED:
            self.model.device_cache.setdefault(DP, {})[path] = value

    # -- server --------------------------------------------------------------------------------
    @precondition(lambda self: SP in self.model.realm_interfaces)
    @rule(change=_server_set())
    def server_sets(self, change: tuple[str, Any]) -> None:
        path, value = change
        response = self.astarte.appengine("PUT", f"devices/{self.device.device_id}/interfaces/{SP}{path}",
                                          json={"data": _json_value(value)})
        assert response.status_code == 200, response.text
        self.model.server_set(SP, path, value)

    @precondition(lambda self: SP in self.model.realm_interfaces)
    @rule(path=st.sampled_from(SERVER_UNSETTABLE))
    def server_unsets(self, path: str) -> None:
        response = self.astarte.appengine("DELETE", f"devices/{self.device.device_id}/interfaces/{SP}{path}")
        assert response.status_code == 204, response.text
        self.model.server_unset(SP, path)

    # -- the property ----------------------------------------------------------------------------
    @invariant()
    def realm_holds_the_model(self) -> None:
        problems = realm_mismatches(self.device, self.model)
        assert not problems, "; ".join(problems)


def _machine(astarte: AstarteClient, known: frozenset[str]) -> Callable[[], DeviceSession]:
    bound = type("BoundDeviceSession", (DeviceSession,), {"astarte": astarte, "known": known})
    return bound  # type: ignore[return-value]


def _introspection_names(text: str) -> frozenset[str]:
    """``name:major:minor;...`` (the hub's introspection) -> the interface names."""
    return frozenset(entry.split(":", 1)[0] for entry in text.split(";") if entry)


class HubDeviceSession(DeviceSession):
    """The same session over ``DeviceGrpc``: ``astarte``/``hub`` are bound by :func:`_hub_machine`."""

    hub: Any

    def __init__(self) -> None:  # noqa: D107 - the class docstring says it all
        RuleBasedStateMachine.__init__(self)
        self.device = ConnectedGrpcDevice(self.astarte, self.hub, list(DOCS.values()))
        # Interfaces the hub device holds for someone else stay in its introspection whatever the node does.
        shared = _introspection_names(str(self.hub.state()["device"]["introspection"])) - set(DOCS)
        self.model = HubSessionModel(device_owned=frozenset({DP}), device_interfaces=set(DOCS), shared=shared,
                                     reads_as_unset=lambda name, path, value: reads_as_unset(_type(name, path), value))
        try:
            self.device.connect()
            self.model.connect()
            self._make_baseline()
        except BaseException:
            self.device.close()
            raise

    def _make_baseline(self) -> None:
        """Earlier examples left properties in the hub's device: set or unset each one to a known value."""
        for name, paths in ((DP, DEVICE_PATHS), (SP, SERVER_PATHS)):
            status, body = self.device.read_values(name, "/", {})
            assert status == 200 and isinstance(body, dict), (name, status, body)
            shown = _flatten(body.get("data"))
            for path in (p for p in paths if p in shown):
                if name == DP and path in UNSETTABLE:
                    self.unset_property(path)
                elif name == DP:
                    self.set_property((path, neutral_value(self.device.interface_docs, SendRequest("send", DP, path))))
                elif path in SERVER_UNSETTABLE:
                    self.server_unsets(path)
                else:
                    self.server_sets((path, neutral_value(self.device.interface_docs, SendRequest("send", SP, path))))
        self.realm_holds_the_model()

    def teardown(self) -> None:
        self.device.close()

    @precondition(lambda self: self.model.connected)
    @rule(new_node=st.booleans())
    def restart_application(self, new_node: bool) -> None:  # type: ignore[override]
        """A new ``DeviceGrpc`` (``new_node``: with a new node id) after a Detach; it persisted nothing."""
        self.device.restart(new_node=new_node)
        self.model.disconnect()
        self.model.connect()

    @precondition(lambda self: not self.model.connected and DP in self.model.device_interfaces)
    @rule(change=_device_set())
    def set_property_offline(self, change: tuple[str, Any]) -> None:
        """Detached, the node has nowhere to keep a set: one the SDK takes must be in the realm already."""
        path, value = change
        outcome = call_send_api(self.device.device, SendRequest("send", DP, path, value))
        if outcome.status is SdkStatus.ACCEPTED:
            self.model.set_property(DP, path, value)


def _hub_machine(astarte: AstarteClient, hub: Any) -> Callable[[], HubDeviceSession]:
    bound = type("BoundHubDeviceSession", (HubDeviceSession,), {"astarte": astarte, "hub": hub})
    return bound  # type: ignore[return-value]


def _run(machine: Callable[[], RuleBasedStateMachine]) -> None:
    """Run under the active profile's bounds (``ci``: small and derandomised) or ``hil fuzz``'s budget."""
    budget = float(os.environ.get("HIL_FUZZ_SECONDS", "0") or 0)
    if budget > 0:  # ``hil fuzz``: fresh random sequences until this test's share of the budget is spent
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            run_state_machine_as_test(machine, settings=settings(max_examples=5, stateful_step_count=40,
                                                                 derandomize=False, database=None))
        return
    ci_like = settings.default.max_examples <= CI_MAX_EXAMPLES
    bounds = settings(max_examples=6, stateful_step_count=10) if ci_like else settings(
        max_examples=max(settings.default.max_examples // 50, 20), stateful_step_count=40)
    run_state_machine_as_test(machine, settings=bounds)


@pytest.fixture
def trusted(hil_pki: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in hil_pki.trust_environment().items():
        monkeypatch.setenv(key, value)


@pytest.mark.requirement("ASTARTE-MQTT-PROPERTIES-01", "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-MQTT-PROPERTIES-06",
                         "ASTARTE-MQTT-SESSION-02", "ASTARTE-MQTT-PURGE-04", "ASTARTE-MQTT-INTROSPECTION-07",
                         "ASTARTE-APPENGINE-READ-01", "ASTARTE-APPENGINE-READ-03", "ASTARTE-APPENGINE-WRITE-01",
                         "ASTARTE-APPENGINE-UNSET-01")
def test_realm_properties_follow_the_session_model(astarte: AstarteClient, trusted: None) -> None:
    _run(_machine(astarte, frozenset({FORGETS_FALSY})))


@pytest.fixture
def private_hub(astarte: AstarteClient, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Message Hub of this test's own, on a fresh Astarte device.

    The session's shared hub device carries properties that other checks left behind; the model
    starts from an empty device instead, so the machine judges the SDK, not the suite's order.
    """
    import uuid

    from harness.components.message_hub import HubIdentity, MessageHubSim, hub_device_id, message_hub_spec, readiness
    from harness.services import ProcessBackend

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


@pytest.mark.hil_requires("astarte.message-hub")
@pytest.mark.requirement("ASTARTE-MSGHUB-ATTACH-03", "ASTARTE-MSGHUB-DETACH-01", "ASTARTE-MSGHUB-INTERFACES-01",
                         "ASTARTE-MSGHUB-INTERFACES-02", "ASTARTE-MSGHUB-SEND-01", "ASTARTE-MQTT-PROPERTIES-01",
                         "ASTARTE-MQTT-PROPERTIES-02", "ASTARTE-APPENGINE-READ-01", "ASTARTE-APPENGINE-READ-03",
                         "ASTARTE-APPENGINE-WRITE-01", "ASTARTE-APPENGINE-UNSET-01")
def test_realm_properties_follow_the_hub_session_model(astarte: AstarteClient, private_hub: Any) -> None:
    """Property 5 over ``DeviceGrpc``: the realm reads the hub's device."""
    _run(_hub_machine(astarte, private_hub))


# ------------------------------------------------------------------------------- recorded findings

_FALSY = known_finding(FORGETS_FALSY)


@pytest.mark.finding(_FALSY.requirement, reason=_FALSY.reason, sdk=_FALSY.sdk)
@pytest.mark.parametrize(("path", "value"), [("/integer", 0), ("/boolean", False), ("/string", "")],
                         ids=["zero", "false", "empty-string"])
def test_finding_sdk_forgets_falsy_properties(astarte: AstarteClient, trusted: None, path: str, value: Any) -> None:
    """Minimal sequence: connect, set a device property to a falsy value, restart the application."""
    session = _machine(astarte, frozenset())()
    try:
        session.connect()
        session.set_property((path, value))
        session.realm_holds_the_model()
        session.restart_application()
        session.realm_holds_the_model()
    finally:
        session.teardown()
