"""Astarte device ids: 128 bits in URL-safe base64 without padding (22 characters).

``astarte_core`` ``Device.decode_device_id``: the text must decode (URL-safe alphabet, no
padding) to at least 16 bytes; more than 16 is an "extended id", allowed only where the caller
says so (Pairing registration and device routes), and then only the first 16 bytes name the
device. Everything else is invalid.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

__all__ = ["decode_device_id", "encode_device_id", "normalise_device_id"]

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")


def decode_device_id(text: str, *, allow_extended: bool = False) -> bytes | None:
    """The 16-byte id, or None when ``text`` is not a valid (or not allowed extended) id."""
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 16 or (len(raw) > 16 and not allow_extended):
        return None
    return raw[:16]


def encode_device_id(raw: bytes) -> str:
    """The canonical text of a 16-byte id."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def normalise_device_id(text: str, *, allow_extended: bool = False) -> str | None:
    """The canonical form of ``text`` (extended part dropped), or None when invalid."""
    raw = decode_device_id(text, allow_extended=allow_extended)
    return None if raw is None else encode_device_id(raw)
