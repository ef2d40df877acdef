"""Property 5's steps, outside Hypothesis: a device session driven one operation at a time.

The state machine in ``tests/conformance/test_fuzz_session.py`` draws the operations; this module
performs them on the real SDK and keeps the model (:mod:`hil.fuzzing.session_model`) in step.
It lives here, not in the test, so that a failing sequence can be saved as a counterexample
capsule (its ``example`` is the list of steps, JSON-safe) and replayed by ``hil replay`` against
any target without Hypothesis: :func:`replay_session` runs the steps and checks the realm after
each one, exactly as the machine's invariant does.

A disagreement is a :class:`~hil.fuzzing.properties.Disagreement`:

* ``diverges-from-model`` when the realm's properties (read through AppEngine) differ from the
  model's after a step (requirement ``ASTARTE-MQTT-PROPERTIES-06``: nothing set may be lost);
* ``rejects-valid`` when the SDK refuses a set or unset the oracle accepts on a connected device
  (``ASTARTE-MQTT-PROPERTIES-01``/``-02``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from hil.components.astarte import INTERFACES_DIR, SimulatedAstarteClient
from hil.errors import TargetError
from hil.fuzzing.appengine_values import rendering_mismatch
from hil.fuzzing.astarte_grpc import ConnectedGrpcDevice
from hil.fuzzing.astarte_sdk import ConnectedDevice, SdkStatus, call_send_api, neutral_value
from hil.fuzzing.jsonvalues import from_json, to_json
from hil.fuzzing.properties import REJECTS_VALID, Disagreement
from hil.fuzzing.requests import SendRequest
from hil.fuzzing.session_model import HubSessionModel, SessionModel
from hil.fuzzing.stored import reads_as_unset
from hil.oracle import Interface, ValueType, parse_interface, resolve
from hil.rundir import RunDirectory

__all__ = [
    "DEVICE_PATHS",
    "DIVERGES",
    "DOCS",
    "DP",
    "SERVER_PATHS",
    "SERVER_UNSETTABLE",
    "SESSION_MODEL",
    "SESSION_MODEL_GRPC",
    "SP",
    "UNSETTABLE",
    "HubSessionDriver",
    "SessionDriver",
    "mapping_type",
    "realm_mismatches",
    "replay_session",
    "step_allowed",
]

SESSION_MODEL: Final = "session-model"
SESSION_MODEL_GRPC: Final = "session-model-grpc"
DIVERGES: Final = "diverges-from-model"

DP: Final = "org.hil.test.DeviceProperties"
SP: Final = "org.hil.test.ServerProperties"
DOCS: Final = {name: json.loads((INTERFACES_DIR / f"{name}.json").read_text()) for name in (DP, SP)}
PARSED: Final[dict[str, Interface]] = {name: parse_interface(doc) for name, doc in DOCS.items()}
DEVICE_PATHS: Final = ("/integer", "/double", "/boolean", "/string", "/longinteger", "/binaryblob", "/datetime",
                       "/integerarray", "/unsettable/integer", "/unsettable/string")
UNSETTABLE: Final = tuple(p for p in DEVICE_PATHS if p.startswith("/unsettable/"))
SERVER_PATHS: Final = ("/integer", "/boolean", "/string", "/unsettable/longinteger", "/unsettable/boolean")
SERVER_UNSETTABLE: Final = tuple(p for p in SERVER_PATHS if p.startswith("/unsettable/"))


def mapping_type(interface: str, path: str) -> ValueType:
    mapping = resolve(PARSED[interface], path).mapping
    assert mapping is not None, f"{interface}{path} is not a mapping of the session's interfaces"
    return mapping.type


def _appengine_json(value: Any) -> Any:
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
                why = rendering_mismatch(mapping_type(name, path), expected[path], shown[path],
                                         longinteger_as_string=False)
                if why is not None:
                    problems.append(f"{name}{path}: {why}")
    return problems


def _reads_as_unset(name: str, path: str, value: Any) -> bool:
    return reads_as_unset(mapping_type(name, path), value)


class SessionDriver:
    """One ``DeviceMqtt`` session: each public method is one step of property 5, recorded."""

    property_name: str = SESSION_MODEL

    def __init__(self, astarte: SimulatedAstarteClient, known: frozenset[str] = frozenset()) -> None:
        self.astarte = astarte
        self.known = known  # recorded findings the model reproduces (part of every capsule)
        self.steps: list[dict[str, Any]] = []
        self.directory: Path | None = None
        self.device: ConnectedDevice = self._new_device()
        self.model: SessionModel = self._new_model()

    def _new_device(self) -> ConnectedDevice:
        # A labelled run directory: the SDK's keys go with it even after a SIGKILL.
        self.directory = RunDirectory(prefix="hil-fuzz-").path
        return ConnectedDevice(self.astarte, self.directory, list(DOCS.values()))

    def _new_model(self) -> SessionModel:
        return SessionModel(device_owned=frozenset({DP}), device_interfaces=set(DOCS), known=self.known,
                            reads_as_unset=_reads_as_unset)

    def close(self) -> None:
        try:
            self.device.close()
        finally:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)

    def _record(self, step: str, **args: Any) -> None:
        self.steps.append({"step": step, "args": {key: to_json(value) for key, value in args.items()}})

    # -- application ---------------------------------------------------------------------------
    def connect(self) -> None:
        self._record("connect")
        self.device.connect()
        self.model.connect()

    def disconnect(self) -> None:
        self._record("disconnect")
        self.device.disconnect()
        self.model.disconnect()

    def restart_application(self, new_node: bool = False) -> None:
        self._record("restart_application")
        self.device.restart()
        self.model.disconnect()
        self.model.connect()

    def add_interface(self, name: str) -> None:
        self._record("add_interface", name=name)
        if name in self.model.device_interfaces:
            return
        self.device.add_interface(DOCS[name])
        self.model.add_interface(name)

    def remove_interface(self, name: str) -> None:
        self._record("remove_interface", name=name)
        if name not in self.model.device_interfaces:
            return
        self.device.remove_interface(name)
        self.model.remove_interface(name)

    def set_property(self, path: str, value: Any) -> None:
        self._record("set_property", path=path, value=value)
        self._sent(SendRequest("send", DP, path, value), "ASTARTE-MQTT-PROPERTIES-01")
        self.model.set_property(DP, path, value)

    def unset_property(self, path: str) -> None:
        self._record("unset_property", path=path)
        self._sent(SendRequest("unset", DP, path), "ASTARTE-MQTT-PROPERTIES-02")
        self.model.unset_property(DP, path)

    def _sent(self, request: SendRequest, requirement: str) -> None:
        """The SDK must take and publish a valid set or unset while connected."""
        outcome, wire = self.device.attempt(request)
        if outcome.status is SdkStatus.ACCEPTED and wire is not None:
            return
        raise Disagreement(property=self.property_name, direction=REJECTS_VALID, requirement=requirement,
                           example=self.example(), oracle={"expectation": "accept and publish"},
                           observed={"sdk": outcome.to_json(), "published": wire is not None}, known=None)

    def set_property_offline(self, path: str, value: Any) -> None:
        """The SDK may refuse a set while offline; one it takes must reach the realm on reconnect."""
        self._record("set_property_offline", path=path, value=value)
        outcome = call_send_api(self.device.device, SendRequest("send", DP, path, value))
        if outcome.status is SdkStatus.ACCEPTED:
            self.model.device_cache.setdefault(DP, {})[path] = value

    # -- server --------------------------------------------------------------------------------
    def server_sets(self, path: str, value: Any) -> None:
        self._record("server_sets", path=path, value=value)
        response = self.astarte.appengine("PUT", f"devices/{self.device.device_id}/interfaces/{SP}{path}",
                                          json={"data": _appengine_json(value)})
        if response.status_code != 200:
            raise TargetError("astarte", f"the realm refused a server set of {SP}{path}: "
                                         f"{response.status_code} {response.text}")
        self.model.server_set(SP, path, value)

    def server_unsets(self, path: str) -> None:
        self._record("server_unsets", path=path)
        response = self.astarte.appengine("DELETE", f"devices/{self.device.device_id}/interfaces/{SP}{path}")
        if response.status_code != 204:
            raise TargetError("astarte", f"the realm refused a server unset of {SP}{path}: "
                                         f"{response.status_code} {response.text}")
        self.model.server_unset(SP, path)

    # -- the property --------------------------------------------------------------------------
    def example(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "known": sorted(self.known)}

    def check(self) -> None:
        """The realm holds what the model says, or a :class:`Disagreement` naming each difference."""
        problems = realm_mismatches(self.device, self.model)
        if problems:
            raise Disagreement(property=self.property_name, direction=DIVERGES, requirement="ASTARTE-MQTT-PROPERTIES-06",
                               example=self.example(), oracle={"realm": to_json(self.model.realm_view())},
                               observed={"problems": problems}, known=None)

    def run(self, step: dict[str, Any]) -> None:
        """Perform one recorded step (``{"step": name, "args": {...}}``) again.

        A step the machine could not have taken here (its precondition false, a path outside
        the session's mappings) is a ``ValueError``: a capsule that does not fit, never a finding.
        """
        name, args = step["step"], {key: from_json(value) for key, value in step.get("args", {}).items()}
        rule = _STEPS.get(name)
        if rule is None:
            raise ValueError(f"unknown session step {name!r}")
        allowed, paths = rule
        if not allowed(self.model):
            raise ValueError(f"step {name!r} cannot be taken here (the session's state does not allow it)")
        if paths is not None and args.get("path") not in paths:
            raise ValueError(f"step {name!r}: {args.get('path')!r} is not one of the session's paths")
        if "name" in args and args["name"] not in DOCS:
            raise ValueError(f"step {name!r}: {args['name']!r} is not one of the session's interfaces")
        getattr(self, name)(**args)


def step_allowed(name: str, model: SessionModel) -> bool:
    """Whether the state machine may take step ``name`` in ``model``'s state (its precondition)."""
    return _STEPS[name][0](model)


def _always(model: SessionModel) -> bool:
    return True


def _device_set_allowed(model: SessionModel) -> bool:
    return model.connected and DP in model.device_interfaces


def _server_allowed(model: SessionModel) -> bool:
    return SP in model.realm_interfaces


#: Each step: when the state machine may take it (its precondition), and the paths it may name.
_STEPS: Final[dict[str, tuple[Callable[[SessionModel], bool], tuple[str, ...] | None]]] = {
    "connect": (lambda model: not model.connected, None),
    "disconnect": (lambda model: model.connected, None),
    "restart_application": (lambda model: model.connected, None),
    "add_interface": (_always, None),
    "remove_interface": (_always, None),
    "set_property": (_device_set_allowed, DEVICE_PATHS),
    "unset_property": (_device_set_allowed, UNSETTABLE),
    "set_property_offline": (lambda model: not model.connected and DP in model.device_interfaces, DEVICE_PATHS),
    "server_sets": (_server_allowed, SERVER_PATHS),
    "server_unsets": (_server_allowed, SERVER_UNSETTABLE),
}


def _introspection_names(text: str) -> frozenset[str]:
    """``name:major:minor;...`` (the hub's introspection) -> the interface names."""
    return frozenset(entry.split(":", 1)[0] for entry in text.split(";") if entry)


class HubSessionDriver(SessionDriver):
    """The same session over ``DeviceGrpc`` and a Message Hub (:class:`HubSessionModel`).

    The hub and its device outlive one session, so a session starts attached from a state it
    makes known: every property the realm still shows is set or unset to a baseline, and only
    the steps after that are recorded.
    """

    property_name = SESSION_MODEL_GRPC

    def __init__(self, astarte: SimulatedAstarteClient, hub: Any) -> None:
        self.hub = hub
        super().__init__(astarte)
        try:
            self.device.connect()
            self.model.connect()
            self._make_baseline()
        except BaseException:
            self.close()
            raise
        self.steps = []

    def _new_device(self) -> ConnectedDevice:
        return ConnectedGrpcDevice(self.astarte, self.hub, list(DOCS.values()))

    def _new_model(self) -> SessionModel:
        # Interfaces the hub device holds for someone else stay in its introspection whatever the node does.
        shared = _introspection_names(str(self.hub.state()["device"]["introspection"])) - set(DOCS)
        return HubSessionModel(device_owned=frozenset({DP}), device_interfaces=set(DOCS), shared=shared,
                               reads_as_unset=_reads_as_unset)

    def _make_baseline(self) -> None:
        """Earlier sessions left properties in the hub's device: set or unset each to a known value."""
        for name, paths in ((DP, DEVICE_PATHS), (SP, SERVER_PATHS)):
            status, body = self.device.read_values(name, "/", {})
            if status != 200 or not isinstance(body, dict):
                raise TargetError("astarte", f"the realm cannot read {name} of the hub's device: {status} {body!r}")
            shown = _flatten(body.get("data"))
            for path in (p for p in paths if p in shown):
                if name == DP and path in UNSETTABLE:
                    self.unset_property(path)
                elif name == DP:
                    self.set_property(path, neutral_value(self.device.interface_docs, SendRequest("send", DP, path)))
                elif path in SERVER_UNSETTABLE:
                    self.server_unsets(path)
                else:
                    self.server_sets(path, neutral_value(self.device.interface_docs, SendRequest("send", SP, path)))
        self.check()

    def restart_application(self, new_node: bool = False) -> None:
        """A new ``DeviceGrpc`` (``new_node``: with a new node id) after a Detach; it persisted nothing."""
        self._record("restart_application", new_node=new_node)
        assert isinstance(self.device, ConnectedGrpcDevice)
        self.device.restart(new_node=new_node)
        self.model.disconnect()
        self.model.connect()

    def set_property_offline(self, path: str, value: Any) -> None:
        """Detached, the node has nowhere to keep a set: one the SDK takes must be in the realm already."""
        self._record("set_property_offline", path=path, value=value)
        outcome = call_send_api(self.device.device, SendRequest("send", DP, path, value))
        if outcome.status is SdkStatus.ACCEPTED:
            self.model.set_property(DP, path, value)


def replay_session(make: Callable[[frozenset[str]], SessionDriver], example: dict[str, Any]) -> list[str]:
    """Run a capsule's steps on a fresh session, checking the realm after each, as the machine does.

    ``make(known)`` builds the session with the recorded findings the fuzz run's model knew, so a
    replay judges as the run did. Raises :class:`Disagreement` when the finding reproduces;
    returns the requirements exercised.
    """
    steps, known = example.get("steps"), example.get("known", [])
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "step" in s for s in steps):
        raise ValueError("a session example is {'steps': [{'step': name, 'args': {...}}, ...]}")
    if not isinstance(known, list) or not all(isinstance(k, str) for k in known):
        raise ValueError("a session example's 'known' is a list of recorded finding ids")
    driver = make(frozenset(known))
    try:
        driver.check()
        for step in steps:
            driver.run(step)
            driver.check()
    finally:
        driver.close()
    return ["ASTARTE-MQTT-PROPERTIES-06"]
