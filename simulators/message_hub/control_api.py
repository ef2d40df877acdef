"""A small HTTP control API beside the gRPC port: what checks need to *observe* the hub.

The SDK reports "connected" when its channel is up, before the hub has processed Attach; a check
that sends right away races the Attach. Checks therefore wait on the hub itself, with a long poll
that blocks on the hub's condition variable (no client-side polling loop):

* ``GET /health`` -> ``{"status": "ok"}``
* ``GET /_sim/openapi.json`` -> this API's OpenAPI description
* ``GET /_sim/state`` -> the hub device (realm, id, MQTT state, introspection) and its nodes
* ``GET /_sim/nodes/<uuid>?wait=<s>&attached=true|false`` -> 200 with the node (or ``{}`` once
  detached) when the condition holds within ``wait`` seconds (at most 30), else 404/409; a
  ``wait`` that is not a finite, non-negative number is 400

Every answer is JSON, errors included: another method is 405 with ``Allow: GET, HEAD``, a request
the stdlib parser refuses keeps its status with a JSON body, and a connection that sends no whole
request within :data:`REQUEST_TIMEOUT` seconds is closed.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from hil.simulators.message_hub.hub import MessageHub
from hil.simulators.openapi_description import describe, DESCRIPTION_PATH, Operation
from hil.simulators.request_bounds import control_query, OutOfBounds

__all__ = ["ControlApi"]

log = logging.getLogger("message_hub.control")

#: Seconds a client has to send a whole request before its connection is closed.
REQUEST_TIMEOUT: Final = 5.0
ALLOWED: Final = "GET, HEAD"
OPERATIONS: Final = (
    Operation("GET", "/health", "liveness"),
    Operation("GET", DESCRIPTION_PATH, "this description"),
    Operation("GET", "/_sim/state", "the hub device and its nodes"),
    Operation("GET", "/_sim/nodes/{node_id}", "wait until a node is (attached=true) or is not attached",
              control_query=True),
)


class ControlApi:
    def __init__(self, hub: MessageHub, host: str, port: int, device: dict[str, str]) -> None:
        self.hub = hub
        self.device = device
        api = self

        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT  # socket timeout: a stalled request ends its connection

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def do_GET(self) -> None:  # the stdlib names it so
                try:
                    status, body = api.route(self.path)
                except Exception as exc:  # a control call must never take the hub down
                    log.exception("control API failure")
                    status, body = 500, {"error": str(exc)}
                self._answer(status, body)

            do_HEAD = do_GET

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """The stdlib's refusals (bad request line, unknown method, ...) as JSON, not HTML."""
                if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "command", None):
                    self._answer(405, {"error": f"method {self.command} not allowed"}, allow=True)
                    return
                self.close_connection = True
                self._answer(code, {"error": message or HTTPStatus(code).phrase})

            def _answer(self, status: int, body: Any, *, allow: bool = False) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if allow:
                    self.send_header("Allow", ALLOWED)
                self.end_headers()
                if getattr(self, "command", None) != "HEAD" and status >= 200 and status not in (204, 304):
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="control-api", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, raw_path: str) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        path = parts.path.rstrip("/")
        if path == "/health":
            return 200, {"status": "ok"}
        if path == DESCRIPTION_PATH:
            return 200, describe("Message Hub simulator control API", OPERATIONS)
        if path == "/_sim/state":
            link = self.hub.link
            return 200, {
                "device": {
                    **self.device,
                    "mqtt_connected": bool(link and link.connected),
                    "sessions": link.sessions_started if link else 0,
                    "introspection": link.introspection_text() if link else "",
                },
                "nodes": self.hub.nodes(),
                "published": self.hub.published,
                "delivered": self.hub.delivered,
            }
        if path.startswith("/_sim/nodes/"):
            try:
                node_id = uuid.UUID(path.removeprefix("/_sim/nodes/"))
            except ValueError:
                return 400, {"error": "expected /_sim/nodes/<uuid>?wait=<seconds>"}
            try:
                wait = float(control_query({k: v[0] for k, v in query.items()}).get("wait", 0.0))
            except OutOfBounds as exc:
                return 400, {"error": str(exc)}
            attached = query.get("attached", ["true"])[0] != "false"
            if not self.hub.wait_for_node(node_id, wait, attached=attached):
                return (404 if attached else 409), {"error": f"node {node_id} {'not attached' if attached else 'still attached'}"}
            found = [n for n in self.hub.nodes() if n["node_id"] == str(node_id)]
            return 200, (found[0] if found else {})
        return 404, {"error": f"no route {parts.path}"}
