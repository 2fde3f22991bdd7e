"""Values as Splunk's eval sees them, and the eval functions.

Field values are ``str``, ``int``/``float`` (from eval or aggregations) or a list
of them (multivalue); ``None`` is null. Strings that look like numbers take part
in arithmetic and comparisons as numbers, as in Splunk.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from .errors import SplError

NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\Z")


def to_number(value) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and NUMBER.match(value):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def format_number(value: int | float) -> str:
    """Integers as digits; other floats with up to 6 decimals, trailing zeros dropped
    (so ``_time`` 1599011050.608 prints as ``1599011050.608``)."""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def to_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_number(value)


def values_of(value) -> list:
    """A field's values as a list (empty for null)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=256)
def regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
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


def fn_if(condition, then, otherwise):
    return then if condition is True else otherwise


def fn_case(*pairs):
    for i in range(0, len(pairs), 2):
        if pairs[i] is True:
            return pairs[i + 1]
    return None


def fn_match(text, pattern):
    if text is None or pattern is None:
        return None
    compiled = regex(to_text(pattern))
    return any(compiled.search(to_text(v)) is not None for v in values_of(text))


def fn_coalesce(*args):
    return next((a for a in args if a is not None), None)


def fn_len(x):
    return None if x is None else len(to_text(x[0] if isinstance(x, list) else x))


def fn_substr(text, start, length=None):
    """1-based start; a negative start counts from the end (Splunk's substr)."""
    if text is None or start is None:
        return None
    s, begin = to_text(text), to_number(start)
    if begin is None:
        return None
    begin = int(begin)
    index = len(s) + begin if begin < 0 else max(begin - 1, 0)
    if length is None:
        return s[index:]
    count = to_number(length)
    return None if count is None else s[index : index + max(int(count), 0)]


def fn_replace(text, pattern, replacement):
    if text is None or pattern is None or replacement is None:
        return None
    compiled = regex(to_text(pattern))
    result = [compiled.sub(to_text(replacement), to_text(v)) for v in values_of(text)]
    return result if isinstance(text, list) else result[0]


def fn_mvcount(x):
    return None if x is None else len(x) if isinstance(x, list) else 1


def fn_isnull(x):
    return x is None


def fn_isnotnull(x):
    return x is not None


def fn_null():
    return None


def fn_true():
    return True


def fn_split(text, separator):
    """Splunk's split(): a multivalue of the pieces (one piece: a single value)."""
    if text is None or separator is None:
        return None
    sep = to_text(separator)
    pieces = [p for v in values_of(text) for p in (to_text(v).split(sep) if sep else list(to_text(v)))]
    return pieces[0] if len(pieces) == 1 else pieces


def fn_mvindex(x, start, end=None):
    """0-based; negative indexes count from the end; ``end`` is inclusive."""
    if x is None or start is None:
        return None
    values, first = values_of(x), to_number(start)
    last = first if end is None else to_number(end)
    if first is None or last is None:
        return None
    n = len(values)
    first, last = int(first) + (n if first < 0 else 0), int(last) + (n if last < 0 else 0)
    if not 0 <= first < n or last < first:
        return None
    picked = values[first : min(last, n - 1) + 1]
    return picked[0] if len(picked) == 1 else picked


def trimmer(method: str) -> Callable:
    def trim(text, characters=None):
        if text is None:
            return None
        chars = None if characters is None else to_text(characters)
        result = [getattr(to_text(v), method)(chars) for v in values_of(text)]
        return result if isinstance(text, list) else result[0]
    return trim


# name -> (implementation, minimum arguments, maximum arguments)
FUNCTIONS: dict[str, tuple[Callable, int, int]] = {
    "lower": (fn_lower, 1, 1),
    "upper": (fn_upper, 1, 1),
    "if": (fn_if, 3, 3),
    "case": (fn_case, 2, 254),
    "like": (like, 2, 2),
    "match": (fn_match, 2, 2),
    "coalesce": (fn_coalesce, 1, 254),
    "len": (fn_len, 1, 1),
    "substr": (fn_substr, 2, 3),
    "replace": (fn_replace, 3, 3),
    "mvcount": (fn_mvcount, 1, 1),
    "isnull": (fn_isnull, 1, 1),
    "isnotnull": (fn_isnotnull, 1, 1),
    "null": (fn_null, 0, 0),
    "true": (fn_true, 0, 0),
    "split": (fn_split, 2, 2),
    "mvindex": (fn_mvindex, 2, 3),
    "trim": (trimmer("strip"), 1, 2),
    "ltrim": (trimmer("lstrip"), 1, 2),
    "rtrim": (trimmer("rstrip"), 1, 2),
}
