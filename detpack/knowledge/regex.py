"""Splunk's regular expressions (PCRE) in Python's ``re``.

An add-on's pattern goes through the SPL engine's PCRE translation (``spl.pcre.translate``:
``(?<name>...)``, ``\\x{HHHH}``, POSIX classes such as ``[[:digit:]]``, a literal ``{,n}``)
and, as there, ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII unless it starts with
``(*UCP)`` (pcre2pattern, "Generic character types"). PCRE's ``(?'name'...)`` is also
read. A pattern the translation cannot keep (``[[:^alpha:]]``) or that Python still
refuses raises ``re.error``, for the caller to report; it is never guessed at. Patterns
run on ``re`` rather than the SPL side's ``regex`` module: extractions are the hot path.

A pattern that starts with ``.*`` where ``.`` matches every character (``(?s)``,
``(?ms)``, as the Windows add-on's msad_* transforms write it) can match only where
the search starts: a match starting later would also match from there, the ``.*``
taking the text between. PCRE anchors such a pattern itself; Python's ``re`` tries
every later start too, each a full scan: quadratic in the event's length (3.4 s for
one 64 KB event). Such a pattern is run anchored at each start (``AnchoredPattern``),
which finds the same matches.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from ..spl.pcre import UCP, PcreError, translate

# props.conf.spec: MATCH_LIMIT and DEPTH_LIMIT bound PCRE's work on EXTRACT patterns
# ("an upper bound on how many times PCRE calls an internal function, match()"; default
# 100000) and its recursion depth (default 1000); transforms.conf.spec says the same for
# REPORT. Python's re has neither bound, so they are named, not applied.
PCRE_LIMITS = frozenset({"MATCH_LIMIT", "DEPTH_LIMIT"})
PCRE_LIMIT_UNSUPPORTED = ("PCRE's resource limit is not applied (Python's re has none): a pattern splunkd "
                          "gives up on may still match here")
PCRE_NAMED_GROUP_QUOTED = re.compile(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'")
# a lazy repeat of "." (the blocks the Windows add-on cuts out of its XML)
LAZY_DOT = re.compile(r"(?<!\\)\.[*+]\?")
# leading inline flags holding s (DOTALL), then .* or .*?
LEADING_DOTALL_STAR = re.compile(r"\(\?[a-zA-Z]*s[a-zA-Z]*\)\.\*\??(?![*+?{])")


def compile_pcre(pattern: str):
    """Raises re.error when the pattern cannot be run with its PCRE meaning."""
    flags = re.ASCII
    if pattern.startswith(UCP):
        pattern, flags = pattern[len(UCP):], 0
    try:
        python = translate(PCRE_NAMED_GROUP_QUOTED.sub(r"(?P<\1>", pattern), ucp=not flags)
    except PcreError as error:
        raise re.error(str(error), pattern, error.offset) from None
    compiled = re.compile(python, flags)
    if LAZY_DOT.search(python):
        compiled = lazy_engine(python, flags)
    if LEADING_DOTALL_STAR.match(python) and "|" not in top_level(python):
        return AnchoredPattern(compiled)
    return compiled


def lazy_engine(python: str, flags: int):
    """The same pattern on the ``regex`` module (re-compatible syntax in its VERSION0), which
    runs a lazy ``.*?`` to its closing text many times faster than ``re`` (28 µs against
    2 µs for the Windows add-on's ``(?ms)<System(?:\\s+[^>]+)?>(.*?)<\\/System>`` on one
    event); ``re`` stays faster for the other shapes."""
    import regex  # only when an add-on holds such a pattern

    return regex.compile(python, (regex.ASCII if flags & re.ASCII else 0) | regex.VERSION0)


def outside_classes(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(position, token, group depth) of each token of ``pattern`` outside character
    classes, and of every escape (two characters, one token) wherever it stands. A ``]``
    right after a class's ``[`` (or ``[^``) is a member and does not close it. A group's
    ``(`` and ``)`` stand at the depth around the group."""
    depth, in_class, i = 0, False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            yield i, pattern[i:i + 2], depth
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + (pattern[i + 1:i + 2] == "^")
            i += pattern[i:i + 1] == "]"  # a ']' first in a class is a member
            continue
        else:
            depth -= c == ")"
            yield i, c, depth
            depth += c == "("
        i += 1


def top_level(pattern: str) -> str:
    """The characters of ``pattern`` outside groups and classes (escapes dropped)."""
    return "".join(token for _, token, depth in outside_classes(pattern)
                   if depth == 0 and token not in "()" and not token.startswith("\\"))


class AnchoredPattern:
    """The ``re.Pattern`` methods the extractions use, each match tried only at the
    position where the search stands (equivalent for a leading DOTALL ``.*``)."""

    def __init__(self, compiled: re.Pattern):
        self.compiled = compiled
        self.groups, self.groupindex, self.pattern = compiled.groups, compiled.groupindex, compiled.pattern

    def search(self, text: str) -> re.Match | None:
        return self.compiled.match(text)

    def finditer(self, text: str) -> Iterator[re.Match]:
        pos = 0
        while pos <= len(text):
            match = self.compiled.match(text, pos)
            if match is None:
                return
            yield match
            pos = match.end() if match.end() > pos else pos + 1

    def findall(self, text: str) -> list:
        found = []
        for match in self.finditer(text):
            if self.groups == 0:
                found.append(match.group(0))
            elif self.groups == 1:
                found.append(match.group(1) or "")
            else:
                found.append(tuple(g or "" for g in match.groups()))
        return found
