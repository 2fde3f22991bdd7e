"""Splunk's regular expressions (PCRE) in Python's ``re``.

The one rewrite needed for the add-ons' patterns is the PCRE named group
``(?<name>...)``, which Python spells ``(?P<name>...)``; look-behinds
``(?<=``/``(?<!`` stay. A pattern Python still refuses is reported, not guessed at.

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

PCRE_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
PCRE_NAMED_GROUP_QUOTED = re.compile(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'")
# leading inline flags holding s (DOTALL), then .* or .*?
LEADING_DOTALL_STAR = re.compile(r"\(\?[a-zA-Z]*s[a-zA-Z]*\)\.\*\??(?![*+?{])")


def compile_pcre(pattern: str) -> re.Pattern | AnchoredPattern:
    """Raises re.error when Python cannot take the pattern."""
    python = PCRE_NAMED_GROUP.sub("(?P<", pattern)
    python = PCRE_NAMED_GROUP_QUOTED.sub(r"(?P<\1>", python)
    compiled = re.compile(python)
    if LEADING_DOTALL_STAR.match(python) and "|" not in top_level(python):
        return AnchoredPattern(compiled)
    return compiled


def top_level(pattern: str) -> str:
    """The characters of ``pattern`` outside groups and classes (escapes dropped)."""
    out, depth, in_class, i = [], 0, False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0:
            out.append(c)
        i += 1
    return "".join(out)


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
