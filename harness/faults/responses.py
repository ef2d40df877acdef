"""A client of a simulator's response-injection API (``/_sim/responses``, see
:mod:`hil.simulators.response_injection`): make the next N answers of a route deviate."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from hil.errors import FaultError

__all__ = ["ResponseInjector"]


class ResponseInjector:
    """``ResponseInjector("https://localhost:N/_sim/responses", ca_path)``."""

    def __init__(self, url: str, ca_path: Path | None = None, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_path)) if ca_path else True
        self._http = httpx.Client(verify=verify, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str = "", body: Any = None) -> Any:
        try:
            response = self._http.request(method, self.url + path, json=body)
        except httpx.HTTPError as exc:
            raise FaultError(f"response injection at {self.url}: {exc}", status=503) from None
        if response.status_code >= 400:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:200] or response.reason_phrase
            raise FaultError(f"response injection: {message}", status=response.status_code)
        return response.json() if response.content else None

    def inject(self, method: str, path: str, *, count: int | None = 1, status: int | None = None,
               body: Any = None, content_type: str | None = None, headers: Mapping[str, str] | None = None,
               set: Mapping[str, Any] | None = None,
               remove: Sequence[str] | None = None) -> int:
        """Add a rule (see the simulator module for its meaning); returns its id."""
        rule: dict[str, Any] = {"method": method, "path": path, "count": count}
        if status is not None:
            rule["status"] = status
            if body is not None:
                rule["body"] = body
            if content_type is not None:
                rule["content_type"] = content_type
            if headers:
                rule["headers"] = dict(headers)
        if set is not None:
            rule["set"] = dict(set)
        if remove is not None:
            rule["remove"] = list(remove)
        return int(self._call("POST", "", rule)["id"])

    def rules(self) -> list[dict[str, Any]]:
        return list(self._call("GET")["data"])

    def remove(self, rule_id: int) -> None:
        try:
            self._call("DELETE", f"/{rule_id}")
        except FaultError as exc:
            if exc.status != 404:  # a used-up rule has already gone: removing it is done
                raise

    def clear(self) -> None:
        self._call("DELETE")
