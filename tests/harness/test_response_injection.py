"""Response injection on the Astarte simulator: any answer, changed answers, made certificates."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hil.components.astarte import AstarteClient
from hil.errors import FaultError
from hil.faults.responses import ResponseInjector


@pytest.fixture
def http(astarte: AstarteClient) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(astarte.ca_path)), timeout=10) as client:
        yield client


@pytest.fixture
def injector(astarte: AstarteClient) -> Iterator[ResponseInjector]:
    made = ResponseInjector(f"{astarte.control_url}/responses", astarte.ca_path)
    yield made
    made.clear()
    made.close()


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_the_next_n_answers_are_replaced_then_the_real_one_returns(astarte: AstarteClient, http: httpx.Client,
                                                                  injector: ResponseInjector) -> None:
    url = f"{astarte.pairing_base_url}/version"
    injector.inject("GET", "/pairing/version", count=2, status=502, body="<html>Bad Gateway</html>",
                    content_type="text/html", headers={"server": "nginx"})
    for _ in range(2):
        answer = http.get(url)
        assert (answer.status_code, answer.text, answer.headers["content-type"]) == (
            502, "<html>Bad Gateway</html>", "text/html")
        assert "nginx" in answer.headers["server"]  # uvicorn adds its own name too
    assert http.get(url).json() == {"data": "1.2.0"}
    assert injector.rules() == []  # a used-up rule is gone
    injector.inject("GET", "/pairing/version", count=1, status=503)
    empty = http.get(url)
    assert (empty.status_code, empty.content) == (503, b"")


def test_changes_to_the_real_answer(astarte: AstarteClient, http: httpx.Client, injector: ResponseInjector) -> None:
    device = astarte.register_device()
    url = f"{astarte.pairing_base_url}/v1/{astarte.realm}/devices/{device.device_id}"
    rule = injector.inject("GET", f"/pairing/v1/*/devices/{device.device_id}", count=None,
                           set={"data.protocols.astarte_mqtt_v1.broker_url": "mqtt://elsewhere:1883",
                                "data.version": 12},
                           remove=["data.status"])
    for _ in range(2):
        data = http.get(url, headers={"Authorization": f"Bearer {device.credentials_secret}"}).json()["data"]
        assert data["protocols"]["astarte_mqtt_v1"]["broker_url"] == "mqtt://elsewhere:1883"
        assert data["version"] == 12 and "status" not in data
    assert injector.rules()[0]["hits"] == 2
    injector.remove(rule)
    data = http.get(url, headers={"Authorization": f"Bearer {device.credentials_secret}"}).json()["data"]
    assert data["status"] and data["protocols"]["astarte_mqtt_v1"]["broker_url"].startswith("mqtts://")


@pytest.mark.parametrize(("variant", "check"), [
    ("expired", lambda c, cn: c.not_valid_after_utc < dt.datetime.now(dt.UTC)),
    ("not-yet-valid", lambda c, cn: c.not_valid_before_utc > dt.datetime.now(dt.UTC)),
    ("short-lived", lambda c, cn: c.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)),
    ("other-cn", lambda c, cn: c.subject.rfc4514_string() != f"CN={cn}"),
    ("other-realm", lambda c, cn: c.subject.rfc4514_string() == f"CN=other{cn}"),
    ("other-ca", lambda c, cn: "foreign" in c.issuer.rfc4514_string()),
])
def test_certificate_maker_signs_the_devices_own_csr_wrongly(astarte: AstarteClient, http: httpx.Client,
                                                            injector: ResponseInjector, variant: str,
                                                            check: object) -> None:
    device = astarte.register_device()
    path = f"/pairing/v1/{astarte.realm}/devices/{device.device_id}/protocols/astarte_mqtt_v1/credentials"
    injector.inject("POST", path, set={"data.client_crt": {"$make": "certificate", "variant": variant}})
    csr = _csr()
    answer = http.post(f"https://{httpx.URL(astarte.pairing_base_url).netloc.decode()}{path}",
                       json={"data": {"csr": csr}}, headers={"Authorization": f"Bearer {device.credentials_secret}"})
    assert answer.status_code == 201, answer.text
    cert = x509.load_pem_x509_certificate(answer.json()["data"]["client_crt"].encode())
    own_key = x509.load_pem_x509_csr(csr.encode()).public_key()
    assert cert.public_key() == own_key
    assert check(cert, f"{astarte.realm}/{device.device_id}")  # type: ignore[operator]


@pytest.mark.parametrize(("rule", "message"), [
    ({"path": "/x"}, "needs either status"),
    ({"path": "x", "status": 500}, "path must be a glob starting with '/'"),
    ({"path": "/x", "status": 700}, "status must be an HTTP status"),
    ({"path": "/x", "status": 500, "count": 0}, "count must be a positive integer"),
    ({"path": "/x", "status": 500, "set": {}}, "give one or the other"),
    ({"path": "/x", "status": 500, "colour": "red"}, "unknown rule field 'colour'"),
    ({"path": "/x", "set": {"a": {"$make": "nope"}}}, "no maker 'nope'"),
    ({"path": "/x", "method": "BREW", "status": 500}, "method must be one of"),
])
def test_bad_rules_are_one_line(astarte: AstarteClient, http: httpx.Client, rule: dict[str, object],
                                message: str) -> None:
    answer = http.post(f"{astarte.control_url}/responses", json=rule)
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error", "status"} and message in body["error"] and "\n" not in body["error"]


def test_removing_an_unknown_rule_is_404(injector: ResponseInjector) -> None:
    with pytest.raises(FaultError, match="no injection rule 999"):
        injector._call("DELETE", "/999")


def test_the_clock_moves_what_verify_judges(astarte: AstarteClient, http: httpx.Client) -> None:
    device = astarte.register_device()
    base = f"{astarte.pairing_base_url}/v1/{astarte.realm}/devices/{device.device_id}/protocols/astarte_mqtt_v1"
    auth = {"Authorization": f"Bearer {device.credentials_secret}"}
    certificate = http.post(f"{base}/credentials", json={"data": {"csr": _csr()}}, headers=auth).json()["data"]["client_crt"]
    assert http.post(f"{base}/credentials/verify", json={"data": {"client_crt": certificate}}, headers=auth
                     ).json()["data"]["valid"] is True
    moved = http.post(f"{astarte.control_url}/clock/advance", json={"seconds": 31 * 86400})
    try:
        assert moved.status_code == 200 and moved.json()["offset_seconds"] == 31 * 86400
        verdict = http.post(f"{base}/credentials/verify", json={"data": {"client_crt": certificate}},
                            headers=auth).json()["data"]
        assert verdict["valid"] is False and verdict["cause"] == "EXPIRED"
        assert http.post(f"{astarte.control_url}/clock/advance", json={"seconds": "x"}).status_code == 400
    finally:
        http.post(f"{astarte.control_url}/clock/reset")
    assert http.get(f"{astarte.control_url}/clock").json()["offset_seconds"] == 0
