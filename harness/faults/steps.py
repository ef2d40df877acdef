"""Declarative fault steps for checks: ``with faults.latency("broker", 200): ...``.

A step names a *service* (``broker``, ``pairing``, ...) and a fault in Toxiproxy's words. The
step is in place when the call returns, and is removed when its ``with`` block ends, when
:meth:`Faults.remove_all` runs (the fixture does at the end of every check, passed or failed),
or by ``step.remove()``. Used without ``with`` (``faults.down("pairing")``) it lasts until the
end of the check. Each step is recorded (what, on which service, with which attributes, when
applied and when removed) through the ``record`` callback, so the run record says which faults
a check ran under.

Network steps go through a Toxiproxy API (:class:`~hil.faults.client.ToxiproxyClient`) and
a map from service to proxy name, so they work the same on hil's fault proxy and on a bench's
Toxiproxy. Service steps (restart, stop, pause) go through a :class:`ServiceControl`, which a
target provides when it can.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hil.errors import FaultError
from hil.faults.client import ToxiproxyClient
from hil.faults.responses import ResponseInjector

__all__ = ["AppliedStep", "Faults", "ServiceControl", "StepRecord"]


class ServiceControl(Protocol):
    """What a target can do to one of its services under a running check."""

    def restart(self, service: str) -> None: ...

    def stop(self, service: str) -> None: ...

    def start(self, service: str) -> None: ...

    def pause(self, service: str) -> None: ...

    def resume(self, service: str) -> None: ...


@dataclass
class StepRecord:
    """One applied step as the run record keeps it."""

    step: str
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    applied_at: float = field(default_factory=time.time)
    removed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the run record keeps it (times in ISO 8601 UTC)."""
        return {"step": self.step, "service": self.service, "attributes": dict(self.attributes),
                "applied_at": _iso(self.applied_at),
                "removed_at": None if self.removed_at is None else _iso(self.removed_at)}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AppliedStep:
    """A step in place; a context manager that removes it on exit (idempotent)."""

    def __init__(self, record: StepRecord, undo: Callable[[], None]) -> None:
        self.record = record
        self._undo: Callable[[], None] | None = undo

    @property
    def active(self) -> bool:
        return self._undo is not None

    def remove(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            try:
                undo()
            finally:
                self.record.removed_at = time.time()

    def __enter__(self) -> AppliedStep:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.remove()


class Faults:
    """The steps of one check.

    Args:
        client: the Toxiproxy API the network steps use.
        proxies: service name -> proxy name on that API.
        services: what realises service steps (None: they are refused with the reason).
        injectors: service name -> its response-injection API (simulators only).
        record: called with every applied step (its record is updated in place on removal).
    """

    def __init__(self, client: ToxiproxyClient, proxies: Mapping[str, str], *,
                 services: ServiceControl | None = None,
                 injectors: Mapping[str, ResponseInjector] | None = None,
                 record: Callable[[StepRecord], None] = lambda _r: None) -> None:
        self.client = client
        self._proxies = dict(proxies)
        self._injectors = dict(injectors or {})
        self._services = services
        self._record = record
        self._applied: list[AppliedStep] = []
        self._counter = 0

    @property
    def injectors(self) -> dict[str, ResponseInjector]:
        return dict(self._injectors)

    @property
    def applied(self) -> list[AppliedStep]:
        return list(self._applied)

    def proxy_name(self, service: str) -> str:
        if service not in self._proxies:
            known = ", ".join(sorted(self._proxies)) or "none"
            raise FaultError(f"no fault proxy in front of service {service!r} (proxied: {known})")
        return self._proxies[service]

    def _apply(self, step: str, service: str, attributes: Mapping[str, Any], undo: Callable[[], None]) -> AppliedStep:
        record = StepRecord(step, service, dict(attributes))
        applied = AppliedStep(record, undo)
        self._applied.append(applied)
        self._record(record)
        return applied

    def toxic(self, service: str, type: str, *, stream: str = "downstream", toxicity: float = 1.0,
              **attributes: int) -> AppliedStep:
        """Any toxic by its Toxiproxy type; the named helpers below are this with their words."""
        proxy = self.proxy_name(service)
        self._counter += 1
        name = f"hil_{type}_{stream}_{self._counter}"
        self.client.add_toxic(proxy, type, stream=stream, toxicity=toxicity, attributes=attributes, name=name)
        return self._apply(type, service, {"stream": stream, "toxicity": toxicity, **attributes},
                           lambda: self.client.remove_toxic(proxy, name))

    def latency(self, service: str, ms: int, *, jitter: int = 0, stream: str = "downstream",
                toxicity: float = 1.0) -> AppliedStep:
        return self.toxic(service, "latency", stream=stream, toxicity=toxicity, latency=ms, jitter=jitter)

    def bandwidth(self, service: str, rate_kb_s: int, *, stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "bandwidth", stream=stream, rate=rate_kb_s)

    def slow_close(self, service: str, delay_ms: int, *, stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "slow_close", stream=stream, delay=delay_ms)

    def timeout(self, service: str, ms: int = 0, *, stream: str = "downstream") -> AppliedStep:
        """Nothing gets through; the connection closes after ``ms`` (0: never, until removed)."""
        return self.toxic(service, "timeout", stream=stream, timeout=ms)

    def reset_peer(self, service: str, after_ms: int = 0, *, stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "reset_peer", stream=stream, timeout=after_ms)

    def slicer(self, service: str, average_size: int, *, size_variation: int = 0, delay_us: int = 0,
               stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "slicer", stream=stream, average_size=average_size,
                          size_variation=size_variation, delay=delay_us)

    def limit_data(self, service: str, nbytes: int, *, stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "limit_data", stream=stream, bytes=nbytes)

    def packet_loss(self, service: str, percent: int, *, stream: str = "downstream") -> AppliedStep:
        return self.toxic(service, "packet_loss", stream=stream, probability=percent)

    def down(self, service: str) -> AppliedStep:
        """The service unreachable: connections refused, open ones closed (proxy disabled)."""
        proxy = self.proxy_name(service)
        self.client.update_proxy(proxy, enabled=False)
        def up() -> None:
            self.client.update_proxy(proxy, enabled=True)

        return self._apply("down", service, {}, up)

    # -- response steps --------------------------------------------------------------------
    def respond(self, service: str, method: str, path: str, *, count: int | None = 1, **rule: Any) -> AppliedStep:
        """The next ``count`` answers (None: all, until removed) of ``method path`` (a glob)
        deviate: ``status=502, body="<html>...", content_type="text/html"`` replaces the answer;
        ``set={"data.x": 1}`` / ``remove=["data.y"]`` change the real JSON answer."""
        if service not in self._injectors:
            known = ", ".join(sorted(self._injectors)) or "none"
            raise FaultError(f"service {service!r} cannot inject responses (can: {known})")
        injector = self._injectors[service]
        rule_id = injector.inject(method, path, count=count, **rule)
        shown = {"method": method, "path": path, "count": count,
                 **{k: v for k, v in rule.items() if k != "body"}}
        if "body" in rule:
            shown["body"] = str(rule["body"])[:200]
        return self._apply("respond", service, shown, lambda: injector.remove(rule_id))

    # -- service steps ---------------------------------------------------------------------
    def _control(self) -> ServiceControl:
        if self._services is None:
            raise FaultError("this target cannot stop, restart or pause its services")
        return self._services

    def restart(self, service: str) -> None:
        """Restart ``service`` now (stop, then start on the same address); returns once it is ready."""
        self._control().restart(service)
        record = StepRecord("restart", service)
        record.removed_at = time.time()
        self._record(record)

    def stop(self, service: str) -> AppliedStep:
        control = self._control()
        control.stop(service)
        return self._apply("stop", service, {}, lambda: control.start(service))

    def pause(self, service: str) -> AppliedStep:
        """Freeze ``service`` (it keeps its connections but answers nothing) until removed."""
        control = self._control()
        control.pause(service)
        return self._apply("pause", service, {}, lambda: control.resume(service))

    def remove_all(self) -> None:
        """Remove every step still in place, newest first; every removal is tried, and the first
        failure is raised once all were tried (a fault left behind would poison later checks)."""
        failure: BaseException | None = None
        for applied in reversed(self._applied):
            try:
                applied.remove()
            except Exception as exc:  # noqa: BLE001 - keep removing the others
                failure = failure or exc
        self._applied.clear()
        if failure is not None:
            raise failure
