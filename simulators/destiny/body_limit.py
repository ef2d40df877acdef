"""Refuse oversized request bodies with 413 before any route sees them.

The real repository sits behind infrastructure that caps request sizes; the simulator picks
explicit limits so a robot that streams something huge gets a clear 413 instead of exhausting
memory. A declared ``Content-Length`` over the limit is refused without reading; a chunked body is
read up to the limit and refused as soon as it goes over, otherwise replayed to the app unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_BODY_LIMIT", "STORAGE_BODY_LIMIT", "BodyLimitMiddleware"]

API_BODY_LIMIT = 1 << 20
"""1 MiB: a batch result is a few hundred bytes; seeding requests stay far below it too."""

STORAGE_BODY_LIMIT = 64 << 20
"""64 MiB for result files PUT to the simulated blob storage."""


class BodyLimitMiddleware:
    """Args: limits: ``(path prefix, max bytes)`` pairs, first match wins; ``default`` otherwise."""

    def __init__(self, app: ASGIApp, limits: Sequence[tuple[str, int]], default: int = API_BODY_LIMIT) -> None:
        self.app = app
        self.limits = list(limits)
        self.default = default

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        too_large = JSONResponse({"detail": f"Request body too large (limit {limit} bytes)."}, status_code=413)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
