"""aiolocknalert's MQTT client with bootstrapped credentials, against the broker the bridge names.

The credentials, host, port and topic prefix all come from a real bootstrap; the only other
input is the bench's CA for the TLS case. The topic layout is :class:`BridgeTopics`. Waits are on
the client's own callbacks (connected, SUBACK, message, re-auth) with timeouts; the client's
internal timers (0.5 s subscribe debounce, 10 s reconnect interval) are its business.
"""

from __future__ import annotations

import asyncio
import json

import pytest

try:
    import aiohttp  # comes with aiolocknalert
    from aiolocknalert import BootstrapResult, LocknAlertBridgeApi, LocknAlertPairingRequired
except ImportError as exc:  # not in this SDK set (paho 1.6.1 excludes it), or a release without this API
    if exc.name not in ("aiolocknalert", "aiohttp"):  # pytestmark makes every check not applicable
        raise

from hil.fixtures.locknalert import require_control
from hil.fixtures.locknalert_mqtt import SdkMqttSession, sdk_mqtt_config
from hil.locknalert.control import ControlAction
from hil.locknalert.bridge import BridgeTopics, LocknAlertBridge

pytestmark = [pytest.mark.sdk_has("aiolocknalert", "BootstrapResult", "LocknAlertBridgeApi", "MQTT"), pytest.mark.asyncio]

# The client retries every 10 s after a failed reconnect; a broker restart costs one interval.
RECONNECT_TIMEOUT = 25.0


async def pair(bridge: LocknAlertBridge, token: str | None = None) -> BootstrapResult:
    if token is None:
        await asyncio.to_thread(bridge.control.open_window)
    async with aiohttp.ClientSession() as session:
        return await LocknAlertBridgeApi(bridge.host, bridge.port).async_bootstrap(session, bridge.serial, token)


def topics_of(bridge: LocknAlertBridge, result: BootstrapResult) -> BridgeTopics:
    return BridgeTopics(result.topic_prefix, bridge.serial)


@pytest.mark.requirement("LOCKNALERT-MQTT-CONNECT-01", "LOCKNALERT-MQTT-EVENTS-01")
async def test_bootstrapped_client_receives_the_bridge_state_and_alerts(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.OPEN_WINDOW, ControlAction.TRIGGER_ALERT)

    result = await pair(locknalert)
    topics = topics_of(locknalert, result)
    async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
        assert await mqtt.connect(), "the broker refused the bootstrapped credentials"
        await mqtt.subscribe(topics.all)
        online = await mqtt.wait_for(lambda m: m.topic == topics.availability, what="availability")
        assert (online.payload, online.retain) == ("online", True)
        await mqtt.wait_for(lambda m: m.topic == topics.lock_state, what="retained lock state")
        seen = len(mqtt.messages)
        await asyncio.to_thread(locknalert.control.trigger_alert, 3, "intrusion")
        alert = await mqtt.wait_for(lambda m: m.topic == topics.alert, after=seen, what="alert")
        event = json.loads(alert.payload)
        assert (event["zone"], event["kind"]) == (3, "intrusion")


@pytest.mark.requirement("LOCKNALERT-MQTT-COMMAND-01")
async def test_a_published_command_is_carried_out_by_the_bridge(locknalert: LocknAlertBridge) -> None:
    result = await pair(locknalert)
    topics = topics_of(locknalert, result)
    async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
        assert await mqtt.connect()
        await mqtt.subscribe(topics.all)
        for command, state in (("UNLOCK", "unlocked"), ("LOCK", "locked")):
            seen = len(mqtt.messages)
            await mqtt.publish(topics.lock_set, command)
            await mqtt.wait_for(lambda m, s=state: m.topic == topics.lock_state and m.payload == s,
                                after=seen, what=f"lock state {state}")


@pytest.mark.requirement("LOCKNALERT-MQTT-TLS-01", "LOCKNALERT-API-BOOTSTRAP-02")
async def test_a_tls_bootstrap_connects_over_tls(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.SET_MQTT_TLS)
    if locknalert.mqtt_ca_path is None:
        pytest.skip("the bench names no CA for the bridge's broker")
    locknalert.control.set_mqtt_tls(True)

    try:
        result = await pair(locknalert)
        assert result.tls_required is True
        topics = topics_of(locknalert, result)
        async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
            assert await mqtt.connect(), "TLS connection with the bench CA failed"
            await mqtt.subscribe(topics.all)
            await mqtt.wait_for(lambda m: m.topic == topics.availability, what="availability over TLS")
    finally:
        locknalert.control.set_mqtt_tls(False)


@pytest.mark.requirement("LOCKNALERT-MQTT-TLS-02")
async def test_the_client_refuses_a_broker_certificate_it_does_not_trust(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.SET_MQTT_TLS)
    locknalert.control.set_mqtt_tls(True)

    try:
        result = await pair(locknalert)
        assert result.tls_required is True
        # "auto" = the public certifi bundle, which does not contain the bench's CA.
        conf = sdk_mqtt_config(result)
        conf["certificate"] = "auto"
        async with SdkMqttSession(conf) as mqtt:
            assert await mqtt.connect() is False
            assert not mqtt.connected.is_set()
        # Control: the same credentials and listener with the bench CA connect, so the refusal
        # above was about trust, not a wrong port or a revoked account.
        async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
            assert await mqtt.connect(), "the control connection with the bench CA failed"
    finally:
        locknalert.control.set_mqtt_tls(False)


@pytest.mark.requirement("LOCKNALERT-MQTT-RECONNECT-01")
async def test_the_client_reconnects_and_resubscribes_after_a_broker_restart(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.RESTART_BROKER, ControlAction.TRIGGER_ALERT)

    result = await pair(locknalert)
    topics = topics_of(locknalert, result)
    async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
        assert await mqtt.connect()
        await mqtt.subscribe(topics.all)
        await mqtt.wait_for(lambda m: m.topic == topics.availability, what="availability")
        await asyncio.to_thread(locknalert.control.restart_broker)
        await mqtt.wait_event(mqtt.disconnected, 10.0, "the client to notice the restart")
        seen = len(mqtt.messages)
        await mqtt.wait_event(mqtt.connected, RECONNECT_TIMEOUT, "the client to reconnect")
        # Re-subscribed: the retained availability is delivered again on the new session.
        await mqtt.wait_for(lambda m: m.topic == topics.availability and m.payload == "online",
                            after=seen, what="re-subscription")
        seen = len(mqtt.messages)
        await asyncio.to_thread(locknalert.control.trigger_alert, 7)
        await mqtt.wait_for(lambda m: m.topic == topics.alert, after=seen, what="alert after the restart")


@pytest.mark.requirement("LOCKNALERT-MQTT-REVOKE-01", "LOCKNALERT-MQTT-REVOKE-02")
async def test_revoked_credentials_ask_for_reauth_and_need_a_new_pairing(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.FACTORY_RESET, ControlAction.OPEN_WINDOW)

    result = await pair(locknalert)
    async with SdkMqttSession.from_bootstrap(result, ca_path=locknalert.mqtt_ca_path) as mqtt:
        assert await mqtt.connect()
        await asyncio.to_thread(locknalert.control.factory_reset)
        await mqtt.wait_event(mqtt.disconnected, 10.0, "the broker to drop the revoked client")
        await mqtt.wait_event(mqtt.reauth_required, 10.0, "on_reauth_required")
        assert not mqtt.connected.is_set()
    # What the application does on re-auth: bootstrap with its stored token.
    with pytest.raises(LocknAlertPairingRequired):
        await pair(locknalert, token=result.pairing_token)
    fresh = await pair(locknalert)
    assert fresh.username != result.username or fresh.password != result.password
    async with SdkMqttSession.from_bootstrap(fresh, ca_path=locknalert.mqtt_ca_path) as mqtt:
        assert await mqtt.connect(), "the new pairing's credentials do not work"
