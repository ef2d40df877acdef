"""A service's output: copied to its log file, and watchable for lines as they arrive.

Readiness "the log says X" must be an event, not a poll of a file with sleeps in between, so the
output of a service goes through a pipe that one thread drains: every chunk is appended to the
per-service log file (which a failing test shows) and fed to waiters under a condition variable.
Draining continuously also means a chatty service can never block on a full pipe.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

__all__ = ["HIL_MARKER", "LogStream"]

HIL_MARKER = "--- hil:"  # lines hil writes into a service log itself (one per start)


class LogStream:
    """Lines of one service's output, mirrored to ``path``.

    Args:
        path: the log file; created (truncated) here, appended to as output arrives.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab", buffering=0)
        self._lines: list[str] = []
        self._partial = b""
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- feeding ---------------------------------------------------------------------------
    def follow(self, source: IO[bytes] | Iterable[bytes], name: str) -> None:
        """Drain ``source`` (a pipe, or an iterator of chunks) in a daemon thread until EOF."""

        def pump() -> None:
            try:
                if hasattr(source, "read1"):
                    while chunk := source.read1(65536):
                        self.feed(chunk)
                else:
                    for chunk in source:
                        self.feed(chunk)
            except (OSError, ValueError):
                pass  # the pipe was closed under us during stop(): that is the end of output
            finally:
                self.close()

        self._thread = threading.Thread(target=pump, name=f"hil-log-{name}", daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        """Append a chunk of output: to the file at once, to the line list per complete line."""
        if self._closed:
            return
        self._file.write(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        if complete:
            with self._cond:
                self._lines.extend(line.decode("utf-8", "replace").rstrip("\r") for line in complete)
                self._cond.notify_all()

    def close(self) -> None:
        """Mark the end of output; waiters stop waiting for lines that can no longer come."""
        with self._cond:
            if self._closed:
                return
            if self._partial:
                self._lines.append(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            self._closed = True
            self._file.close()
            self._cond.notify_all()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the draining thread (after the process ended) so the file is complete."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- reading ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def tail(self, count: int = 20) -> str:
        return "\n".join(self.lines()[-count:])

    def last_words(self) -> str:
        """The service's own last non-blank line (hil's ``--- hil:`` markers skipped), or "".

        A process that dies during start-up usually says why on its last line (an argparse
        usage error, a one-line config error); an exception message that carries it lets CI
        output name the cause even when nobody keeps the log file.
        """
        with self._cond:
            for line in reversed(self._lines):
                if line.strip() and not line.startswith(HIL_MARKER):
                    return line.strip()
        return ""

    def search(self, pattern: str | re.Pattern[str], start: int = 0) -> re.Match[str] | None:
        """The first line from index ``start`` on that matches, or None."""
        regex = re.compile(pattern)
        with self._cond:
            for line in self._lines[start:]:
                if match := regex.search(line):
                    return match
        return None

    def wait_for(
        self, pattern: str | re.Pattern[str], *, deadline: float, start: int = 0
    ) -> re.Match[str] | None:
        """Block until a line matching ``pattern`` arrives, output ends, or ``deadline``.

        Args:
            deadline: a ``time.monotonic()`` value.
            start: ignore lines before this index (e.g. output of an earlier start).

        Returns:
            The match, or None on end of output or deadline (the caller tells which).
        """
        regex = re.compile(pattern)
        seen = start
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def wait_closed(self, deadline: float) -> bool:
        """Block until output ends or ``deadline``; True when it ended."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed, max(0.0, deadline - time.monotonic()))

    def __len__(self) -> int:
        with self._cond:
            return len(self._lines)
