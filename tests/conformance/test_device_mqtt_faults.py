"""``DeviceMqtt`` when Pairing, the broker or the network misbehave.

Every call ``connect()`` makes to Pairing (credentials, credentials/verify, device info) is
answered, once, with each error a real Pairing documents and each answer a proxy or a
half-broken server gives (HTML 502, empty 503, a success without the field the device needs);
the check is what the application is told, against the SDK's documented exceptions
(``AuthorizationError`` for 401/403, ``APIError`` otherwise, ``AstarteError`` as their base).
Then: Pairing down while the device connects, the broker restarting and the connection being
reset under a connected device.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import MqttDeviceUnderTest, broker_log, device_in_child, interface_file
from hil.fixtures.faults import CheckFaults
from hil.fixtures.plugin import hil_requires
from hil.targets.protocols import AppEngine, AstartePairing, BrokerAdmin
from hil.components.astarte import AstarteClient

pytestmark = [hil_requires(AstartePairing, AppEngine),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SDK = "astarte-device-sdk==0.14.0"
CREDENTIALS = "/pairing/v1/*/devices/{id}/protocols/astarte_mqtt_v1/credentials"
VERIFY = CREDENTIALS + "/verify"
INFO = "/pairing/v1/*/devices/{id}"
HTML_502 = {"status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}
EMPTY_503 = {"status": 503, "body": "", "content_type": "text/plain"}


def _json_error(status: int, detail: str) -> dict[str, Any]:
    return {"status": status, "body": {"errors": {"detail": detail}}, "content_type": "application/json"}


@pytest.fixture
def trusted(hil_pki: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in hil_pki.trust_environment().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def devices() -> Iterator[list[MqttDeviceUnderTest]]:
    made: list[MqttDeviceUnderTest] = []
    yield made
    for device in made:
        device.close()


def _sdk_device(astarte: AstarteClient, registered: Any, pairing_url: str | None = None) -> Any:
    from astarte.device import DeviceMqtt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        device = DeviceMqtt(registered.device_id, astarte.realm, registered.credentials_secret,
                            pairing_url or astarte.pairing_base_url, str(registered.persistency_dir))
    device.add_interface_from_file(interface_file("org.hil.test.DeviceDatastream"))
    return device


def _expect_raise(call: Callable[[], None], expected: type[BaseException], requirement: str) -> None:
    """The check: ``call`` raises ``expected``; anything else is the deviation, said in one line."""
    try:
        call()
    except expected:
        return
    except Exception as exc:  # noqa: BLE001 - the SDK's actual answer is the finding's evidence
        pytest.fail(f"{requirement}: expected {expected.__name__}, the SDK raised {type(exc).__name__}: "
                    f"{str(exc)[:160]}")
    pytest.fail(f"{requirement}: expected {expected.__name__}, connect() returned normally")


def _finding(requirement: str, reason: str) -> pytest.MarkDecorator:
    return pytest.mark.finding(requirement, reason=reason, sdk=SDK)


NOT_JSON = ("an error answer that is not JSON (a proxy's HTML page, an empty body) escapes as "
            "requests' JSONDecodeError: pairing_handler calls res.json() before raising APIError")
UNUSABLE = ("a success answer without the field the device needs escapes as a bare {}: pairing_handler "
            "indexes the answer without checking it")


def _errors(name: str, path: str, success: int) -> list[Any]:
    """The answers a route can give instead of its success, with what the SDK must raise."""
    from astarte.device.exceptions import APIError, AuthorizationError

    return [
        pytest.param(path, _json_error(401, "Unauthorized"), AuthorizationError, "ASTARTE-SDK-ERRORS-01", id=f"{name}-401-json"),
        pytest.param(path, _json_error(403, "Forbidden"), AuthorizationError, "ASTARTE-SDK-ERRORS-01", id=f"{name}-403-json"),
        pytest.param(path, _json_error(404, "Device not found"), APIError, "ASTARTE-SDK-ERRORS-02", id=f"{name}-404-json"),
        pytest.param(path, {"status": 422, "body": {"errors": {"error_name": ["credentials_request_inhibited"]}}},
                     APIError, "ASTARTE-SDK-ERRORS-02", id=f"{name}-422-json"),
        pytest.param(path, _json_error(500, "Internal server error"), APIError, "ASTARTE-SDK-ERRORS-02",
                     id=f"{name}-500-json"),
        pytest.param(path, HTML_502, APIError, "ASTARTE-SDK-ERRORS-02", id=f"{name}-502-html",
                     marks=_finding("ASTARTE-SDK-ERRORS-02", NOT_JSON)),
        pytest.param(path, EMPTY_503, APIError, "ASTARTE-SDK-ERRORS-02", id=f"{name}-503-empty",
                     marks=_finding("ASTARTE-SDK-ERRORS-02", NOT_JSON)),
        pytest.param(path, {"status": 401, "body": "<html>401 Authorization Required</html>",
                            "content_type": "text/html"}, AuthorizationError, "ASTARTE-SDK-ERRORS-01",
                     id=f"{name}-401-html", marks=_finding("ASTARTE-SDK-ERRORS-01", NOT_JSON)),
        pytest.param(path, {"status": success, "body": "OK", "content_type": "text/plain"}, APIError,
                     "ASTARTE-SDK-ERRORS-03", id=f"{name}-{success}-text",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("JSONDecodeError"))),
    ]


def _unusable_successes() -> list[Any]:
    from astarte.device.exceptions import APIError, AstarteError

    return [
        pytest.param(CREDENTIALS, {"remove": ["data.client_crt"]}, AstarteError, "ASTARTE-SDK-ERRORS-03",
                     id="credentials-no-client_crt", marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("KeyError"))),
        pytest.param(CREDENTIALS, {"set": {"data.client_crt": 12}}, AstarteError, "ASTARTE-SDK-ERRORS-03",
                     id="credentials-client_crt-number",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("AttributeError"))),
        pytest.param(CREDENTIALS, {"set": {"data.client_crt": {"$make": "certificate", "variant": "garbage"}}},
                     AstarteError, "ASTARTE-SDK-ERRORS-03", id="credentials-garbage-certificate",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("ValueError"))),
        pytest.param(INFO, {"remove": ["data.protocols"]}, AstarteError, "ASTARTE-SDK-ERRORS-03",
                     id="info-no-protocols", marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("KeyError"))),
        pytest.param(INFO, {"remove": ["data.protocols.astarte_mqtt_v1.broker_url"]}, AstarteError,
                     "ASTARTE-SDK-ERRORS-03", id="info-no-broker_url",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("KeyError"))),
        pytest.param(INFO, {"set": {"data.protocols.astarte_mqtt_v1.broker_url": 8883}}, AstarteError,
                     "ASTARTE-SDK-ERRORS-03", id="info-broker_url-number",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("AttributeError"))),
        pytest.param(INFO, {"set": {"data.protocols.astarte_mqtt_v1.broker_url": "mqtts://localhost/"}}, APIError,
                     "ASTARTE-SDK-ERRORS-04", id="info-broker_url-no-port"),
        pytest.param(INFO, {"set": {"data.protocols.astarte_mqtt_v1.broker_url": "localhost:8883"}}, APIError,
                     "ASTARTE-SDK-ERRORS-04", id="info-broker_url-no-scheme"),
        pytest.param(INFO, {"set": {"data.protocols.astarte_mqtt_v1.broker_url": ""}}, APIError,
                     "ASTARTE-SDK-ERRORS-04", id="info-broker_url-empty"),
        pytest.param(INFO, {"set": {"data.protocols": {"astarte_mqtt_v2": {"broker_url": "mqtts://localhost:1/"}}}},
                     APIError, "ASTARTE-SDK-ERRORS-04", id="info-no-mqtt-v1-protocol"),
    ]


def _params() -> list[Any]:
    """Collected lazily: the SDK's exception classes are the expectations."""
    try:
        return [*_errors("credentials", CREDENTIALS, 201), *_errors("info", INFO, 200), *_unusable_successes()]
    except ImportError:  # the SDK is not installed: the module's checks skip at run time
        return []


def _with_requirement(params: list[Any]) -> list[Any]:
    return [pytest.param(*p.values, id=p.id, marks=[*p.marks, pytest.mark.requirement(p.values[-1])])
            for p in params]


@pytest.mark.parametrize(("path", "answer", "expected", "requirement"), _with_requirement(_params()))
def test_connect_reports_each_pairing_answer_as_documented(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                                           faults: CheckFaults, trusted: None, path: str,
                                                           answer: dict[str, Any], expected: type[BaseException],
                                                           requirement: str) -> None:
    """Reproducer: a Pairing (or a proxy before it) that answers ``answer`` to ``path`` once;
    ``DeviceMqtt(...).connect()``."""
    registered = astarte_device()
    method = "POST" if "credentials" in path else "GET"
    faults.respond("pairing", method, path.format(id=registered.device_id), count=1, **answer)
    device = _sdk_device(astarte, registered)
    try:
        _expect_raise(device.connect, expected, requirement)
    finally:
        if device.is_connected():
            device.disconnect()


def _verify_params() -> list[Any]:
    try:
        from astarte.device.exceptions import APIError, AstarteError, AuthorizationError
    except ImportError:
        return []
    return _with_requirement([
        pytest.param(_json_error(401, "Unauthorized"), AuthorizationError, "ASTARTE-SDK-ERRORS-01", id="401-json"),
        pytest.param(_json_error(500, "Internal server error"), APIError, "ASTARTE-SDK-ERRORS-02", id="500-json"),
        pytest.param(HTML_502, APIError, "ASTARTE-SDK-ERRORS-02", id="502-html",
                     marks=_finding("ASTARTE-SDK-ERRORS-02", NOT_JSON)),
        pytest.param({"remove": ["data"]}, AstarteError, "ASTARTE-SDK-ERRORS-03", id="200-no-data",
                     marks=_finding("ASTARTE-SDK-ERRORS-03", UNUSABLE.format("AttributeError"))),
    ])


@pytest.mark.parametrize(("answer", "expected", "requirement"), _verify_params())
def test_reconnect_reports_each_verify_answer_as_documented(astarte: AstarteClient,
                                                            astarte_device: Callable[..., Any], faults: CheckFaults,
                                                            trusted: None, devices: list[MqttDeviceUnderTest],
                                                            answer: dict[str, Any], expected: type[BaseException],
                                                            requirement: str) -> None:
    """Reproducer: a device that has a certificate restarts; credentials/verify answers ``answer``."""
    registered = astarte_device()
    first = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                registered.persistency_dir, ("org.hil.test.DeviceDatastream",), registry=devices)
    first.connect()
    first.disconnect()
    faults.respond("pairing", "POST", VERIFY.format(id=registered.device_id), count=1, **answer)
    device = _sdk_device(astarte, registered)
    try:
        _expect_raise(device.connect, expected, requirement)
    finally:
        if device.is_connected():
            device.disconnect()


@pytest.mark.requirement("ASTARTE-SDK-ERRORS-05")
def test_pairing_down_then_back(astarte: AstarteClient, astarte_device: Callable[..., Any], faults: CheckFaults,
                                trusted: None) -> None:
    """Pairing unreachable while the device connects: connect raises; once Pairing is back, a
    second connect of the same device object succeeds."""
    registered = astarte_device()
    device = _sdk_device(astarte, registered, faults.pairing_url())
    connected = threading.Event()
    device.set_events_callbacks(on_connected=lambda _d: connected.set(), on_disconnected=lambda _d, _rc: None)
    try:
        # any exception the caller can catch is what is asked
        with faults.down("pairing"), pytest.raises(Exception):  # noqa: B017
            device.connect()
        device.connect()
        assert connected.wait(10), "connect() after Pairing came back did not connect"
    finally:
        if device.is_connected():
            device.disconnect()


@pytest.mark.requirement("ASTARTE-SDK-RECONNECT-01", "ASTARTE-MQTT-SESSION-01")
def test_broker_restart_mid_stream(astarte: AstarteClient, faults: CheckFaults,
                                   mqtt_device: Callable[..., MqttDeviceUnderTest]) -> None:
    """The broker restarts under a connected device: it is told (on_disconnected), reconnects by
    itself (on_connected), sets its session up again, and data sent afterwards arrives."""
    device = mqtt_device("org.hil.test.DeviceDatastream")
    mark = device.log.mark(device.device_id)
    faults.restart("broker")
    assert device.wait_disconnections(1, timeout=10), "on_disconnected was not called after the broker restart"
    assert device.wait_connections(2, timeout=30), "DeviceMqtt did not reconnect after the broker restart"
    assert device.log.next(device.device_id, "/control/producer/properties", mark, timeout=10) is not None, \
        "the device did not set its session up again (no control/producer/properties after reconnecting)"
    since = device.log.mark(device.device_id)
    device.send("org.hil.test.DeviceDatastream", "/integer", 42)
    assert device.log.next(device.device_id, "/org.hil.test.DeviceDatastream/integer", since, timeout=10)


@pytest.mark.requirement("ASTARTE-SDK-RECONNECT-01")
def test_connection_reset_mid_stream(astarte: AstarteClient, astarte_device: Callable[..., Any], faults: CheckFaults,
                                     trusted: None, devices: list[MqttDeviceUnderTest]) -> None:
    """The device's broker connection crosses the fault proxy and is reset (TCP RST)."""
    registered = astarte_device()
    faults.route_broker(registered.device_id)
    device = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                 registered.persistency_dir, ("org.hil.test.DeviceDatastream",), registry=devices)
    device.connect()
    with faults.reset_peer("broker"):
        assert device.wait_disconnections(1, timeout=10), "on_disconnected was not called after a reset"
    assert device.wait_connections(2, timeout=30), "DeviceMqtt did not reconnect after the reset"


# -- certificate lifecycle -----------------------------------------------------------------------
@pytest.mark.requirement("ASTARTE-PAIRING-VERIFY-04", "ASTARTE-PAIRING-CREDENTIALS-01")
def test_a_certificate_verify_calls_invalid_is_renewed(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                                       faults: CheckFaults, trusted: None,
                                                       devices: list[MqttDeviceUnderTest]) -> None:
    """A device restarts with a certificate Pairing now calls expired: it asks for a new one."""
    registered = astarte_device()
    first = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                registered.persistency_dir, ("org.hil.test.DeviceDatastream",), registry=devices)
    first.connect()
    first.disconnect()
    faults.respond("pairing", "POST", VERIFY.format(id=registered.device_id), count=1,
                   set={"data.valid": False, "data.cause": "EXPIRED", "data.details": None}, remove=["data.until"])
    seen = faults.respond("pairing", "POST", CREDENTIALS.format(id=registered.device_id), count=None, set={})
    restarted = first.restarted()
    restarted.connect()
    rule = [r for r in faults.injectors["pairing"].rules() if r["path"] == seen.record.attributes["path"]]
    assert rule and rule[0]["hits"] == 1, "the device did not ask Pairing for a new certificate"


@contextlib.contextmanager
def _refused_device(astarte: AstarteClient, registered: Any, faults: CheckFaults, hil_pki: Any,
                    hil_broker: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A device (in a child process: paho retries forever) whose first certificate is not valid
    yet, so the broker refuses it; yields the broker's log session (after that refusal) and the
    observer rules of the Pairing calls that follow (``credentials``, ``verify``)."""
    import os

    faults.respond("pairing", "POST", CREDENTIALS.format(id=registered.device_id), count=1,
                   set={"data.client_crt": {"$make": "certificate", "variant": "not-yet-valid"}})
    observers = {name: faults.respond("pairing", "POST", path.format(id=registered.device_id), count=None, set={})
                 for name, path in (("credentials", CREDENTIALS), ("verify", VERIFY))}
    with broker_log(hil_broker) as log, device_in_child(astarte, registered,
                                                        {**os.environ, **hil_pki.trust_environment()}):
        assert log.wait_for_message(lambda m: b"certificate verify failed" in m.payload, timeout=15), \
            "the broker did not refuse the not-yet-valid certificate"

        def hits() -> dict[str, int]:
            rules = {r["path"]: r["hits"] for r in faults.injectors["pairing"].rules()}
            return {name: rules.get(step.record.attributes["path"], 0) for name, step in observers.items()}

        yield log, {"hits": hits}


def _later_connections(log: Any, count: int) -> None:
    """Wait until the broker has seen ``count`` new connections after what it logged so far."""
    earlier = {id(m) for m in log.messages()}
    later: list[Any] = []
    while len(later) < count:
        found = log.wait_for_message(lambda m: b"New connection from" in m.payload and id(m) not in earlier
                                     and all(m is not seen for seen in later), timeout=15)
        assert found is not None, f"the device did not try to reconnect {count} times after the refusal"
        later.append(found)


@hil_requires(BrokerAdmin)
@pytest.mark.requirement("ASTARTE-PAIRING-VERIFY-04")
@pytest.mark.finding("ASTARTE-PAIRING-VERIFY-04", sdk=SDK,
                     reason="a certificate the broker refuses is never renewed: after the disconnect DeviceMqtt asks "
                            "credentials/verify, hears 'invalid', and calls connect() again, which skips the crypto "
                            "set-up done once, so it never requests a new certificate (verify, info, retry, forever)")
def test_a_certificate_the_broker_refuses_is_renewed(astarte: AstarteClient, astarte_device: Callable[..., Any],
                                                     faults: CheckFaults, hil_pki: Any, hil_broker: Any) -> None:
    """Reproducer: Pairing hands out a certificate that is not valid yet, so the broker refuses it;
    after two more connection attempts the device has still not asked Pairing for a new one."""
    registered = astarte_device()
    with _refused_device(astarte, registered, faults, hil_pki, hil_broker) as (log, observe):
        _later_connections(log, 2)
        seen = observe["hits"]()
        assert seen["verify"] > 0, "the device never checked its certificate with Pairing"
        assert seen["credentials"] > 0, f"the device never asked Pairing for a new certificate ({seen})"


@hil_requires(BrokerAdmin)
@pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
@pytest.mark.finding("ASTARTE-MQTT-TLS-01", sdk=SDK,
                     reason="after credentials/verify calls its certificate invalid, DeviceMqtt rebuilds its paho "
                            "client without TLS (crypto set-up is skipped as already done) and reconnects in "
                            "plaintext MQTT to the broker's TLS port")
def test_reconnection_after_an_invalid_certificate_stays_on_tls(astarte: AstarteClient,
                                                                astarte_device: Callable[..., Any],
                                                                faults: CheckFaults, hil_pki: Any,
                                                                hil_broker: Any) -> None:
    """Reproducer: as above; the broker logs what the device's next connections speak."""
    registered = astarte_device()
    with _refused_device(astarte, registered, faults, hil_pki, hil_broker) as (log, _observe):
        _later_connections(log, 1)
        plaintext = log.wait_for_message(lambda m: b"wrong version number" in m.payload, timeout=5)
        assert plaintext is None, f"the device reconnected without TLS: broker says {plaintext.payload[-80:]!r}"


@pytest.mark.requirement("ASTARTE-PAIRING-VERIFY-04", "ASTARTE-PAIRING-VERIFY-02")
def test_a_certificate_expired_by_the_clock_is_renewed_at_connect(astarte: AstarteClient,
                                                                   astarte_device: Callable[..., Any],
                                                                   faults: CheckFaults, trusted: None,
                                                                   devices: list[MqttDeviceUnderTest]) -> None:
    """Pairing's clock moves 31 days on (the device certificate lives 30): at its next start the
    device hears EXPIRED from verify, asks for a new certificate and connects."""
    registered = astarte_device()
    first = MqttDeviceUnderTest(astarte, registered.device_id, registered.credentials_secret,
                                registered.persistency_dir, ("org.hil.test.DeviceDatastream",), registry=devices)
    first.connect()
    first.disconnect()
    seen = faults.respond("pairing", "POST", CREDENTIALS.format(id=registered.device_id), count=None, set={})
    with faults.advance_clock("pairing", 31 * 86400):
        restarted = first.restarted()
        restarted.connect()
    rule = [r for r in faults.injectors["pairing"].rules() if r["path"] == seen.record.attributes["path"]]
    assert rule and rule[0]["hits"] == 1, "the device did not ask Pairing for a new certificate"


# -- broker outage ---------------------------------------------------------------------------------
RELIABILITY = "org.hil.test.DeviceReliability"


@pytest.mark.requirement("ASTARTE-SDK-RECONNECT-01", "ASTARTE-MQTT-QOS-02")
def test_guaranteed_and_unique_data_sent_before_an_outage_arrive_once(
        astarte: AstarteClient, faults: CheckFaults, mqtt_device: Callable[..., MqttDeviceUnderTest]) -> None:
    """Values published just before the broker goes down are in the realm once it is back and the
    device has reconnected: none lost, none twice."""
    device = mqtt_device(RELIABILITY)
    since = device.log.mark(device.device_id)
    device.send(RELIABILITY, "/guaranteed", 1)
    device.send(RELIABILITY, "/unique", 2)
    assert device.log.on_topic(device.device_id, f"/{RELIABILITY}/unique", since, 1, timeout=10)
    with faults.stop("broker"):
        assert device.wait_disconnections(1, timeout=10), "on_disconnected was not called when the broker stopped"
    assert device.wait_connections(2, timeout=60), "DeviceMqtt did not reconnect once the broker was back"
    after = device.log.mark(device.device_id)
    device.send(RELIABILITY, "/unique", 3)
    assert device.log.on_topic(device.device_id, f"/{RELIABILITY}/unique", after, 1, timeout=10)
    topics = [m["topic"].rsplit("/", 1)[-1] for m in astarte.device_messages(device.device_id, since=since)
              if RELIABILITY in m["topic"]]
    assert topics == ["guaranteed", "unique", "unique"], topics


@pytest.mark.requirement("ASTARTE-SDK-RETENTION-01")
@pytest.mark.finding("ASTARTE-SDK-RETENTION-01", sdk="astarte-device-sdk==0.14.0",
                     reason="DeviceMqtt has no retention: sending to a mapping with retention stored while the broker "
                            "is down raises DeviceDisconnectedError and the value is never delivered")
def test_stored_retention_survives_a_broker_outage(astarte: AstarteClient, faults: CheckFaults,
                                                    mqtt_device: Callable[..., MqttDeviceUnderTest]) -> None:
    """Reproducer: interface mapping ``/stored`` (guaranteed, retention stored, expiry 60 s); the
    broker stops; the application sends 7; the broker comes back."""
    from astarte.device.exceptions import DeviceDisconnectedError

    device = mqtt_device(RELIABILITY)
    since = device.log.mark(device.device_id)
    with faults.stop("broker"):
        assert device.wait_disconnections(1, timeout=10), "on_disconnected was not called when the broker stopped"
        try:
            device.send(RELIABILITY, "/stored", 7)
        except DeviceDisconnectedError:
            pass  # allowed only if the value is still delivered later: that is what is checked below
    assert device.wait_connections(2, timeout=60), "DeviceMqtt did not reconnect once the broker was back"
    stored = device.log.on_topic(device.device_id, f"/{RELIABILITY}/stored", since, 1, timeout=10)
    assert stored, "the value sent to a retention-stored mapping during the outage never arrived"
