"""Tokenisers for the two SPL dialects: search terms and eval expressions.

SPL is lexed per command: ``search``/``tstats``-style arguments treat ``*`` as
part of a word (a wildcard), while ``eval``/``where`` expressions treat it as an
operator and use single quotes for field names. Every token keeps its absolute
offset in the expanded search so errors can point at it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .errors import SplError


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, STRING, FIELD, NUMBER, OP, END
    text: str  # the value (unescaped for strings)
    pos: int


SEARCH_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "(", ")", ",")
# A word may hold an escaped quote (``*\\"privileged\\":true*``), kept as written.
SEARCH_WORD = re.compile(r'(?:\\"|[^\s"(),=<>!\[\]]|!(?!=))+')

EXPR_OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", ".", "(", ")", ",")
EXPR_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPR_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
SPACE = re.compile(r"\s+")


def split_pipeline(spl: str) -> list[tuple[str, int]]:
    """Split on ``|`` outside double quotes and subsearch brackets: [(segment, offset)]."""
    segments: list[tuple[str, int]] = []
    start, i, n, depth = 0, 0, len(spl), 0
    while i < n:
        c = spl[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            i = skip_quoted(spl, i, '"')
            continue
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif c == "|" and not depth:
            segments.append((spl[start:i], start))
            start = i + 1
        i += 1
    segments.append((spl[start:], start))
    return segments


def bracket_end(text: str, i: int) -> int:
    """Index just past the ``]`` closing the ``[`` at ``i`` (quotes respected)."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == '"':
            j = skip_quoted(text, j, '"')
            continue
        depth += (c == "[") - (c == "]")
        j += 1
        if depth == 0:
            return j
    raise SplError("unterminated subsearch (missing ']')", i)


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


Reader = Callable[[str, int], "tuple[str, str, int] | None"]


def quoted(kinds: dict[str, str]) -> Reader:
    """Reads a quoted string; ``kinds`` maps each opening quote to its token kind."""
    def read(text: str, i: int) -> tuple[str, str, int] | None:
        if text[i] not in kinds:
            return None
        value, end = read_quoted(text, i, text[i])
        return kinds[text[i]], value, end
    return read


def operator(operators: tuple[str, ...]) -> Reader:
    """Reads the first of ``operators`` (longest listed first) found at ``i``."""
    def read(text: str, i: int) -> tuple[str, str, int] | None:
        op = next((o for o in operators if text.startswith(o, i)), None)
        return ("OP", op, i + len(op)) if op else None
    return read


def pattern(kind: str, regex: re.Pattern[str]) -> Reader:
    def read(text: str, i: int) -> tuple[str, str, int] | None:
        m = regex.match(text, i)
        return (kind, m.group(), m.end()) if m else None
    return read


def no_subsearch(text: str, i: int) -> None:
    if text[i] in "[]":
        raise SplError(f"unsupported subsearch '{text[i]}'", i)
    return None


# Order matters: the first reader that matches at a position wins.
SEARCH_READERS: tuple[Reader, ...] = (
    quoted({'"': "STRING"}),
    no_subsearch,
    operator(SEARCH_OPERATORS),
    pattern("WORD", SEARCH_WORD),
)
EXPR_READERS: tuple[Reader, ...] = (
    quoted({'"': "STRING", "'": "FIELD"}),
    pattern("NUMBER", EXPR_NUMBER),
    pattern("WORD", EXPR_IDENT),
    operator(EXPR_OPERATORS),
)


def tokenize(text: str, offset: int, readers: tuple[Reader, ...], context: str = "") -> list[Token]:
    """Tokens of ``text``, whose first character sits at ``offset`` in the search."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    try:
        while i < n:
            if m := SPACE.match(text, i):
                i = m.end()
                continue
            found = next((t for read in readers if (t := read(text, i))), None)
            if found is None:
                raise SplError(f"unexpected character {text[i]!r}{context}", i)
            kind, value, end = found
            tokens.append(Token(kind, value, offset + i))
            i = end
    except SplError as error:
        raise SplError(error.message, offset + (error.position or 0)) from None
    tokens.append(Token("END", "", offset + n))
    return tokens


def search_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of search-style arguments; ``*`` and ``.`` belong to words."""
    return join_adjacent(tokenize(text, offset, SEARCH_READERS), text, offset)


def join_adjacent(tokens: list[Token], text: str, offset: int) -> list[Token]:
    """Quoted and unquoted pieces written without space between them are one argument,
    their quotes removed: ``"Processes".*`` is ``Processes.*`` (how a quoted macro argument
    lands in a definition such as ``rename $object$.* AS *``). *Unverified* beyond what
    production security_content searches rely on."""
    joined: list[Token] = []
    previous_end = -1
    for token in tokens:
        start = token.pos - offset
        end = start + raw_length(token, text, start)
        if (joined and token.kind in ("WORD", "STRING") and joined[-1].kind in ("WORD", "STRING")
                and start == previous_end):
            last = joined.pop()
            kind = "WORD" if last.kind == token.kind == "WORD" else "STRING"
            token = Token(kind, last.text + token.text, last.pos)
        joined.append(token)
        previous_end = end
    return joined


def raw_length(token: Token, text: str, start: int) -> int:
    if token.kind == "STRING":
        return skip_quoted(text, start, '"') - start
    return len(token.text)


def expr_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of an eval/where expression: "string", 'field', numbers, names, operators."""
    return tokenize(text, offset, EXPR_READERS, " in expression")
