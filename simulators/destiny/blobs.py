"""Blob storage served by the simulator itself, behind Azure Blob service-SAS URLs.

The real repository keeps batch files in Azure Blob Storage and hands robots signed URLs: GET
the reference JSONL (read permission), PUT the result JSONL (write permission). Serving them from
the simulator keeps those URLs real and usable by a robot's own HTTP client, and makes them
behave as Azure's do, which is what a robot is written against:

* the query is a service SAS: ``se`` (expiry, one hour after signing, the repository's
  ``presigned_url_expiry_seconds``), ``sp`` (``r`` or ``w``), ``sv`` (service version), ``sr=b``
  (one blob), ``rscd=attachment`` on read URLs (the repository's default Content-Disposition) and
  ``sig``, an HMAC-SHA256 over those fields and the blob's canonical name with a per-process key;
* a request whose ``sig`` does not match its fields (any field altered), or outside ``se``, is
  403 ``AuthenticationFailed``; a GET with a write-only SAS or a PUT with a read-only one is 403
  ``AuthorizationPermissionMismatch``; a PUT without ``x-ms-blob-type: BlockBlob`` is 400
  (``MissingRequiredHeader``, or ``InvalidHeaderValue`` for another type); a missing blob is 404
  ``BlobNotFound``. Errors are Azure's XML ``<Error><Code/><Message/>…</Error>`` bodies with the
  ``x-ms-error-code`` header.

Azure checks a SAS in that order (signature and time, then permission, then the operation's
headers), and so do we. What is not modelled: stored access policies, IP and protocol ranges,
user-delegation keys, any blob operation other than Put Blob and Get Blob, and Azure's own size
limits (a body over 64 MiB gets the simulator's JSON 413, not Azure's XML one).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode
from xml.sax.saxutils import escape

__all__ = [
    "ACCOUNT",
    "CONTAINER",
    "SAS_LIFETIME",
    "SERVICE_VERSION",
    "Blob",
    "BlobStore",
    "SasPermission",
    "StorageError",
    "http_date",
]

ACCOUNT = "destinysim"
"""The storage account name the signatures cover (Azure signs ``/blob/<account>/<container>/<blob>``)."""

CONTAINER = "operations"
"""The repository's container for batch files (``BlobContainer.OPERATIONS``)."""

SERVICE_VERSION = "2025-11-05"
"""``sv``: a storage service version that current azure-storage-blob releases sign with."""

SAS_LIFETIME = datetime.timedelta(hours=1)
"""The repository's ``presigned_url_expiry_seconds`` (3600)."""

_READ_DISPOSITION = "attachment"


class SasPermission(StrEnum):
    READ = "r"
    WRITE = "w"


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str
    etag: str
    last_modified: datetime.datetime


class StorageError(Exception):
    """An Azure Blob error answer: HTTP status, ``Code``, ``Message`` and optional extra elements."""

    def __init__(self, status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        super().__init__(f"{status} {code}")

    def xml(self, now: datetime.datetime, request_id: str) -> bytes:
        """The body as Azure writes it: the message ends with the request id and the time."""
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"
        extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.extra.items())
        return (
            '\ufeff<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{self.code}</Code><Message>{escape(self.message)}\nRequestId:{request_id}\nTime:{stamp}</Message>"
            f"{extra}</Error>"
        ).encode()


def http_date(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


class BlobStore:
    """Named byte blobs in memory, and the service SAS that grant access to them."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._blobs: dict[str, Blob] = {}
        self._lock = threading.Lock()

    # -- signatures ---------------------------------------------------------------------------
    @staticmethod
    def _string_to_sign(name: str, fields: Mapping[str, str]) -> str:
        """Azure's field order for a service SAS (empty lines for what we never sign)."""
        return "\n".join(
            [
                fields.get("sp", ""),
                fields.get("st", ""),
                fields.get("se", ""),
                f"/blob/{ACCOUNT}/{CONTAINER}/{name}",
                "",  # signed identifier
                "",  # signed IP
                "",  # signed protocol
                fields.get("sv", ""),
                fields.get("sr", ""),
                "",  # snapshot time
                "",  # encryption scope
                "",  # rscc
                fields.get("rscd", ""),
                "",  # rsce
                "",  # rscl
                "",  # rsct
            ]
        )

    def _signature(self, name: str, fields: Mapping[str, str]) -> str:
        digest = hmac.new(self._key, self._string_to_sign(name, fields).encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def sas_query(self, name: str, permission: SasPermission, now: datetime.datetime) -> str:
        """The URL query granting ``permission`` on ``name`` for an hour from ``now``."""
        expiry = (now + SAS_LIFETIME).astimezone(datetime.UTC).replace(microsecond=0)
        fields = {"se": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "sp": permission.value, "sv": SERVICE_VERSION, "sr": "b"}
        if permission is SasPermission.READ:
            fields["rscd"] = _READ_DISPOSITION
        fields["sig"] = self._signature(name, fields)
        return urlencode(fields)

    def authorize(
        self, name: str, query: Mapping[str, str], wanted: SasPermission, now: datetime.datetime
    ) -> Mapping[str, str]:
        """Check a request's SAS; the response headers it asks for (``rscd``).

        Raises:
            StorageError: 403 for a bad or expired signature or the wrong permission.
        """
        signature = query.get("sig")
        if not signature:
            raise StorageError(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                "correctly including the signature.",
                {"AuthenticationErrorDetail": "sig is mandatory. Cannot be empty"},
            )
        expected = self._signature(name, query)
        if not (signature.isascii() and hmac.compare_digest(expected, signature)):
            raise StorageError(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                "correctly including the signature.",
                {"AuthenticationErrorDetail": "Signature did not match. String to sign used was "
                 + self._string_to_sign(name, query).replace("\n", "\\n")},
            )
        try:
            expiry = datetime.datetime.strptime(query.get("se", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            expiry = None
        if expiry is None or now > expiry:
            shown = http_date(expiry) if expiry else ""
            raise StorageError(
                403, "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
                "correctly including the signature.",
                {"AuthenticationErrorDetail": f"Signature not valid in the specified time frame: Start [] - "
                 f"Expiry [{shown}] - Current [{http_date(now)}]"},
            )
        if wanted.value not in query.get("sp", ""):
            raise StorageError(
                403, "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            )
        return {"Content-Disposition": query["rscd"]} if query.get("rscd") else {}

    # -- contents -----------------------------------------------------------------------------
    def put(self, name: str, data: bytes, content_type: str = "application/jsonl", *,
            now: datetime.datetime | None = None) -> Blob:
        blob = Blob(data, content_type, f'"0x{uuid.uuid4().hex[:15].upper()}"',
                    now or datetime.datetime.now(datetime.UTC))
        with self._lock:
            self._blobs[name] = blob
        return blob

    def get(self, name: str) -> Blob | None:
        with self._lock:
            return self._blobs.get(name)

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()
