"""Device session events read from Mosquitto's own log, as the broker publishes it on ``$SYS``.

Why: Astarte learns that a device connected or went away from its broker plugin, never from the
device's messages. Our Mosquitto runs with ``log_dest topic``, so every connection notice also
arrives on ``$SYS/broker/log/<level>`` (``N`` notice, ``E`` error) where the realm's admin session
can read it. On the device listener the client id is the certificate CN, ``<realm>/<device_id>``.

The lines that matter, as Mosquitto 2.0.11 writes them (``src/handle_connect.c``, ``src/loop.c``;
each payload starts with ``<epoch seconds>: ``):

* ``New client connected from <ip>:<port> as <id> (p2, c1, k60, u'<cn>').`` a session starts;
* ``Client <id> already connected, closing old connection.`` the old session of ``<id>`` ends
  because a new connection with the same client id takes over (the next line starts that one);
* ``Client <id> disconnected.`` (a DISCONNECT), ``... closed its connection.``, ``... has exceeded
  timeout, disconnecting.``, ``... disconnected due to <cause>.``, ``... disconnected, not
  authorised.``, ``... been disconnected by administrative action.``, ``... disconnected: <errno>.``
  and ``Bad socket read/write on client <id>: <cause>``: the session of ``<id>`` ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

__all__ = ["LOG_TOPICS", "SessionChange", "SessionEvent", "parse_log_line"]

#: Notices carry connects and disconnects; the takeover line is logged at error level.
LOG_TOPICS: Final = ("$SYS/broker/log/N", "$SYS/broker/log/E")

_TIMESTAMP: Final = re.compile(r"^\d+: ")
_CONNECTED: Final = re.compile(r"^New client connected from (?P<ip>.+):(?P<port>\d+) as (?P<id>\S+) \(p\d+, c\d+, k\d+.*\)\.$")
_TAKEN_OVER: Final = re.compile(r"^Client (?P<id>\S+) already connected, closing old connection\.$")
_ENDED: Final = (
    re.compile(r"^Client (?P<id>\S+) (?:disconnected[.,: ]|closed its connection\.|has exceeded timeout, disconnecting\."
               r"|been disconnected by administrative action\.)"),
    re.compile(r"^Bad socket read/write on client (?P<id>\S+): "),
)


class SessionChange(Enum):
    CONNECTED = "connected"
    TAKEN_OVER = "taken_over"
    ENDED = "ended"


@dataclass(frozen=True)
class SessionEvent:
    """One change of the session of ``client_id``; ``ip``/``port`` only for CONNECTED."""

    change: SessionChange
    client_id: str
    ip: str | None = None
    port: int | None = None


def parse_log_line(payload: bytes) -> SessionEvent | None:
    """The session event in one ``$SYS/broker/log`` payload, or None for any other line."""
    text = _TIMESTAMP.sub("", payload.decode("utf-8", "replace").strip(), count=1)
    if match := _CONNECTED.match(text):
        return SessionEvent(SessionChange.CONNECTED, match["id"], match["ip"], int(match["port"]))
    if match := _TAKEN_OVER.match(text):
        return SessionEvent(SessionChange.TAKEN_OVER, match["id"])
    for pattern in _ENDED:
        if match := pattern.match(text):
            return SessionEvent(SessionChange.ENDED, match["id"])
    return None
