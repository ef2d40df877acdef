"""The hub device's identity from an Astarte Pairing API, as the real hub obtains it.

With a credentials secret (or a pairing JWT to register with first), the hub makes an EC P-256
key, sends a CSR (``CN=<realm>/<device_id>``) to ``.../protocols/astarte_mqtt_v1/credentials``,
and asks ``GET /v1/<realm>/devices/<id>`` for the broker URL. Any failure is one ConfigError line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hil.mqtt.broker import BrokerEndpoint
from hil.errors import ConfigError
from hil.services.readiness import ClientIdentity

__all__ = ["HubCredentials", "obtain_credentials", "parse_broker_url"]


@dataclass(frozen=True)
class HubCredentials:
    endpoint: BrokerEndpoint
    identity: ClientIdentity


def parse_broker_url(url: str, ca_path: Path) -> BrokerEndpoint:
    """``mqtts://host:port/`` as Pairing hands it out."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtts", "ssl") or not parts.hostname or not parts.port:
        raise ConfigError(f"broker URL {url!r} is not mqtts://host:port/")
    return BrokerEndpoint(parts.hostname, parts.port, ca_path, server_hostname=parts.hostname)


def obtain_credentials(
    *,
    pairing_url: str,
    realm: str,
    device_id: str,
    credentials_secret: str | None,
    pairing_token: str | None,
    ca_path: Path,
    workdir: Path,
) -> HubCredentials:
    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    base = pairing_url.rstrip("/")
    with httpx.Client(verify=str(ca_path), timeout=15.0) as http:
        try:
            if credentials_secret is None:
                if pairing_token is None:
                    raise ConfigError("the hub needs a credentials secret or a pairing token")
                registered = http.post(
                    f"{base}/v1/{realm}/agent/devices",
                    json={"data": {"hw_id": device_id}},
                    headers={"Authorization": f"Bearer {pairing_token}"},
                )
                if registered.status_code != 201:
                    raise ConfigError(f"Pairing refused to register {device_id}: "
                                      f"HTTP {registered.status_code} {registered.text[:200]}")
                credentials_secret = registered.json()["data"]["credentials_secret"]
            auth = {"Authorization": f"Bearer {credentials_secret}"}
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Devices"),
                                         x509.NameAttribute(NameOID.COMMON_NAME, f"{realm}/{device_id}")]))
                .sign(key, hashes.SHA256())
            )
            issued = http.post(
                f"{base}/v1/{realm}/devices/{device_id}/protocols/astarte_mqtt_v1/credentials",
                json={"data": {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}},
                headers=auth,
            )
            if issued.status_code != 201:
                raise ConfigError(f"Pairing refused the hub's CSR: HTTP {issued.status_code} {issued.text[:200]}")
            info = http.get(f"{base}/v1/{realm}/devices/{device_id}", headers=auth)
            if info.status_code != 200:
                raise ConfigError(f"Pairing refused the device info: HTTP {info.status_code} {info.text[:200]}")
            broker_url = info.json()["data"]["protocols"]["astarte_mqtt_v1"]["broker_url"]
            certificate = issued.json()["data"]["client_crt"]
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach Pairing at {base}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"unexpected Pairing answer: {exc}") from None
    crypto = workdir / "crypto"
    crypto.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = crypto / "device.crt", crypto / "device.key"
    cert_path.write_text(certificate)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    identity = ClientIdentity(cert_path, key_path, ca_path, f"{realm}/{device_id}")
    return HubCredentials(parse_broker_url(broker_url, ca_path), identity)
