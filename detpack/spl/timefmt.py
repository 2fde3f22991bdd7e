"""strftime-style formatting of epoch seconds, always in UTC.

Splunk formats ``convert ctime()`` in the searching user's time zone; replays
here use UTC so that results do not depend on the machine. Directives are
checked when the search is planned, so an unknown one fails before any data is
read. Subseconds: ``%<n>N`` (default 3 digits) from the time's integer
microseconds, truncated or zero-padded to n digits; ``%Q`` is refused.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

from .errors import SplError

MICROS = 1_000_000
DIRECTIVE = re.compile(r"%(\d?)([A-Za-z%])")

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")

# directive -> text of a UTC datetime
SIMPLE: dict[str, Callable[[datetime], str]] = {
    "Y": lambda t: f"{t.year:04d}",
    "y": lambda t: f"{t.year % 100:02d}",
    "m": lambda t: f"{t.month:02d}",
    "d": lambda t: f"{t.day:02d}",
    "e": lambda t: f"{t.day:2d}",
    "H": lambda t: f"{t.hour:02d}",
    "I": lambda t: f"{(t.hour % 12) or 12:02d}",
    "M": lambda t: f"{t.minute:02d}",
    "S": lambda t: f"{t.second:02d}",
    "p": lambda t: "AM" if t.hour < 12 else "PM",
    "j": lambda t: f"{t.timetuple().tm_yday:03d}",
    "a": lambda t: DAY_NAMES[t.weekday()][:3],
    "A": lambda t: DAY_NAMES[t.weekday()],
    "b": lambda t: MONTH_NAMES[t.month - 1][:3],
    "B": lambda t: MONTH_NAMES[t.month - 1],
    "F": lambda t: f"{t.year:04d}-{t.month:02d}-{t.day:02d}",
    "T": lambda t: f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}",
    "Z": lambda t: "UTC",
    "z": lambda t: "+0000",
    "%": lambda t: "%",
}


def compile_format(fmt: str, pos: int | None = None) -> Callable[[float], str]:
    """A function formatting epoch seconds with ``fmt``; SplError on unknown directives."""
    parts: list[Callable[[datetime, int], str] | str] = []
    i = 0
    for m in DIRECTIVE.finditer(fmt):
        parts.append(fmt[i : m.start()])
        parts.append(directive(m.group(1), m.group(2), pos))
        i = m.end()
    parts.append(fmt[i:])
    if "%" in "".join(p for p in parts if isinstance(p, str)).replace("%%", ""):
        raise SplError(f"unsupported time format {fmt!r}", pos)

    def render(epoch: float) -> str:
        # Whole microseconds (what events carry), so .608 is 608000, not 607999.99...
        whole, micros = divmod(round(epoch * MICROS), MICROS)
        moment = datetime.fromtimestamp(whole, tz=timezone.utc)
        return "".join(p if isinstance(p, str) else p(moment, micros) for p in parts)

    return render


def directive(width: str, letter: str, pos: int | None) -> Callable[[datetime, int], str]:
    if letter == "N":
        return subseconds(int(width or 3))
    if letter == "s" and not width:
        return lambda t, micros: str(int(t.timestamp()))
    if letter in SIMPLE and not width:
        fn = SIMPLE[letter]
        return lambda t, micros: fn(t)
    raise SplError(f"unsupported time format directive '%{width}{letter}'", pos)


def subseconds(digits: int) -> Callable[[datetime, int], str]:
    """The first ``digits`` digits of the six-digit microseconds, zero-padded beyond six."""
    if digits <= 6:
        return lambda t, micros: f"{micros:06d}"[:digits]
    return lambda t, micros: f"{micros:06d}" + "0" * (digits - 6)
