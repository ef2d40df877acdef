"""The Pairing API of Astarte v1.2.0 under ``/pairing`` (sdk-contracts.md 3.1, upstream
``apps/astarte_pairing_api`` + ``apps/astarte_pairing``).

Agent routes (JWT, claim ``a_pa``): ``POST /v1/<realm>/agent/devices`` registers (201 with a new
credentials secret; a device that never asked for credentials is re-registered with a new secret;
a confirmed one is 422 ``already_registered``), ``DELETE /v1/<realm>/agent/devices/<id>``
unregisters (clears secret and confirmation: the device may be registered again).

Device routes (``Authorization: Bearer <secret>``): device info, credentials (signs the CSR with
the harness CA, revokes the previous certificate, marks the device confirmed), credentials/verify
(PKIX check against the harness CA only: v1.2.0's ``CertVerifier`` runs ``pkix_path_validation``
without CRL options, so a certificate superseded, and revoked at the CA, by a later credentials
request still verifies as valid and the cause ``REVOKED`` never occurs). The order of checks is
upstream's: the action clause first (unknown protocol, or no ``data`` key -> 400; the secret is
read inside the action), then no ``Authorization`` -> 401, ``data`` not an object -> 400 (Ecto's
cast raises), the body's changeset (422), device/secret (403; an unregistered device row -> 404
``Device not found``), and inhibition (422).

Knowingly different (never 500): a CSR that parses as PEM but does not verify, or whose key is on
a curve nobody signs (secp112r1, SM2, ...), gets 422 ``is not a valid PEM CSR`` (upstream checks
only the PEM framing, then CFSSL fails, 500); an invalid device id on info is 403 and on
DELETE is 400 (upstream: 500).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeGuard

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from hil.errors import PKIError
from hil.pki import HarnessPKI
from hil.simulators.astarte.api_errors import bad_request, detail, field_errors
from hil.simulators.astarte.device_ids import normalise_device_id
from hil.simulators.astarte.realm import Device, Realm
from hil.simulators.astarte.realm_auth import authorize_call, bearer_token
from hil.simulators.astarte.values import now_ms
from hil.simulators.astarte.web import Call, catch_all, Reply, route
from hil.simulators.destiny.clock import SimClock

__all__ = ["ASTARTE_VERSION", "pairing_routes"]

ASTARTE_VERSION: Final = "1.2.0"
_PROTOCOL: Final = "astarte_mqtt_v1"


def _elixir_datetime(moment: dt.datetime) -> str:
    """``DateTime.to_string`` of a millisecond UTC datetime: ``2024-01-02 03:04:05.678Z``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class PairingApi:
    def __init__(self, realm: Realm, pki_dir: Path, clock: SimClock | None = None) -> None:
        self.realm = realm
        self.clock = clock or SimClock()
        self._pki_dir = pki_dir
        self._pki: HarnessPKI | None = None

    @property
    def pki(self) -> HarnessPKI:
        if self._pki is None:
            self._pki = HarnessPKI.load(self._pki_dir)
        return self._pki

    # -- helpers ---------------------------------------------------------------------------
    def _agent_auth(self, call: Call) -> None:
        authorize_call(call, self.realm, "a_pa")

    def _device(self, call: Call, secret: str) -> Device:
        """The device a device route names, or 403 (wrong secret, unknown device or realm)."""
        if call.path_params["realm"] != self.realm.name:
            raise detail(403, "Forbidden")
        device_id = normalise_device_id(call.path_params["hw_id"], allow_extended=True)
        device = self.realm.devices.get(device_id) if device_id else None
        if device is None or device.credentials_secret is None or device.credentials_secret != secret:
            raise detail(403, "Forbidden")
        return device

    @staticmethod
    def _action_data(call: Call) -> Any:
        """The body's ``data`` for a credentials action, or the 400 of Phoenix's action clause.

        The clause matches ``protocol`` ``astarte_mqtt_v1`` and a ``data`` key before the action
        reads the secret, so these 400s come before the 401 of a missing ``Authorization``.
        """
        if call.path_params["protocol"] != _PROTOCOL:
            raise bad_request()
        return call.data()

    @staticmethod
    def _params(data: Any) -> dict[str, Any]:
        """``data`` as changeset params; anything but an object makes Ecto's cast raise (400)."""
        if not isinstance(data, dict):
            raise bad_request()
        return data

    @staticmethod
    def _secret(call: Call) -> str:
        secret = bearer_token(call.authorization)
        if secret is None:
            raise detail(401, "Unauthorized")
        return secret

    # -- routes ----------------------------------------------------------------------------
    def version(self, call: Call) -> Reply:
        return Reply(200, {"data": ASTARTE_VERSION})

    def register(self, call: Call) -> Reply:
        self._agent_auth(call)
        data = call.data()
        if not isinstance(data, dict):
            raise bad_request()
        hw_id = data.get("hw_id")
        errors: dict[str, list[str]] = {}
        device_id: str | None = None
        if hw_id is None or hw_id == "":
            errors["hw_id"] = ["can't be blank"]
        elif not isinstance(hw_id, str):
            errors["hw_id"] = ["is invalid"]
        else:
            device_id = normalise_device_id(hw_id, allow_extended=True)
            if device_id is None:
                errors["hw_id"] = ["is not a valid base64 encoded 128 bits id"]
        introspection = data.get("initial_introspection", {})
        parsed: dict[str, tuple[int, int]] = {}
        if introspection is None:
            introspection = {}
        if not isinstance(introspection, dict):
            errors["initial_introspection"] = ["is invalid"]
        else:
            for name, entry in introspection.items():
                major = entry.get("major") if isinstance(entry, dict) else None
                minor = entry.get("minor") if isinstance(entry, dict) else None
                if not (_is_int(major) and _is_int(minor)):
                    errors.setdefault("initial_introspection", []).append(
                        f"has invalid format for interface {name}")
                elif major < 0 or minor < 0:
                    errors["initial_introspection"] = [f"has negative versions in interface {name}"]
                else:
                    parsed[name] = (major, minor)
        if errors:
            raise field_errors(errors)
        assert device_id is not None
        if call.path_params["realm"] != self.realm.name:
            raise detail(403, "Forbidden")  # realm_not_found
        with self.realm.lock:
            device = self.realm.devices.get(device_id)
            if device is not None and device.confirmed:
                raise field_errors({"error_name": ["already_registered"]})
            secret = self.realm.new_secret()
            if device is None:
                device = Device(device_id=device_id, credentials_secret=secret, first_registration=now_ms())
                self.realm.devices[device_id] = device
            else:
                device.credentials_secret = secret  # first_registration is kept, as upstream
                device.credentials_inhibited = False
            device.introspection = dict(parsed)
        return Reply(201, {"data": {"credentials_secret": secret}})

    def unregister(self, call: Call) -> Reply:
        self._agent_auth(call)
        device_id = normalise_device_id(call.path_params["device_id"])
        if device_id is None:
            raise bad_request()
        if call.path_params["realm"] != self.realm.name:
            raise detail(403, "Forbidden")
        with self.realm.lock:
            device = self.realm.devices.get(device_id)
            if device is None:
                raise detail(404, "Device not found")
            device.credentials_secret = None
            device.first_credentials_request = None
        return Reply(204, empty=True)

    def info(self, call: Call) -> Reply:
        secret = self._secret(call)
        with self.realm.lock:
            device = self._device(call, secret)
            status = device.pairing_status
        protocols = {_PROTOCOL: {"broker_url": self.realm.broker_url}}
        return Reply(200, {"data": {"version": ASTARTE_VERSION, "status": status, "protocols": protocols}})

    def credentials(self, call: Call) -> Reply:
        data = self._action_data(call)
        secret = self._secret(call)
        csr = self._params(data).get("csr")
        if csr is None or csr == "":
            raise field_errors({"csr": ["can't be blank"]})
        if not isinstance(csr, str) or not _is_pem_csr(csr):
            raise field_errors({"csr": ["is not a valid PEM CSR"]})
        with self.realm.lock:
            device = self._device(call, secret)
            if device.credentials_inhibited:
                raise field_errors({"error_name": ["credentials_request_inhibited"]})
            try:
                pem = self.pki.sign_csr(csr, realm=self.realm.name, device_id=device.device_id)
            except PKIError:
                raise field_errors({"csr": ["is not a valid PEM CSR"]}) from None
            if device.cert_serial is not None:
                device.revoked_serials.add(device.cert_serial)
            device.cert_serial = x509.load_pem_x509_certificate(pem).serial_number
            if device.first_credentials_request is None:
                device.first_credentials_request = now_ms()
            device.last_credentials_request_ip = call.client_ip or None
        return Reply(201, {"data": {"client_crt": pem.decode("ascii")}})

    def verify(self, call: Call) -> Reply:
        data = self._action_data(call)
        secret = self._secret(call)
        client_crt = self._params(data).get("client_crt")
        if client_crt is None or client_crt == "":
            raise field_errors({"client_crt": ["can't be blank"]})
        if not isinstance(client_crt, str):
            raise field_errors({"client_crt": ["is invalid"]})
        with self.realm.lock:
            self._device(call, secret)
        # No revoked serials: v1.2.0 validates the chain only (module docstring).
        status = self.pki.verify_client_certificate(client_crt, at=self.clock.now())
        body: dict[str, Any] = {"valid": status.valid, "timestamp": _elixir_datetime(status.checked_at)}
        if status.valid:
            assert status.not_after is not None
            body["until"] = _elixir_datetime(status.not_after)
        else:
            body["cause"] = status.cause.value if status.cause else "INVALID"
            body["details"] = None
        return Reply(200, {"data": body})


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_pem_csr(text: str) -> bool:
    try:
        x509.load_pem_x509_csr(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        return False
    return True


def pairing_routes(realm: Realm, pki_dir: Path, clock: SimClock | None = None) -> list[Any]:
    api = PairingApi(realm, pki_dir, clock)
    table: list[tuple[str, Callable[[Call], Reply], list[str]]] = [
        ("/version", api.version, ["GET"]),
        ("/v1/{realm}/version", api.version, ["GET"]),
        ("/v1/{realm}/agent/devices", api.register, ["POST"]),
        ("/v1/{realm}/agent/devices/{device_id}", api.unregister, ["DELETE"]),
        ("/v1/{realm}/devices/{hw_id}", api.info, ["GET"]),
        ("/v1/{realm}/devices/{hw_id}/protocols/{protocol}/credentials", api.credentials, ["POST"]),
        ("/v1/{realm}/devices/{hw_id}/protocols/{protocol}/credentials/verify", api.verify, ["POST"]),
    ]
    return [route(path, handler, methods) for path, handler, methods in table] + [catch_all("Page not found")]
