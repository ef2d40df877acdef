"""aiolocknalert's bridge API client against a LocknAlert bridge: onboarding, errors, TLS.

Every check drives the real ``LocknAlertBridgeApi`` over HTTPS and uses only what a physical
bridge offers: its API, and its control (a button press, a factory reset; fault modes only where
the bench can produce them). The ``locknalert`` fixture factory-resets the bridge first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

try:
    import aiohttp  # comes with aiolocknalert
    from aiolocknalert import (
        BootstrapResult,
        LocknAlertAlreadyProvisioned,
        LocknAlertApiError,
        LocknAlertBridgeApi,
        LocknAlertCannotConnect,
        LocknAlertInvalidAuth,
        LocknAlertInvalidResponse,
        LocknAlertPairingRequired,
    )
except ImportError as exc:  # not in this SDK set (paho 1.6.1 excludes it), or a release without this API
    if exc.name not in ("aiolocknalert", "aiohttp"):  # pytestmark makes every check not applicable
        raise

from hil.fixtures.locknalert import require_control
from hil.locknalert.control import ControlAction, Fault
from hil.locknalert.bridge import LocknAlertBridge
from hil.services.ports import pick_free_port

pytestmark = [pytest.mark.sdk_has("aiolocknalert", "BootstrapResult", "LocknAlertBridgeApi"), pytest.mark.asyncio]

SDK = "aiolocknalert==0.2.0"
T = TypeVar("T")
Call = Callable[["LocknAlertBridgeApi", "aiohttp.ClientSession"], Awaitable[T]]


async def call[T](bridge: LocknAlertBridge, op: Call[T], *, timeout: int = 10, verify_ssl: bool = False,
                   port: int | None = None) -> T:
    """Run one client call in an aiohttp session of its own, as an application would."""
    api = LocknAlertBridgeApi(bridge.host, port or bridge.port, verify_ssl=verify_ssl, timeout=timeout)
    async with aiohttp.ClientSession() as session:
        return await op(api, session)


async def bootstrap(bridge: LocknAlertBridge, token: str | None = None, serial: str | None = None,
                    **kwargs: Any) -> BootstrapResult:
    return await call(bridge, lambda api, s: api.async_bootstrap(s, serial or bridge.serial, token), **kwargs)


async def pair(bridge: LocknAlertBridge) -> BootstrapResult:
    """Press the button and bootstrap without a token: a first pairing."""
    bridge.control.open_window()
    return await bootstrap(bridge)


# -- identity and bootstrap ------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-API-INFO-01", "LOCKNALERT-API-TLS-01")
async def test_info_names_the_bridge_over_https_with_its_self_signed_certificate(locknalert: LocknAlertBridge) -> None:
    info = await call(locknalert, lambda api, s: api.async_get_info(s))
    assert isinstance(info, dict)
    assert info["bridge_serial"] == locknalert.serial


@pytest.mark.requirement("LOCKNALERT-API-BOOTSTRAP-01", "LOCKNALERT-API-BOOTSTRAP-02")
async def test_first_bootstrap_after_a_button_press_returns_mqtt_credentials(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.OPEN_WINDOW)
    result = await pair(locknalert)
    assert isinstance(result, BootstrapResult)
    assert result.host and result.username and result.password and result.pairing_token
    assert isinstance(result.port, int) and 0 < result.port < 65536
    assert isinstance(result.tls_required, bool)
    assert result.topic_prefix  # the bridge's prefix, or the documented default


@pytest.mark.requirement("LOCKNALERT-API-ERRORS-03")
async def test_bootstrap_with_the_window_closed_requires_pairing(locknalert: LocknAlertBridge) -> None:
    with pytest.raises(LocknAlertPairingRequired):
        await bootstrap(locknalert)


@pytest.mark.requirement("LOCKNALERT-API-ERRORS-01")
async def test_a_wrong_serial_number_is_invalid_auth_and_spends_no_pairing(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, ControlAction.OPEN_WINDOW)
    locknalert.control.open_window()
    with pytest.raises(LocknAlertInvalidAuth):
        await bootstrap(locknalert, serial="NOT-" + locknalert.serial)
    assert (await bootstrap(locknalert)).pairing_token  # the window is still there for the real serial


@pytest.mark.requirement("LOCKNALERT-API-TOKEN-01", "LOCKNALERT-API-TOKEN-02", "LOCKNALERT-API-ERRORS-02")
async def test_every_bootstrap_rotates_the_token_and_the_old_one_dies(locknalert: LocknAlertBridge) -> None:
    first = await pair(locknalert)
    second = await bootstrap(locknalert, token=first.pairing_token)  # re-auth: no button press
    assert second.pairing_token != first.pairing_token
    assert (second.username, second.password) == (first.username, first.password)
    with pytest.raises(LocknAlertAlreadyProvisioned):
        await bootstrap(locknalert, token=first.pairing_token)
    third = await bootstrap(locknalert, token=second.pairing_token)
    assert third.pairing_token not in (first.pairing_token, second.pairing_token)


@pytest.mark.requirement("LOCKNALERT-API-TOKEN-03", "LOCKNALERT-API-ERRORS-02")
async def test_a_lost_token_needs_allow_provisioning(locknalert: LocknAlertBridge) -> None:
    first = await pair(locknalert)
    with pytest.raises(LocknAlertAlreadyProvisioned):
        await bootstrap(locknalert)  # token lost
    with pytest.raises(LocknAlertAlreadyProvisioned):
        await bootstrap(locknalert, token=first.pairing_token + "x")
    locknalert.control.open_window()  # the user presses Allow Provisioning
    again = await bootstrap(locknalert)
    assert again.pairing_token != first.pairing_token
    with pytest.raises(LocknAlertAlreadyProvisioned):
        await bootstrap(locknalert, token=first.pairing_token)


# -- error mapping -----------------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-API-ERRORS-04")
async def test_other_http_errors_are_cannot_connect_with_the_status(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, Fault.BUSY)
    locknalert.control.set_fault(Fault.BUSY)
    with pytest.raises(LocknAlertCannotConnect, match="HTTP 503"):
        await call(locknalert, lambda api, s: api.async_get_info(s))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(Fault.INVALID_JSON, "Expected JSON response", marks=pytest.mark.requirement("LOCKNALERT-API-ERRORS-05")),
        pytest.param(Fault.NOT_JSON, "Expected JSON response", marks=pytest.mark.requirement("LOCKNALERT-API-ERRORS-05")),
        pytest.param(Fault.NON_OBJECT, "Expected JSON object", marks=pytest.mark.requirement("LOCKNALERT-API-ERRORS-06")),
        pytest.param(Fault.INCOMPLETE_BOOTSTRAP, "Missing required MQTT fields",
                     marks=pytest.mark.requirement("LOCKNALERT-API-ERRORS-07")),
        pytest.param(Fault.MALFORMED_BOOTSTRAP, None, marks=pytest.mark.finding(
            "LOCKNALERT-API-ERRORS-08", sdk=SDK,
            reason="int(port) runs unguarded: a non-numeric port escapes as ValueError, "
                   "not LocknAlertInvalidResponse",
            raises=ValueError)),
        pytest.param(Fault.UNDECODABLE, None, marks=pytest.mark.finding(
            "LOCKNALERT-API-ERRORS-09", sdk=SDK,
            reason="after response.json() fails, the except block calls response.text(), whose "
                   "UnicodeDecodeError escapes instead of LocknAlertInvalidResponse",
            raises=UnicodeDecodeError)),
    ],
)
async def test_a_broken_answer_is_an_invalid_response(locknalert: LocknAlertBridge, fault: Fault, message: str | None) -> None:
    require_control(locknalert, fault)
    locknalert.control.set_fault(fault)
    with pytest.raises(LocknAlertInvalidResponse, match=message):
        await call(locknalert, lambda api, s: api.async_get_mqtt_bootstrap(s, locknalert.serial))


@pytest.mark.parametrize(
    ("fault", "escaping"),
    [
        (Fault.MALFORMED_BOOTSTRAP, ValueError),
        (Fault.UNDECODABLE, UnicodeDecodeError),
        (Fault.SLOW, TimeoutError),
    ],
)
async def test_the_recorded_deviations_are_what_the_findings_say(
    locknalert: LocknAlertBridge, fault: Fault, escaping: type[Exception]
) -> None:
    """Pins the exact escaping exception behind each finding above.

    A strict xfail passes for *any* failure; this companion fails if the deviation changes
    (the SDK got fixed, or the bridge answers differently), so a finding never goes stale.
    It names no requirement on purpose: passing it means the SDK still deviates.
    """
    require_control(locknalert, fault)
    locknalert.control.set_fault(fault, delay=3.0 if fault is Fault.SLOW else 0.0)
    with pytest.raises(escaping) as caught:
        await call(locknalert, lambda api, s: api.async_get_mqtt_bootstrap(s, locknalert.serial), timeout=1)
    assert not isinstance(caught.value, LocknAlertApiError)


# -- network -----------------------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-API-NETWORK-01")
async def test_an_unreachable_bridge_is_cannot_connect(locknalert: LocknAlertBridge) -> None:
    closed = pick_free_port("127.0.0.1")  # nothing listens there: connection refused
    with pytest.raises(LocknAlertCannotConnect):
        await call(locknalert, lambda api, s: api.async_get_info(s), port=closed)


@pytest.mark.requirement("LOCKNALERT-API-NETWORK-02")
async def test_a_dropped_connection_is_cannot_connect(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, Fault.DROP)
    locknalert.control.set_fault(Fault.DROP)
    with pytest.raises(LocknAlertCannotConnect):
        await call(locknalert, lambda api, s: api.async_get_info(s))


@pytest.mark.finding("LOCKNALERT-API-NETWORK-03", sdk=SDK,
                     reason="only aiohttp.ClientError is wrapped; the total timeout raises a bare TimeoutError",
                     raises=TimeoutError)
async def test_no_answer_within_the_timeout_is_cannot_connect(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, Fault.SLOW)
    locknalert.control.set_fault(Fault.SLOW, delay=3.0)
    try:
        await call(locknalert, lambda api, s: api.async_get_info(s), timeout=1)
    except LocknAlertApiError as exc:
        assert isinstance(exc, LocknAlertCannotConnect)
    else:
        pytest.fail("a 3 s answer was accepted with a 1 s timeout")


@pytest.mark.requirement("LOCKNALERT-API-NETWORK-04")
async def test_a_slow_answer_within_the_timeout_is_accepted(locknalert: LocknAlertBridge) -> None:
    require_control(locknalert, Fault.SLOW)
    locknalert.control.set_fault(Fault.SLOW, delay=0.3)
    assert (await call(locknalert, lambda api, s: api.async_get_info(s), timeout=5))["bridge_serial"] == locknalert.serial


# -- TLS ---------------------------------------------------------------------------------------
@pytest.mark.requirement("LOCKNALERT-API-TLS-02")
async def test_verify_ssl_refuses_the_untrusted_bridge_certificate(locknalert: LocknAlertBridge) -> None:
    with pytest.raises(LocknAlertCannotConnect) as caught:
        await call(locknalert, lambda api, s: api.async_get_info(s), verify_ssl=True)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)
