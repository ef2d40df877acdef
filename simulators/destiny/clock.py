"""The simulator's notion of "now": wall-clock time plus an offset the tests control.

Lease expiry and HMAC timestamp windows are both judged against this clock, so a test can move
the server past a lease's end, or push the client's signatures out of the 300 s window, without
sleeping: ``POST /_sim/clock/advance`` adds to the offset. Wall time keeps flowing underneath,
because the SDK signs with the real ``time.time()`` and an honest client must still be accepted.
"""

from __future__ import annotations

import datetime
import math
import threading
import time
from collections.abc import Callable

__all__ = ["MAX_OFFSET_SECONDS", "SimClock"]

#: How far the clock may be moved from wall time, either way: a century. Past year 9999 a
#: timestamp no longer makes a datetime, and every route that reads the clock would fail.
MAX_OFFSET_SECONDS = 100 * 365.25 * 24 * 3600


class SimClock:
    """Wall time shifted by a controllable offset (seconds, may be negative).

    Args:
        source: the underlying time source, ``time.time`` unless a unit test injects one.
    """

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, as the simulated server sees them."""
        with self._lock:
            return self._source() + self._offset

    def now(self) -> datetime.datetime:
        """The simulated current time as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self.time(), tz=datetime.UTC)

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``; negative values move it back (a client ahead of us).

        Raises:
            ValueError: for NaN or infinite amounts, which would make every comparison lie, and
                for a move that takes the offset past :data:`MAX_OFFSET_SECONDS` (nothing changes).
        """
        if not math.isfinite(seconds):
            raise ValueError("seconds must be a finite number")
        with self._lock:
            if abs(self._offset + seconds) > MAX_OFFSET_SECONDS:
                raise ValueError(f"the clock may move at most {MAX_OFFSET_SECONDS:.0f} s from wall time")
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
