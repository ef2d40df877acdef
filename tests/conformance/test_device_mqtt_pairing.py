"""``astarte_device_sdk`` registration, credentials and TLS with ``DeviceMqtt``.

Registration uses the SDK's own helpers (``register_device_with_jwt_token``,
``register_device_with_private_key``); the device gets its certificate through Pairing on
``connect()``. Trust in the harness CA comes only from the environment (``SSL_CERT_FILE`` for
paho/OpenSSL, ``REQUESTS_CA_BUNDLE`` for requests), as it would on a device; the broker-side
verification case runs in a child process because paho retries a failed TLS connection forever
and ``disconnect()`` cannot stop a device that never connected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import MqttDeviceUnderTest, broker_log, device_in_child
from hil.mqtt.broker import MosquittoBroker
from hil.components.astarte import AstarteClient, random_device_id
from hil.targets.protocols import AppEngine, AstartePairing, BrokerAdmin, RealmMessageLog
from hil.fixtures.plugin import hil_requires

pytestmark = [hil_requires(AstartePairing, AppEngine),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.sdk_has("astarte.device", "DeviceMqtt")]

# The releases these findings were seen in (hil matrix, sets astarte-0.13 and current).
SDK = "astarte-device-sdk>=0.13.4,<=0.14.0"
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _status(astarte: AstarteClient, device_id: str) -> dict[str, Any]:
    response = astarte.appengine("GET", f"devices/{device_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.fixture
def devices() -> Iterator[list[MqttDeviceUnderTest]]:
    """Devices a check builds itself; closed at teardown."""
    made: list[MqttDeviceUnderTest] = []
    yield made
    for device in made:
        device.close()


@pytest.fixture
def trusted(astarte: AstarteClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in astarte.trust_environment().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in TRUST_VARIABLES:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.requirement("ASTARTE-PAIRING-REGISTER-01", "ASTARTE-PAIRING-REGISTER-04", "ASTARTE-PAIRING-CREDENTIALS-01",
                         "ASTARTE-PAIRING-CREDENTIALS-03", "ASTARTE-PAIRING-INFO-01", "ASTARTE-PAIRING-INFO-02",
                         "ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TLS-04", "ASTARTE-PAIRING-HTTPS-01",
                         "ASTARTE-PAIRING-VERIFY-04")
def test_jwt_registration_certificate_and_reuse_after_verify(astarte: AstarteClient, trusted: None, tmp_path: Path,
                                                             devices: list[MqttDeviceUnderTest]) -> None:
    from astarte.device.exceptions import DeviceAlreadyRegisteredError
    from astarte.device.pairing_handler import register_device_with_jwt_token

    device_id = random_device_id()
    secret = register_device_with_jwt_token(device_id, astarte.realm, astarte.token, astarte.pairing_base_url)
    assert isinstance(secret, str) and secret
    status = _status(astarte, device_id)
    assert status["first_credentials_request"] is None and status["connected"] is False
    device = MqttDeviceUnderTest(astarte, device_id, secret, tmp_path, ("org.hil.test.DeviceDatastream",),
                                 registry=devices)
    device.connect()
    # Pairing issued a certificate (CSR signed), and the broker accepted it as <realm>/<device_id>.
    status = _status(astarte, device_id)
    assert ISO_MS.match(str(status["first_credentials_request"])), status
    assert status["last_credentials_request_ip"] and status["connected"] is True
    # Re-registering a device that already has credentials is refused (422, already registered).
    with pytest.raises(DeviceAlreadyRegisteredError):
        register_device_with_jwt_token(device_id, astarte.realm, astarte.token, astarte.pairing_base_url)
    # With new credentials inhibited, a reboot only works if the SDK keeps the certificate that
    # verify still calls valid instead of asking for a new one.
    inhibit = astarte.appengine("PATCH", f"devices/{device_id}", json={"data": {"credentials_inhibited": True}},
                                headers={"Content-Type": "application/merge-patch+json"})
    assert inhibit.status_code == 200, inhibit.text
    restarted = device.restarted()
    restarted.connect()
    assert _status(astarte, device_id)["connected"] is True


@pytest.mark.requirement("ASTARTE-PAIRING-JWT-04", "ASTARTE-PAIRING-REGISTER-01")
@pytest.mark.finding("ASTARTE-PAIRING-JWT-04", sdk=SDK,
                     reason="register_device_with_private_key always signs RS256: with an EC realm key (ES256, what "
                            "Astarte realms use) it raises JWTGenerationError before any request; with an RSA key it "
                            "raises AttributeError ('str' object has no attribute 'decode', PyJWT >= 2 returns str)")
def test_private_key_registration(astarte: AstarteClient, trusted: None) -> None:
    """Reproducer: ``register_device_with_private_key(id, realm, <realm EC private key>, url, False)``."""
    from astarte.device.exceptions import JWTGenerationError
    from astarte.device.pairing_handler import register_device_with_private_key

    if astarte.private_key_path is None:
        pytest.skip("the target's bench file gives a realm JWT, not the realm private key this call needs")
    device_id = random_device_id()
    try:
        secret = register_device_with_private_key(device_id, astarte.realm, str(astarte.private_key_path),
                                                  astarte.pairing_base_url, False)
    except (JWTGenerationError, AttributeError) as exc:  # the two ways the RS256-only signing fails
        pytest.fail(f"ASTARTE-PAIRING-JWT-04: registration with the realm's EC private key raised {exc!r}")
    assert secret and _status(astarte, device_id)["id"] == device_id


@pytest.mark.requirement("ASTARTE-MQTT-TLS-04", "ASTARTE-PAIRING-HTTPS-01")
@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_ignore_ssl_errors_connects_without_trusting_the_ca(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                                            untrusted: None,
                                                            devices: list[MqttDeviceUnderTest]) -> None:
    registered = astarte_device()
    device = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                 registered.persistency_dir, ("org.hil.test.DeviceDatastream",),
                                 ignore_ssl_errors=True, registry=devices)
    device.connect()
    assert _status(astarte, registered.device_id)["connected"] is True


@pytest.mark.requirement("ASTARTE-PAIRING-HTTPS-01", "ASTARTE-MQTT-TLS-04")
def test_pairing_certificate_is_verified(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                         untrusted: None, devices: list[MqttDeviceUnderTest]) -> None:
    import requests

    registered = astarte_device()
    device = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                 registered.persistency_dir, ("org.hil.test.DeviceDatastream",), registry=devices)
    with pytest.raises(requests.exceptions.SSLError):
        device.device.connect()
    assert _status(astarte, registered.device_id)["first_credentials_request"] is None


@hil_requires(BrokerAdmin, RealmMessageLog)  # Mosquitto's $SYS log and the realm's session log
@pytest.mark.requirement("ASTARTE-MQTT-TLS-04")
def test_broker_certificate_is_verified(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                        hil_broker: MosquittoBroker) -> None:
    """Pairing trusted (``REQUESTS_CA_BUNDLE``), the broker's CA not (no ``SSL_CERT_FILE``): the SDK
    must refuse the broker. Evidence: the broker logs the device's TLS alert; no session starts."""
    registered = astarte_device()
    env = {k: v for k, v in os.environ.items() if k not in TRUST_VARIABLES}
    env["REQUESTS_CA_BUNDLE"] = astarte.trust_environment()["REQUESTS_CA_BUNDLE"]
    with broker_log(hil_broker) as log, device_in_child(astarte, registered, env):
        alert = log.wait_for_message(lambda m: b"unknown ca" in m.payload, timeout=10)
        assert alert is not None, "the broker never saw the device refuse its certificate"
        assert ISO_MS.match(str(_status(astarte, registered.device_id)["first_credentials_request"]))
        assert astarte.device_sessions(registered.device_id) == [], "the device connected to an untrusted broker"
