"""HMAC request authentication, implemented from the documented contract (not from the SDK).

Why our own: the SDK ships server-side helpers too, and the real repository uses them. A simulator
that verified with those helpers would share any misreading of the scheme with the client under
test, and a signing bug could never show. The rules, as the real server applies them:

1. ``Authorization`` present (else ``Authorization header missing.``);
2. the text before its first space is exactly ``Signature`` (else ``Authorization type not
   supported.``); the signature is everything after that space, compared verbatim;
3. ``X-Client-Id`` present (``X-Client-Id header missing``) and a UUID of version 4 or 7
   (``Invalid format for client id, expected UUIDv4 or UUIDv7.``);
4. ``X-Request-Timestamp`` present (``X-Request-Timestamp header missing``) and not older than
   300 s by the server clock (``Token is expired.``); *future* timestamps are accepted;
5. the client is a known robot (``robot client <id> does not exist.``);
6. ``hexdigest(HMAC-SHA256(key=secret.encode(), msg=body + b":" + client_id.bytes + b":" +
   repr(float(timestamp)).encode()))`` equals the signature (``Signature is invalid.``).

Step 6 re-formats the timestamp: the server parses it as a float and signs Python's repr of that
float, so ``"1700000000"`` is checked as ``"1700000000.0"``.

Deliberate divergences (the real server answers 500 for these; our rule is "never 500"):

* a timestamp that is not a finite ASCII decimal number (``abc``, ``0x10``, ``nan``, ``inf``,
  full-width digits) gets 401 ``X-Request-Timestamp header is not a valid timestamp.`` The real
  server raises an unhandled ``ValueError`` on non-numbers, and *accepts* ``nan``/``inf`` because
  every comparison with them is false; we treat both as the invalid timestamps they are;
* a signature with non-ASCII characters is simply ``Signature is invalid.`` (the real
  ``hmac.compare_digest`` raises ``TypeError`` on non-ASCII text).

Replays are faithful: nothing remembers signatures, so the same signed request is accepted again
for as long as its timestamp is inside the window, exactly like the real repository.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from pydantic import UUID4, UUID7, TypeAdapter, ValidationError

__all__ = [
    "MAX_REQUEST_AGE_SECONDS",
    "AuthFailure",
    "HmacIdentity",
    "expected_signature",
    "verify_hmac_request",
]

MAX_REQUEST_AGE_SECONDS = 300.0
"""Requests signed longer ago than this (by the server clock) are rejected; newer ones are not."""

_DESTINY_UUID: TypeAdapter[UUID] = TypeAdapter(UUID4 | UUID7)


class AuthFailure(Exception):
    """Authentication failed; ``detail`` is the exact text the 401 body carries."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True)
class HmacIdentity:
    """Who a verified request came from, and the timestamp it was signed with."""

    client_id: UUID
    timestamp: float


def expected_signature(secret: str, body: bytes, client_id: UUID, timestamp: float) -> str:
    """The signature the server expects; ``timestamp`` is formatted with Python's float repr."""
    message = body + b":" + client_id.bytes + b":" + repr(timestamp).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse_timestamp(text: str) -> float:
    """A finite decimal number, or AuthFailure (see the module docstring for why not 500)."""
    try:
        if not text.isascii():
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise AuthFailure("X-Request-Timestamp header is not a valid timestamp.") from None
    if not math.isfinite(value):
        raise AuthFailure("X-Request-Timestamp header is not a valid timestamp.")
    return value


def verify_hmac_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    secret_for: Callable[[UUID], str | None],
) -> HmacIdentity:
    """Apply the rules of the module docstring, in the real server's order.

    Args:
        headers: request headers, looked up case-insensitively by the caller's mapping.
        body: the raw request body exactly as received.
        now: the server clock, seconds since the epoch.
        secret_for: the robot's secret, or None when no robot has that client id.

    Raises:
        AuthFailure: with the detail text of the first rule that failed.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthFailure("Authorization header missing.")
    scheme, _, signature = authorization.partition(" ")
    if scheme != "Signature":
        raise AuthFailure("Authorization type not supported.")

    raw_client_id = headers.get("x-client-id")
    if not raw_client_id:
        raise AuthFailure("X-Client-Id header missing")
    try:
        client_id = _DESTINY_UUID.validate_python(raw_client_id)
    except ValidationError:
        raise AuthFailure("Invalid format for client id, expected UUIDv4 or UUIDv7.") from None

    raw_timestamp = headers.get("x-request-timestamp")
    if not raw_timestamp:
        raise AuthFailure("X-Request-Timestamp header missing")
    timestamp = _parse_timestamp(raw_timestamp)
    if now - timestamp > MAX_REQUEST_AGE_SECONDS:
        raise AuthFailure("Token is expired.")

    secret = secret_for(client_id)
    if secret is None:
        raise AuthFailure(f"robot client {client_id} does not exist.")

    wanted = expected_signature(secret, body, client_id, timestamp)
    if not signature.isascii() or not hmac.compare_digest(signature, wanted):
        raise AuthFailure("Signature is invalid.")
    return HmacIdentity(client_id=client_id, timestamp=timestamp)
