"""Values as Splunk's eval sees them, and the eval functions.

Field values are ``str``, ``int``/``float`` (from eval or aggregations) or a list
of them (multivalue); ``None`` is null. Strings that look like numbers take part
in arithmetic and comparisons as numbers, as in Splunk.
"""
from __future__ import annotations

import decimal
import hashlib
import ipaddress
import math
import re
import time
import urllib.parse
from collections.abc import Callable
from functools import lru_cache

from .errors import SplError
from .number import to_number
from .pcre import PcreError, compile_pcre
from .timefmt import compile_format, parse_time, relative_time


def format_number(value: int | float) -> str:
    """Integers as digits; other floats with up to 6 decimals, trailing zeros dropped
    (so ``_time`` 1599011050.608 prints as ``1599011050.608``)."""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def to_text(value) -> str:
    """A value as text. A multivalue value where one text is wanted (md5(), trim(), the
    ``.`` operator...) reads as its first value, as len() does. *Unverified*: the Search
    Reference does not say what these functions do with a multivalue argument."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return to_text(value[0]) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_number(value)


def whole(value) -> int | None:
    """A number as a whole number for an index or a length (None if not a finite number)."""
    n = to_number(value)
    return None if n is None or not math.isfinite(n) else int(n)


def values_of(value) -> list:
    """A field's values as a list (empty for null)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def regex(pattern: str) -> re.Pattern:
    """Splunk's PCRE as ``pcre`` translates it (rex, regex, makemv and the eval functions alike)."""
    try:
        return compile_pcre(pattern)
    except PcreError as exc:
        raise SplError(f"invalid regular expression {pattern!r}: {exc}") from None


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern:
    """SQL LIKE: ``%`` any run, ``_`` one character; case-sensitive like Splunk's like()."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def like(text, pattern):
    if text is None or pattern is None:
        return None
    return any(like_regex(to_text(pattern)).match(to_text(v)) is not None for v in values_of(text))


def fn_lower(x):
    return None if x is None else [to_text(v).lower() for v in x] if isinstance(x, list) else to_text(x).lower()


def fn_upper(x):
    return None if x is None else [to_text(v).upper() for v in x] if isinstance(x, list) else to_text(x).upper()


def fn_match(text, pattern):
    if text is None or pattern is None:
        return None
    compiled = regex(to_text(pattern))
    return any(compiled.search(to_text(v)) is not None for v in values_of(text))


# --- choosing functions: they get their arguments unevaluated ---------------------------
#
# Each takes the compiled arguments (a row -> value each) and returns the compiled call, which
# computes only the arguments it needs, in order, and stops at the one it returns. Search
# Reference (9.0, "Comparison and Conditional functions"), case(): "The <condition> arguments
# are Boolean expressions that are evaluated from first to last. When the first <condition>
# expression is encountered that evaluates to TRUE, the corresponding <value> argument is
# returned." *Unverified* that Splunk leaves the other arguments (and those of if() and
# coalesce()) uncomputed; only a run-time error in an argument not returned can tell.

Compiled = Callable[[dict], object]


def lazy_if(condition: Compiled, then: Compiled, otherwise: Compiled) -> Compiled:
    return lambda row: then(row) if condition(row) is True else otherwise(row)


def lazy_case(*arguments: Compiled) -> Compiled:
    pairs = tuple(zip(arguments[::2], arguments[1::2]))

    def case(row):
        for condition, value in pairs:
            if condition(row) is True:
                return value(row)
        return None

    return case


def lazy_coalesce(*arguments: Compiled) -> Compiled:
    def coalesce(row):
        for argument in arguments:
            value = argument(row)
            if value is not None:
                return value
        return None

    return coalesce


LAZY = frozenset({"if", "case", "coalesce"})


def fn_len(x):
    return None if x is None else len(to_text(x[0] if isinstance(x, list) else x))


def fn_substr(text, start, length=None):
    """1-based start; a negative start counts from the end (Splunk's substr)."""
    if text is None or start is None:
        return None
    s, begin = to_text(text), whole(start)
    if begin is None:
        return None
    index = len(s) + begin if begin < 0 else max(begin - 1, 0)
    if length is None:
        return s[index:]
    count = whole(length)
    return None if count is None else s[index : index + max(count, 0)]


def fn_replace(text, pattern, replacement):
    """Search Reference, replace(): ``\\1``-style backreferences in the replacement; any other
    backslash is kept as written (*unverified*), a group that did not match is empty."""
    if text is None or pattern is None or replacement is None:
        return None
    compiled = regex(to_text(pattern))
    substitute = backreferences(to_text(replacement))
    result = [compiled.sub(substitute, to_text(v)) for v in values_of(text)]
    return result if isinstance(text, list) else result[0]


BACKREFERENCE = re.compile(r"\\(\d)")


@lru_cache(maxsize=256)
def backreferences(replacement: str) -> Callable[[re.Match], str]:
    parts = BACKREFERENCE.split(replacement)  # text, group, text, group, ..., text

    def substitute(m: re.Match) -> str:
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(part)
            elif int(part) <= m.re.groups:
                out.append(m.group(int(part)) or "")
        return "".join(out)

    return substitute


def fn_mvcount(x):
    return None if x is None else len(x) if isinstance(x, list) else 1


def fn_isnull(x):
    return x is None


def fn_isnotnull(x):
    return x is not None


def fn_null():
    return None


# --- multivalue functions (Search Reference, "Multivalue eval functions") ----------------


def multi(values: list):
    """A list of values as a field value: null when empty, one value when single."""
    return None if not values else values[0] if len(values) == 1 else values


def fn_mvindex(mv, start, end=None):
    """0-based; negative indexes count from the end; ``end`` is included."""
    values, first = values_of(mv), whole(start)
    if not values or first is None:
        return None
    first += len(values) if first < 0 else 0
    last = first if end is None else whole(end)
    if last is None:
        return None
    last += len(values) if end is not None and last < 0 else 0
    if not 0 <= first < len(values) or last < first:
        return None
    return multi(values[first : last + 1])


def fn_mvappend(*args):
    return multi([v for a in args for v in values_of(a)])


def fn_mvjoin(mv, delimiter):
    if mv is None or delimiter is None:
        return None
    return to_text(delimiter).join(to_text(v) for v in values_of(mv))


def fn_mvfind(mv, pattern):
    """The index of the first value the regular expression matches, or null."""
    if mv is None or pattern is None:
        return None
    compiled = regex(to_text(pattern))
    return next((i for i, v in enumerate(values_of(mv)) if compiled.search(to_text(v))), None)


def fn_mvdedup(mv):
    return multi(list(dict.fromkeys(to_text(v) for v in values_of(mv))))


def fn_mvsort(mv):
    return multi(sorted(to_text(v) for v in values_of(mv)))


def fn_mvzip(a, b, delimiter=","):
    if a is None or b is None:
        return None
    return multi([f"{to_text(x)}{to_text(delimiter)}{to_text(y)}" for x, y in zip(values_of(a), values_of(b))])


def fn_split(text, delimiter):
    """An empty delimiter splits into characters."""
    if text is None or delimiter is None:
        return None
    t, d = to_text(text), to_text(delimiter)
    return multi(list(t) if d == "" else t.split(d))


# --- text ------------------------------------------------------------------------------


def fn_trim(text, chars=" \t"):
    """trim/ltrim/rtrim: spaces and tabs by default."""
    return None if text is None or chars is None else to_text(text).strip(to_text(chars))


def fn_ltrim(text, chars=" \t"):
    return None if text is None or chars is None else to_text(text).lstrip(to_text(chars))


def fn_rtrim(text, chars=" \t"):
    return None if text is None or chars is None else to_text(text).rstrip(to_text(chars))


def fn_urldecode(text):
    """%XX sequences decoded as UTF-8 (``+`` stays, *unverified*)."""
    return None if text is None else urllib.parse.unquote(to_text(text), errors="replace")


def fn_tostring(value, fmt=None):
    """Text of a value; formats "hex", "commas" (2 decimals for non-integers) and
    "duration" (seconds as HH:MM:SS)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if fmt is None:
        return to_text(value)
    n = to_number(value)
    if n is None or not math.isfinite(n):
        return to_text(value)
    kind = to_text(fmt).lower()
    if kind == "hex":
        return hex(int(n))
    if kind == "commas":
        return f"{int(n):,}" if float(n).is_integer() else f"{n:,.2f}"
    if kind == "duration":
        seconds = int(n)
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    raise SplError(f"unsupported tostring format '{to_text(fmt)}'")


def fn_tonumber(value, base=10):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    b = whole(base)
    if b is None or b == 10:
        return to_number(value)
    try:
        return int(to_text(value).strip(), b)
    except ValueError:  # not a number in that base, or a base int() does not take
        return None


def fn_hash(algorithm: str) -> Callable:
    def digest(value):
        return None if value is None else hashlib.new(algorithm, to_text(value).encode()).hexdigest()
    return digest


def fn_cidrmatch(cidr, ip):
    if cidr is None or ip is None:
        return None
    try:
        return ipaddress.ip_address(to_text(ip).strip()) in ipaddress.ip_network(to_text(cidr).strip(), strict=False)
    except ValueError:
        return False


# --- numbers ---------------------------------------------------------------------------


def numeric(fn: Callable) -> Callable:
    """A function of numbers: null when an argument is not a number or the result is undefined."""
    def apply(*args):
        numbers = [to_number(a) for a in args]
        if any(n is None for n in numbers):
            return None
        try:
            result = fn(*numbers)
        except (ValueError, ArithmeticError):  # math domain, overflow, decimal's limits
            return None
        return None if isinstance(result, float) and not math.isfinite(result) else result
    return apply


def round_half_up(x, digits=0):
    """round(): halves away from zero (*unverified* for exact halves)."""
    quantum = decimal.Decimal(1).scaleb(-int(digits))
    result = decimal.Decimal(repr(x)).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
    return int(result) if int(digits) <= 0 else float(result)


def fn_log(x, base=10):
    return math.log(x, base)


def extreme(pick_max: bool) -> Callable:
    """min/max of numbers and text: numbers compare numerically, text compares as text,
    and any text counts as greater than any number."""
    def apply(*args):
        values = [v for a in args for v in values_of(a)]
        if not values:
            return None
        keyed = [((1, to_text(v)) if to_number(v) is None else (0, to_number(v)), v) for v in values]
        key, value = (max if pick_max else min)(keyed, key=lambda kv: kv[0])
        return key[1]
    return apply


# --- time (Search Reference, "Date and Time functions"; UTC like convert ctime) --------


def fn_relative_time(epoch, modifier):
    n = to_number(epoch)
    if n is None or modifier is None:
        return None
    try:
        result = relative_time(n, to_text(modifier))
    except (OverflowError, ValueError, OSError):  # beyond datetime's years 1..9999
        return None
    return None if result is None else int(result) if float(result).is_integer() else result


def fn_strftime(epoch, fmt):
    n = to_number(epoch)
    if n is None or fmt is None or not math.isfinite(n):
        return None
    try:
        return compile_format(to_text(fmt))(n)  # compiled once per format
    except (OverflowError, ValueError, OSError):
        return None


def fn_strptime(text, fmt):
    if text is None or fmt is None:
        return None
    result = parse_time(to_text(text), to_text(fmt))
    return None if result is None else int(result) if float(result).is_integer() else result


# --- types -----------------------------------------------------------------------------


def fn_typeof(value):
    if value is None:
        return "Invalid"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, list):
        return "Multivalue"
    return "Number" if to_number(value) is not None else "String"


def fn_isnum(value):
    return value is not None and not isinstance(value, (bool, list)) and to_number(value) is not None


def fn_isint(value):
    n = None if isinstance(value, (bool, list)) else to_number(value)
    return n is not None and float(n).is_integer()


def fn_isstr(value):
    return isinstance(value, str) and to_number(value) is None


# name -> (implementation, minimum arguments, maximum arguments); those in LAZY take the compiled
# arguments and return the compiled call
FUNCTIONS: dict[str, tuple[Callable, int, int]] = {
    "mvindex": (fn_mvindex, 2, 3),
    "mvappend": (fn_mvappend, 1, 254),
    "mvjoin": (fn_mvjoin, 2, 2),
    "mvfind": (fn_mvfind, 2, 2),
    "mvdedup": (fn_mvdedup, 1, 1),
    "mvsort": (fn_mvsort, 1, 1),
    "mvzip": (fn_mvzip, 2, 3),
    "split": (fn_split, 2, 2),
    "trim": (fn_trim, 1, 2),
    "ltrim": (fn_ltrim, 1, 2),
    "rtrim": (fn_rtrim, 1, 2),
    "urldecode": (fn_urldecode, 1, 1),
    "tostring": (fn_tostring, 1, 2),
    "tonumber": (fn_tonumber, 1, 2),
    "md5": (fn_hash("md5"), 1, 1),
    "sha1": (fn_hash("sha1"), 1, 1),
    "sha256": (fn_hash("sha256"), 1, 1),
    "sha512": (fn_hash("sha512"), 1, 1),
    "cidrmatch": (fn_cidrmatch, 2, 2),
    "round": (numeric(round_half_up), 1, 2),
    "abs": (numeric(abs), 1, 1),
    "floor": (numeric(math.floor), 1, 1),
    "ceil": (numeric(math.ceil), 1, 1),
    "ceiling": (numeric(math.ceil), 1, 1),
    "pow": (numeric(math.pow), 2, 2),
    "sqrt": (numeric(math.sqrt), 1, 1),
    "exp": (numeric(math.exp), 1, 1),
    "ln": (numeric(math.log), 1, 1),
    "log": (numeric(fn_log), 1, 2),
    "min": (extreme(False), 1, 254),
    "max": (extreme(True), 1, 254),
    "typeof": (fn_typeof, 1, 1),
    "isnum": (fn_isnum, 1, 1),
    "isint": (fn_isint, 1, 1),
    "isstr": (fn_isstr, 1, 1),
    "relative_time": (fn_relative_time, 2, 2),
    "strftime": (fn_strftime, 2, 2),
    "strptime": (fn_strptime, 2, 2),
    "time": (time.time, 0, 0),
    "true": (lambda: True, 0, 0),
    "false": (lambda: False, 0, 0),
    "lower": (fn_lower, 1, 1),
    "upper": (fn_upper, 1, 1),
    "if": (lazy_if, 3, 3),
    "case": (lazy_case, 2, 254),
    "like": (like, 2, 2),
    "match": (fn_match, 2, 2),
    "coalesce": (lazy_coalesce, 1, 254),
    "len": (fn_len, 1, 1),
    "substr": (fn_substr, 2, 3),
    "replace": (fn_replace, 3, 3),
    "mvcount": (fn_mvcount, 1, 1),
    "isnull": (fn_isnull, 1, 1),
    "isnotnull": (fn_isnotnull, 1, 1),
    "null": (fn_null, 0, 0),
}
