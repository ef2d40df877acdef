"""Realm JWT checks of the three Phoenix APIs, as Astarte v1.2.0 (Guardian 2.3) makes them.

* the token comes from any ``Authorization`` header matching ``Bearer:?\\s+(.*)$`` (case
  insensitive, not anchored at the start); none -> 401 ``Unauthorized``;
* it must verify against the realm public key with one of ES256/384/512, PS256/384/512,
  RS256/384/512, and the key type must fit the algorithm; ``exp`` (if present) must not be past,
  ``nbf`` (if present) not in the future, no clock leeway; ``iss``/``aud``/``iat``/``sub`` are not
  checked; any failure, or an unknown realm -> 403 ``Forbidden`` (v1.2.0 has no 401 for a bad
  token);
* the API's claim (``a_pa``, ``a_aea``, ``a_rma``) must be a list holding an entry
  ``METHOD_RE:OPTS:PATH_RE`` whose anchored regexes match the method and the path after the
  realm segment; otherwise 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import jwt

from hil.simulators.astarte.api_errors import ApiError, detail

__all__ = ["ALLOWED_ALGORITHMS", "authorize", "bearer_token"]

ALLOWED_ALGORITHMS: Final = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
_BEARER: Final = re.compile(r"bearer:?\s+(.*)$", re.IGNORECASE)


def bearer_token(headers: Iterable[str]) -> str | None:
    """The first ``Bearer`` value among the ``Authorization`` header values, or None."""
    for value in headers:
        match = _BEARER.search(value)
        if match:
            return match.group(1)
    return None


def authorize(
    headers: Iterable[str], *, public_key_pem: bytes | None, claim: str, method: str, auth_path: str
) -> dict[str, Any]:
    """Check a request; returns the token's claims, raises :class:`ApiError` 401/403."""
    token = bearer_token(headers)
    if token is None:
        raise detail(401, "Unauthorized")
    claims = _verified_claims(token, public_key_pem)
    if claims is None or not _path_authorized(claims.get(claim, []), method, auth_path):
        raise forbidden()
    return claims


def forbidden() -> ApiError:
    return detail(403, "Forbidden")


def _verified_claims(token: str, public_key_pem: bytes | None) -> dict[str, Any] | None:
    if public_key_pem is None:  # v1.2.0 verifies with no key: every token fails
        return None
    try:
        claims = jwt.decode(
            token,
            public_key_pem,
            algorithms=list(ALLOWED_ALGORITHMS),
            options={"verify_aud": False, "verify_iss": False, "verify_iat": False, "verify_sub": False,
                     "verify_jti": False, "require": []},
            leeway=0,
        )
    except Exception:  # noqa: BLE001 - any decoding/verification failure (incl. key/alg mismatch) is 403
        return None
    return claims if isinstance(claims, dict) else None


def _path_authorized(entries: Any, method: str, auth_path: str) -> bool:
    if not isinstance(entries, list):
        return False
    for entry in entries:
        if not isinstance(entry, str):
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3:
            continue
        try:
            method_re = re.compile(f"^{parts[0]}$")
            path_re = re.compile(f"^{parts[2]}$")
        except re.error:
            continue
        if method_re.match(method) and path_re.match(auth_path):
            return True
    return False
