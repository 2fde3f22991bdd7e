"""Splunk's regular expressions are PCRE; this engine runs them with Python's ``re``.

``compile_pcre`` translates the syntax where the two differ and refuses what it cannot
translate, so a pattern never silently means something else:

- ``(?<name>...)`` is ``(?P<name>...)``; ``\\x{HHHH}`` is a code point.
- POSIX classes inside brackets (``[[:alpha:]]``): Python reads ``[[:alpha:]`` as a set of
  characters (with a FutureWarning) that never matches what PCRE means. Translated to
  their ASCII ranges (pcre2pattern, "POSIX character classes"); ``[:^name:]`` is refused.
- ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII in PCRE unless the pattern starts with
  ``(*UCP)`` (pcre2pattern, "Generic character types"): ``re.ASCII`` unless it does.
- ``{,n}`` is a literal in PCRE (pcre2pattern, "Repetition": "{,6} is not a quantifier,
  but a literal string of four characters"; *unverified* for the PCRE2 release Splunk
  ships, as PCRE2 10.43 made it a quantifier); Python reads it as ``{0,n}``.
- Any warning Python gives while compiling is an error: it marks a pattern whose meaning
  differs between the two.
"""
from __future__ import annotations

import re
import warnings
from functools import lru_cache

POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f", "word": "a-zA-Z0-9_",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e", "ascii": "\\x00-\\x7f",
}
UCP = "(*UCP)"
EMPTY_MIN_REPEAT = re.compile(r"\{,\d*\}")
NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
CODE_POINT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


class PcreError(ValueError):
    """A pattern that does not compile, or whose PCRE meaning cannot be kept; ``offset`` in it."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


@lru_cache(maxsize=512)
def compile_pcre(pattern: str) -> re.Pattern:
    flags = re.ASCII
    if pattern.startswith(UCP):
        pattern, flags = pattern[len(UCP):], 0
    translated = translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(translated, flags)
    except (re.error, RecursionError, OverflowError) as error:
        message = error.msg if isinstance(error, re.error) else str(error)
        raise PcreError(message, getattr(error, "pos", None) or 0) from None
    except Warning as warning:
        raise PcreError(f"reads differently in PCRE ({warning})") from None


def translate(pattern: str) -> str:
    """The pattern in Python's syntax (see the module's docstring)."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            m = CODE_POINT.match(pattern, i)
            if m:
                out.append("\\U" + m.group(1).rjust(8, "0"))
                i = m.end()
            else:
                out.append(pattern[i : i + 2])
                i += 2
            continue
        if in_class:
            m = POSIX_CLASS.match(pattern, i)
            if m:
                if m.group(1) or m.group(2) not in POSIX_CLASSES:
                    raise PcreError(f"unsupported POSIX class '{m.group()}'", i)
                out.append(POSIX_CLASSES[m.group(2)])
                i = m.end()
                continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal member, not the end.
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[start : start + 1] == "]":
                out.append(pattern[i:start] + "\\]")
                i = start + 1
                continue
        elif NAMED_GROUP.match(pattern, i):
            out.append("(?P<")
            i += 3
            continue
        elif c == "{" and EMPTY_MIN_REPEAT.match(pattern, i):
            out.append("\\{")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)
