"""Tokenisers for the two SPL dialects: search terms and eval expressions.

SPL is lexed per command: ``search``/``tstats``-style arguments treat ``*`` as
part of a word (a wildcard), while ``eval``/``where`` expressions treat it as an
operator and use single quotes for field names. Every token keeps its absolute
offset in the expanded search so errors can point at it.
"""
from __future__ import annotations

import functools
import re
from collections import namedtuple

from .errors import SplError

# A tuple: SPL is tokenised a lot, and tuples are cheap to make. ``kind``: WORD, STRING, FIELD, NUMBER,
# OP, END; ``text``: the value (unescaped for strings); ``pos``: its offset. (``collections.namedtuple``
# rather than ``typing.NamedTuple``: the same class, without loading ``typing`` at every start.)
Token = namedtuple("Token", ("kind", "text", "pos"))


# Each dialect is an ordered list of (kind, pattern): the first alternative matching at a
# position wins. ERROR alternatives name what cannot be read there.
QUOTED = r'"(?:\\.|[^"\\])*"'
SEARCH_DIALECT = (
    ("STRING", QUOTED),
    ("UNTERMINATED", '"'),
    ("SUBSEARCH", r"[\[\]]"),
    ("OP", r"!=|<=|>=|[=<>(),]"),
    # A word may hold an escaped quote (``*\\"privileged\\":true*``), kept as written.
    ("WORD", r'(?:\\"|[^\s"(),=<>!\[\]]|!(?!=))+'),
    ("UNEXPECTED", r"\S"),
)
EXPR_DIALECT = (
    ("STRING", QUOTED),
    ("FIELD", r"'(?:\\.|[^'\\])*'"),
    ("UNTERMINATED", "[\"']"),
    ("NUMBER", r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?"),
    ("WORD", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("OP", r"==|!=|<=|>=|[=<>+\-*/%.(),]"),
    ("UNEXPECTED", r"\S"),
)


def master(dialect: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    return re.compile(r"\s*(?:" + "|".join(f"(?P<{kind}>{rx})" for kind, rx in dialect) + ")", re.DOTALL)


SEARCH_TOKEN = master(SEARCH_DIALECT)


@functools.cache
def expr_token() -> re.Pattern[str]:
    """The eval dialect's pattern, compiled by the first eval or where (searches and drilldowns may have
    none; compiling it is a good part of loading this module)."""
    return master(EXPR_DIALECT)


SPECIAL = re.compile(r'[\\"\[\]|]')


def split_pipeline(spl: str) -> list[tuple[str, int]]:
    """Split on ``|`` outside double quotes and subsearch brackets: [(segment, offset)]."""
    segments: list[tuple[str, int]] = []
    start, i, depth = 0, 0, 0
    while m := SPECIAL.search(spl, i):
        i, c = m.start(), m.group()
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


QUOTED_STRINGS = {'"': re.compile(QUOTED), "'": re.compile(r"'(?:\\.|[^'\\])*'")}


def skip_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the quoted string opening at ``i``."""
    m = QUOTED_STRINGS[quote].match(text, i)
    if m is None:
        raise SplError("unterminated quoted string", i)
    return m.end()


def unescape(body: str, quote: str) -> str:
    """Only ``\\\\`` and an escaped quote are escapes (as in Splunk); any other
    backslash stays, so Windows paths survive."""
    if "\\" not in body:
        return body
    return re.sub(r"\\([\\" + quote + "])", r"\1", body)


def tokenize(text: str, offset: int, pattern: re.Pattern[str], join_pieces: bool, context: str = "") -> list[Token]:
    """Tokens of ``text``, whose first character sits at ``offset`` in the search. With
    ``join_pieces``, quoted and unquoted pieces written without space between them are one
    argument, their quotes removed: ``"Processes".*`` is ``Processes.*`` (how a quoted macro
    argument lands in a definition such as ``rename $object$.* AS *``; *unverified* beyond
    what production security_content searches rely on)."""
    read = _tokens_at_zero if len(text) <= MAX_CACHED_CHARS else _tokens_at_zero.__wrapped__
    try:
        at_zero = read(text, pattern, join_pieces, context)
    except SplError as error:  # its position counted from the start of ``text``
        raise SplError(error.message, error.position + offset) from None
    if not offset:
        return list(at_zero)
    return [_token((kind, value, pos + offset)) for kind, value, pos in at_zero]


_token = functools.partial(tuple.__new__, Token)  # a Token without namedtuple's Python-level __new__


# A pack's searches share many command texts at different offsets: each distinct text is read once
# per process and its tokens moved to where it stands. Errors are not kept; they are raised again.
# Only short texts are kept: every command security_content 4.42 repeats is under 1,000 characters,
# while a hostile pack's thousands of distinct megabyte-long commands would each keep dozens of
# times their size in tokens and nodes until the process ends.
MAX_CACHED_CHARS = 1000


@functools.lru_cache(maxsize=4096)
def _tokens_at_zero(text: str, pattern: re.Pattern[str], join_pieces: bool, context: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    previous_end = -1
    for m in pattern.finditer(text):
        kind = m.lastgroup
        start, end = m.span(kind)
        if kind in ERRORS:
            raise SplError(ERRORS[kind](text[start:end], context), start)
        value = text[start:end]
        if kind == "STRING" or kind == "FIELD":
            value = unescape(value[1:-1], value[0])
        if (join_pieces and start == previous_end and (kind == "WORD" or kind == "STRING")
                and tokens[-1].kind in ("WORD", "STRING")):
            last = tokens.pop()
            kind = "WORD" if last.kind == kind == "WORD" else "STRING"
            tokens.append(_token((kind, last.text + value, last.pos)))
        else:
            tokens.append(_token((kind, value, start)))
        previous_end = end
    tokens.append(_token(("END", "", len(text))))
    return tuple(tokens)


ERRORS = {
    "UNTERMINATED": lambda value, context: "unterminated quoted string",
    "SUBSEARCH": lambda value, context: f"unsupported subsearch '{value}'",
    "UNEXPECTED": lambda value, context: f"unexpected character {value!r}{context}",
}


def search_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of search-style arguments; ``*`` and ``.`` belong to words."""
    return tokenize(text, offset, SEARCH_TOKEN, join_pieces=True)


def expr_tokens(text: str, offset: int) -> list[Token]:
    """Tokens of an eval/where expression: "string", 'field', numbers, names, operators."""
    return tokenize(text, offset, expr_token(), join_pieces=False, context=" in expression")
