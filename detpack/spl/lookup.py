"""The ``lookup`` and ``inputlookup`` commands.

``| lookup <table> <field> [AS <event field>] [, ...] [OUTPUT|OUTPUTNEW <field> [AS <event field>] ...]``
adds lookup columns to each row with the semantics of an automatic lookup;
``| inputlookup <table> [max=N]`` starts a search with a table's rows. The
tables are not SPL's: the caller injects them (``LookupTables``), as Splunk
resolves them from the apps' ``transforms.conf`` and ``lookups/``.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from ..errors import record
from .errors import SplError, UnknownKnowledge
from .lexer import Token, search_tokens

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Protocol

    from .evaluate import Row, Stage  # evaluate imports parse, which imports this module

    class LookupTables(Protocol):
        def has(self, table: str) -> bool: ...
        def defined(self, table: str) -> bool: ...  # named by the apps, whether or not it can be read
        def rows(self, table: str) -> list[dict[str, str]]: ...
        def apply(self, table: str, inputs: tuple, outputs: tuple, overwrite: bool, row: Row) -> None: ...


@record
class Lookup:
    table: str
    inputs: tuple[tuple[str, str], ...]   # (lookup column, row field)
    outputs: tuple[tuple[str, str], ...]  # (lookup column, row field); empty: every other column
    overwrite: bool
    pos: int


@record
class Inputlookup:
    table: str
    max: int  # 0: every row
    pos: int


def parse_lookup(text: str, offset: int, pos: int) -> Lookup:
    tokens = without_placement_options([t for t in search_tokens(text, offset) if t.kind != "END"])
    if not tokens:
        raise SplError("lookup needs a table and a field", pos)
    if any(t.kind == "OP" and t.text == "=" for t in tokens):
        raise SplError("unsupported lookup option", next(t.pos for t in tokens if t.text == "="))
    table, rest = tokens[0].text, tokens[1:]
    cut = next((i for i, t in enumerate(rest) if t.kind == "WORD" and t.text.upper() in ("OUTPUT", "OUTPUTNEW")), len(rest))
    inputs = field_pairs(rest[:cut], pos)
    if not inputs:
        raise SplError("lookup needs an input field", pos)
    overwrite = cut == len(rest) or rest[cut].text.upper() == "OUTPUT"
    outputs = field_pairs(rest[cut + 1:], pos) if cut < len(rest) else ()
    return Lookup(table, inputs, outputs, overwrite, pos)


# Search Reference, lookup: ``local=<bool>`` runs the lookup on the search head only and
# ``update=<bool>`` reloads a changed table during a real-time search; neither changes the
# rows a replay of recorded events produces, so they are read and set aside.
PLACEMENT_OPTIONS = frozenset({"local", "update"})
BOOLEANS = frozenset({"true", "false", "t", "f", "1", "0"})


def without_placement_options(tokens: list[Token]) -> list[Token]:
    while (len(tokens) >= 3 and tokens[0].text.lower() in PLACEMENT_OPTIONS and tokens[1].text == "="
           and tokens[2].text.lower() in BOOLEANS):
        tokens = tokens[3:]
    return tokens


def field_pairs(tokens: list[Token], pos: int) -> tuple[tuple[str, str], ...]:
    pairs, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "OP" and token.text == ",":
            i += 1
            continue
        if token.kind not in ("WORD", "STRING"):
            raise SplError(f"unexpected '{token.text}' in lookup", token.pos)
        if i + 1 < len(tokens) and tokens[i + 1].kind == "WORD" and tokens[i + 1].text.upper() == "AS":
            if i + 2 >= len(tokens):
                raise SplError(f"expected a field after '{token.text} AS'", tokens[i + 1].pos)
            pairs.append((token.text, tokens[i + 2].text))
            i += 3
        else:
            pairs.append((token.text, token.text))
            i += 1
    return tuple(pairs)


def parse_inputlookup(text: str, offset: int, pos: int) -> Inputlookup:
    tokens = [t for t in search_tokens(text, offset) if t.kind != "END"]
    table, limit = None, 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if i + 2 < len(tokens) and tokens[i + 1].text == "=" and token.text.lower() == "max":
            if not tokens[i + 2].text.isdigit():
                raise SplError("inputlookup max must be a whole number", tokens[i + 2].pos)
            limit = int(tokens[i + 2].text)
            i += 3
        elif i + 1 < len(tokens) and tokens[i + 1].text == "=":
            raise SplError(f"unsupported inputlookup option '{token.text}'", token.pos)
        elif table is None and token.kind in ("WORD", "STRING"):
            table = token.text
            i += 1
        else:
            raise SplError(f"unexpected '{token.text}' in inputlookup", token.pos)
    if table is None:
        raise SplError("inputlookup needs a table", pos)
    return Inputlookup(table, limit, pos)


def check_table(table: str, tables: LookupTables | None, pos: int) -> LookupTables:
    if tables is not None and not tables.has(table) and tables.defined(table):
        raise SplError(f"lookup '{table}' cannot be read (its warning says why)", pos)
    if tables is None or not tables.has(table):
        raise UnknownKnowledge("lookup", table, pos)  # not in the apps' transforms.conf and lookups/
    return tables


def lookup_stage(command: Lookup, tables: LookupTables | None) -> Stage:
    tables = check_table(command.table, tables, command.pos)

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            row = dict(row)
            tables.apply(command.table, command.inputs, command.outputs, command.overwrite, row)
            yield row

    return run


def inputlookup_stage(command: Inputlookup, tables: LookupTables | None) -> Stage:
    tables = check_table(command.table, tables, command.pos)

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        table_rows = (dict(r) for r in tables.rows(command.table))
        return islice(table_rows, command.max) if command.max else table_rows

    return run
