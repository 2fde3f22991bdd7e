"""Tokenisers for the two SPL dialects: search terms and eval expressions.

SPL is lexed per command: ``search``/``tstats``-style arguments treat ``*`` as
part of a word (a wildcard), while ``eval``/``where`` expressions treat it as an
operator and use single quotes for field names. Every token keeps its absolute
offset in the expanded search so errors can point at it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SplError


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, FIELD, NUMBER, OP, END
    text: str  # the value (unescaped for strings)
    pos: int


SEARCH_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "(", ")", ",")
SEARCH_WORD = re.compile(r'(?:[^\s"(),=<>!]|!(?!=))+')

EXPR_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", ".", "(", ")", ",")
EXPR_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPR_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
SPACE = re.compile(r"\s+")


def split_pipeline(spl: str) -> list[tuple[str, int]]:
    """Split on top-level ``|`` (outside double quotes): [(segment, offset)]."""
    segments: list[tuple[str, int]] = []
    start, i, n = 0, 0, len(spl)
    while i < n:
        c = spl[i]
        if c == '"':
            i = skip_quoted(spl, i, '"')
            continue
        if c == "|":
            segments.append((spl[start:i], start))
            start = i + 1
        i += 1
    segments.append((spl[start:], start))
    return segments


def skip_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the quoted string opening at ``i``."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    raise SplError("unterminated quoted string", i)


def read_quoted(text: str, i: int, quote: str) -> tuple[str, int]:
    """The unescaped content of the quoted string at ``i`` and the index after it.

    Only ``\\\\`` and an escaped quote are escapes (as in Splunk); any other
    backslash stays, so Windows paths survive.
    """
    end = skip_quoted(text, i, quote)
    body = text[i + 1 : end - 1]
    out, j = [], 0
    while j < len(body):
        if body[j] == "\\" and j + 1 < len(body) and body[j + 1] in ("\\", quote):
            out.append(body[j + 1])
            j += 2
        else:
            out.append(body[j])
            j += 1
    return "".join(out), end


def search_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of search-style arguments; ``*`` and ``.`` belong to words."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if m := SPACE.match(text, i):
            i = m.end()
            continue
        c = text[i]
        if c == '"':
            value, end = read_quoted(text, i, '"')
            tokens.append(Token("STRING", value, offset + i))
            i = end
            continue
        if c == "[":
            raise SplError("unsupported subsearch '['", offset + i)
        op = next((o for o in SEARCH_OPERATORS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("OP", op, offset + i))
            i += len(op)
            continue
        m = SEARCH_WORD.match(text, i)
        if not m:
            raise SplError(f"unexpected character {c!r}", offset + i)
        tokens.append(Token("WORD", m.group(), offset + i))
        i = m.end()
    tokens.append(Token("END", "", offset + n))
    return tokens


def expr_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of an eval/where expression: "string", 'field', numbers, names, operators."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if m := SPACE.match(text, i):
            i = m.end()
            continue
        c = text[i]
        if c in "\"'":
            value, end = read_quoted(text, i, c)
            tokens.append(Token("STRING" if c == '"' else "FIELD", value, offset + i))
            i = end
            continue
        if m := EXPR_NUMBER.match(text, i):
            tokens.append(Token("NUMBER", m.group(), offset + i))
            i = m.end()
            continue
        if m := EXPR_IDENT.match(text, i):
            tokens.append(Token("WORD", m.group(), offset + i))
            i = m.end()
            continue
        op = next((o for o in EXPR_OPERATORS if text.startswith(o, i)), None)
        if not op:
            raise SplError(f"unexpected character {c!r} in expression", offset + i)
        tokens.append(Token("OP", op, offset + i))
        i += len(op)
    tokens.append(Token("END", "", offset + n))
    return tokens
