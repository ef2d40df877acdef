"""Secrets out of evidence, at the moment it is captured.

A report is handed to people who must not get the keys of the device or the realm it describes,
and evidence (service logs, traffic, tracebacks) is full of them: Astarte credentials secrets and
JWTs, DESTINY HMAC signatures and keys, LocknAlert passwords and pairing tokens, private keys in
PEM, SAS tokens (``sig=``). Redacting when the evidence file is written, not when the report is
rendered, means no file in a report directory ever holds a secret, whichever tool opens it.

This module is the one place that knows what a secret looks like; every writer of evidence goes
through :func:`redact`. What is kept: the *name* of the field and the shape of the text around it,
so a reader still sees that a secret was sent, and where.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MASK", "redact", "redact_lines"]

#: What a secret is replaced with. Fixed text, no length hint: the length of a secret is a hint too.
MASK: Final = "[REDACTED]"

#: Field names whose values are secrets, in JSON (``"name": "value"``), in Python reprs
#: (``name='value'``), in query strings and headers (``name=value``, ``Name: value``).
_SECRET_NAMES: Final = (
    r"[A-Za-z_-]*(?:secret|password|passwd|passphrase|token|hmac[_-]?key|private[_-]?key|api[_-]?key"
    r"|signature|authorization|credentials)[A-Za-z_-]*"
)

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # PEM private keys, whole blocks (certificates stay: they are public and useful evidence).
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL),
        f"-----BEGIN PRIVATE KEY----- {MASK} -----END PRIVATE KEY-----",
    ),
    # JWTs anywhere (Astarte realm and pairing tokens): header.payload.signature, base64url.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization headers: keep the scheme word (Bearer, Signature, Basic), drop the rest.
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)([A-Za-z]+ )?[^\"'\r\n,}]+"), rf"\1\2{MASK}"),
    # Bearer / Basic credentials standing alone (outside an Authorization header).
    (re.compile(r"\b(Bearer|Basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    # SAS tokens and signed URLs.
    (re.compile(r"(?i)\b(sig=)[^&\s\"'<>]+"), rf"\1{MASK}"),
    # "name": "value" (JSON) and 'name': 'value' (Python dict reprs).
    (
        re.compile(rf"(?i)([\"']{_SECRET_NAMES}[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{MASK}\2",
    ),
    # name=value / name: value in logs, reprs, query strings and header lines.
    (
        re.compile(rf"(?i)(\b{_SECRET_NAMES}\s*[=:]\s*)([\"']?)(?!\[REDACTED\])[^\s\"'&,;)}}]+\2"),
        rf"\1\2{MASK}\2",
    ),
)


def redact(text: str) -> str:
    """``text`` with every secret hil knows the shape of replaced by :data:`MASK`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_lines(lines: Iterable[str]) -> list[str]:
    """:func:`redact` line by line (a PEM block split over lines is caught by :func:`redact` on the whole text)."""
    return [redact(line) for line in lines]
