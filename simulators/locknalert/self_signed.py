"""The bridge's HTTPS certificate: self-signed, made on first start, kept in the state directory.

Real bridges ship this way (no public CA will sign ``192.168.x.y``), which is why the client
defaults to ``verify_ssl=False``. The subject names the serial, so an operator can tell bridges
apart in a browser warning; SANs cover ``localhost`` and ``127.0.0.1`` for the loopback harness.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["bridge_certificate"]


def bridge_certificate(state_dir: Path, serial: str) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` in ``state_dir``, created if missing (key file 0600)."""
    cert_path, key_path = state_dir / "bridge-cert.pem", state_dir / "bridge-key.pem"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LocknAlert bridge (hil emulator)"),
        x509.NameAttribute(NameOID.COMMON_NAME, serial),
    ])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
