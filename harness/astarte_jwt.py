"""Astarte realm JWTs: mint them (tests, ``hil up``, the simulator's ``/_sim`` route).

An Astarte API authorises a request with a JWT signed by the realm's private key; the realm keeps
only the public key. The token carries one claim per API, a list of ``METHOD:OPTS:PATH`` regex
triples: ``a_pa`` (Pairing agent routes), ``a_aea`` (AppEngine), ``a_rma`` (Realm Management),
``a_ch`` (AppEngine channels). ``".*::.*"`` grants every method on every path.

Usage::

    token = mint_realm_token(pki.realm_keypair("test").private_key_path)          # all APIs
    token = mint_realm_token(key_path, claims={"a_aea": ["GET::devices/.*"]}, ttl=60)

ES256 because :meth:`hil.pki.HarnessPKI.realm_keypair` makes EC P-256 keys, the kind
``astartectl`` generates for a realm; RSA keys work too (RS256 is picked for them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hil.errors import PKIError

__all__ = ["ALL_ACCESS", "API_CLAIMS", "DEFAULT_TTL", "mint_realm_token"]

#: The authorisation claim each API reads.
API_CLAIMS: Final = {"pairing": "a_pa", "appengine": "a_aea", "realm-management": "a_rma", "channels": "a_ch"}
#: One entry that matches every method and every path.
ALL_ACCESS: Final = (".*::.*",)
#: A day: long enough for a ``hil up`` session, short enough that a leaked token dies soon.
DEFAULT_TTL: Final = 24 * 3600


def mint_realm_token(
    private_key: Path | bytes,
    *,
    claims: Mapping[str, Sequence[str]] | None = None,
    ttl: int | None = DEFAULT_TTL,
    subject: str = "hil",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A JWT for a realm, signed with its private key.

    Args:
        private_key: the realm's private key, a PEM file path or the PEM bytes.
        claims: claim name -> authorisation entries; default: :data:`ALL_ACCESS` for every
            API claim of :data:`API_CLAIMS`.
        ttl: seconds until ``exp``; None leaves ``exp`` out (Astarte accepts a token without one).
        subject: the ``sub`` claim (Astarte does not check it; it shows in its logs).
        extra: more claims, e.g. a past ``exp`` or a future ``nbf`` for negative tests.

    Raises:
        PKIError: the key cannot be read or is neither EC nor RSA.
    """
    pem = Path(private_key).read_bytes() if isinstance(private_key, Path) else private_key
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise PKIError("the realm private key is not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size, "ES256")
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise PKIError("the realm private key must be EC or RSA")
    now = int(time.time())
    payload: dict[str, Any] = {"sub": subject, "iat": now}
    if ttl is not None:
        payload["exp"] = now + ttl
    chosen = claims if claims is not None else {claim: list(ALL_ACCESS) for claim in API_CLAIMS.values()}
    payload.update({name: list(entries) for name, entries in chosen.items()})
    payload.update(extra or {})
    return jwt.encode(payload, key, algorithm=algorithm)
