"""The value of a plain YAML scalar, as PyYAML's SafeLoader makes it.

contentctl reads content with PyYAML's SafeLoader (contentctl 4.4.1 and 5.x,
``contentctl/input/yml_reader.py``: ``yaml.load(data, Loader=yaml.CSafeLoader)``), so a
detection must mean here what it means to Splunk's builder. The rules are those of PyYAML 6.0.4
(pinned in requirements.txt, and the version both contentctl releases install):

- ``yaml/resolver.py`` gives an untagged plain scalar the first YAML 1.1 type whose pattern it
  matches in full, trying only the types registered for its first character (bool, float, int,
  merge, null, timestamp, value; no two of them match the same text);
- ``SafeConstructor`` (``yaml/constructor.py``) makes the value of that type. Where it fails
  (``0b_``, ``2024-02-30``) or has no constructor (``=``), PyYAML raises and contentctl stops:
  ``NotAValue`` says so here, for the caller to name the file, line and column. It says so too of
  an integer past Python's 4,300 decimal digits that PyYAML reads in another base: nothing could
  write it out.

Quoted scalars are always text and never come here.
"""
from __future__ import annotations

import datetime
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any

# The bool and null types are fixed words (resolver.py).
WORDS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
# The first characters of every type but text: most plain scalars begin otherwise and are text at once.
# A str, not a set, so that the empty scalar ("" is in every str) reaches WORDS.
TYPED_START = "yYnNtTfFoO~-+0123456789.<="
NUMBER_START = "-+0123456789."
# A plain key that does not begin so and is no word of WORDS is text.
NOT_TEXT_START = NUMBER_START + "<="
# The float, int and timestamp patterns of resolver.py, as text: ``re`` compiles each when a scalar
# first needs it (and keeps it), and most packs write their numbers as plain decimals (_number_or_time).
FLOAT = r"""(?x)(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
                   |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                   |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))\Z"""
INT = r"""(?x)[-+]?(?:0b[0-1_]+
                   |0[0-7_]+
                   |0|[1-9][0-9_]*
                   |0x[0-9a-fA-F_]+
                   |[1-9][0-9_]*(?::[0-5]?[0-9])+)\Z"""
DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z"
DATE_AND_TIME = r"""(?x)([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)
                      ([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?
                      (?:[ \t]*(?:(Z)|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?\Z"""
# SafeConstructor's NaN, made as it makes it: the machine's NaN of -inf / inf, which on x86 carries
# the sign bit that float("nan") does not (struct.pack, math.copysign see it).
NAN = -float("inf") / float("inf")
# Types resolver.py knows that SafeConstructor cannot make a value of.
NO_VALUE = {"<<": "a merge key (<<) where a value belongs", "=": "YAML 1.1's value key (=)"}
# Python reads and writes no longer decimal integer (sys.int_info.default_max_str_digits): PyYAML
# stops at a longer one, as contentctl does. A binary, octal, hexadecimal or base-60 one PyYAML reads
# however large; one past this many decimal digits is refused too, for no finding or file could
# write it. Base 60 passes it with more places than this (60 ** 2419 > 10 ** 4300), a bound that also
# keeps the summing of places short.
MAX_INT_DIGITS = 4300
MAX_SEXAGESIMAL_PLACES = 2419
# No integer of this many bits has more than MAX_INT_DIGITS decimal digits (2 ** 14284 < 10 ** 4300).
MAX_INT_BITS = 14284


def type_name(value: Any) -> str:
    """What a value read from YAML is, as a finding names it."""
    return TYPE_NAMES.get(type(value), type(value).__name__)


TYPE_NAMES = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false",
              type(None): "empty", datetime.date: "a date", datetime.datetime: "a date and time"}


class NotAValue(ValueError):
    """A plain scalar of a YAML type that SafeConstructor cannot make a value of."""


def plain_value(text: str) -> Any:
    """The value of an untagged plain scalar ``text``, as ``yaml.safe_load`` gives it."""
    first = text[:1]
    if first not in TYPED_START:  # most values: text
        return text
    if text in WORDS:
        return WORDS[text]
    if first in NUMBER_START:
        return _number_or_time(text)
    if text in NO_VALUE:
        raise NotAValue(f"{text!r} is {NO_VALUE[text]}, which YAML loaders cannot read as a value")
    return text


def _number_or_time(text: str) -> Any:
    if text.isdigit() and text.isascii() and (text[0] != "0" or text == "0") and len(text) <= MAX_INT_DIGITS:
        return int(text)  # most numbers
    # Cheap tests before the patterns: every float has one point, no int has one, every date a "-" fifth
    # (a version such as 1.0.0 is text without a pattern compiled).
    points = text.count(".")
    if points == 0 and re.match(INT, text):
        return _int(text)
    if points == 1 and re.match(FLOAT, text):
        return _float(text)
    if text[4:5] != "-":
        return text
    try:
        if match := re.match(DATE, text):
            return datetime.date(*map(int, match.groups()))
        if match := re.match(DATE_AND_TIME, text):
            return _date_and_time(*match.groups())
    except ValueError as error:  # a month 13, a zone 24 hours away...
        raise NotAValue(f"{_shown(text)} has the form of a date but is none: {error}") from None
    return text


def _unsigned(text: str) -> tuple[int, str]:
    """The sign and the rest, underscores left out (SafeConstructor's first steps)."""
    digits = text.replace("_", "")
    return (-1 if digits[0] == "-" else 1), (digits[1:] if digits[0] in "+-" else digits)


def _int(text: str) -> Any:
    sign, digits = _unsigned(text)
    if digits[:2] in ("0b", "0x") and len(digits) == 2:
        raise NotAValue(f"{_shown(text)} is an integer without digits, which YAML loaders cannot read")
    if digits[:2] == "0b":
        value = int(digits[2:], 2)
    elif digits[:2] == "0x":
        value = int(digits[2:], 16)
    elif digits[0] == "0":
        value = int(digits, 8)
    elif ":" in digits:
        places = digits.split(":")
        if len(places) > MAX_SEXAGESIMAL_PLACES or len(places[0]) > MAX_INT_DIGITS:
            raise _too_long(text)
        value = _sexagesimal([int(place) for place in places])
    elif len(digits) > MAX_INT_DIGITS:
        raise _too_long(text)
    else:
        value = int(digits)
    if value.bit_length() > MAX_INT_BITS and value >= 10 ** MAX_INT_DIGITS:
        raise _too_long(text)
    return sign * value


def _too_long(text: str) -> NotAValue:
    return NotAValue(f"{_shown(text)} is an integer of more than {MAX_INT_DIGITS} decimal digits, which Python "
                     "neither reads nor writes")


def _shown(text: str) -> str:
    """A scalar as a finding quotes it: its start only when it is long, for a finding is one line."""
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"


def _float(text: str) -> float:
    sign, digits = _unsigned(text.lower())
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return NAN
    if ":" in digits:
        try:
            return sign * _sexagesimal([float(part) for part in digits.split(":")])
        except OverflowError:  # a place worth 60 ** 174 or more: no float can hold it, and PyYAML stops
            raise NotAValue(f"{_shown(text)} has more base-60 places than a float can hold") from None
    return sign * float(digits)


def _sexagesimal(parts: list) -> Any:
    """``1:30:05`` -> 5 + 30 * 60 + 1 * 3600: YAML 1.1's base 60, summed from the last part as
    SafeConstructor sums it (a float's last bit can depend on the order)."""
    value, base = parts[-1] * 0, 1
    for part in reversed(parts):
        value += part * base
        base *= 60
    return value


def _date_and_time(year, month, day, hour, minute, second, fraction, utc, zone_sign, zone_hour, zone_minute):
    """Naive unless the text gives a zone, as SafeConstructor makes it."""
    zone = None
    if zone_sign:
        offset = datetime.timedelta(hours=int(zone_hour), minutes=int(zone_minute or 0))
        zone = datetime.timezone(-offset if zone_sign == "-" else offset)
    elif utc:
        zone = datetime.timezone.utc
    micro = int((fraction or "")[:6].ljust(6, "0"))
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
