"""A client of Toxiproxy's HTTP API: drives hil's fault proxy and a real Toxiproxy alike.

Only Toxiproxy 2's documented routes and JSON shapes are used (see :mod:`hil.faults.proxy`),
so a bench that routes a device through its own Toxiproxy is driven by the same steps as the
simulated target. An error answer becomes one :class:`~hil.errors.FaultError` line carrying
the server's own message and status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from hil.errors import FaultError

__all__ = ["ToxiproxyClient"]


class ToxiproxyClient:
    """``ToxiproxyClient("http://127.0.0.1:8474")``: one method per API route."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        # One connection pool for the client's life: a new httpx.Client per call costs ~0.1 s
        # (it builds a TLS context), which a check applying many steps would pay each time.
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, f"{self.base_url}{path}", json=body)
        except httpx.HTTPError as exc:
            raise FaultError(f"fault proxy at {self.base_url}: {exc}", status=503) from None
        if response.status_code >= 400:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = response.text.strip() or response.reason_phrase
            raise FaultError(f"fault proxy: {method} {path}: {message}", status=response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # -- proxies ---------------------------------------------------------------------------
    def version(self) -> str:
        return str(self._call("GET", "/version"))

    def proxies(self) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", "/proxies"))

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0", *,
                     enabled: bool = True) -> dict[str, Any]:
        """Create a proxy; returns it with the address it really listens on (``listen``)."""
        return dict(self._call("POST", "/proxies",
                               {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}))

    def populate(self, proxies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        answer = self._call("POST", "/populate", [dict(p) for p in proxies])
        return list(answer["proxies"] if isinstance(answer, dict) else answer)

    def proxy(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/proxies/{name}"))

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        """``update_proxy("broker", enabled=False)`` takes it down; ``enabled=True`` brings it back."""
        return dict(self._call("POST", f"/proxies/{name}", fields))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._call("POST", "/reset")

    # -- toxics ----------------------------------------------------------------------------
    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics"))

    def add_toxic(self, proxy: str, type: str, *, stream: str = "downstream", toxicity: float = 1.0,
                  attributes: Mapping[str, int] | None = None, name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": type, "stream": stream, "toxicity": toxicity,
                                "attributes": dict(attributes or {})}
        if name is not None:
            body["name"] = name
        return dict(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def toxic(self, proxy: str, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/proxies/{proxy}/toxics/{name}"))

    def update_toxic(self, proxy: str, name: str, *, attributes: Mapping[str, int] | None = None,
                     toxicity: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return dict(self._call("POST", f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
