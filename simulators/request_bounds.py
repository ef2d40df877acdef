"""Every duration, count and size a control request can carry, checked once where it is parsed.

Why one module: the control APIs of the simulators (Astarte's ``/_sim``, the Message Hub's, the
DESTINY and LocknAlert ones) each read waits, counts and amounts from query strings and JSON
bodies, and each once trusted ``float()``: ``float("nan")`` parses, ``min(nan, 30)`` is ``nan``,
and ``Condition.wait(nan)`` never blocks, so one query string spun a server thread for good. A
value is now accepted only if it is a finite number inside the bounds declared here, and a
refusal is an :class:`OutOfBounds` the API turns into its own 4xx; no route parses one itself.

* :data:`CONTROL_QUERY`: the query parameters every control API shares (``timeout``/``wait`` long
  polls, ``min_count``/``since`` counts), read with :func:`control_query`;
* :func:`number` / :func:`integer`: one JSON body value within explicit bounds.

Long polls are clamped to their ceiling (a poll may always answer earlier than asked); amounts
that change state (a clock offset, a window length) are refused outside their bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["CONTROL_QUERY", "MAX_WAIT_SECONDS", "Bound", "OutOfBounds", "control_query", "integer", "number"]

#: The longest any control long poll blocks a server thread.
MAX_WAIT_SECONDS: Final = 30.0
#: More entries than any simulator keeps (Astarte's message log holds 20,000).
MAX_COUNT: Final = 1_000_000
#: Message numbers are 64-bit counters.
MAX_SEQUENCE: Final = 2**63 - 1


class OutOfBounds(ValueError):
    """A request value that is not a finite number within its bounds; ``name`` says which."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name} {message}")
        self.name = name


@dataclass(frozen=True)
class Bound:
    """What one named value may be: ``integral`` or not, within ``low``..``high``.

    ``clamp`` lowers a value above ``high`` to ``high`` instead of refusing it (long polls).
    """

    low: float
    high: float
    integral: bool = False
    clamp: bool = False

    def check(self, name: str, value: object) -> float | int:
        """The value as a number, or :class:`OutOfBounds`; strings are parsed (query values)."""
        parsed = _parse(name, value, integral=self.integral)
        if parsed < self.low:
            raise OutOfBounds(name, f"must be at least {self.low:g}")
        if parsed > self.high:
            if not self.clamp:
                raise OutOfBounds(name, f"must be at most {self.high:g}")
            return int(self.high) if self.integral else float(self.high)
        return parsed


#: The query parameters of the control APIs, by name, with what each may be.
CONTROL_QUERY: Final[Mapping[str, Bound]] = {
    "timeout": Bound(0.0, MAX_WAIT_SECONDS, clamp=True),
    "wait": Bound(0.0, MAX_WAIT_SECONDS, clamp=True),
    "min_count": Bound(0, MAX_COUNT, integral=True),
    "since": Bound(0, MAX_SEQUENCE, integral=True),
}


def control_query(query: Mapping[str, str]) -> dict[str, float | int]:
    """The :data:`CONTROL_QUERY` parameters present in ``query``, checked; others are left alone.

    Raises:
        OutOfBounds: the first parameter that is not a finite number within its bounds.
    """
    return {name: bound.check(name, query[name]) for name, bound in CONTROL_QUERY.items() if name in query}


def number(value: object, *, name: str, low: float, high: float) -> float:
    """A JSON number (not a bool, not a string) within ``low``..``high``."""
    if isinstance(value, str):
        raise OutOfBounds(name, "must be a number")
    return float(Bound(low, high).check(name, value))


def integer(value: object, *, name: str, low: int, high: int) -> int:
    """A JSON integer (not a bool, not a string) within ``low``..``high``."""
    if isinstance(value, str):
        raise OutOfBounds(name, "must be an integer")
    return int(Bound(low, high, integral=True).check(name, value))


def _parse(name: str, value: object, *, integral: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise OutOfBounds(name, "must be a number")
    if integral:
        if isinstance(value, float):
            if not value.is_integer():
                raise OutOfBounds(name, "must be an integer")
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            # Digits only: int() would take "1_000" and 4,300-digit strings cost quadratic time.
            if not (text.lstrip("-").isdigit() and text.isascii() and len(text) <= 20):
                raise OutOfBounds(name, "must be an integer")
            return int(text)
        return value
    if isinstance(value, str):
        if len(value) > 64:
            raise OutOfBounds(name, "must be a number")
        try:
            value = float(value)
        except ValueError:
            raise OutOfBounds(name, "must be a number") from None
    try:
        as_float = float(value)
    except OverflowError:  # an integer past any float
        raise OutOfBounds(name, "must be a finite number") from None
    if not math.isfinite(as_float):
        raise OutOfBounds(name, "must be a finite number")
    return as_float
