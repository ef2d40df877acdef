"""Response injection: make the next N answers of a route deviate, on any simulator.

One ASGI middleware, shared by the simulators, so every route of every simulated server can
answer what a half-broken server or a proxy in front of it would: any status with any body and
content type (an HTML 502 from a proxy, an empty 503), or the real answer with fields changed,
removed or mistyped (a 200 without ``client_crt``, a ``broker_url`` of another form). Its own
control routes sit under the simulator's control prefix (``/_sim/responses`` on Astarte)::

    POST   <prefix>          a rule (below) -> 201 {"id": ..., ...}
    GET    <prefix>          the rules with their remaining count and hits
    DELETE <prefix>          remove every rule -> 204
    DELETE <prefix>/<id>     remove one rule -> 204 (404 if unknown)

A rule::

    {"method": "GET", "path": "/pairing/v1/*/devices/*",   # fnmatch glob on the path
     "count": 1,                                            # answers to change; null: until removed
     # either a whole answer:
     "status": 502, "content_type": "text/html", "body": "<html>Bad Gateway</html>",
     "headers": {"retry-after": "1"},
     # or changes to the real JSON answer (dotted paths into it):
     "set": {"data.protocols.astarte_mqtt_v1.broker_url": "mqtt://localhost:1883"},
     "remove": ["data.status"]}

A ``set`` value ``{"$make": NAME, ...}`` is produced by a maker the simulator registered (the
Astarte simulator's ``certificate`` maker signs the request's CSR expired, short-lived, for
another CN, or by another CA): values that only the server can compute.

A bad rule is refused with one line, ``{"error": "...", "status": 400}``. Rules match in the
order they were added; a request matches at most one.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Maker", "ResponseInjection"]

Maker = Callable[[str, Any, Mapping[str, Any]], Any]
"""``maker(request_path, request_json, arguments) -> value``; raises ValueError with a one-line
reason (the answer is then a 500 saying it)."""

_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*")
_RULE_KEYS: Final = {"method", "path", "count", "status", "content_type", "body", "headers", "set", "remove"}


class _RuleError(ValueError):
    pass


@dataclass
class _Rule:
    id: int
    method: str
    path: str
    count: int | None
    status: int | None = None
    content_type: str | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    hits: int = 0

    @property
    def replaces(self) -> bool:
        return self.status is not None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "path": self.path, "count": self.count, "hits": self.hits,
                "status": self.status, "content_type": self.content_type, "body": self.body,
                "headers": dict(self.headers), "set": dict(self.set), "remove": list(self.remove)}


def _parse_rule(data: Any, rule_id: int, makers: Mapping[str, Maker]) -> _Rule:
    if not isinstance(data, dict):
        raise _RuleError("a rule is a JSON object")
    unknown = sorted(set(data) - _RULE_KEYS)
    if unknown:
        raise _RuleError(f"unknown rule field {unknown[0]!r} (fields: {', '.join(sorted(_RULE_KEYS))})")
    method = data.get("method", "*")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise _RuleError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _RuleError(f"path must be a glob starting with '/', got {path!r}")
    count = data.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise _RuleError(f"count must be a positive integer or null (until removed), got {count!r}")
    status = data.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise _RuleError(f"status must be an HTTP status (100-599), got {status!r}")
    changes = "set" in data or "remove" in data
    if status is None and not changes:
        raise _RuleError("a rule needs either status (a whole answer) or set/remove (changes to the real one)")
    if status is not None and changes:
        raise _RuleError("status replaces the answer; set/remove change the real one: give one or the other")
    if status is None and any(k in data for k in ("body", "content_type", "headers")):
        raise _RuleError("body, content_type and headers go with status")
    body = data.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        data.setdefault("content_type", "application/json")
    content_type = data.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise _RuleError(f"content_type must be a string, got {content_type!r}")
    headers = data.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise _RuleError("headers must be an object of strings")
    sets = data.get("set", {})
    if not isinstance(sets, dict) or not all(isinstance(k, str) and k for k in sets):
        raise _RuleError("set must be an object of dotted paths to values")
    for where, value in sets.items():
        if isinstance(value, dict) and "$make" in value and value["$make"] not in makers:
            raise _RuleError(f"set {where}: no maker {value['$make']!r} here (makers: {', '.join(makers) or 'none'})")
    remove = data.get("remove", [])
    if not isinstance(remove, list) or not all(isinstance(k, str) and k for k in remove):
        raise _RuleError("remove must be a list of dotted paths")
    return _Rule(rule_id, method.upper(), path, count, status, content_type, body, dict(headers), dict(sets),
                 list(remove))


def _edit(document: Any, dotted: str, value: Any, *, delete: bool) -> None:
    keys = dotted.split(".")
    node = document
    for key in keys[:-1]:
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node.setdefault(key, {}) if not delete else node.get(key)
        else:
            return
    last = keys[-1]
    if isinstance(node, dict):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        if delete:
            del node[int(last)]
        else:
            node[int(last)] = value


class ResponseInjection:
    """The middleware; ``prefix`` is where its control routes live (e.g. ``/_sim/responses``)."""

    def __init__(self, app: ASGIApp, *, prefix: str, makers: Mapping[str, Maker] | None = None) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.makers = dict(makers or {})
        self._rules: list[_Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            await self._control(scope, receive, send)
            return
        rule = self._take(scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.replaces:
            await _answer(send, rule.status or 500, (rule.body or "").encode(), rule.content_type, rule.headers)
        else:
            await self._change(rule, scope, receive, send)

    def _take(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method in ("*", method) and fnmatch.fnmatchcase(path, rule.path):
                    rule.hits += 1
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count == 0:
                            self._rules.remove(rule)
                    return rule
        return None

    async def _change(self, rule: _Rule, scope: Scope, receive: Receive, send: Send) -> None:
        request_body = b""
        more = True
        while more:
            message = await receive()
            request_body += message.get("body", b"")
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": request_body, "more_body": False}
            return await receive()

        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        try:
            document = json.loads(body)
            request_json = json.loads(request_body) if request_body.strip() else None
        except ValueError:
            document = None  # not JSON: nothing to change, the real answer goes out
        if document is not None:
            for where in rule.remove:
                _edit(document, where, None, delete=True)
            for where, value in rule.set.items():
                if isinstance(value, dict) and "$make" in value:
                    try:
                        value = self.makers[value["$make"]](scope["path"], request_json, value)
                    except ValueError as exc:
                        await _answer(send, 500, json.dumps({"error": f"maker {value['$make']}: {exc}",
                                                             "status": 500}).encode(), "application/json", {})
                        return
                _edit(document, where, value, delete=False)
            body = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": start.get("status", 500),
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, rest = scope["method"], scope["path"][len(self.prefix):].strip("/")
        if method == "POST" and not rest:
            raw = b""
            more = True
            while more:
                message = await receive()
                raw += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                data = json.loads(raw or b"null")
            except ValueError:
                await _error(send, 400, "the rule is not JSON")
                return
            try:
                rule = _parse_rule(data, next(self._ids), self.makers)
            except _RuleError as exc:
                await _error(send, 400, str(exc))
                return
            with self._lock:
                self._rules.append(rule)
            await _json(send, 201, rule.to_json())
        elif method == "GET" and not rest:
            with self._lock:
                await _json(send, 200, {"data": [r.to_json() for r in self._rules]})
        elif method == "DELETE" and not rest:
            with self._lock:
                self._rules.clear()
            await _answer(send, 204, b"", None, {})
        elif method == "DELETE" and rest.isdigit():
            with self._lock:
                found = [r for r in self._rules if r.id == int(rest)]
                for rule in found:
                    self._rules.remove(rule)
            if found:
                await _answer(send, 204, b"", None, {})
            else:
                await _error(send, 404, f"no injection rule {rest}")
        else:
            await _error(send, 404, f"no route {method} {scope['path']}")


async def _answer(send: Send, status: int, body: bytes, content_type: str | None, headers: Mapping[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if content_type is not None:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, body: Any) -> None:
    await _answer(send, status, json.dumps(body).encode(), "application/json", {})


async def _error(send: Send, status: int, message: str) -> None:
    await _json(send, status, {"error": message, "status": status})
