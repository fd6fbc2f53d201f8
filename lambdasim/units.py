"""Units at the boundary: parse time quantities written by people into seconds.

Inside lambdasim every time is a float number of seconds (`_s`); reports use
milliseconds (`_ms`). Scenario files may write a time as a bare number (seconds) or as
a number followed by a unit.

>>> parse_duration_s("90m")
5400.0
>>> parse_duration_s("250ms")
0.25
>>> parse_duration_s(12)
12.0
"""

from __future__ import annotations

import datetime
import math
import re

SECONDS_PER_UNIT: dict[str, float] = {
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")

DURATION_HINT = (
    "a number of seconds or a number with a unit: ms, s, m, h or d "
    "(e.g. 250ms, 90m, 2h)"
)


def parse_duration_s(value: object) -> float:
    """Return `value` in seconds.

    Args:
        value: A non-negative number of seconds, or a string such as ``"250ms"``,
            ``"90m"``, ``"2h"``, ``"3600s"`` or ``"3600"``.

    Raises:
        ValueError: If the value is not a finite non-negative time; the message says
            what is allowed.
    """
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a duration; expected {DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None and _DURATION.match(value.strip().removeprefix("-")):
            raise ValueError(f"{_shown(value)} is negative; expected a time >= 0")
        if match is None:
            raise ValueError(
                f"{_shown(value)} is not a duration; expected {DURATION_HINT}"
            )
        number, unit = match.groups()
        unit = unit.lower() or "s"
        if unit not in SECONDS_PER_UNIT:
            raise ValueError(
                f"{_shown(value)} has unknown unit {unit!r}; expected {DURATION_HINT}"
            )
        seconds = float(number) * SECONDS_PER_UNIT[unit]
    else:
        raise ValueError(f"{_shown(value)} is not a duration; expected {DURATION_HINT}")
    if seconds < 0:
        raise ValueError(f"{_shown(value)} is negative; expected a time >= 0")
    if not math.isfinite(seconds):
        raise ValueError(f"{_shown(value)} is not a duration; expected {DURATION_HINT}")
    return seconds


def _shown(value: object) -> str:
    """A value as a message shows it: text quoted, a list or mapping named."""
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return repr(value)


def s_to_ms(seconds: float) -> float:
    """Convert seconds to milliseconds.

    >>> s_to_ms(0.25)
    250.0
    """
    return seconds * 1000.0
