"""A small HTTP control API beside the gRPC port: what checks need to *observe* the hub.

The SDK reports "connected" when its channel is up, before the hub has processed Attach; a check
that sends right away races the Attach. Checks therefore wait on the hub itself, with a long poll
that blocks on the hub's condition variable (no client-side polling loop):

* ``GET /health`` -> ``{"status": "ok"}``
* ``GET /_sim/state`` -> the hub device (realm, id, MQTT state, introspection) and its nodes
* ``GET /_sim/nodes/<uuid>?wait=<s>&attached=true|false`` -> 200 with the node (or ``{}`` once
  detached) when the condition holds within ``wait`` seconds, else 404/409
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hil.simulators.message_hub.hub import MessageHub

__all__ = ["ControlApi"]

log = logging.getLogger("message_hub.control")

MAX_WAIT_SECONDS = 30.0


class ControlApi:
    def __init__(self, hub: MessageHub, host: str, port: int, device: dict[str, str]) -> None:
        self.hub = hub
        self.device = device
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the stdlib names it so
                log.debug(format, *args)

            def do_GET(self) -> None:  # the stdlib names it so
                try:
                    status, body = api.route(self.path)
                except Exception as exc:  # a control call must never take the hub down
                    log.exception("control API failure")
                    status, body = 500, {"error": str(exc)}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
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
                wait = min(float(query.get("wait", ["0"])[0]), MAX_WAIT_SECONDS)
            except ValueError:
                return 400, {"error": "expected /_sim/nodes/<uuid>?wait=<seconds>"}
            attached = query.get("attached", ["true"])[0] != "false"
            if not self.hub.wait_for_node(node_id, wait, attached=attached):
                return (404 if attached else 409), {"error": f"node {node_id} {'not attached' if attached else 'still attached'}"}
            found = [n for n in self.hub.nodes() if n["node_id"] == str(node_id)]
            return 200, (found[0] if found else {})
        return 404, {"error": f"no route {parts.path}"}
