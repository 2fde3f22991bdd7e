"""strftime-style formatting of epoch seconds, always in UTC.

Splunk formats ``convert ctime()`` in the searching user's time zone; replays
here use UTC so that results do not depend on the machine. Directives are
checked when the search is planned, so an unknown one fails before any data is
read. Subseconds: ``%<n>N`` (``%N`` alone: 9 digits, Splunk's documented default) from the time's integer
microseconds, truncated or zero-padded to n digits; ``%Q`` likewise, 3 digits by default.
``strptime`` reads the same directives back (``compile_parser``), zone names and offsets included.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from operator import attrgetter

from .errors import SplError

MICROS = 1_000_000
DIRECTIVE = re.compile(r"%(\d?)([A-Za-z%])")

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")

# directive -> printf text of a UTC datetime's attributes (named in order)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Y": ("%04d", ("year",)),
    "m": ("%02d", ("month",)),
    "d": ("%02d", ("day",)),
    "e": ("%2d", ("day",)),
    "H": ("%02d", ("hour",)),
    "M": ("%02d", ("minute",)),
    "S": ("%02d", ("second",)),
    "F": ("%04d-%02d-%02d", ("year", "month", "day")),
    "T": ("%02d:%02d:%02d", ("hour", "minute", "second")),
    "Z": ("UTC", ()),
    "z": ("+0000", ()),
    "%": ("%%", ()),
}
# directive -> text of a UTC datetime, for the others
SIMPLE: dict[str, Callable[[datetime], str]] = {
    "y": lambda t: f"{t.year % 100:02d}",
    "I": lambda t: f"{(t.hour % 12) or 12:02d}",
    "p": lambda t: "AM" if t.hour < 12 else "PM",
    "j": lambda t: f"{t.timetuple().tm_yday:03d}",
    "a": lambda t: DAY_NAMES[t.weekday()][:3],
    "A": lambda t: DAY_NAMES[t.weekday()],
    "b": lambda t: MONTH_NAMES[t.month - 1][:3],
    "B": lambda t: MONTH_NAMES[t.month - 1],
}


@lru_cache(maxsize=256)  # searches repeat a few formats; the function made is pure
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
    if all(not m.group(1) and m.group(2) in FIELDS for m in DIRECTIVE.finditer(fmt)):
        return attributes_format(fmt)

    def render(epoch: float) -> str:
        # Whole microseconds (what events carry), so .608 is 608000, not 607999.99...
        whole, micros = divmod(round(epoch * MICROS), MICROS)
        moment = datetime.fromtimestamp(whole, tz=timezone.utc)
        return "".join(p if isinstance(p, str) else p(moment, micros) for p in parts)

    return render


def attributes_format(fmt: str) -> Callable[[float], str]:
    """``fmt`` of directives in FIELDS only, as one printf template of the datetime's
    attributes: what the directive by directive rendering writes, in one step."""
    template: list[str] = []
    names: list[str] = []
    i = 0
    for m in DIRECTIVE.finditer(fmt):
        text, attributes = FIELDS[m.group(2)]
        template += [fmt[i : m.start()], text]  # the text between holds no '%' (compile_format checks)
        names += attributes
        i = m.end()
    template.append(fmt[i:])
    text, values = "".join(template), attrgetter(*names) if names else (lambda t: ())

    def render(epoch: float) -> str:
        whole, micros = divmod(round(epoch * MICROS), MICROS)
        return text % values(datetime.fromtimestamp(whole, tz=timezone.utc))

    return render


def directive(width: str, letter: str, pos: int | None) -> Callable[[datetime, int], str]:
    # Search Reference, "Date and time format variables": %N is %9N, %Q is %3Q.
    if letter == "N":
        return subseconds(int(width or 9))
    if letter == "Q":
        return subseconds(int(width or 3))
    if letter == "s" and not width:
        return lambda t, micros: str(int(t.timestamp()))
    if letter in FIELDS and not width:
        text, attributes = FIELDS[letter]
        values = attrgetter(*attributes) if attributes else (lambda t: ())
        return lambda t, micros: text % values(t)
    if letter in SIMPLE and not width:
        fn = SIMPLE[letter]
        return lambda t, micros: fn(t)
    raise SplError(f"unsupported time format directive '%{width}{letter}'", pos)


def subseconds(digits: int) -> Callable[[datetime, int], str]:
    """The first ``digits`` digits of the six-digit microseconds, zero-padded beyond six."""
    if digits <= 6:
        return lambda t, micros: f"{micros:06d}"[:digits]
    return lambda t, micros: f"{micros:06d}" + "0" * (digits - 6)


# --- relative_time and strptime ---------------------------------------------------------

# Search Reference, "Time modifiers": [+|-]<int><unit> offsets and @<unit> snaps.
RELATIVE_PART = re.compile(r"([+-])(\d*)([A-Za-z]+)|@([A-Za-z]+\d?)")
TIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "week", "weeks"), "w"),
    **dict.fromkeys(("mon", "month", "months"), "mon"),
    **dict.fromkeys(("q", "qtr", "qtrs", "quarter", "quarters"), "q"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "y"),
}
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def relative_time(epoch: float, modifier: str) -> float | None:
    """``epoch`` moved by a relative time modifier such as ``-1d@d`` (in UTC, like
    ``convert ctime``); None for a modifier this engine does not read."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    spec, i = modifier.strip(), 0
    if spec == "now":
        return epoch
    while i < len(spec):
        m = RELATIVE_PART.match(spec, i)
        if not m:
            return None
        if m.group(4):
            moment = snap(moment, m.group(4).lower())
        else:
            unit = TIME_UNITS.get(m.group(3).lower())
            if unit is None:
                return None
            amount = int(m.group(2) or 1) * (1 if m.group(1) == "+" else -1)
            moment = shift(moment, amount, unit)
        if moment is None:
            return None
        i = m.end()
    return moment.timestamp()


def shift(moment: datetime, amount: int, unit: str) -> datetime | None:
    if unit in SECONDS:
        return moment + timedelta(seconds=amount * SECONDS[unit])
    months = amount * {"mon": 1, "q": 3, "y": 12}[unit]
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        return None
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def snap(moment: datetime, unit_text: str) -> datetime | None:
    """Back to the start of the unit; ``w0``..``w6`` to the last Sunday..Saturday."""
    if unit_text[:1] == "w" and unit_text[1:].isdigit():
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        back = (day.isoweekday() % 7 - int(unit_text[1:])) % 7
        return day - timedelta(days=back)
    unit = TIME_UNITS.get(unit_text)
    if unit is None:
        return None
    if unit in ("s", "m", "h", "d"):
        step = SECONDS[unit]
        return datetime.fromtimestamp(moment.timestamp() // step * step, tz=timezone.utc)
    if unit == "w":
        return snap(moment, "w0")
    start_month = {"mon": moment.month, "q": (moment.month - 1) // 3 * 3 + 1, "y": 1}[unit]
    return moment.replace(month=start_month, day=1, hour=0, minute=0, second=0, microsecond=0)


# --- strptime: the directives compile_format writes, read back -----------------------------

NUMBER_FIELDS = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}", "d": r"\d{1,2}", "e": r" ?\d{1,2}",
                 "H": r"\d{1,2}", "I": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "j": r"\d{1,3}"}
NAME_FIELDS = {"a": [d[:3] for d in DAY_NAMES], "A": list(DAY_NAMES), "b": [m[:3] for m in MONTH_NAMES],
               "B": list(MONTH_NAMES), "p": ["AM", "PM"]}
EXPANSIONS = {"F": "%Y-%m-%d", "T": "%H:%M:%S"}
# Zone names strptime reads, hours from UTC. *Unverified*: Splunk reads zone names through its
# time zone data; these are the common North American and European abbreviations.
ZONE_HOURS = {"UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
              "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "BST": 1}
Parser = Callable[[str], "float | None"]


def compile_parser(fmt: str, pos: int | None = None) -> Parser:
    """strptime(): a function from text to epoch seconds (UTC unless the text carries a zone),
    None when the text does not match; SplError for a directive it cannot read, when compiled.
    Missing date parts are those of 1970-01-01 (*unverified*)."""
    for name, expansion in EXPANSIONS.items():
        fmt = fmt.replace("%" + name, expansion)
    pattern, fields, i = [], [], 0
    for m in DIRECTIVE.finditer(fmt):
        pattern.append(re.escape(fmt[i : m.start()]))
        pattern.append(field_pattern(m.group(1), m.group(2), pos))
        if m.group(2) != "%":
            fields.append((m.group(2), int(m.group(1) or (9 if m.group(2) == "N" else 3))))
        i = m.end()
    rest = fmt[i:]
    if "%" in rest:
        raise SplError(f"unsupported time format {fmt!r}", pos)
    compiled = re.compile("".join(pattern) + re.escape(rest) + r"\Z", re.DOTALL)

    def parse(text: str) -> float | None:
        m = compiled.match(text)
        if m is None:
            return None
        try:
            return epoch_of(dict(zip((f for f, _ in fields), m.groups())), dict(fields))
        except (ValueError, OverflowError):
            return None

    return parse


def field_pattern(width: str, letter: str, pos: int | None) -> str:
    if letter in ("N", "Q"):
        return rf"(\d{{{int(width or (9 if letter == 'N' else 3))}}})"
    if width:
        raise SplError(f"unsupported time format directive '%{width}{letter}'", pos)
    if letter in NUMBER_FIELDS:
        return f"({NUMBER_FIELDS[letter]})"
    if letter in NAME_FIELDS:
        return "((?i:" + "|".join(NAME_FIELDS[letter]) + "))"
    if letter == "Z":
        return r"([A-Za-z]{1,5})"
    if letter == "z":
        return r"([+-]\d\d:?\d\d|Z)"
    if letter == "s":
        return r"(\d+(?:\.\d+)?)"
    if letter == "%":
        return "%"
    raise SplError(f"unsupported time format directive '%{letter}'", pos)


def epoch_of(found: dict[str, str], widths: dict[str, int]) -> float | None:
    if "s" in found:
        return float(found["s"])
    month = int(found["m"]) if "m" in found else MONTHS.get(found.get("b", found.get("B", "")).lower()[:3], 1)
    hour = int(found.get("H", found.get("I", 0)))
    if "I" in found and "H" not in found:
        hour = hour % 12 + (12 if found.get("p", "").upper() == "PM" else 0)
    year = int(found["Y"]) if "Y" in found else (1970 if "y" not in found else
                                                  int(found["y"]) + (1900 if int(found["y"]) >= 69 else 2000))
    moment = datetime(year, month, int(found.get("d", found.get("e", "1")).strip()), hour,
                      int(found.get("M", 0)), int(found.get("S", 0)), tzinfo=timezone.utc)
    if "j" in found and "m" not in found and "b" not in found and "B" not in found:
        moment += timedelta(days=int(found["j"]) - 1)
    offset = zone_offset(found)
    if offset is None:
        return None
    fraction = next((int(found[k]) / 10 ** widths[k] for k in ("N", "Q") if k in found), 0)
    return moment.timestamp() - offset + fraction


MONTHS = {name[:3].lower(): i for i, name in enumerate(MONTH_NAMES, 1)}


def zone_offset(found: dict[str, str]) -> int | None:
    """Seconds east of UTC the text states (0 when it states none); None for an unknown name."""
    if "z" in found and found["z"] != "Z":
        text = found["z"].replace(":", "")
        sign = -1 if text[0] == "-" else 1
        return sign * (int(text[1:3]) * 3600 + int(text[3:5]) * 60)
    if "Z" in found:
        hours = ZONE_HOURS.get(found["Z"].upper())
        return None if hours is None else hours * 3600
    return 0


def parse_time(text: str, fmt: str) -> float | None:
    """strptime() with a format compiled once (see ``compile_parser``)."""
    return cached_parser(fmt)(text)


cached_parser = lru_cache(maxsize=256)(compile_parser)
