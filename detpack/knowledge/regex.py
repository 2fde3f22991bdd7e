"""Splunk's regular expressions (PCRE) in Python's ``re``.

The one rewrite needed for the add-ons' patterns is the PCRE named group
``(?<name>...)``, which Python spells ``(?P<name>...)``; look-behinds
``(?<=``/``(?<!`` stay. A pattern Python still refuses is reported, not guessed at.
"""
from __future__ import annotations

import re

PCRE_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
PCRE_NAMED_GROUP_QUOTED = re.compile(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'")


def compile_pcre(pattern: str) -> re.Pattern:
    """Raises re.error when Python cannot take the pattern."""
    python = PCRE_NAMED_GROUP.sub("(?P<", pattern)
    python = PCRE_NAMED_GROUP_QUOTED.sub(r"(?P<\1>", python)
    return re.compile(python)
