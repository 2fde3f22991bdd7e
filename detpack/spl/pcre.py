"""Splunk's regular expressions are PCRE; this engine runs them with the ``regex`` module.

``compile_pcre`` translates the syntax where the two differ and refuses what it cannot
translate, so a pattern never silently means something else:

- ``(?<name>...)`` is ``(?P<name>...)``; ``\\x{HHHH}`` is a code point.
- POSIX classes inside brackets (``[[:alpha:]]``): Python reads ``[[:alpha:]`` as a set of
  characters (with a FutureWarning) that never matches what PCRE means. Translated to
  their ASCII ranges (pcre2pattern, "POSIX character classes"); ``[:^name:]`` is refused.
- ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII in PCRE unless the pattern starts with
  ``(*UCP)`` (pcre2pattern, "Generic character types"): ASCII unless it does. Under
  ``(*UCP)`` most POSIX classes mean Unicode properties, which a bracket here cannot say:
  those are refused.
- ``{,n}`` is a literal in PCRE (pcre2pattern, "Repetition": "{,6} is not a quantifier,
  but a literal string of four characters"; *unverified* for the PCRE2 release Splunk
  ships, as PCRE2 10.43 made it a quantifier); Python reads it as ``{0,n}``.
- Patterns run on the ``regex`` module (re-compatible syntax, the same nested-set
  reading as PCRE) because it can bound a match: Splunk's PCRE stops a match after
  limits.conf ``[rex] match_limit`` backtracking steps; here each match, search or
  substitution stops after ``MATCH_SECONDS`` and the search fails with one line
  (a time bound rather than PCRE's step count).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from .errors import SplError

POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f", "word": "a-zA-Z0-9_",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e", "ascii": "\\x00-\\x7f",
}
UCP = "(*UCP)"
# pcre2pattern, "POSIX character classes": under (*UCP) these use Unicode properties
# ([:alpha:] is \p{L}, [:digit:] \p{Nd}, ...); the rest stay ASCII.
UCP_POSIX_CLASSES = frozenset({"alnum", "alpha", "blank", "digit", "lower", "space", "upper", "word",
                               "graph", "print", "punct"})
EMPTY_MIN_REPEAT = re.compile(r"\{,\d*\}")
NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
CODE_POINT = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


class PcreError(ValueError):
    """A pattern that does not compile, or whose PCRE meaning cannot be kept; ``offset`` in it."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


MATCH_SECONDS = 1.0


class Pcre:
    """A compiled pattern whose every match is bounded in time (``MATCH_SECONDS``)."""

    def __init__(self, compiled, source: str):
        self.compiled, self.source = compiled, source
        self.groupindex, self.groups = compiled.groupindex, compiled.groups

    def search(self, text: str):
        return self.bounded(self.compiled.search, text)

    def match(self, text: str):
        return self.bounded(self.compiled.match, text)

    def fullmatch(self, text: str):
        return self.bounded(self.compiled.fullmatch, text)

    def sub(self, replacement, text: str) -> str:
        return self.bounded(self.compiled.sub, replacement, text)

    def finditer(self, text: str) -> Iterator:
        matches = self.compiled.finditer(text, timeout=MATCH_SECONDS)
        while True:
            try:
                yield next(matches)
            except StopIteration:
                return
            except TimeoutError:
                raise self.too_costly() from None

    def bounded(self, operation, *args):
        try:
            return operation(*args, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise self.too_costly() from None

    def too_costly(self) -> SplError:
        shown = self.source if len(self.source) <= 60 else self.source[:60] + "…"
        return SplError(f"regular expression {shown!r} backtracks beyond the match limit "
                        f"(more than {MATCH_SECONDS:g} s on one value)")


@lru_cache(maxsize=512)
def compile_pcre(pattern: str) -> Pcre:
    import regex  # when a search first holds a pattern: most commands parse SPL without one

    source, flags = pattern, regex.ASCII | regex.VERSION0
    if pattern.startswith(UCP):
        pattern, flags = pattern[len(UCP):], regex.VERSION0
    translated = translate(pattern, ucp=not flags & regex.ASCII)
    try:
        return Pcre(regex.compile(translated, flags), source)
    except (regex.error, RecursionError, OverflowError) as error:
        message = getattr(error, "msg", None) or str(error)
        raise PcreError(message, getattr(error, "pos", None) or 0) from None


def translate(pattern: str, ucp: bool = False) -> str:
    """The pattern in Python's syntax (see the module's docstring); ``ucp``: it started with
    ``(*UCP)``, under which a POSIX class of ``UCP_POSIX_CLASSES`` is refused."""
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
                if ucp and m.group(2) in UCP_POSIX_CLASSES:
                    raise PcreError(f"unsupported POSIX class '{m.group()}' under (*UCP), "
                                    "where it means Unicode properties", i)
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
