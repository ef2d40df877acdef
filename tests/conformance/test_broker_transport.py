"""Transport checks of the target's MQTT broker: mutual TLS and per-device topic isolation.

They observe the broker only as any MQTT client would, so they run unchanged against a
physical broker (given device identities in the bench file) and against the simulated one.
"""

from __future__ import annotations


import pytest

from hil.mqtt.client import MqttSession
from hil.fixtures.plugin import hil_requires
from hil.components.astarte import random_device_id
from hil.services.readiness import ClientIdentity
from hil.targets.protocols import BrokerAdmin, IdentityMint, ScenarioCertificates

REALM = "hil"


def _device_id() -> str:
    return random_device_id()


@pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
def test_broker_accepts_a_device_certificate_from_the_realm_ca(hil_broker, hil_device_identity):
    identity = hil_device_identity(REALM, _device_id())
    with MqttSession(hil_broker.endpoint, identity, protocol="3.1.1") as session:
        result = session.connect()
    assert result.accepted, f"broker refused a valid device certificate: {result.reason}"


@pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
def test_broker_refuses_a_certificate_from_another_ca(hil_broker, tmp_path):
    """A CA of our own, made here, is foreign to any target: this needs no simulator."""
    from hil.pki import HarnessPKI

    foreign = HarnessPKI(tmp_path / "foreign-pki").issue_client(f"{REALM}/{_device_id()}")
    identity = ClientIdentity(foreign.cert_path, foreign.key_path, hil_broker.endpoint.ca_path, foreign.common_name)
    with MqttSession(hil_broker.endpoint, identity) as session:
        result = session.connect()
    assert not result.accepted, "broker accepted a certificate signed by a foreign CA"


@pytest.mark.requirement("ASTARTE-MQTT-TLS-01")
def test_broker_refuses_a_client_without_certificate(hil_broker):
    with MqttSession(hil_broker.endpoint, None) as session:
        result = session.connect()
    assert not result.accepted, "broker accepted a client that presented no certificate"


@pytest.mark.requirement("ASTARTE-MQTT-TLS-03")
@hil_requires(ScenarioCertificates)
@pytest.mark.parametrize("scenario", ["expired", "not-yet-valid"])
def test_broker_refuses_a_certificate_outside_its_validity(hil_broker, hil_scenario_certificates, scenario):
    identity = hil_scenario_certificates.scenario_identity(scenario, f"{REALM}/{_device_id()}")
    with MqttSession(hil_broker.endpoint, identity) as session:
        result = session.connect()
    assert not result.accepted, f"broker accepted a {scenario} certificate"


@pytest.mark.requirement("ASTARTE-MQTT-CONNECT-02")
def test_broker_accepts_an_empty_client_id_with_clean_session(hil_broker, hil_device_identity):
    identity = hil_device_identity(REALM, _device_id())
    with MqttSession(hil_broker.endpoint, identity, protocol="3.1.1", client_id="") as session:
        result = session.connect()
    assert result.accepted, f"empty client id refused: {result.reason}"


@pytest.mark.requirement("ASTARTE-MQTT-TOPICS-01", "ASTARTE-MQTT-TLS-02")
@hil_requires(BrokerAdmin, IdentityMint)
def test_device_publishes_only_on_its_own_topic_tree(hil_broker, hil_identity_mint):
    own, other = _device_id(), _device_id()
    identity = hil_identity_mint(REALM, own)
    with MqttSession(hil_broker.admin_endpoint, hil_broker.admin_identity) as server, MqttSession(
        # The client id claims the other device: identity must still come from the certificate.
        # Mosquitto drops an MQTT 5 client after refusing its publish; reconnect for the marker.
        hil_broker.endpoint, identity, client_id=f"{REALM}/{other}", reconnect=True
    ) as device:
        assert server.connect().accepted and device.connect().accepted
        assert server.subscribe(f"{REALM}/#") == ["Granted QoS 2"]
        assert device.publish(f"{REALM}/{own}/org.hil.Probe/value", b"own", qos=1) == "Success"
        refused = device.publish(f"{REALM}/{other}/org.hil.Probe/value", b"foreign", qos=1)
        assert refused == "Not authorized", f"publish on another device's tree answered {refused!r}"
        assert server.wait_for_message(lambda m: m.topic == f"{REALM}/{own}/org.hil.Probe/value")
        # Messages flow in order per client: once a marker published after the refused message
        # arrives, the refused one would have arrived before it if the broker had routed it.
        device.publish(f"{REALM}/{own}/org.hil.Probe/marker", b"", qos=1)
        assert server.wait_for_message(lambda m: m.topic.endswith("/marker"))
        assert not [m for m in server.messages() if m.topic.startswith(f"{REALM}/{other}/")]


@pytest.mark.requirement("ASTARTE-MQTT-TOPICS-01")
@hil_requires(BrokerAdmin, IdentityMint)
def test_device_never_receives_another_devices_messages(hil_broker, hil_identity_mint):
    snoop, victim = _device_id(), _device_id()
    with MqttSession(hil_broker.admin_endpoint, hil_broker.admin_identity) as server, MqttSession(
        hil_broker.endpoint, hil_identity_mint(REALM, snoop)
    ) as device:
        assert server.connect().accepted and device.connect().accepted
        device.subscribe(f"{REALM}/{victim}/#")
        device.subscribe(f"{REALM}/{snoop}/#")
        server.publish(f"{REALM}/{victim}/org.hil.Probe/secret", b"secret", qos=1)
        server.publish(f"{REALM}/{snoop}/org.hil.Probe/marker", b"", qos=1)
        assert device.wait_for_message(lambda m: m.topic.endswith("/marker")), "own message never arrived"
        leaked = [m.topic for m in device.messages() if m.topic.startswith(f"{REALM}/{victim}/")]
        assert not leaked, f"device received another device's messages: {leaked}"
