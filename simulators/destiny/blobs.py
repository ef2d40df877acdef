"""Blob storage served by the simulator itself, with "signed" URLs.

The real repository hands robots signed blob-storage URLs: GET the reference JSONL, PUT the
result JSONL. Serving them from the simulator (``/_sim/storage/<name>?sig=<token>``) keeps those
URLs real and usable by a robot's own HTTP client. A URL is valid only with the token derived from
the blob name and a per-process key, so a robot that rewrites a URL fails like it would against
real storage (403), while no state is needed to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

__all__ = ["Blob", "BlobStore"]


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str


class BlobStore:
    """Named byte blobs in memory."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._blobs: dict[str, Blob] = {}
        self._lock = threading.Lock()

    def token(self, name: str) -> str:
        """The URL token granting access to ``name``."""
        return hmac.new(self._key, name.encode(), hashlib.sha256).hexdigest()[:32]

    def token_valid(self, name: str, token: str | None) -> bool:
        return token is not None and token.isascii() and hmac.compare_digest(self.token(name), token)

    def put(self, name: str, data: bytes, content_type: str = "application/jsonl") -> None:
        with self._lock:
            self._blobs[name] = Blob(data, content_type)

    def get(self, name: str) -> Blob | None:
        with self._lock:
            return self._blobs.get(name)

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()
