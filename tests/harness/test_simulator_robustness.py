"""hil fuzzes its own simulators: generated requests to every route, judged by four rules.

Every route each HTTP simulator lists in the OpenAPI description it serves at
``/_sim/openapi.json`` (real APIs and control APIs) gets Hypothesis-generated
methods, path parameters, query values (non-finite and out-of-range waits and counts among them)
and bodies (JSON of any shape, or raw bytes); the Message Hub's gRPC service gets generated
protobuf messages and metadata. The rules: no 5xx (a 5xx is a bug, never the answer to bad
input; the hub's documented ``INTERNAL`` refusals are the real hub's codes, so gRPC is judged on
``UNKNOWN``, which only an escaped exception produces), an answer before a short deadline, the
process still alive, and a JSON body where the API documents one. Budgets are small (the ``ci``
profile's example counts are not used here) so the whole module runs in about a minute.

A failure shrinks to one request and is printed as a one-line reproducer (``curl ...`` or the gRPC
call). Left out on purpose: the control routes that wipe state other checks of the session share
(Astarte's and LocknAlert's ``/_sim/reset``, LocknAlert's fault and TLS switches).
"""

from __future__ import annotations

import json
import shlex
import uuid
from urllib.parse import quote
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

#: Seconds an answer may take beyond the wait the request itself asked for.
DEADLINE = 5.0
#: The longest wait the generated queries ask for (the simulators clamp larger ones to 30 s).
SMALL_WAIT = 1.0

FUZZ = settings(max_examples=60, deadline=None, derandomize=False, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class Api:
    """One HTTP API under fuzz: where it is, its described routes, and how to reach past auth."""

    def __init__(self, name: str, base_url: str, routes: list[tuple[str, list[str], list[str]]], *, verify: Any = True,
                 json_errors: bool = True, token: str | None = None, names: tuple[str, ...] = ()) -> None:
        self.name = name
        self.base_url = base_url
        self.routes = routes  # (path template, methods, documented query parameters)
        self.verify = verify
        self.json_errors = json_errors
        #: A valid ``Authorization`` value; drawn as the placeholder TOKEN, so no printed example holds it.
        self.token = token
        #: Path segments worth trying besides generated ones (the realm name, so routes are reached).
        self.names = names

    def __repr__(self) -> str:  # Hypothesis prints fixture arguments of a failing example
        return f"Api({self.name!r}, {self.base_url!r})"


#: Stands for the API's valid token in a drawn request and in the printed reproducer.
TOKEN = "<token>"


# -- generated parts -------------------------------------------------------------------------------

_nasty_numbers = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "-1", "0x10", "", "1_0", "9" * 30, "true"])
_small_numbers = st.floats(0, SMALL_WAIT, allow_nan=False).map(lambda f: f"{f:g}") | st.integers(0, 3).map(str)
_query_values = _nasty_numbers | _small_numbers | st.text(max_size=20)
_query = st.dictionaries(
    st.sampled_from(["timeout", "wait", "min_count", "since", "device_id", "attached", "robot_id", "sig", "limit"]),
    _query_values, max_size=4)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "seconds", "path", "payload_hex", "qos", "claims", "ttl", "devices", "name",
                         "count", "robot_id", "references", "zone", "kind", "csr", "hw_id"]) | st.text(max_size=8),
        inner, max_size=4),
    max_leaves=12)
_bodies = st.none() | _json.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64) | st.sampled_from(
    [b'{"seconds": 1e12}', b'{"seconds": NaN}', b"[" * 5000, b'{"path": "/a/+", "payload_hex": "", "qos": 0}'])
_segments = st.sampled_from([str(uuid.uuid4()), "AAAAAAAAAAAAAAAAAAAAAA", "..", "%00", "%ff", "%2F", "a" * 300,
                             "-", "0"]) | st.text(min_size=1, max_size=12).map(lambda t: quote(t, safe=""))


def _fill(template: str, draw: Any, names: tuple[str, ...]) -> str:
    segments = (_segments | st.sampled_from(names)) if names else _segments
    return "/".join(draw(segments) if part.startswith("{") else part for part in template.split("/"))


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes | None
    authorization: str | None  # TOKEN stands for the valid one


@st.composite
def _requests(draw: Any, api: Api) -> _Request:
    template, methods, documented = draw(st.sampled_from(api.routes))
    method = draw(st.sampled_from(methods) | st.sampled_from(METHODS))
    # The parameters the description documents, mostly; any others sometimes.
    numbers = _nasty_numbers | _small_numbers  # documented parameters are numbers: mostly near-misses
    query = draw(st.fixed_dictionaries({}, optional={name: numbers for name in documented}) | _query)
    authorization = draw(st.sampled_from((None, *((TOKEN,) if api.token else ()), "Bearer", "Bearer x.y.z",
                                          "Basic Zm9vOmJhcg==")))
    return _Request(method, _fill(template, draw, api.names), query, draw(_bodies), authorization)


def _reproducer(api: Api, request: _Request) -> str:
    url = httpx.URL(api.base_url + request.path, params=request.query)
    auth = f" -H {shlex.quote('Authorization: ' + request.authorization)}" if request.authorization else ""
    data = f" --data-binary {shlex.quote(request.body.decode('latin-1'))}" if request.body else ""
    return f"curl -k -X {request.method}{auth} {shlex.quote(str(url))}{data}"


def _asked_wait(query: dict[str, str]) -> float:
    waits = []
    for name in ("timeout", "wait"):
        try:
            waits.append(min(max(float(query.get(name, "0")), 0.0), 30.0))
        except ValueError:
            continue
    return max((w for w in waits if w == w), default=0.0)


def _judge(api: Api, alive: Any, request: _Request) -> None:
    method, path, query, body = request.method, request.path, request.query, request.body
    line = _reproducer(api, request)
    note(line)
    headers = {"content-type": "application/json"} if body is not None else {}
    if request.authorization is not None:
        headers["authorization"] = api.token if request.authorization == TOKEN and api.token else request.authorization
    with httpx.Client(verify=api.verify, timeout=DEADLINE + _asked_wait(query)) as http:
        try:
            response = http.request(method, api.base_url + path, params=query, content=body, headers=headers)
        except httpx.TimeoutException:
            pytest.fail(f"{api.name}: no answer within the deadline: {line}")
    assert response.status_code < 500, f"{api.name}: {response.status_code} {response.text[:200]!r}: {line}"
    if api.json_errors and response.status_code >= 400 and method != "HEAD" and response.content:
        try:
            response.json()
        except ValueError:
            pytest.fail(f"{api.name}: {response.status_code} without a JSON body: {line}")
    assert alive(), f"{api.name} died: {line}"


# -- the simulators --------------------------------------------------------------------------------------


#: Control routes that wipe or switch state the session's other checks share (module docstring).
LEFT_OUT = {"/_sim/reset", "/_sim/fault", "/_sim/mqtt-tls"}


def _described(name: str, base_url: str, verify: Any = True) -> Api:
    """The routes the simulator's own OpenAPI description lists (all of them, ``LEFT_OUT`` aside)."""
    with httpx.Client(verify=verify, timeout=DEADLINE) as http:
        response = http.get(f"{base_url}/_sim/openapi.json")
    assert response.status_code == 200, f"{name} serves no OpenAPI description: {response.status_code}"
    paths = response.json()["paths"]
    routes = [(path, sorted(op.upper() for op in operations),
               sorted({p["name"] for op in operations.values() for p in op.get("parameters", []) if p["in"] == "query"}))
              for path, operations in paths.items() if path not in LEFT_OUT]
    json_answers = all("application/json" in op["responses"]["default"].get("content", {})
                       for operations in paths.values() for op in operations.values() if "default" in op["responses"])
    return Api(name, base_url, routes, verify=verify, json_errors=json_answers)


def _http_alive(url: str, verify: Any = True) -> Any:
    def alive() -> bool:
        with httpx.Client(verify=verify, timeout=DEADLINE) as http:
            return http.get(url).status_code == 200

    return alive


@pytest.fixture(scope="module")
def astarte_api(astarte) -> Api:  # type: ignore[no-untyped-def]
    import ssl

    described = _described("astarte", astarte.base_url, ssl.create_default_context(cafile=str(astarte.ca_path)))
    # The realm's own token (never printed: the reproducer says <token>) takes requests past auth.
    described.token, described.names = f"Bearer {astarte.token}", (astarte.realm,)
    return described


@pytest.fixture(scope="module")
def destiny_api(destiny_simulator) -> Api:  # type: ignore[no-untyped-def]
    return _described("destiny", destiny_simulator.base_url)


@pytest.fixture(scope="module")
def hub_control_api(message_hub) -> Api:  # type: ignore[no-untyped-def]
    return _described("message hub control", message_hub.control_url)


@pytest.fixture(scope="module")
def locknalert_control_api(locknalert_emulator) -> Api:  # type: ignore[no-untyped-def]
    return _described("locknalert control", locknalert_emulator.emulator.control_url)


def test_each_description_lists_the_routes_checks_rely_on(astarte_api, destiny_api, hub_control_api,
                                                          locknalert_control_api):
    expected = {
        astarte_api: {"/pairing/v1/{realm}/agent/devices", "/appengine/v1/{realm}/devices/{device_id}",
                      "/realmmanagement/v1/{realm}/interfaces", "/_sim/messages", "/_sim/devices/{device_id}/publish"},
        destiny_api: {"/_sim/clock/advance", "/_sim/robots"},
        hub_control_api: {"/health", "/_sim/state", "/_sim/nodes/{node_id}"},
        locknalert_control_api: {"/_sim/health", "/_sim/window/open", "/_sim/alert"},
    }
    for api, paths in expected.items():
        assert paths <= {route[0] for route in api.routes}, (api.name, sorted(route[0] for route in api.routes))
    assert any(route[0].startswith("/v1/") for route in destiny_api.routes), "the robot API is not described"
    assert next(r[2] for r in astarte_api.routes if r[0] == "/_sim/messages") == ["min_count", "since", "timeout", "wait"]


@settings(FUZZ, max_examples=150)  # three APIs and the control API: the most routes
@given(data=st.data())
def test_astarte_simulator_survives_generated_requests(astarte_api, data):
    _judge(astarte_api, _http_alive(f"{astarte_api.base_url}/_sim/health", astarte_api.verify),
           data.draw(_requests(astarte_api)))


@FUZZ
@given(data=st.data())
def test_destiny_simulator_survives_generated_requests(destiny_api, data):
    _judge(destiny_api, _http_alive(f"{destiny_api.base_url}/_sim/clock"), data.draw(_requests(destiny_api)))


@FUZZ
@given(data=st.data())
def test_message_hub_control_api_survives_generated_requests(hub_control_api, data):
    _judge(hub_control_api, _http_alive(f"{hub_control_api.base_url}/health"), data.draw(_requests(hub_control_api)))


@FUZZ
@given(data=st.data())
def test_locknalert_control_api_survives_generated_requests(locknalert_control_api, data):
    api = locknalert_control_api
    _judge(api, _http_alive(f"{api.base_url}/_sim/health"), data.draw(_requests(api)))


#: The bridge's device API (HTTPS, self-signed): a real bridge serves no description, so it is listed here.
BRIDGE_ROUTES = [("/api/info", ["GET", "HEAD"], []), ("/api/mqtt/bootstrap", ["POST"], [])]


@FUZZ
@given(data=st.data())
def test_locknalert_bridge_api_survives_generated_requests(locknalert_bridge, data):
    api = Api("locknalert bridge", locknalert_bridge.url.rstrip("/"), BRIDGE_ROUTES, verify=False)
    _judge(api, _http_alive(f"{api.base_url}/api/info", verify=False), data.draw(_requests(api)))


# -- the hub's gRPC service --------------------------------------------------------------------------------


def _hub_messages() -> st.SearchStrategy[tuple[str, bytes]]:
    from astarteplatform.msghub.astarte_message_pb2 import AstarteMessage
    from astarteplatform.msghub.astarte_type_pb2 import AstarteDataType, AstarteDataTypeIndividual
    from astarteplatform.msghub.node_pb2 import Node

    interface_json = st.one_of(
        _json.map(json.dumps),
        st.builds(lambda n, depth: json.dumps({"interface_name": n, "version_major": 0, "version_minor": 1,
                                               "type": "datastream", "ownership": "device",
                                               "mappings": [{"endpoint": "/" + "x" * depth, "type": "integer"}]}),
                  st.text(max_size=20), st.integers(0, 70)),
        st.sampled_from(["[" * 3000 + "]" * 3000, "{" * 200, ""]),
    )
    individual = st.one_of(
        st.builds(lambda v: AstarteDataTypeIndividual(astarte_integer=v), st.integers(-2**31, 2**31 - 1)),
        st.builds(lambda v: AstarteDataTypeIndividual(astarte_double=v), st.floats()),
        st.builds(lambda v: AstarteDataTypeIndividual(astarte_string=v), st.text(max_size=30)),
        st.builds(lambda v: AstarteDataTypeIndividual(astarte_binary_blob=v), st.binary(max_size=30)),
        st.just(AstarteDataTypeIndividual()),
    )
    send = st.builds(
        lambda i, p, ind: AstarteMessage(interface_name=i, path=p,
                                         astarte_data=AstarteDataType(astarte_individual=ind)).SerializeToString(),
        st.sampled_from(["org.hil.test.DeviceDatastream", "x", ""]) | st.text(max_size=20),
        st.sampled_from(["/integer", "/", "//", "/a/+"]) | st.text(max_size=20), individual)
    node = st.builds(lambda js: Node(interfaces_json=js).SerializeToString(), st.lists(interface_json, max_size=3))
    return st.one_of(
        st.tuples(st.just("Attach"), node), st.tuples(st.just("AddInterfaces"), node),
        st.tuples(st.just("Send"), send), st.tuples(st.sampled_from(["Detach", "RemoveInterfaces"]), st.binary(max_size=40)),
    )


_metadata = st.lists(st.one_of(
    st.tuples(st.just("node-id"), st.sampled_from([str(uuid.uuid4()), "", " ", "not-a-uuid", "0" * 36])
              | st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126), max_size=40)),
    st.tuples(st.just("node-id-bin"), st.binary(max_size=20)),
), max_size=2)


@FUZZ
@given(data=st.data())
def test_message_hub_grpc_survives_generated_messages_and_metadata(message_hub, data):
    method, body = data.draw(_hub_messages())
    metadata = data.draw(_metadata)
    note(f"grpc {method} body={body!r} metadata={metadata!r}")
    with grpc.insecure_channel(message_hub.grpc_address) as channel:
        path = "/astarteplatform.msghub.MessageHub/" + method
        try:
            if method == "Attach":
                call = channel.unary_stream(path, request_serializer=None, response_deserializer=None)(
                    body, metadata=metadata, timeout=1.0)  # an accepted Attach streams until then
                try:
                    next(iter(call))
                except StopIteration:
                    pass
                finally:
                    call.cancel()
            else:
                channel.unary_unary(path, request_serializer=None, response_deserializer=None)(
                    body, metadata=metadata, timeout=DEADLINE)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            assert code is not grpc.StatusCode.UNKNOWN, f"{method}: an exception escaped: {details}"
            # An Attach that got through holds its stream until cancelled: that is the deadline.
            assert code is not grpc.StatusCode.DEADLINE_EXCEEDED or method == "Attach", f"{method} hung"
            if code is grpc.StatusCode.CANCELLED:
                code = grpc.StatusCode.OK
    note(f"-> {code}")
    assert _http_alive(f"{message_hub.control_url}/health")(), "the hub died"
