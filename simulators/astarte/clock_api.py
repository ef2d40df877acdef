"""``/_sim/clock``: the simulated Astarte's clock, so certificate expiry is tested in seconds.

Pairing's ``credentials/verify`` judges a certificate's validity window at this clock; moving it
30 days on makes a fresh device certificate expired without waiting::

    GET  /_sim/clock                          {"now": ISO 8601, "offset_seconds": s}
    POST /_sim/clock/advance {"seconds": s}   move it (negative moves it back)
    POST /_sim/clock/reset                    back to wall time

The clock is the DESTINY simulator's idea (wall time plus an offset): wall time keeps flowing, so
TLS and the broker, which use the real clock, are not affected.
"""

from __future__ import annotations

import math
from typing import Any

from hil.simulators.astarte.api_errors import bad_request
from hil.simulators.astarte.web import Call, Reply, route
from hil.simulators.destiny.clock import SimClock

__all__ = ["clock_routes"]


def clock_routes(clock: SimClock) -> list[Any]:
    """The routes, with their full paths: they go before the ``/_sim`` mount of the control API."""
    def state() -> Reply:
        return Reply(200, {"now": clock.now().isoformat(), "offset_seconds": clock.offset})

    def show(_call: Call) -> Reply:
        return state()

    def advance(call: Call) -> Reply:
        seconds = call.body.get("seconds") if isinstance(call.body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise bad_request()
        clock.advance(float(seconds))
        return state()

    def reset(_call: Call) -> Reply:
        clock.reset()
        return state()

    return [route("/_sim/clock", show, ["GET"]), route("/_sim/clock/advance", advance, ["POST"]),
            route("/_sim/clock/reset", reset, ["POST"])]
