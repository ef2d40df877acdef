"""A record of every call made to the real-API routes, for tests to read back.

It answers "what exactly did the SDK send" (method, path, query string, client id header) and
"what did we answer" (status), without a proxy and without logging secrets or signatures.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Journal", "JournalMiddleware"]


@dataclass(frozen=True)
class JournalEntry:
    method: str
    path: str
    query: str
    client_id: str | None
    status: int


class Journal:
    def __init__(self, limit: int = 10_000) -> None:
        self._entries: list[JournalEntry] = []
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            del self._entries[: -self._limit]

    def entries(self) -> list[dict[str, object]]:
        with self._lock:
            return [asdict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class JournalMiddleware:
    """Records HTTP requests whose path starts with ``prefix``, once their status is known."""

    def __init__(self, app: ASGIApp, journal: Journal, prefix: str = "/v1") -> None:
        self.app = app
        self.journal = journal
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        status_code = 0

        async def watch(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.journal.add(
                JournalEntry(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope["query_string"].decode("latin-1"),
                    client_id=headers.get("x-client-id"),
                    status=status_code,
                )
            )
