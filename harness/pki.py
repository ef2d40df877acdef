"""The harness PKI: one throw-away certificate authority per run, and the certificates tests need.

Everything a run needs to speak TLS lives in one directory the caller owns (the run directory):

::

    ca.pem, ca.key              the harness CA (key 0600, see HarnessPKI for why it is on disk)
    server-<name>.pem/.key      TLS servers: broker, Pairing API, ... (SANs localhost + 127.0.0.1)
    client-<cn>.pem/.key        mTLS clients: devices ("realm1/dev1"), back office ("admin")
    expired-*, not-yet-valid-*, foreign-*, hostname-mismatch-*
                                scenario certificates, each wrong in exactly one way
    realm-<realm>.key/.pub.pem  realm JWT signing keys (EC P-256, ES256)
    trust-bundle.pem            system CAs + harness CA, for child processes (trust_environment)

Usage::

    pki = HarnessPKI(run_dir / "pki")
    broker_cert = pki.issue_server("broker")
    device = pki.issue_client("realm1/dev1")
    env = {**os.environ, **pki.trust_environment()}     # an SDK subprocess trusts the CA

    # in the Pairing simulator process, which is only told the directory:
    pki = HarnessPKI.load(Path(sys.argv[1]))
    pem = pki.sign_csr(request.csr, realm="realm1", device_id="dev1")

``trustme`` makes the CA and the ordinary certificates; ``cryptography`` does what trustme will not
(signing a CSR someone else made, odd validity windows, verification). The PKI writes files only
into its directory, never deletes it (the run directory's owner does), never overwrites a file
(a second certificate for the same name gets a ``-2`` suffix), and never logs or raises with key
material in the message.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hil.errors import PKIError

__all__ = [
    "DEVICE_CERTIFICATE_LIFETIME",
    "CertificateFiles",
    "CertificateStatus",
    "HarnessPKI",
    "KeyPairFiles",
    "RejectionCause",
]

_log = logging.getLogger(__name__)

#: How long a certificate from :meth:`HarnessPKI.sign_csr` lives. Astarte hands devices short-lived
#: certificates and expects them to renew; 30 days is far longer than any run (so nothing expires
#: by accident mid-soak) yet still an ordinary leaf lifetime, unlike trustme's year-3000 default.
DEVICE_CERTIFICATE_LIFETIME = timedelta(days=30)

# A signed certificate starts an hour in the past: a physical target whose clock lags the bench
# host must not see a certificate that is "not yet valid" (public CAs backdate for the same reason).
_BACKDATE = timedelta(hours=1)

# Scenario certificates sit a whole day outside their window, so no plausible clock skew between
# the harness and the checking peer can make them valid again.
_SCENARIO_OFFSET = timedelta(days=1)

# OpenSSL 3 at its default security level (Debian's) refuses RSA keys under 2048 bits with an
# obscure handshake error at the broker; refusing to sign them gives one clear line instead.
_MIN_RSA_BITS = 2048

_CA_CERT = "ca.pem"
_CA_KEY = "ca.key"
_TRUST_BUNDLE = "trust-bundle.pem"
_CA_ORGANIZATION = "hil harness CA"

# Client certificates need a SAN for trustme, but nothing ever checks a client's SAN (mosquitto
# and Pairing look at the CN). ``.invalid`` is reserved (RFC 2606), so it can never resolve.
_CLIENT_SAN_SUFFIX = ".client.hil.invalid"
# A name no TLS client will dial: the point of hostname_mismatch_server.
_MISMATCH_HOSTNAME = "not-this-host.hil.invalid"


class RejectionCause(StrEnum):
    """Why Astarte Pairing's ``credentials/verify`` says a certificate is not valid.

    The values are the strings Pairing puts in its ``cause`` field; Pairing derives them from
    Erlang's ``public_key:pkix_path_validation`` reasons. ``NAME_NOT_PERMITTED`` exists for the
    simulators' sake only: the harness CA has no name constraints, so
    :meth:`HarnessPKI.verify_client_certificate` never reports it.
    """

    EXPIRED = "EXPIRED"  # outside its validity window, in either direction (as in Erlang)
    INVALID_ISSUER = "INVALID_ISSUER"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    NAME_NOT_PERMITTED = "NAME_NOT_PERMITTED"
    MISSING_BASIC_CONSTRAINT = "MISSING_BASIC_CONSTRAINT"
    INVALID_KEY_USAGE = "INVALID_KEY_USAGE"
    REVOKED = "REVOKED"
    INVALID = "INVALID"  # not exactly one parseable PEM certificate


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate and its private key, as files in the PKI directory.

    ``key_path`` is mode 0600. ``common_name`` is what mosquitto takes as the username;
    ``serial_number`` is what to pass to ``revoked_serials``.
    """

    cert_path: Path
    key_path: Path
    common_name: str
    serial_number: int
    not_after: datetime


@dataclass(frozen=True)
class KeyPairFiles:
    """An EC P-256 key pair as PEM files: PKCS#8 private key (0600) and SubjectPublicKeyInfo."""

    private_key_path: Path
    public_key_path: Path
    name: str


@dataclass(frozen=True)
class CertificateStatus:
    """The answer to Pairing's ``credentials/verify``.

    ``cause`` is None exactly when ``valid``. ``not_after`` is the certificate's expiry whenever it
    could be parsed (Pairing's ``until``), None for garbage.
    """

    valid: bool
    cause: RejectionCause | None
    checked_at: datetime
    not_after: datetime | None


class HarnessPKI:
    """A test CA living in one directory, plus the certificates a run issues from it.

    The CA key is kept on disk (``ca.key``, mode 0600) for one reason only: the Pairing simulator
    runs as a separate process and must sign device CSRs, and all it is given is this directory
    (see :meth:`load`). Nothing else ever needs the key outside this object.

    Args:
        directory: where to put the files. Created with mode 0700 if missing; an existing
            directory is used as it is (its owner chose its mode). It must not hold a CA already.

    Raises:
        PKIError: the directory already holds a harness CA, or cannot be written.
    """

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        try:
            # 0700: the directory holds private keys; mkdir applies the mode atomically.
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise PKIError(f"cannot create PKI directory {directory}: {exc.strerror}") from None
        ca = trustme.CA(organization_name=_CA_ORGANIZATION)
        try:
            # The key file first, created exclusively: two PKIs racing for one directory cannot
            # both win, and an existing CA (which running services may use) is never replaced.
            _write_new_file(directory / _CA_KEY, ca.private_key_pem.bytes(), private=True)
        except FileExistsError:
            raise PKIError(
                f"{directory} already holds a harness CA; use HarnessPKI.load() to reuse it"
            ) from None
        _write_new_file(directory / _CA_CERT, ca.cert_pem.bytes(), private=False)
        self._adopt(directory, ca)
        _log.debug("new harness CA in %s", directory)

    @classmethod
    def load(cls, directory: Path) -> HarnessPKI:
        """Reopen the CA another process created in ``directory``.

        This is how a simulator subprocess (the Pairing API) gets the CA: it is passed only the
        directory path, never key material on a command line or in the environment.

        Raises:
            PKIError: no CA there, or its files are unreadable or do not parse.
        """
        directory = Path(directory)
        try:
            cert_pem = (directory / _CA_CERT).read_bytes()
            key_pem = (directory / _CA_KEY).read_bytes()
        except OSError as exc:
            raise PKIError(f"no harness CA in {directory}: {exc.strerror}") from None
        try:
            ca = trustme.CA.from_pem(cert_pem, key_pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # The parser's message is dropped on purpose: it could quote the key file.
            raise PKIError(f"the harness CA files in {directory} do not parse") from None
        self = cls.__new__(cls)
        self._adopt(directory, ca)
        return self

    def _adopt(self, directory: Path, ca: trustme.CA) -> None:
        """Keep what every method needs: the trustme CA and its parsed certificate and key."""
        self._directory = directory
        self._ca = ca
        self._ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
        key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise PKIError(f"the harness CA key in {directory} is not an EC or RSA key")
        self._ca_key: CertificateIssuerPrivateKeyTypes = key

    @property
    def directory(self) -> Path:
        """The PKI directory (owned, and eventually deleted, by whoever created it)."""
        return self._directory

    @property
    def ca_cert_path(self) -> Path:
        """The CA certificate: mosquitto's ``cafile``, an ssl context's ``cafile``."""
        return self._directory / _CA_CERT

    # ---- ordinary certificates (trustme) -----------------------------------------------------

    def issue_server(
        self, name: str, hostnames: Sequence[str] = ("localhost", "127.0.0.1")
    ) -> CertificateFiles:
        """A TLS server certificate for the service ``name`` (used only in file names).

        The default SANs cover both ways a test reaches a loopback service: SDKs are given
        ``localhost`` URLs by some benches and ``127.0.0.1`` by others, and a certificate missing
        either fails hostname verification.
        """
        if not hostnames:
            raise PKIError(f"server certificate {name!r} needs at least one hostname")
        return self._issue("server", name, list(hostnames), common_name=hostnames[0])

    def issue_client(self, common_name: str) -> CertificateFiles:
        """A client certificate whose subject CN is ``common_name``.

        mosquitto (``use_identity_as_username``) takes the CN as the username, so a device is
        ``"<realm>/<device_id>"`` (the Astarte subject) and a back-office client e.g. ``"admin"``.
        trustme adds its own O and OU to the subject and valid-for-everything extensions; a
        certificate shaped exactly like Pairing's comes from :meth:`sign_csr`.
        """
        return self._issue("client", common_name, [_client_san(common_name)], common_name)

    # ---- scenario certificates: each wrong in exactly one way --------------------------------

    def expired_client(self, common_name: str) -> CertificateFiles:
        """A client certificate from the harness CA whose validity ended a day ago."""
        now = _now()
        return self._issue(
            "expired", common_name, [_client_san(common_name)], common_name,
            not_before=now - 2 * _SCENARIO_OFFSET, not_after=now - _SCENARIO_OFFSET,
        )  # fmt: skip

    def not_yet_valid_client(self, common_name: str) -> CertificateFiles:
        """A client certificate from the harness CA whose validity starts tomorrow."""
        now = _now()
        return self._issue(
            "not-yet-valid", common_name, [_client_san(common_name)], common_name,
            not_before=now + _SCENARIO_OFFSET, not_after=now + 2 * _SCENARIO_OFFSET,
        )  # fmt: skip

    def foreign_client(self, common_name: str) -> CertificateFiles:
        """A well-formed client certificate signed by an unrelated CA (another name, another key).

        The foreign CA is thrown away: nothing should ever trust it.
        """
        foreign = trustme.CA(organization_name="hil foreign CA")
        return self._issue(
            "foreign", common_name, [_client_san(common_name)], common_name, ca=foreign
        )

    def hostname_mismatch_server(self, name: str) -> CertificateFiles:
        """A server certificate from the harness CA (chain valid) for a host nobody dials.

        Its only SAN is ``not-this-host.hil.invalid``, so a client that checks hostnames against
        ``localhost`` or ``127.0.0.1`` must refuse it; one that does not check, accepts it.
        """
        return self._issue(
            "hostname-mismatch", name, [_MISMATCH_HOSTNAME], common_name=_MISMATCH_HOSTNAME
        )

    def _issue(
        self,
        kind: str,
        label: str,
        identities: list[str],
        common_name: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        ca: trustme.CA | None = None,
    ) -> CertificateFiles:
        """Issue with trustme and write the pair as ``<kind>-<label>.pem/.key``."""
        if not common_name:
            raise PKIError(f"{kind} certificate needs a non-empty common name")
        try:
            leaf = (ca or self._ca).issue_cert(
                *identities, common_name=common_name, not_before=not_before, not_after=not_after
            )
        except ValueError as exc:  # bad hostname, CN over 64 characters, ...
            raise PKIError(f"cannot issue {kind} certificate for {label!r}: {exc}") from None
        cert_pem = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert_path, key_path = self._write_pair(
            f"{kind}-{_file_label(label)}", ".pem", leaf.private_key_pem.bytes(), ".key", cert_pem
        )
        _log.debug("issued %s certificate CN=%s serial=%x", kind, common_name, cert.serial_number)
        return CertificateFiles(
            cert_path=cert_path,
            key_path=key_path,
            common_name=common_name,
            serial_number=cert.serial_number,
            not_after=cert.not_valid_after_utc,
        )

    # ---- Astarte Pairing ---------------------------------------------------------------------

    def sign_csr(
        self,
        csr_pem: bytes | str,
        *,
        realm: str,
        device_id: str,
        valid_for: timedelta = DEVICE_CERTIFICATE_LIFETIME,
    ) -> bytes:
        """Sign a device's CSR the way Astarte Pairing does, and return the certificate PEM.

        Only the CSR's public key is used. The subject is exactly ``CN=<realm>/<device_id>``
        whatever the CSR asks for (Pairing decides who the device is, not the device), and the
        extensions are fixed: BasicConstraints CA:false (critical), KeyUsage digitalSignature +
        keyAgreement (critical), ExtendedKeyUsage clientAuth, subject and authority key
        identifiers; SHA-256.

        Args:
            csr_pem: the PEM CSR as the device sent it.
            realm: the realm name (no ``/``).
            device_id: the device id (no ``/``).
            valid_for: lifetime from now; shorten it to make an SDK renew during a test.

        Raises:
            PKIError: the CSR is not a PEM CSR, its self-signature does not verify, its key is
                unusable for TLS, or realm/device_id are malformed.
        """
        csr = _parse_csr(csr_pem)
        for what, value in (("realm", realm), ("device id", device_id)):
            if not value or "/" in value:
                raise PKIError(f"{what} {value!r} must be non-empty and contain no '/'")
        if valid_for <= timedelta(0):
            raise PKIError(f"certificate lifetime must be positive, not {valid_for}")
        public_key = csr.public_key()
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < _MIN_RSA_BITS:
            raise PKIError(
                f"CSR has a {public_key.key_size}-bit RSA key; TLS peers need >= {_MIN_RSA_BITS}"
            )
        try:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{realm}/{device_id}")])
        except ValueError as exc:  # X.509 caps a CN at 64 characters
            raise PKIError(f"cannot name device {realm}/{device_id}: {exc}") from None
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_DEVICE_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
        )
        try:
            cert = builder.sign(self._ca_key, hashes.SHA256())
        except (ValueError, TypeError):  # a key type X.509 cannot carry
            raise PKIError("the CSR's public key cannot be put in a certificate") from None
        _log.debug("signed CSR for %s/%s serial=%x", realm, device_id, cert.serial_number)
        return cert.public_bytes(serialization.Encoding.PEM)

    def sign_csr_variant(self, csr_pem: bytes | str, *, common_name: str, not_before: datetime,
                         not_after: datetime, foreign_ca: bool = False) -> bytes:
        """Sign a CSR with whatever a misbehaving Pairing might hand out: any subject, any
        validity window (expired, not yet valid, seconds long), or another CA's signature.

        Fault injection only (what an SDK does with a certificate it should not trust or cannot
        use); :meth:`sign_csr` is what a well-behaved Pairing does.

        Raises:
            PKIError: the CSR is not a valid PEM CSR.
        """
        csr = _parse_csr(csr_pem)
        public_key = csr.public_key()
        if foreign_ca:
            issuer_key: CertificateIssuerPrivateKeyTypes = ec.generate_private_key(ec.SECP256R1())
            issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hil foreign CA")])
        else:
            issuer_key, issuer = self._ca_key, self._ca_cert.subject
        try:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(issuer)
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_DEVICE_KEY_USAGE, critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(issuer_key, hashes.SHA256())
            )
        except (ValueError, TypeError) as exc:
            raise PKIError(f"cannot sign the CSR variant: {exc}") from None
        return cert.public_bytes(serialization.Encoding.PEM)

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self._ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key())
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    def verify_client_certificate(
        self, cert_pem: bytes | str, *, revoked_serials: Collection[int] = (), at: datetime | None = None
    ) -> CertificateStatus:
        """Check a device certificate against this CA, as Pairing's ``credentials/verify`` does.

        The checks run in the order of Erlang's path validation that Pairing relies on: validity
        window, issuer name, revocation, extensions, signature; the first failure is the cause.
        Extensions are held to what a device certificate needs: BasicConstraints marking an end
        entity (absent or CA:true gives MISSING_BASIC_CONSTRAINT), and, when present, KeyUsage
        with digitalSignature and ExtendedKeyUsage with clientAuth (else INVALID_KEY_USAGE).

        Never raises: anything that is not exactly one PEM certificate is ``INVALID``.

        Args:
            at: the moment to judge the validity window at (a simulator's controlled clock);
                now by default.
        """
        checked_at = at or _now()
        cert = _parse_single_certificate(cert_pem)
        if cert is None:
            return CertificateStatus(False, RejectionCause.INVALID, checked_at, None)
        cause = self._rejection_cause(cert, checked_at, revoked_serials)
        return CertificateStatus(cause is None, cause, checked_at, cert.not_valid_after_utc)

    def _rejection_cause(
        self, cert: x509.Certificate, now: datetime, revoked_serials: Collection[int]
    ) -> RejectionCause | None:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return RejectionCause.EXPIRED
        if cert.issuer != self._ca_cert.subject:
            return RejectionCause.INVALID_ISSUER
        if cert.serial_number in revoked_serials:
            return RejectionCause.REVOKED
        extensions = cert.extensions
        try:
            constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return RejectionCause.MISSING_BASIC_CONSTRAINT
        if constraints.ca:
            return RejectionCause.MISSING_BASIC_CONSTRAINT
        try:
            if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
                return RejectionCause.INVALID_KEY_USAGE
        except x509.ExtensionNotFound:
            pass  # RFC 5280: no KeyUsage means no restriction
        try:
            purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            purposes = None
        if purposes is not None and not {
            ExtendedKeyUsageOID.CLIENT_AUTH,
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        } & set(purposes):
            return RejectionCause.INVALID_KEY_USAGE
        try:
            cert.verify_directly_issued_by(self._ca_cert)
        except (InvalidSignature, ValueError, TypeError):
            return RejectionCause.INVALID_SIGNATURE
        return None

    # ---- realm keys and trust ----------------------------------------------------------------

    def realm_keypair(self, realm: str) -> KeyPairFiles:
        """A fresh EC P-256 key pair for a realm's JWTs (ES256, which Astarte accepts).

        The public PEM is what Astarte stores as the realm's ``jwt_public_key_pem``; tests sign
        their tokens with the private key.
        """
        if not realm:
            raise PKIError("realm key pair needs a realm name")
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public_path, private_path = self._write_pair(
            f"realm-{_file_label(realm)}", ".pub.pem", private_pem, ".key", public_pem
        )
        return KeyPairFiles(private_key_path=private_path, public_key_path=public_path, name=realm)

    def trust_environment(self) -> dict[str, str]:
        """Environment variables that make a child process trust the harness CA.

        An SDK under test must verify certificates (never ``ignore_ssl_errors``), and each TLS
        stack reads its own variable: ``SSL_CERT_FILE`` (OpenSSL: Python's ssl, paho, aiohttp),
        ``REQUESTS_CA_BUNDLE`` (requests, which otherwise trusts only certifi), ``CURL_CA_BUNDLE``
        (curl and requests' fallback), ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` (grpc's own roots).
        They all name one bundle: the CAs this process trusts plus the harness CA, so the child
        still reaches real servers it may need. Merge the result over ``os.environ``.
        """
        bundle = self._directory / _TRUST_BUNDLE
        if not bundle.exists():
            self._write_trust_bundle(bundle)
        value = str(bundle)
        return {
            "SSL_CERT_FILE": value,
            "REQUESTS_CA_BUNDLE": value,
            "CURL_CA_BUNDLE": value,
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": value,
        }

    def _write_trust_bundle(self, bundle: Path) -> None:
        parts: list[bytes] = []
        source = _system_ca_file(exclude=bundle)
        if source is not None:
            parts.append(source.read_bytes().rstrip(b"\n") + b"\n")
        else:
            _log.warning("no system CA file found; trust bundle holds only the harness CA")
        parts.append(self._ca.cert_pem.bytes())
        # Written aside and renamed, so a child starting meanwhile never reads half a bundle
        # (and a concurrent writer just replaces it with the same content).
        partial = bundle.with_name(f".{bundle.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(b"".join(parts))
        partial.replace(bundle)

    # ---- files -------------------------------------------------------------------------------

    def _write_pair(
        self, stem: str, public_suffix: str, private: bytes, private_suffix: str, public: bytes
    ) -> tuple[Path, Path]:
        """Write a private file (0600) and its public partner under a stem nobody has used yet.

        The private file is created exclusively and so doubles as the reservation of the stem:
        a second certificate for the same name gets ``-2``, ``-3``, ... and never overwrites one
        a running service may be using.
        """
        for attempt in range(1, 1000):
            name = stem if attempt == 1 else f"{stem}-{attempt}"
            private_path = self._directory / f"{name}{private_suffix}"
            try:
                _write_new_file(private_path, private, private=True)
            except FileExistsError:
                continue
            public_path = self._directory / f"{name}{public_suffix}"
            _write_new_file(public_path, public, private=False)
            return public_path, private_path
        raise PKIError(f"too many files named {stem!r} in {self._directory}")


_DEVICE_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=True,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _write_new_file(path: Path, data: bytes, *, private: bool) -> None:
    """Create ``path`` (never replace it) and write ``data``.

    A private file gets mode 0600 at creation, so it is never readable by others, not even for
    the moment between a write and a chmod. Raises FileExistsError if the path exists.
    """
    mode = 0o600 if private else 0o644
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise
    except OSError as exc:
        raise PKIError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _file_label(label: str) -> str:
    """A file-name-safe form of a certificate label: ``realm1/dev1`` becomes ``realm1_dev1``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label).lstrip(".")[:64]
    return safe or "unnamed"


def _client_san(common_name: str) -> str:
    """A syntactically valid DNS SAN derived from a CN (trustme requires one SAN)."""
    label = re.sub(r"[^a-z0-9-]+", "-", common_name.lower()).strip("-")[:63] or "client"
    return label + _CLIENT_SAN_SUFFIX


def _as_bytes(pem: bytes | str) -> bytes | None:
    if isinstance(pem, bytes):
        return pem
    if isinstance(pem, str):
        try:
            return pem.encode("ascii")
        except UnicodeEncodeError:
            return None
    return None


def _parse_csr(csr_pem: bytes | str) -> x509.CertificateSigningRequest:
    """Parse and check a CSR; the error never quotes the input (it is the device's data)."""
    data = _as_bytes(csr_pem)
    if data is None:
        raise PKIError("the CSR is not PEM text")
    try:
        csr = x509.load_pem_x509_csr(data)
    except (ValueError, UnsupportedAlgorithm):
        raise PKIError("the CSR is not a PEM certificate signing request") from None
    try:
        csr.public_key()  # a curve OpenSSL parses but cannot use (secp112r1, SM2) fails here
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm):  # unsupported key or signature algorithm
        raise PKIError("the CSR's key or signature algorithm is not supported") from None
    if not signature_ok:
        raise PKIError("the CSR's signature does not verify with its own public key")
    return csr


def _parse_single_certificate(cert_pem: object) -> x509.Certificate | None:
    """Exactly one PEM certificate, or None (Pairing, too, wants exactly one)."""
    if not isinstance(cert_pem, bytes | str):
        return None
    data = _as_bytes(cert_pem)
    if data is None:
        return None
    try:
        certs = x509.load_pem_x509_certificates(data)
        if len(certs) != 1:
            return None
        # Read the fields the checks use now, so a malformed one fails here and not mid-check.
        _ = (certs[0].not_valid_after_utc, certs[0].issuer, certs[0].extensions)
    except ValueError:
        return None
    return certs[0]


def _system_ca_file(*, exclude: Path) -> Path | None:
    """The CA file this process trusts: ``SSL_CERT_FILE`` if set, else OpenSSL's, else certifi's.

    ``exclude`` is our own bundle: a child of a harness run inherits SSL_CERT_FILE pointing at it.
    """
    paths = ssl.get_default_verify_paths()
    candidates: list[str | None] = [paths.cafile, paths.openssl_cafile]
    try:
        import certifi  # optional; present wherever requests is

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            path = Path(candidate)
            if path.resolve() != exclude.resolve():
                return path
    return None
