"""The simulated Astarte's Pairing and Realm Management APIs, raw HTTP (no SDK), and its refusal
to answer 500 to any bad input. AppEngine and MQTT behaviour are in the sibling files."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hil.components.astarte import AstarteClient, random_device_id
from hil.errors import TargetError

ELIXIR_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def http(astarte: AstarteClient) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(astarte.ca_path)), timeout=10.0) as client:
        yield client


def _agent_url(astarte: AstarteClient) -> str:
    return f"{astarte.pairing_base_url}/v1/{astarte.realm}/agent/devices"


def _device_url(astarte: AstarteClient, device_id: str, tail: str = "") -> str:
    return f"{astarte.pairing_base_url}/v1/{astarte.realm}/devices/{device_id}{tail}"


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def _csr(common_name: str = "anything/at-all") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Devices"),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _credentials(http: httpx.Client, astarte: AstarteClient, device_id: str, secret: str) -> httpx.Response:
    return http.post(_device_url(astarte, device_id, "/protocols/astarte_mqtt_v1/credentials"),
                     json={"data": {"csr": _csr()}}, headers=_bearer(secret))


# ----------------------------------------------------------------------------- Pairing


@pytest.mark.requirement("ASTARTE-PAIRING-REGISTER-01", "ASTARTE-PAIRING-REGISTER-03", "ASTARTE-PAIRING-REGISTER-04",
                         "ASTARTE-PAIRING-CREDENTIALS-01", "ASTARTE-PAIRING-CREDENTIALS-03", "ASTARTE-PAIRING-INFO-01",
                         "ASTARTE-PAIRING-INFO-02", "ASTARTE-PAIRING-INFO-03")
def test_registration_lifecycle(astarte: AstarteClient, http: httpx.Client) -> None:
    device_id = random_device_id()
    first = http.post(_agent_url(astarte), json={"data": {"hw_id": device_id}}, headers=_bearer(astarte.token))
    assert first.status_code == 201
    secret1 = first.json()["data"]["credentials_secret"]
    again = http.post(_agent_url(astarte), json={"data": {"hw_id": device_id}}, headers=_bearer(astarte.token))
    assert again.status_code == 201
    secret2 = again.json()["data"]["credentials_secret"]
    assert secret2 != secret1
    assert http.get(_device_url(astarte, device_id), headers=_bearer(secret1)).status_code == 403
    info = http.get(_device_url(astarte, device_id), headers=_bearer(secret2))
    assert info.status_code == 200
    assert info.json()["data"]["status"] == "pending"
    assert info.json()["data"]["version"] == "1.2.0"
    assert re.fullmatch(r"mqtts://localhost:\d+/", info.json()["data"]["protocols"]["astarte_mqtt_v1"]["broker_url"])
    issued = _credentials(http, astarte, device_id, secret2)
    assert issued.status_code == 201
    cert = x509.load_pem_x509_certificate(issued.json()["data"]["client_crt"].encode())
    assert cert.subject.rfc4514_string() == f"CN={astarte.realm}/{device_id}"
    assert http.get(_device_url(astarte, device_id), headers=_bearer(secret2)).json()["data"]["status"] == "confirmed"
    refused = http.post(_agent_url(astarte), json={"data": {"hw_id": device_id}}, headers=_bearer(astarte.token))
    assert (refused.status_code, refused.json()) == (422, {"errors": {"error_name": ["already_registered"]}})


@pytest.mark.requirement("ASTARTE-PAIRING-REGISTER-02", "ASTARTE-PAIRING-ERRORS-02", "ASTARTE-PAIRING-ERRORS-03")
@pytest.mark.parametrize(("body", "status", "expected"), [
    ({"data": {"hw_id": "not-an-id"}}, 422, {"errors": {"hw_id": ["is not a valid base64 encoded 128 bits id"]}}),
    ({"data": {"hw_id": "AAAA"}}, 422, {"errors": {"hw_id": ["is not a valid base64 encoded 128 bits id"]}}),
    ({"data": {}}, 422, {"errors": {"hw_id": ["can't be blank"]}}),
    ({"data": {"hw_id": random_device_id(), "initial_introspection": {"a.B": {"major": 1}}}}, 422,
     {"errors": {"initial_introspection": ["has invalid format for interface a.B"]}}),
    ({"hw_id": random_device_id()}, 400, {"errors": {"detail": "Bad request"}}),
    ([1, 2], 400, {"errors": {"detail": "Bad request"}}),
])
def test_registration_validation(astarte: AstarteClient, http: httpx.Client, body: Any, status: int,
                                 expected: dict[str, Any]) -> None:
    response = http.post(_agent_url(astarte), json=body, headers=_bearer(astarte.token))
    assert (response.status_code, response.json()) == (status, expected)


def test_malformed_json_is_400_even_before_auth(astarte: AstarteClient, http: httpx.Client) -> None:
    response = http.post(_agent_url(astarte), content=b'{"data": ', headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"errors": {"detail": "Bad request"}})


def _token_cases(astarte: AstarteClient) -> dict[str, tuple[dict[str, str], int]]:
    other_key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    return {
        "no header": ({}, 401),
        "not bearer": ({"Authorization": "Basic abc"}, 401),
        "garbage": (_bearer("garbage.token.here"), 403),
        "hs256": (_bearer(jwt.encode({"a_pa": [".*::.*"]}, "s" * 32, algorithm="HS256")), 403),
        "alg none": (_bearer(jwt.encode({"a_pa": [".*::.*"]}, None, algorithm="none")), 403),
        "wrong key": (_bearer(jwt.encode({"a_pa": [".*::.*"]}, other_key, algorithm="ES256")), 403),
        "expired": (_bearer(astarte.mint_token({"a_pa": [".*::.*"]}, ttl=None, extra={"exp": now - 60})), 403),
        "not yet valid": (_bearer(astarte.mint_token({"a_pa": [".*::.*"]}, extra={"nbf": now + 600})), 403),
        "missing claim": (_bearer(astarte.mint_token({"a_aea": [".*::.*"]})), 403),
        "claim not a list": (_bearer(astarte.mint_token(None, extra={"a_pa": ".*::.*"})), 403),
        "path not matched": (_bearer(astarte.mint_token({"a_pa": ["POST::devices"]})), 403),
        "method not matched": (_bearer(astarte.mint_token({"a_pa": ["DELETE::agent/devices"]})), 403),
        "exact claim": (_bearer(astarte.mint_token({"a_pa": ["POST::agent/devices"]})), 201),
        "no exp, lower-case bearer with colon": (
            {"Authorization": "bearer: " + astarte.mint_token({"a_pa": ["P.*:x:agent/.*"]}, ttl=None)}, 201),
    }


@pytest.mark.requirement("ASTARTE-PAIRING-JWT-01", "ASTARTE-PAIRING-JWT-02", "ASTARTE-PAIRING-JWT-03")
def test_agent_jwt_checks(astarte: AstarteClient, http: httpx.Client) -> None:
    for case, (headers, status) in _token_cases(astarte).items():
        response = http.post(_agent_url(astarte), json={"data": {"hw_id": random_device_id()}}, headers=headers)
        assert response.status_code == status, case
        if status == 401:
            assert response.json() == {"errors": {"detail": "Unauthorized"}}, case
        elif status == 403:
            assert response.json() == {"errors": {"detail": "Forbidden"}}, case


def test_unknown_realm_is_403(astarte: AstarteClient, http: httpx.Client) -> None:
    url = f"{astarte.pairing_base_url}/v1/otherrealm/agent/devices"
    response = http.post(url, json={"data": {"hw_id": random_device_id()}}, headers=_bearer(astarte.token))
    assert response.status_code == 403


@pytest.mark.requirement("ASTARTE-PAIRING-SECRET-01", "ASTARTE-PAIRING-SECRET-02", "ASTARTE-PAIRING-CREDENTIALS-04",
                         "ASTARTE-PAIRING-VERIFY-03")
def test_device_route_errors(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    url = _device_url(astarte, device.device_id)
    creds = _device_url(astarte, device.device_id, "/protocols/astarte_mqtt_v1/credentials")
    assert http.get(url).json() == {"errors": {"detail": "Unauthorized"}}
    assert http.get(url).status_code == 401
    assert http.get(url, headers=_bearer("wrong")).status_code == 403
    assert http.get(_device_url(astarte, random_device_id()), headers=_bearer(device.credentials_secret)).status_code == 403
    assert http.get(url, headers={"Authorization": f"BEARER:  {device.credentials_secret}"}).status_code == 200
    bad_csr = http.post(creds, json={"data": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnope\n"}},
                        headers=_bearer(device.credentials_secret))
    assert (bad_csr.status_code, bad_csr.json()) == (422, {"errors": {"csr": ["is not a valid PEM CSR"]}})
    no_csr = http.post(creds, json={"data": {}}, headers=_bearer(device.credentials_secret))
    assert (no_csr.status_code, no_csr.json()) == (422, {"errors": {"csr": ["can't be blank"]}})
    assert http.post(creds, json={"csr": _csr()}, headers=_bearer(device.credentials_secret)).status_code == 400
    other_protocol = creds.replace("astarte_mqtt_v1", "other")
    assert http.post(other_protocol, json={"data": {"csr": _csr()}},
                     headers=_bearer(device.credentials_secret)).status_code == 400
    no_crt = http.post(creds + "/verify", json={"data": {}}, headers=_bearer(device.credentials_secret))
    assert (no_crt.status_code, no_crt.json()) == (422, {"errors": {"client_crt": ["can't be blank"]}})


@pytest.mark.requirement("ASTARTE-PAIRING-VERIFY-01", "ASTARTE-PAIRING-VERIFY-02")
def test_verify_checks_the_chain_only(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    verify = _device_url(astarte, device.device_id, "/protocols/astarte_mqtt_v1/credentials/verify")
    first = _credentials(http, astarte, device.device_id, device.credentials_secret).json()["data"]["client_crt"]
    ok = http.post(verify, json={"data": {"client_crt": first}}, headers=_bearer(device.credentials_secret))
    assert ok.status_code == 200
    body = ok.json()["data"]
    assert body["valid"] is True and set(body) == {"valid", "timestamp", "until"}
    assert ELIXIR_DATETIME.match(body["timestamp"]) and ELIXIR_DATETIME.match(body["until"])
    # A new certificate revokes the first one at the CA, but v1.2.0's CertVerifier runs
    # pkix_path_validation without any CRL: the superseded certificate still verifies as valid.
    _credentials(http, astarte, device.device_id, device.credentials_secret)
    superseded = http.post(verify, json={"data": {"client_crt": first}}, headers=_bearer(device.credentials_secret))
    assert superseded.status_code == 200
    assert superseded.json()["data"] == {**body, "timestamp": superseded.json()["data"]["timestamp"]}
    garbage = http.post(verify, json={"data": {"client_crt": "garbage"}}, headers=_bearer(device.credentials_secret))
    assert garbage.status_code == 200 and garbage.json()["data"]["cause"] == "INVALID"


def test_credentials_action_clause_comes_before_the_secret(astarte: AstarteClient, http: httpx.Client) -> None:
    """Pairing reads the secret inside the controller action, so what the action clause needs
    (protocol astarte_mqtt_v1 and a data key) is checked first: 400 before 401."""
    device = astarte.register_device()
    creds = _device_url(astarte, device.device_id, "/protocols/astarte_mqtt_v1/credentials")
    bad_request = (400, {"errors": {"detail": "Bad request"}})
    unauthorized = (401, {"errors": {"detail": "Unauthorized"}})
    for url in (creds, creds + "/verify"):
        for body in ({}, {"csr": _csr()}):
            response = http.post(url, json=body)
            assert (response.status_code, response.json()) == bad_request, (url, body)
        other_protocol = http.post(url.replace("astarte_mqtt_v1", "other"), json={"data": {}})
        assert (other_protocol.status_code, other_protocol.json()) == bad_request, url
        no_secret = http.post(url, json={"data": {}})
        assert (no_secret.status_code, no_secret.json()) == unauthorized, url
        # "data" that is not an object makes the changeset's cast raise (phoenix_ecto: 400).
        for data in ("x", None, [1]):
            response = http.post(url, json={"data": data}, headers=_bearer(device.credentials_secret))
            assert (response.status_code, response.json()) == bad_request, (url, data)


@pytest.mark.requirement("ASTARTE-PAIRING-CREDENTIALS-06", "ASTARTE-PAIRING-INFO-02")
def test_inhibited_device(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    patched = astarte.appengine("PATCH", f"devices/{device.device_id}", json={"data": {"credentials_inhibited": True}},
                                headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200 and patched.json()["data"]["credentials_inhibited"] is True
    info = http.get(_device_url(astarte, device.device_id), headers=_bearer(device.credentials_secret))
    assert info.json()["data"]["status"] == "inhibited"
    refused = _credentials(http, astarte, device.device_id, device.credentials_secret)
    assert (refused.status_code, refused.json()) == (422, {"errors": {"error_name": ["credentials_request_inhibited"]}})


@pytest.mark.requirement("ASTARTE-PAIRING-REGISTER-06", "ASTARTE-PAIRING-ERRORS-04")
def test_agent_delete(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    _credentials(http, astarte, device.device_id, device.credentials_secret)
    deleted = http.delete(f"{_agent_url(astarte)}/{device.device_id}", headers=_bearer(astarte.token))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert http.get(_device_url(astarte, device.device_id), headers=_bearer(device.credentials_secret)).status_code == 403
    again = http.post(_agent_url(astarte), json={"data": {"hw_id": device.device_id}}, headers=_bearer(astarte.token))
    assert again.status_code == 201  # unregistering clears the confirmation
    unknown = http.delete(f"{_agent_url(astarte)}/{random_device_id()}", headers=_bearer(astarte.token))
    assert (unknown.status_code, unknown.json()) == (404, {"errors": {"detail": "Device not found"}})


def test_versions_and_unknown_routes(astarte: AstarteClient, http: httpx.Client) -> None:
    assert http.get(f"{astarte.pairing_base_url}/version").json() == {"data": "1.2.0"}
    assert http.get(f"{astarte.pairing_base_url}/v1/{astarte.realm}/version").json() == {"data": "1.2.0"}
    assert http.get(f"{astarte.pairing_base_url}/nope").json() == {"errors": {"detail": "Page not found"}}
    assert http.get(f"{astarte.appengine_url}/nope").status_code == 404
    assert http.put(_agent_url(astarte), headers=_bearer(astarte.token)).status_code == 404


# ----------------------------------------------------------------------------- Realm Management


def _interface(name: str, major: int = 0, minor: int = 1, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"interface_name": name, "version_major": major, "version_minor": minor,
                           "type": "properties", "ownership": "server",
                           "mappings": [{"endpoint": "/a", "type": "integer", "allow_unset": False}]}
    doc.update(extra)
    return doc


def test_realm_management_install_get_conflicts(astarte: AstarteClient) -> None:
    name = f"org.hil.rm.T{random_device_id()[:6].replace('-', 'x').replace('_', 'y')}"
    created = astarte.realm_management("POST", "interfaces", json={"data": _interface(name)})
    assert (created.status_code, created.content) == (201, b"")
    assert created.headers["location"] == f"/v1/{astarte.realm}/interfaces/{name}/0"
    duplicate = astarte.realm_management("POST", "interfaces", json={"data": _interface(name, minor=2)})
    assert (duplicate.status_code, duplicate.json()) == (409, {"errors": {"detail": "Interface already exists"}})
    collision = astarte.realm_management("POST", "interfaces", json={"data": _interface(name.lower())})
    assert collision.status_code == 409 and "name collision" in collision.json()["errors"]["detail"]
    got = astarte.realm_management("GET", f"interfaces/{name}/0").json()["data"]
    assert got == {"interface_name": name, "version_major": 0, "version_minor": 1, "type": "properties",
                   "ownership": "server", "mappings": [{"endpoint": "/a", "type": "integer"}]}
    assert astarte.realm_management("GET", f"interfaces/{name}").json() == {"data": [0]}
    assert name in astarte.realm_management("GET", "interfaces").json()["data"]
    missing = astarte.realm_management("GET", f"interfaces/{name}/3")
    assert (missing.status_code, missing.json()) == (404, {"errors": {"detail": "Interface not found"}})
    assert astarte.realm_management("GET", f"interfaces/{name}/x").json() == {"errors": {"detail": "Invalid major version"}}


@pytest.mark.parametrize(("doc", "expected"), [
    (_interface("1bad"), {"interface_name": ["has invalid format"]}),
    ({k: v for k, v in _interface("org.hil.rm.NoOwner").items() if k != "ownership"}, {"ownership": ["can't be blank"]}),
    (_interface("org.hil.rm.Zero", minor=0), {"version_minor": ["must be > 0 if major_version is 0"]}),
    (_interface("org.hil.rm.BadEp", mappings=[{"endpoint": "/ok", "type": "integer"}, {"endpoint": "bad", "type": "integer"}]),
     {"mappings": [{}, {"endpoint": ["has invalid format"]}]}),
    (_interface("org.hil.rm.Dup", mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/A", "type": "integer"}]),
     {"mappings": ["contain conflicting endpoints"]}),
])
def test_realm_management_validation(astarte: AstarteClient, doc: dict[str, Any], expected: dict[str, Any]) -> None:
    response = astarte.realm_management("POST", "interfaces", json={"data": doc})
    assert (response.status_code, response.json()) == (422, {"errors": expected})


def _datastream(name: str, *mappings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A device datastream 1.0 with ``mappings`` (default one ``/a``); ``extra`` overrides keys."""
    fields = {"type": "datastream", "ownership": "device", "mappings": list(mappings) or [_ep("/a")], **extra}
    return _interface(name, major=1, minor=0, **fields)


def _ep(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "type": "integer", **extra}


# Ecto 3.11 (what astarte v1.2.0 locks) messages for astarte_core's Interface/Mapping changesets.
@pytest.mark.parametrize(("doc", "expected"), [
    (_datastream("org.hil.rm.V", version_major=-1), {"version_major": ["must be greater than or equal to 0"]}),
    (_datastream("org.hil.rm.V", version_minor=-2), {"version_minor": ["must be greater than or equal to 0"]}),
    (_datastream("org.hil.rm.V", version_minor=1.5), {"version_minor": ["is invalid"]}),
    (_datastream("org.hil.rm.V", description="d" * 1001), {"description": ["should be at most 1000 character(s)"]}),
    (_datastream("org.hil.rm.V", doc="d" * 100_001), {"doc": ["should be at most 100000 character(s)"]}),
    (_datastream("org.hil.rm.V", description=7), {"description": ["is invalid"]}),
    (_datastream("org.hil.rm." + "V" * 120), {"interface_name": ["should be at most 128 character(s)"]}),
    (_datastream("9" * 130), {"interface_name": ["has invalid format", "should be at most 128 character(s)"]}),
    (_datastream(""), {"interface_name": ["can't be blank"]}),
    (_datastream(12), {"interface_name": ["is invalid"]}),  # type: ignore[arg-type]
    (_datastream("org.hil.rm.V", _ep("/")),
     {"mappings": [{"endpoint": ["has invalid format", "should be at least 2 character(s)"]}]}),
    (_datastream("org.hil.rm.V", _ep("/" + "e" * 256)), {"mappings": [{"endpoint": ["should be at most 256 character(s)"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a"), _ep("/b", expiry=-1)),
     {"mappings": [{}, {"expiry": ["must be greater than or equal to 0"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", database_retention_policy="use_ttl", database_retention_ttl=59)),
     {"mappings": [{"database_retention_ttl": ["must be greater than or equal to 60"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", database_retention_policy="use_ttl", database_retention_ttl=630_720_000)),
     {"mappings": [{"database_retention_ttl": ["must be less than 630720000"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", database_retention_ttl=100)),
     {"mappings": [{"database_retention_policy": ["must be use_ttl if database_retention_ttl is set"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", database_retention_policy="use_ttl")),
     {"mappings": [{"database_retention_ttl": ["must be set if database_retention_policy is use_ttl"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", doc="d" * 100_001)),
     {"mappings": [{"doc": ["should be at most 100000 character(s)"]}]}),
    (_datastream("org.hil.rm.V", _ep("/a", allow_unset="yes")), {"mappings": [{"allow_unset": ["is invalid"]}]}),
    (_interface("org.hil.rm.V", mappings=[_ep("/a", reliability="sometimes")]), {"mappings": [{"reliability": ["is invalid"]}]}),
    (_interface("org.hil.rm.V", mappings=[_ep("/a", reliability="unique")]), {"mappings": [{"reliability": ["must be blank"]}]}),
    (_datastream("org.hil.rm.V", mappings=[]), {"mappings": ["can't be blank"]}),
    (_datastream("org.hil.rm.V", mappings=None), {"mappings": ["is invalid"]}),
    (_datastream("org.hil.rm.V", mappings=[_ep("/a"), "/b"]), {"mappings": ["is invalid"]}),
    (_datastream("org.hil.rm.V", mappings=[_ep(f"/e{i}") for i in range(1025)]),
     {"mappings": ["should have at most 1024 item(s)"]}),
    (_interface("org.hil.rm.V", aggregation="object"), {"aggregation": ["must be individual for properties interfaces"]}),
    # Checks guarded by the changeset's valid? do not run once another field has failed.
    (_interface("9V", aggregation="object"), {"interface_name": ["has invalid format"]}),
    (_datastream("org.hil.rm.V", _ep("/a"), _ep("/A"), version_minor=-1),
     {"version_minor": ["must be greater than or equal to 0"]}),
    (_datastream("org.hil.rm.V", _ep("/g/a", reliability="unique"), _ep("/h/b"), aggregation="object"),
     {"mappings": ["must have the same prefix in endpoints", "contain conflicting attributes"]}),
])
def test_realm_management_ecto_messages(astarte: AstarteClient, doc: dict[str, Any], expected: dict[str, Any]) -> None:
    response = astarte.realm_management("POST", "interfaces", json={"data": doc})
    assert (response.status_code, response.json()) == (422, {"errors": expected})


def test_realm_management_data_must_be_an_object(astarte: AstarteClient) -> None:
    for data in ("x", [1], None, 3):
        for method, path in (("POST", "interfaces"), ("PUT", "interfaces/org.hil.test.ServerProperties/x")):
            response = astarte.realm_management(method, path, json={"data": data})
            assert (response.status_code, response.json()) == (400, {"errors": {"detail": "Bad request"}}), (method, data)


OVERLAPPING = (422, {"errors": {"detail": "Overlapping endpoints in interface mappings"}})


@pytest.mark.parametrize("endpoints", [
    ("/a/%{x}", "/a/b"),
    ("/a", "/a/b"),
    ("/a/b/c", "/a/%{x}"),
    ("/%{x}/a", "/b/%{y}"),
])
def test_realm_management_overlapping_endpoints(astarte: AstarteClient, endpoints: tuple[str, ...]) -> None:
    """Overlaps are found by the backend's endpoint automaton, after the changeset and the 409s."""
    name = f"org.hil.rm.O{random_device_id()[:6].replace('-', 'x').replace('_', 'y')}"
    doc = _datastream(name, *(_ep(e) for e in endpoints))
    response = astarte.realm_management("POST", "interfaces", json={"data": doc})
    assert (response.status_code, response.json()) == OVERLAPPING
    assert astarte.realm_management("GET", f"interfaces/{name}").status_code == 404
    # A changeset error wins over the overlap; a duplicate (name, major) too.
    invalid = astarte.realm_management("POST", "interfaces", json={"data": {**doc, "version_minor": -1}})
    assert (invalid.status_code, invalid.json()) == (422, {"errors": {"version_minor": ["must be greater than or equal to 0"]}})
    assert astarte.realm_management("POST", "interfaces", json={"data": _datastream(name)}).status_code == 201
    duplicate = astarte.realm_management("POST", "interfaces", json={"data": doc})
    assert (duplicate.status_code, duplicate.json()) == (409, {"errors": {"detail": "Interface already exists"}})


def test_realm_management_non_overlapping_endpoints_install(astarte: AstarteClient) -> None:
    name = f"org.hil.rm.N{random_device_id()[:6].replace('-', 'x').replace('_', 'y')}"
    doc = _datastream(name, _ep("/a/%{x}/c"), _ep("/a/b/d"), _ep("/%{y}/e/f/g"))
    assert astarte.realm_management("POST", "interfaces", json={"data": doc}).status_code == 201


def test_realm_management_update_and_delete(astarte: AstarteClient) -> None:
    name = "org.hil.rm.Updatable"
    assert astarte.realm_management("POST", "interfaces", json={"data": _interface(name)}).status_code == 201

    def put(doc: dict[str, Any], major: int = 0) -> httpx.Response:
        return astarte.realm_management("PUT", f"interfaces/{name}/{major}", json={"data": doc})

    cases = [
        (_interface(name, minor=1), 409, "Interface minor version was not increased"),
        (_interface(name, minor=2, ownership="device"), 409, "Invalid update"),
        # engine.ex compares the descriptor before the minor version, and overlaps come last.
        (_interface(name, minor=1, ownership="device"), 409, "Invalid update"),
        (_interface(name, minor=1, mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/a/b", "type": "integer"}]),
         409, "Interface minor version was not increased"),
        (_interface(name, minor=2, mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/a/b", "type": "integer"}]),
         422, "Overlapping endpoints in interface mappings"),
        (_interface(name, minor=2, mappings=[{"endpoint": "/b", "type": "integer"}]), 409,
         "Interface update has missing endpoints"),
        (_interface(name, minor=2, mappings=[{"endpoint": "/a", "type": "double"}]), 409,
         "Interface update contains incompatible endpoint changes"),
        (_interface("org.hil.rm.Other", minor=2), 409, "Interface name doesn't match the one in the interface json"),
    ]
    for doc, status, text in cases:
        response = put(doc)
        assert (response.status_code, response.json()["errors"]["detail"]) == (status, text)
    added = _interface(name, minor=3, mappings=[{"endpoint": "/a", "type": "integer"}, {"endpoint": "/b", "type": "string"}])
    assert put(added).status_code == 204
    assert put(_interface(name, minor=2)).json() == {"errors": {"detail": "Interface downgrade not allowed"}}
    assert astarte.realm_management("GET", f"interfaces/{name}/0").json()["data"]["version_minor"] == 3
    assert astarte.realm_management("DELETE", "interfaces/org.hil.test.ServerProperties/1").json() == \
        {"errors": {"detail": "Interface can't be deleted"}}
    used = astarte.register_device(initial_introspection={name: {"major": 0, "minor": 3}})
    in_use = astarte.realm_management("DELETE", f"interfaces/{name}/0")
    assert (in_use.status_code, in_use.json()["errors"]["detail"]) == (
        403, "Interface can't be deleted since it's currently used")
    astarte.appengine("GET", f"devices/{used.device_id}")
    astarte.reset(devices=[used.device_id])  # forget the device that uses it
    assert astarte.realm_management("DELETE", f"interfaces/{name}/0").status_code == 204
    assert astarte.realm_management("DELETE", f"interfaces/{name}/0").json() == {"errors": {"detail": "Interface major not found"}}


# ----------------------------------------------------------------------------- no 500, ever


def test_bad_input_never_gets_a_500(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    base_ae = f"{astarte.appengine_url}/v1/{astarte.realm}"
    auth = _bearer(astarte.token)
    bodies: list[dict[str, Any]] = [
        {"content": b"\xff\xfe not json"}, {"content": b"NaN"}, {"content": b"[" * 5000 + b"]" * 5000},
        {"json": None}, {"json": "string"}, {"json": {"data": None}}, {"json": {"data": [None, {"x": []}]}},
        {"json": {"data": {"hw_id": 12, "csr": 5, "client_crt": [], "interface_name": {"x": 1}, "mappings": "x"}}},
    ]
    targets = [
        ("POST", _agent_url(astarte)),
        ("DELETE", f"{_agent_url(astarte)}/%00%ff"),
        ("POST", _device_url(astarte, device.device_id, "/protocols/astarte_mqtt_v1/credentials")),
        ("POST", _device_url(astarte, device.device_id, "/protocols/astarte_mqtt_v1/credentials/verify")),
        ("GET", _device_url(astarte, "%2F%2E%2E")),
        ("POST", f"{astarte.realm_management_url}/v1/{astarte.realm}/interfaces"),
        ("PUT", f"{astarte.realm_management_url}/v1/{astarte.realm}/interfaces/x/99999999999999999999"),
        ("DELETE", f"{astarte.realm_management_url}/v1/{astarte.realm}/interfaces/x/abc"),
        ("PATCH", f"{base_ae}/devices/{device.device_id}"),
        ("POST", f"{base_ae}/devices/{device.device_id}/interfaces/org.hil.test.ServerProperties/double"),
        ("GET", f"{base_ae}/devices/{device.device_id}/interfaces/x?since=yesterday&limit=-1&format=xml"),
        ("GET", f"{base_ae}/devices/!!!/interfaces/x//..//"),
        ("POST", f"{astarte.control_url}/token"),
        ("GET", f"{astarte.control_url}/errors?min_count=x"),
    ]
    for method, url in targets:
        for body in bodies:
            response = http.request(method, url, headers=auth, **body)
            assert response.status_code < 500, (method, url, list(body), response.text[:200])
            assert "errors" in response.json() or "data" in response.json(), (method, url)
    for method, url in (targets[0], targets[5]):
        oversized = http.request(method, url, headers=auth, content=b"x" * 8_100_000)
        assert (oversized.status_code, oversized.json()) == (413, {"errors": {"detail": "Request entity too large"}})


def test_client_refusals_are_hil_errors(astarte: AstarteClient) -> None:
    """What the client cannot do is a one-line TargetError naming Astarte, never a bare RuntimeError."""
    with pytest.raises(TargetError, match=r"^target 'astarte': device registration failed: HTTP 422 .*128 bits id"):
        astarte.register_device("not-an-id")
    keyless = AstarteClient(base_url=astarte.base_url, realm=astarte.realm, ca_path=astarte.ca_path,
                            private_key_path=None, token=astarte.token)
    with pytest.raises(TargetError, match=r"^target 'astarte': .* no realm private key"):
        keyless.mint_token()
