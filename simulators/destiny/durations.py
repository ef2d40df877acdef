"""Durations as pydantic v2 reads them, parsed by us rather than by pydantic.

The real repository types its ``lease`` query parameter as ``datetime.timedelta`` and lets
pydantic parse it: pydantic-core hands the text to the ``speedate`` crate. We parse it ourselves so
that what the simulator accepts is written down here, but we follow speedate's grammar step by step
(including its quirks), because a robot must get the same 200 or 422 from us as from the
repository. Failures carry speedate's own texts, which pydantic puts after ``Input should be a
valid timedelta,`` (type ``time_delta_parsing``). Every form may start with ``+`` or ``-``, which
signs the whole duration (``-1 day, 23:00:00`` is minus 47 hours, not Python's minus one hour).

* ISO 8601 ``P[nY][nM][nW][nD][T[nH][nM][nS]]``: years count 365 days, months 30, weeks 7. Units
  may come in any order and repeat (``P1D1Y`` is 366 days), only the last number may carry a
  fraction (``.`` or ``,``), ``P1DT`` is accepted and ``P``/``PT`` are not.
* clock ``[H…]H:MM[:SS[.ffffff]]``: any number of hour digits (up to 10, ``100:00:00`` is four
  days and four hours), fraction digits beyond six are dropped, and so is anything after the
  first twelve characters that follow the first ``:`` (speedate copies them into a fixed buffer).
* days ``N d``, ``Nd``, ``N day(s)`` (``d``/``D``, ``ay``/``AY``, ``ays``/``AYS``), then an
  optional ``,`` and/or one space and a clock time below 24 hours: ``1 day, 01:00:00``, ``2d``.

Text that starts with ``P`` is ISO 8601; text without ``d``/``D`` and of at least 5 bytes is a
clock time; anything else is the days form. A bare number (``600``) is not a duration: pydantic
reads numbers as seconds only when they arrive as JSON numbers, never in a query string.

One deliberate divergence: a negative duration just beyond ``timedelta.min`` (``-P999999999DT1S``)
makes pydantic raise ``OverflowError``, which FastAPI turns into a 500; we refuse it with the
"999,999,999 days" text instead (our rule is "never 500").
"""

from __future__ import annotations

import datetime
import math

__all__ = ["DurationError", "parse_duration"]

_U32_MAX = 2**32 - 1
_MAX_DAYS = 999_999_999
_MAX_CLOCK_HOURS = 24 * 10**8
_CLOCK_TAIL = 12
"""speedate parses the part after the hour in a 15-byte buffer ``00:MM:SS.ffffff`` (12 + ``00:``)."""

TOO_SHORT = "input is too short"
EXTRA_CHARACTERS = "unexpected extra characters at the end of the input"
INVALID_HOUR = "invalid character in hour"
INVALID_MINUTE = "invalid character in minute"
INVALID_SECOND = "invalid character in second"
MINUTE_RANGE = "minute value is outside expected range of 0-59"
SECOND_RANGE = "second value is outside expected range of 0-59"
FRACTION_MISSING = "second fraction digits missing after `.`"
INVALID_NUMBER = "invalid digit in duration"
T_REPEATED = "`t` character repeated in duration"
INVALID_FRACTION = "quantity fraction invalid in duration"
INVALID_TIME_UNIT = "quantity invalid in time part of duration"
INVALID_DATE_UNIT = "quantity invalid in date part of duration"
INVALID_DAYS = '"day" identifier in duration not correctly formatted'
VALUE_TOO_LARGE = "a numeric value in the duration is too large"
HOURS_TOO_LARGE = "durations may not exceed 999,999,999 hours"
DAYS_TOO_LARGE = "durations may not exceed 999,999,999 days"

_TIME_UNITS = {ord("H"): 3600, ord("M"): 60, ord("S"): 1}
_DATE_UNITS = {ord("Y"): 365, ord("M"): 30, ord("W"): 7, ord("D"): 1}
_DAY_WORDS = (b"ays", b"ay", b"AYS", b"AY")

_Parts = tuple[int, int, int]
"""(days, seconds, microseconds), all non-negative, before normalisation."""


class DurationError(ValueError):
    """The text is not a duration pydantic accepts; ``str()`` is speedate's reason."""


def parse_duration(text: str) -> datetime.timedelta:
    """Parse ``text`` into a timedelta (possibly negative or zero: the caller judges that).

    Raises:
        DurationError: with speedate's reason.
    """
    data = text.encode("utf-8", "surrogatepass")  # speedate works on the UTF-8 bytes
    positive = not data.startswith(b"-")
    if data[:1] in (b"+", b"-"):
        data = data[1:]
    if not data:
        raise DurationError(TOO_SHORT)
    if data.startswith(b"P"):
        parts = _parse_iso(data[1:])
    elif b"d" in data or b"D" in data or len(data) < 5:
        parts = _parse_days_clock(data)
    else:
        parts = _parse_clock(data)
    days, seconds, microseconds = _normalise(*parts)
    try:
        magnitude = datetime.timedelta(days=days, seconds=seconds, microseconds=microseconds)
        return magnitude if positive else -magnitude
    except OverflowError:  # only -P999999999DT…: see the module docstring
        raise DurationError(DAYS_TOO_LARGE) from None


def _checked(value: int) -> int:
    """speedate adds and multiplies in ``u32`` and fails on overflow."""
    if value > _U32_MAX:
        raise DurationError(VALUE_TOO_LARGE)
    return value


def _as_u32(value: float) -> int:
    """Rust's ``f64 as u32``: truncate toward zero, saturate, NaN becomes 0."""
    if math.isnan(value) or value <= 0:
        return 0
    return _U32_MAX if value >= _U32_MAX else math.trunc(value)


def _trunc(value: float) -> float:
    """Rust's ``f64::trunc`` (infinities and NaN stay as they are)."""
    return float(math.trunc(value)) if math.isfinite(value) else value


def _round(value: float) -> float:
    """Rust's ``f64::round``: halves away from zero, unlike Python's ``round``."""
    if not math.isfinite(value):
        return value
    floor = math.floor(abs(value))
    rounded = floor + 1 if abs(value) - floor >= 0.5 else floor
    return float(math.copysign(rounded, value))


def _normalise(days: int, seconds: int, microseconds: int) -> _Parts:
    if microseconds >= 1_000_000:
        seconds = _checked(seconds + microseconds // 1_000_000)
        microseconds %= 1_000_000
    if seconds >= 86_400:
        days = _checked(days + seconds // 86_400)
        seconds %= 86_400
    if days > _MAX_DAYS:
        raise DurationError(DAYS_TOO_LARGE)
    return days, seconds, microseconds


def _parse_number(data: bytes, position: int) -> tuple[int, int]:
    """ASCII digits from ``position`` (at least one): (value, position after them)."""
    if not data[position : position + 1].isdigit():
        raise DurationError(INVALID_NUMBER)
    value = 0
    while data[position : position + 1].isdigit():
        value = _checked(_checked(value * 10) + data[position] - 0x30)
        position += 1
    return value, position


def _parse_fraction(data: bytes, position: int) -> tuple[float | None, int]:
    """An optional ``.digits``/``,digits`` computed in floats, digit by digit, as speedate does."""
    if data[position : position + 1] not in (b".", b","):
        return None, position
    decimal, denominator = 0.0, 1.0
    position += 1
    while data[position : position + 1].isdigit():
        decimal = decimal * 10.0 + (data[position] - 0x30)
        denominator *= 10.0
        position += 1
    return decimal / denominator, position


def _parse_iso(data: bytes) -> _Parts:
    """``data`` is what follows the ``P``."""
    days = seconds = microseconds = 0
    in_time = had_fraction = False
    position = 0
    while position < len(data):
        if data[position] == ord("T"):
            if in_time:
                raise DurationError(T_REPEATED)
            in_time = True
            position += 1
            continue
        value, position = _parse_number(data, position)
        fraction, position = _parse_fraction(data, position)
        if had_fraction:
            raise DurationError(INVALID_FRACTION)
        had_fraction = fraction is not None
        unit = data[position] if position < len(data) else None
        if in_time:
            days, seconds, microseconds = _add_time_quantity(unit, value, fraction, (days, seconds, microseconds))
        else:
            days, seconds, microseconds = _add_date_quantity(unit, value, fraction, (days, seconds, microseconds))
        position += 1
    if position < 2:
        raise DurationError(TOO_SHORT)
    return days, seconds, microseconds


def _add_time_quantity(unit: int | None, value: int, fraction: float | None, parts: _Parts) -> _Parts:
    days, seconds, microseconds = parts
    if unit not in _TIME_UNITS:
        raise DurationError(INVALID_TIME_UNIT)
    scale = _TIME_UNITS[unit]
    seconds = _checked(seconds + _checked(scale * value))
    if fraction is not None:
        extra = fraction * scale
        whole = _trunc(extra)
        seconds = _checked(seconds + _as_u32(whole))
        microseconds = _checked(microseconds + _as_u32(_round((extra - whole) * 1_000_000.0)))
    return days, seconds, microseconds


def _add_date_quantity(unit: int | None, value: int, fraction: float | None, parts: _Parts) -> _Parts:
    days, seconds, microseconds = parts
    if unit not in _DATE_UNITS:
        raise DurationError(INVALID_DATE_UNIT)
    scale = _DATE_UNITS[unit]
    days = _checked(days + _checked(value * scale))
    if fraction is not None:
        extra_days = fraction * scale
        whole_days = _trunc(extra_days)
        days = _checked(days + _as_u32(whole_days))
        extra_seconds = (extra_days - whole_days) * 86_400.0
        whole_seconds = _trunc(extra_seconds)
        seconds = _checked(seconds + _as_u32(whole_seconds))
        microseconds += _as_u32(_round((extra_seconds - whole_seconds) * 1_000_000.0))
    return days, seconds, microseconds


def _parse_days_clock(data: bytes) -> _Parts:
    """``N d``/``Nd``/``N day(s)``, an optional ``,`` and/or space, then an optional clock time."""
    days, position = _parse_number(data, 0)
    rest = data[position:]
    if rest[:2] in (b" d", b" D"):
        rest = rest[2:]
    elif rest[:1] in (b"d", b"D"):
        rest = rest[1:]
    else:
        raise DurationError(INVALID_DAYS)
    word = next((w for w in _DAY_WORDS if rest.startswith(w)), None)
    if word is not None:
        rest = rest[len(word) :]
    elif rest[:1] in (b"a", b"A"):
        raise DurationError(INVALID_DAYS)
    for separator in (b", ", b",", b" "):
        if rest.startswith(separator):
            rest = rest[len(separator) :]
            break
    if not rest:
        return days, 0, 0
    clock_days, seconds, microseconds = _parse_clock(rest)
    if clock_days > 0:  # "1d 24:00:00"; speedate words it as an hours limit
        raise DurationError(HOURS_TOO_LARGE)
    return days, seconds, microseconds


def _parse_clock(data: bytes) -> _Parts:
    """``H…H:MM[:SS[.ffffff]]`` with an hour count of any size up to 10 digits."""
    if len(data) < 5:
        raise DurationError(TOO_SHORT)
    hour_text, colon, rest = data.partition(b":")
    if not colon:
        raise DurationError(INVALID_HOUR)
    if len(hour_text) > 10:
        raise DurationError(HOURS_TOO_LARGE)
    if hour_text and not hour_text.isdigit():  # an empty hour counts as zero, as in speedate
        raise DurationError(INVALID_HOUR)
    hours = int(hour_text or b"0")
    if hours > _MAX_CLOCK_HOURS:
        raise DurationError(HOURS_TOO_LARGE)
    minutes, seconds, microseconds = _parse_minutes_seconds(rest[:_CLOCK_TAIL])
    return hours // 24, (hours % 24) * 3600 + minutes * 60 + seconds, microseconds


def _parse_minutes_seconds(data: bytes) -> tuple[int, int, int]:
    """``MM[:SS[.f…]]`` exactly (speedate's time-of-day parser behind a ``00:`` hour)."""
    if len(data) < 2:
        raise DurationError(TOO_SHORT)
    if not data[:2].isdigit():
        raise DurationError(INVALID_MINUTE)
    minutes = int(data[:2])
    if minutes > 59:
        raise DurationError(MINUTE_RANGE)
    seconds = microseconds = 0
    end = 2
    if data[2:3] == b":":
        if not data[3:4].isdigit() or not data[4:5].isdigit():
            raise DurationError(INVALID_SECOND)
        seconds = int(data[3:5])
        if seconds > 59:
            raise DurationError(SECOND_RANGE)
        end = 5
        if data[5:6] in (b".", b","):
            digits = 0
            while data[6 + digits : 7 + digits].isdigit():
                digits += 1
            if digits == 0:
                raise DurationError(FRACTION_MISSING)
            microseconds = int(data[6 : 6 + min(digits, 6)].ljust(6, b"0"))
            end = 6 + digits
    if len(data) > end:
        raise DurationError(EXTRA_CHARACTERS)
    return minutes, seconds, microseconds
