"""``DeviceMqtt``'s public constructor and methods called with argument types their signatures
do not document: the call itself must fail clearly (``TypeError``/``ValueError`` or one of the
SDK's ``AstarteError``\\ s), not succeed and fail later somewhere else (at ``connect()``, in paho's
thread) or with an ``AttributeError`` from inside the SDK.

No server is involved: these are offline calls (the persistency directory is a temp dir).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hil.fixtures.astarte_device_driver import interface_file

pytestmark = [pytest.mark.requirement("ASTARTE-SDK-ARGS-01"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SDK = "astarte-device-sdk==0.14.0"
DEVICE_ID = "AAAAAAAAAAAAAAAAAAAAAA"
REASON = "{} is accepted by the call and only fails later ({})"


def _device(persistency: Path, **changes: Any) -> Any:
    from astarte.device import DeviceMqtt

    arguments: dict[str, Any] = {"device_id": DEVICE_ID, "realm": "hil", "credentials_secret": "secret",
                                 "pairing_base_url": "https://localhost:1/pairing", "persistency_dir": str(persistency)}
    arguments.update(changes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return DeviceMqtt(**arguments)


def _clear(call: Callable[[], Any]) -> None:
    """The check: the call raises a clear error (TypeError, ValueError or an AstarteError)."""
    from astarte.device.exceptions import AstarteError

    try:
        call()
    except (TypeError, ValueError, AstarteError):
        return
    except Exception as exc:  # noqa: BLE001 - the SDK's actual reaction is the finding's evidence
        pytest.fail(f"ASTARTE-SDK-ARGS-01: the call raised {type(exc).__name__} ({str(exc)[:120]}), not a clear error")
    pytest.fail("ASTARTE-SDK-ARGS-01: the call accepted an argument of an undocumented type")


def _finding(what: str, later: str) -> pytest.MarkDecorator:
    return pytest.mark.finding("ASTARTE-SDK-ARGS-01", reason=REASON.format(what, later), sdk=SDK)


CONSTRUCTOR = [
    pytest.param({"device_id": 123}, id="device_id-int"),
    pytest.param({"persistency_dir": 5}, id="persistency_dir-int"),
    pytest.param({"realm": None}, id="realm-None", marks=_finding("realm=None", "in connect's Pairing URL")),
    pytest.param({"credentials_secret": 5}, id="credentials_secret-int",
                 marks=_finding("credentials_secret=5", "in connect's Authorization header")),
    pytest.param({"pairing_base_url": 5}, id="pairing_base_url-int",
                 marks=_finding("pairing_base_url=5", "at connect")),
    pytest.param({"ignore_ssl_errors": "no"}, id="ignore_ssl_errors-str",
                 marks=_finding("ignore_ssl_errors='no'", "never: the truthy string turns TLS verification OFF")),
]


@pytest.mark.parametrize("changes", CONSTRUCTOR)
def test_constructor_argument_types(tmp_path: Path, changes: dict[str, Any]) -> None:
    """Reproducer: ``DeviceMqtt(<documented arguments but one>)``."""
    _clear(lambda: _device(tmp_path, **changes))


def _methods() -> list[Any]:
    return [
        pytest.param(lambda d: d.add_interface_from_json("{}"), id="add_interface_from_json-str",
                     marks=_finding("add_interface_from_json('{...}') (a JSON string, not a dict)",
                                    "as AttributeError inside the SDK")),
        pytest.param(lambda d: d.add_interface_from_file(str(interface_file("org.hil.test.DeviceDatastream"))),
                     id="add_interface_from_file-str",
                     marks=_finding("add_interface_from_file(<str path>) (documented: Path)",
                                    "as AttributeError 'str' object has no attribute 'is_file'")),
        pytest.param(lambda d: d.add_interfaces_from_dir(5), id="add_interfaces_from_dir-int",
                     marks=_finding("add_interfaces_from_dir(5)", "as AttributeError inside the SDK")),
        pytest.param(lambda d: d.set_events_callbacks(on_connected=5), id="set_events_callbacks-not-callable",
                     marks=_finding("set_events_callbacks(on_connected=5)", "in paho's thread when the device connects")),
        pytest.param(lambda d: d.send("org.hil.test.DeviceDatastream", 5, 1), id="send-path-int"),
        pytest.param(lambda d: d.send("org.hil.test.DeviceDatastream", "/integer", "x"), id="send-value-str"),
        pytest.param(lambda d: d.remove_interface(5), id="remove_interface-int"),
    ]


@pytest.mark.parametrize("call", _methods())
def test_method_argument_types(tmp_path: Path, call: Callable[[Any], Any]) -> None:
    """Reproducer: a ``DeviceMqtt`` with ``org.hil.test.DeviceDatastream``; the call shown by the id."""
    device = _device(tmp_path)
    device.add_interface_from_file(interface_file("org.hil.test.DeviceDatastream"))
    _clear(lambda: call(device))
