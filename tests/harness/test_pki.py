"""Tests of harness/pki.py with real keys, real certificates and real TLS handshakes on loopback.

No mocks: every claim the PKI makes (a file mode, an extension, a verification cause, that a
certificate really fails hostname checking) is checked the way a peer would check it.
"""

from __future__ import annotations

import os
import queue
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hil.errors import PKIError
from hil.pki import (
    DEVICE_CERTIFICATE_LIFETIME,
    CertificateFiles,
    HarnessPKI,
    RejectionCause,
)

_HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

# Generous: a loopback handshake takes milliseconds; this only bounds a broken test.
_IO_TIMEOUT = 10.0


@pytest.fixture
def pki(tmp_path: Path) -> HarnessPKI:
    return HarnessPKI(tmp_path / "pki")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path_or_pem: Path | bytes) -> x509.Certificate:
    pem = path_or_pem.read_bytes() if isinstance(path_or_pem, Path) else path_or_pem
    return x509.load_pem_x509_certificate(pem)


def _csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, subject: x509.Name | None = None
) -> bytes:
    subject = subject or x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Devices"),
            x509.NameAttribute(NameOID.COMMON_NAME, "other-realm/other-device"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _signed_by_ca(pki: HarnessPKI, *extensions: tuple[x509.ExtensionType, bool]) -> bytes:
    """A leaf the harness CA signed, with exactly the given extensions: for the extension causes."""
    ca_cert = _cert(pki.ca_cert_path)
    ca_key = serialization.load_pem_private_key((pki.directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realm1/dev1")]))
        .issuer_name(ca_cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# ---- loopback TLS --------------------------------------------------------------------------


@dataclass
class _ServerOutcome:
    peer_cert: dict[str, Any] | None = None
    error: BaseException | None = None


@contextmanager
def _tls_server(
    context: ssl.SSLContext, *, http: bool = False
) -> Iterator[tuple[int, queue.Queue[_ServerOutcome]]]:
    """Serve one TLS connection on 127.0.0.1 in a thread; yield (port, queue of its outcome).

    After its handshake the server sends ``ok``: a client that reads it knows the server accepted
    it (with TLS 1.3 the server judges the client certificate after the client's handshake ends).
    With ``http`` it first reads a request head and wraps ``ok`` in an HTTP response.
    """
    outcomes: queue.Queue[_ServerOutcome] = queue.Queue()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(_IO_TIMEOUT)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            outcomes.put(_ServerOutcome(error=exc))
            return
        conn.settimeout(_IO_TIMEOUT)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                if http:
                    request = b""
                    while b"\r\n\r\n" not in request and (chunk := tls.recv(4096)):
                        request += chunk
                    tls.sendall(_HTTP_OK)
                else:
                    tls.sendall(b"ok")
                outcomes.put(_ServerOutcome(peer_cert=peer))
        except (ssl.SSLError, OSError) as exc:
            conn.close()
            outcomes.put(_ServerOutcome(error=exc))

    thread = threading.Thread(target=serve, name="tls-test-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcomes
    finally:
        listener.close()
        thread.join(_IO_TIMEOUT)
        assert not thread.is_alive(), "TLS test server thread did not end"


def _server_context(cert: CertificateFiles, *, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert_path, cert.key_path)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def _handshake(port: int, context: ssl.SSLContext, server_hostname: str) -> bytes:
    """Connect, handshake, and read the server's ``ok``."""
    with (socket.create_connection(("127.0.0.1", port), timeout=_IO_TIMEOUT) as raw,
          context.wrap_socket(raw, server_hostname=server_hostname) as tls):
        return tls.recv(2)


# ---- files ----------------------------------------------------------------------------------


def test_files_are_private_where_they_hold_keys(tmp_path: Path) -> None:
    pki = HarnessPKI(tmp_path / "run" / "pki")
    server = pki.issue_server("broker")
    client = pki.issue_client("realm1/dev1")
    realm = pki.realm_keypair("realm1")

    assert _mode(pki.directory) == 0o700
    private = [pki.directory / "ca.key", server.key_path, client.key_path, realm.private_key_path]
    assert {path: _mode(path) for path in private} == {path: 0o600 for path in private}
    for path in (pki.ca_cert_path, server.cert_path, client.cert_path, realm.public_key_path):
        assert path.parent == pki.directory
        assert not _mode(path) & 0o022, f"{path.name} is writable by others"
    assert b"PRIVATE KEY" in client.key_path.read_bytes()
    assert b"PRIVATE KEY" not in client.cert_path.read_bytes()


def test_keys_are_private_from_creation_whatever_the_umask(tmp_path: Path) -> None:
    # With a permissive umask a write-then-chmod would leave a window; the mode must be 0600
    # straight from creation. (A too-wide mode here means the file was not created with 0600.)
    old = os.umask(0)
    try:
        pki = HarnessPKI(tmp_path / "pki")
        client = pki.issue_client("realm1/dev1")
    finally:
        os.umask(old)
    assert _mode(pki.directory / "ca.key") == 0o600
    assert _mode(client.key_path) == 0o600
    assert _mode(pki.directory) == 0o700


def test_a_second_certificate_for_a_name_never_overwrites_the_first(pki: HarnessPKI) -> None:
    first = pki.issue_client("realm1/dev1")
    first_pem = first.cert_path.read_bytes()
    second = pki.issue_client("realm1/dev1")

    assert second.cert_path != first.cert_path and second.key_path != first.key_path
    assert first.cert_path.read_bytes() == first_pem
    assert second.serial_number != first.serial_number


def test_a_directory_holding_a_ca_is_not_reinitialised(pki: HarnessPKI) -> None:
    ca_pem = pki.ca_cert_path.read_bytes()
    with pytest.raises(PKIError, match="already holds a harness CA"):
        HarnessPKI(pki.directory)
    assert pki.ca_cert_path.read_bytes() == ca_pem


def test_client_certificate_carries_the_common_name(pki: HarnessPKI) -> None:
    client = pki.issue_client("realm1/dev1")
    cert = _cert(client.cert_path)

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "realm1/dev1"
    assert client.common_name == "realm1/dev1"
    assert client.serial_number == cert.serial_number
    assert client.not_after == cert.not_valid_after_utc
    assert pki.verify_client_certificate(client.cert_path.read_bytes()).valid


def test_bad_names_give_one_line_pki_errors(pki: HarnessPKI) -> None:
    with pytest.raises(PKIError) as too_long:
        pki.issue_client("r" * 65)  # X.509 caps a CN at 64 characters
    with pytest.raises(PKIError):
        pki.issue_client("")
    with pytest.raises(PKIError):
        pki.issue_server("broker", hostnames=())
    assert "\n" not in str(too_long.value)


# ---- sign_csr ---------------------------------------------------------------------------------


def test_sign_csr_issues_the_astarte_device_certificate(pki: HarnessPKI) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    before = datetime.now(UTC)

    cert = _cert(pki.sign_csr(_csr(device_key), realm="realm1", device_id="dev1"))

    # Subject is decided by Pairing, not by the CSR (which asked for O=Devices, another CN).
    assert cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realm1/dev1")])
    assert cert.issuer == _cert(pki.ca_cert_path).subject
    assert cert.public_key() == device_key.public_key()
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    cert.verify_directly_issued_by(_cert(pki.ca_cert_path))

    extensions = cert.extensions
    constraints = extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement
    assert not (usage.key_cert_sign or usage.crl_sign or usage.key_encipherment)
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(device_key.public_key())
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = _cert(pki.ca_cert_path).extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.value.digest

    assert cert.not_valid_before_utc <= before
    lifetime = cert.not_valid_after_utc - before
    assert DEVICE_CERTIFICATE_LIFETIME - timedelta(minutes=5) < lifetime
    assert lifetime <= DEVICE_CERTIFICATE_LIFETIME + timedelta(minutes=5)
    assert pki.verify_client_certificate(cert.public_bytes(serialization.Encoding.PEM)).valid


def test_sign_csr_accepts_text_and_a_custom_lifetime(pki: HarnessPKI) -> None:
    csr = _csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)).decode()
    pem = pki.sign_csr(csr, realm="realm1", device_id="dev2", valid_for=timedelta(seconds=30))
    cert = _cert(pem)
    assert cert.not_valid_after_utc - datetime.now(UTC) <= timedelta(seconds=30)
    assert cert.subject.rfc4514_string() == "CN=realm1/dev2"


def test_sign_csr_rejects_garbage_and_forged_csrs(pki: HarnessPKI) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    good = _csr(device_key)
    # Flip a byte inside the signature (the end of the DER): still a CSR, no longer self-signed.
    der = bytearray(x509.load_pem_x509_csr(good).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    key_pem = device_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    bad_inputs: list[bytes | str] = [
        b"",
        "not a csr",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        pki.ca_cert_path.read_bytes(),  # a certificate, not a request
        key_pem,  # a private key pasted by mistake
        forged,
        "caf\u00e9",
    ]
    for bad in bad_inputs:
        with pytest.raises(PKIError) as caught:
            pki.sign_csr(bad, realm="realm1", device_id="dev1")
        message = str(caught.value)
        assert "\n" not in message
        assert "PRIVATE" not in message and "BEGIN" not in message
    with pytest.raises(PKIError, match="signature"):
        pki.sign_csr(forged, realm="realm1", device_id="dev1")


def test_sign_csr_rejects_bad_identities_and_weak_keys(pki: HarnessPKI) -> None:
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    for realm, device_id in (("", "dev1"), ("realm1", ""), ("a/b", "dev1"), ("realm1", "x/y")):
        with pytest.raises(PKIError):
            pki.sign_csr(csr, realm=realm, device_id=device_id)
    with pytest.raises(PKIError):
        pki.sign_csr(csr, realm="realm1", device_id="dev1", valid_for=timedelta(0))
    weak = _csr(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(PKIError, match="1024-bit"):
        pki.sign_csr(weak, realm="realm1", device_id="dev1")


# ---- verify_client_certificate ----------------------------------------------------------------


def test_verify_gives_the_pairing_cause_for_each_scenario(pki: HarnessPKI) -> None:
    signed = pki.sign_csr(_csr(ec.generate_private_key(ec.SECP256R1())), realm="r", device_id="d")
    revoked = pki.issue_client("realm1/revoked")
    cases: dict[str, tuple[bytes | str, RejectionCause | None]] = {
        "signed": (signed, None),
        "issued": (pki.issue_client("realm1/dev1").cert_path.read_bytes(), None),
        "expired": (
            pki.expired_client("realm1/dev1").cert_path.read_bytes(),
            RejectionCause.EXPIRED,
        ),
        # Erlang's path validation (and so Pairing) says cert_expired for both ends of the window.
        "not yet valid": (
            pki.not_yet_valid_client("realm1/dev1").cert_path.read_bytes(),
            RejectionCause.EXPIRED,
        ),
        "foreign": (
            pki.foreign_client("realm1/dev1").cert_path.read_bytes(),
            RejectionCause.INVALID_ISSUER,
        ),
        "revoked": (revoked.cert_path.read_bytes(), RejectionCause.REVOKED),
        "garbage": ("not a certificate", RejectionCause.INVALID),
        "empty": (b"", RejectionCause.INVALID),
        "two certificates": (signed + signed, RejectionCause.INVALID),
    }
    for name, (pem, cause) in cases.items():
        status = pki.verify_client_certificate(pem, revoked_serials={revoked.serial_number})
        assert (status.valid, status.cause) == (cause is None, cause), name
        assert datetime.now(UTC) - status.checked_at < timedelta(minutes=1), name
        if cause is RejectionCause.INVALID:
            assert status.not_after is None, name
        else:
            parsed = _cert(pem.encode() if isinstance(pem, str) else pem)
            assert status.not_after == parsed.not_valid_after_utc, name


def test_verify_revocation_applies_only_to_the_listed_serials(pki: HarnessPKI) -> None:
    client = pki.issue_client("realm1/dev1")
    pem = client.cert_path.read_bytes()
    assert pki.verify_client_certificate(pem, revoked_serials={client.serial_number + 1}).valid
    assert not pki.verify_client_certificate(pem, revoked_serials=[client.serial_number]).valid


def test_verify_detects_a_forged_signature(pki: HarnessPKI) -> None:
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    cert = _cert(pki.sign_csr(csr, realm="r", device_id="d"))
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the ECDSA signature's last integer
    forged = x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)

    status = pki.verify_client_certificate(forged)
    assert (status.valid, status.cause) == (False, RejectionCause.INVALID_SIGNATURE)


def test_verify_checks_the_extensions_of_a_device_certificate(pki: HarnessPKI) -> None:
    end_entity = (x509.BasicConstraints(ca=False, path_length=None), True)
    server_only = (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    no_signature = (
        x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False,
        ),
        True,
    )  # fmt: skip
    cases: dict[str, tuple[list[tuple[x509.ExtensionType, bool]], RejectionCause | None]] = {
        "minimal": ([end_entity], None),
        "no basic constraints": ([], RejectionCause.MISSING_BASIC_CONSTRAINT),
        "a CA": (
            [(x509.BasicConstraints(ca=True, path_length=None), True)],
            RejectionCause.MISSING_BASIC_CONSTRAINT,
        ),
        "server-only EKU": ([end_entity, server_only], RejectionCause.INVALID_KEY_USAGE),
        "no digitalSignature": ([end_entity, no_signature], RejectionCause.INVALID_KEY_USAGE),
    }
    for name, (extensions, cause) in cases.items():
        status = pki.verify_client_certificate(_signed_by_ca(pki, *extensions))
        assert status.cause == cause, name


def test_verify_never_raises(pki: HarnessPKI) -> None:
    for junk in (None, 42, "caf\u00e9", b"\xff\xfe", b"-----BEGIN CERTIFICATE-----\n!!\n"):
        status = pki.verify_client_certificate(junk)  # type: ignore[arg-type]
        assert status.cause is RejectionCause.INVALID


# ---- load ----------------------------------------------------------------------------------


def test_load_reopens_the_same_ca(pki: HarnessPKI) -> None:
    reloaded = HarnessPKI.load(pki.directory)
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))

    from_reloaded = reloaded.sign_csr(csr, realm="realm1", device_id="dev1")
    from_original = pki.sign_csr(csr, realm="realm1", device_id="dev1")

    assert reloaded.ca_cert_path == pki.ca_cert_path
    assert pki.verify_client_certificate(from_reloaded).valid
    assert reloaded.verify_client_certificate(from_original).valid
    _cert(from_reloaded).verify_directly_issued_by(_cert(pki.ca_cert_path))
    # Certificates the reloaded PKI issues land next to the original's without clobbering them.
    assert reloaded.issue_client("admin").cert_path.parent == pki.directory


def test_a_foreign_pki_does_not_vouch_for_ours(pki: HarnessPKI, tmp_path: Path) -> None:
    other = HarnessPKI(tmp_path / "other")
    ours = pki.issue_client("realm1/dev1").cert_path.read_bytes()
    assert other.verify_client_certificate(ours).cause is RejectionCause.INVALID_ISSUER


def test_load_errors_are_one_line_without_key_material(tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="no harness CA"):
        HarnessPKI.load(tmp_path / "nowhere")

    pki = HarnessPKI(tmp_path / "pki")
    key_file = pki.directory / "ca.key"
    secret = key_file.read_text().splitlines()[1]
    key_file.write_text(key_file.read_text().replace(secret, secret[::-1]))
    with pytest.raises(PKIError) as caught:
        HarnessPKI.load(pki.directory)
    message = str(caught.value)
    assert "\n" not in message and str(pki.directory) in message
    assert secret not in message and secret[::-1] not in message


# ---- TLS: server certificates, hostname checking, client authentication -----------------------


def _client_context(pki: HarnessPKI) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_cert_path))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_server_certificate_passes_verification_for_both_loopback_names(
    pki: HarnessPKI, host: str
) -> None:
    with _tls_server(_server_context(pki.issue_server("broker"))) as (port, outcomes):
        assert _handshake(port, _client_context(pki), host) == b"ok"
        assert outcomes.get(timeout=_IO_TIMEOUT).error is None


def test_hostname_mismatch_server_fails_only_hostname_verification(pki: HarnessPKI) -> None:
    server = pki.hostname_mismatch_server("broker")
    # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: the failure is
    # the name, not the chain.
    for host, verify_code in (("localhost", 62), ("127.0.0.1", 64)):
        with _tls_server(_server_context(server)) as (port, outcomes):
            with pytest.raises(ssl.SSLCertVerificationError) as caught:
                _handshake(port, _client_context(pki), host)
            assert caught.value.verify_code == verify_code, caught.value
            assert outcomes.get(timeout=_IO_TIMEOUT).error is not None

    # The chain itself is fine: without hostname checking the same certificate is accepted.
    lenient = _client_context(pki)
    lenient.check_hostname = False
    with _tls_server(_server_context(server)) as (port, outcomes):
        assert _handshake(port, lenient, "localhost") == b"ok"
        assert outcomes.get(timeout=_IO_TIMEOUT).error is None


def test_client_certificates_authenticate_over_mutual_tls(pki: HarnessPKI) -> None:
    server = _server_context(pki.issue_server("broker"), client_ca=pki.ca_cert_path)

    def connect_with(client: CertificateFiles) -> _ServerOutcome:
        context = _client_context(pki)
        context.load_cert_chain(client.cert_path, client.key_path)
        with _tls_server(server) as (port, outcomes):
            try:
                _handshake(port, context, "localhost")
            except (ssl.SSLError, OSError):
                pass  # the server's verdict is what counts
            return outcomes.get(timeout=_IO_TIMEOUT)

    accepted = connect_with(pki.issue_client("realm1/dev1"))
    assert accepted.error is None and accepted.peer_cert is not None
    assert accepted.peer_cert["subject"][-1] == (("commonName", "realm1/dev1"),)

    for refused in (pki.foreign_client("realm1/dev1"), pki.expired_client("realm1/dev1")):
        outcome = connect_with(refused)
        assert isinstance(outcome.error, ssl.SSLCertVerificationError), refused.cert_path.name


def test_signed_csr_certificate_authenticates_over_mutual_tls(
    pki: HarnessPKI, tmp_path: Path
) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    cert_path = tmp_path / "device.pem"
    key_path = tmp_path / "device.key"
    cert_path.write_bytes(pki.sign_csr(_csr(device_key), realm="realm1", device_id="dev1"))
    key_path.write_bytes(
        device_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = _client_context(pki)
    context.load_cert_chain(cert_path, key_path)
    server = _server_context(pki.issue_server("broker"), client_ca=pki.ca_cert_path)
    with _tls_server(server) as (port, outcomes):
        assert _handshake(port, context, "127.0.0.1") == b"ok"
        outcome = outcomes.get(timeout=_IO_TIMEOUT)
    assert outcome.peer_cert is not None
    assert outcome.peer_cert["subject"] == ((("commonName", "realm1/dev1"),),)


# ---- trust environment -------------------------------------------------------------------------


def test_trust_environment_names_one_bundle_with_the_harness_ca(pki: HarnessPKI) -> None:
    env = pki.trust_environment()

    assert {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} <= env.keys()
    assert len(set(env.values())) == 1
    bundle = Path(env["SSL_CERT_FILE"])
    assert bundle.parent == pki.directory
    # Text checks, not a full parse: system bundles hold old roots cryptography warns about.
    content = bundle.read_bytes()
    assert pki.ca_cert_path.read_bytes() in content
    if os.path.isfile(ssl.get_default_verify_paths().openssl_cafile):
        assert content.count(b"-----BEGIN CERTIFICATE-----") > 1, "the system CAs are missing"
    assert HarnessPKI.load(pki.directory).trust_environment() == env

    context = ssl.create_default_context(cafile=env["SSL_CERT_FILE"])
    with _tls_server(_server_context(pki.issue_server("pairing"))) as (port, outcomes):
        assert _handshake(port, context, "localhost") == b"ok"
        assert outcomes.get(timeout=_IO_TIMEOUT).error is None


_CHILD = textwrap.dedent(
    """
    import socket, ssl, sys
    import requests
    ssl_port, https_port = int(sys.argv[1]), int(sys.argv[2])
    results = []
    try:  # OpenSSL's default trust, which SSL_CERT_FILE sets
        with socket.create_connection(("127.0.0.1", ssl_port), timeout=10) as raw:
            with ssl.create_default_context().wrap_socket(raw, server_hostname="localhost") as tls:
                results.append("ssl:" + tls.recv(2).decode())
    except ssl.SSLError:
        results.append("ssl:refused")
    try:  # requests ignores SSL_CERT_FILE and reads REQUESTS_CA_BUNDLE
        reply = requests.get(f"https://localhost:{https_port}/", timeout=10)
        results.append("requests:" + reply.text)
    except requests.exceptions.SSLError:
        results.append("requests:refused")
    print(" ".join(results))
    """
)


def _run_child(pki: HarnessPKI, env: dict[str, str]) -> tuple[str, list[_ServerOutcome]]:
    """Run the child against two one-shot servers; return its report and the servers' outcomes."""
    server = _server_context(pki.issue_server("pairing"))
    with (_tls_server(server) as (ssl_port, ssl_outcomes),
          _tls_server(server, http=True) as (https_port, https_outcomes)):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(ssl_port), str(https_port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    outcomes = [q.get(timeout=_IO_TIMEOUT) for q in (ssl_outcomes, https_outcomes)]
    return done.stdout.strip(), outcomes


def test_trust_environment_makes_a_child_process_trust_the_harness(pki: HarnessPKI) -> None:
    report, outcomes = _run_child(pki, {**os.environ, **pki.trust_environment()})
    assert report == "ssl:ok requests:ok"
    assert [outcome.error for outcome in outcomes] == [None, None]

    # Control: the same child with only the ambient settings refuses the harness CA, so the
    # variables above are what made the difference.
    report, _ = _run_child(pki, dict(os.environ))
    assert report == "ssl:refused requests:refused"
