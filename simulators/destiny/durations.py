"""ISO 8601 durations, parsed by us rather than by pydantic.

The real repository types its ``lease`` query parameter as ``datetime.timedelta`` and lets
pydantic parse it. We parse it ourselves so that what the simulator accepts is written down here,
and report failures in pydantic's shape (``type = "time_delta_parsing"``) so a robot sees the same
422 body. Accepted forms:

* ISO 8601: ``[+-]P[nY][nM][nW][nD][T[nH][nM][nS]]``; every quantity may carry a fraction
  (``.`` or ``,``); years count 365 days and months 30, as pydantic counts them. ``P1DT`` (empty
  time part) is accepted like pydantic does; ``P``/``PT`` alone are not.
* clock form ``[+-]HH:MM[:SS[.ffffff]]``, which pydantic also accepts.

pydantic additionally takes ``1d`` and ``1 day, 01:00:00``; we refuse those on purpose (no robot
sends them, and they are not ISO 8601). The error texts are ours.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

__all__ = ["DurationError", "parse_duration"]

_DATE_UNITS = {"Y": Decimal(365 * 86400), "M": Decimal(30 * 86400), "W": Decimal(7 * 86400), "D": Decimal(86400)}
_TIME_UNITS = {"H": Decimal(3600), "M": Decimal(60), "S": Decimal(1)}
_QUANTITY = re.compile(r"(\d+(?:[.,]\d+)?)([A-Z])")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?")
_MAX_SECONDS = Decimal(datetime.timedelta.max.total_seconds())


class DurationError(ValueError):
    """The text is not a duration we accept; ``str()`` says why in a few words."""


def parse_duration(text: str) -> datetime.timedelta:
    """Parse ``text`` into a timedelta (possibly negative or zero: the caller judges that).

    Raises:
        DurationError: with a short reason.
    """
    if len(text) < 2:
        raise DurationError("input is too short")
    sign = Decimal(1)
    body = text
    if body[0] in "+-":
        sign = Decimal(-1) if body[0] == "-" else Decimal(1)
        body = body[1:]
    if body.startswith("P"):
        seconds = _parse_iso(body[1:])
    elif match := _CLOCK.fullmatch(body):
        hours, minutes, secs, fraction = match.groups()
        if int(minutes) > 59 or (secs is not None and int(secs) > 59):
            raise DurationError("minute or second out of range")
        seconds = Decimal(hours) * 3600 + Decimal(minutes) * 60 + Decimal(secs or 0) + Decimal(fraction or 0)
    else:
        raise DurationError("expected an ISO 8601 duration such as PT10M")
    total = sign * seconds
    if abs(total) > _MAX_SECONDS:
        raise DurationError("a numeric value in the duration is too large")
    return datetime.timedelta(seconds=float(total))


def _parse_iso(rest: str) -> Decimal:
    date_part, has_time, time_part = rest.partition("T")
    if not date_part and not time_part:
        raise DurationError("input is too short")
    total = _sum_quantities(date_part, _DATE_UNITS, "YMWD", "date")
    if has_time:
        total += _sum_quantities(time_part, _TIME_UNITS, "HMS", "time")
    return total


def _sum_quantities(part: str, units: dict[str, Decimal], order: str, where: str) -> Decimal:
    """Add up ``<number><unit>`` pairs, requiring units in ISO order and each at most once."""
    total = Decimal(0)
    position = 0
    last_rank = -1
    for match in _QUANTITY.finditer(part):
        if match.start() != position:
            raise DurationError(f"invalid character in {where} part of duration")
        number, unit = match.groups()
        rank = order.find(unit)
        if rank < 0:
            raise DurationError(f"unit {unit!r} invalid in {where} part of duration")
        if rank <= last_rank:
            raise DurationError(f"units out of order in {where} part of duration")
        last_rank = rank
        try:
            total += Decimal(number.replace(",", ".")) * units[unit]
        except InvalidOperation:  # pragma: no cover - the regex only lets digits through
            raise DurationError("invalid digit in duration") from None
        position = match.end()
    if position != len(part):
        raise DurationError(f"invalid character in {where} part of duration")
    return total
