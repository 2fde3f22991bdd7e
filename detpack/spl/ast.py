"""The syntax tree of a parsed SPL pipeline: plain frozen dataclasses.

Three families: search expressions (``search`` and ``tstats ... where``, matched
case-insensitively with wildcards), eval expressions (``eval`` and ``where``,
typed and case-sensitive) and commands. ``pos`` is the offset in the expanded
search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# --- search expressions -------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``field OP value``; OP is one of = != < > <= >=."""

    field: str
    op: str
    value: str
    pos: int
    case_sensitive: bool = False  # field=CASE(value)


@dataclass(frozen=True)
class InList:
    """``field IN (v1, v2, ...)``."""

    field: str
    values: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class MatchAll:
    """A bare ``*``."""

    pos: int


@dataclass(frozen=True)
class And:
    items: tuple["SearchExpr", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["SearchExpr", ...]


@dataclass(frozen=True)
class Not:
    item: "SearchExpr"


@dataclass(frozen=True)
class Term:
    """A free-text term or quoted phrase, matched against ``_raw``; ``directive`` is
    ``CASE`` (case-sensitive) or ``TERM`` (one whole indexed term) when written so."""

    value: str
    pos: int
    directive: str = ""


SearchExpr = Union[Compare, InList, MatchAll, Term, And, Or, Not]

# --- eval expressions ---------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: str | int | float | None


@dataclass(frozen=True)
class FieldRef:
    name: str


@dataclass(frozen=True)
class BinOp:
    """Arithmetic (+ - * / %), concatenation (.), comparison, AND/OR/XOR, LIKE."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: int


@dataclass(frozen=True)
class UnaryOp:
    op: str  # NOT or -
    operand: "Expr"
    pos: int


@dataclass(frozen=True)
class Call:
    name: str  # lower-cased
    args: tuple["Expr", ...]
    pos: int


@dataclass(frozen=True)
class InExpr:
    operand: "Expr"
    items: tuple["Expr", ...]
    pos: int


Expr = Union[Literal, FieldRef, BinOp, UnaryOp, Call, InExpr]

# --- commands -----------------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    func: str  # count, dc, values, min, max, sum, avg, earliest, ... (parse.AGGREGATE_FUNCTIONS)
    field: str | None  # None only for a bare ``count``; the text ``eval(...)`` with ``expr``
    alias: str | None
    pos: int
    expr: "Expr | None" = None  # the expression of ``func(eval(...))``

    @property
    def name(self) -> str:
        """The output column: the alias, ``count`` or ``func(field)``."""
        if self.alias:
            return self.alias
        return self.func if self.field is None else f"{self.func}({self.field})"


@dataclass(frozen=True)
class Tstats:
    options: tuple[tuple[str, str], ...]
    aggregations: tuple[Aggregation, ...]
    datamodel: str
    where: SearchExpr | None
    by: tuple[str, ...]
    pos: int
    span: float | None = None  # seconds of each _time bin (``BY _time span=1h``)

    def option(self, key: str) -> str | None:
        return dict(self.options).get(key)


@dataclass(frozen=True)
class Search:
    expr: SearchExpr
    pos: int


@dataclass(frozen=True)
class Where:
    expr: Expr
    pos: int


@dataclass(frozen=True)
class Eval:
    assignments: tuple[tuple[str, Expr], ...]
    pos: int


@dataclass(frozen=True)
class Rename:
    pairs: tuple[tuple[str, str], ...]  # (old, new); may contain * wildcards
    pos: int


@dataclass(frozen=True)
class Conversion:
    func: str  # ctime
    field: str
    alias: str | None


@dataclass(frozen=True)
class Convert:
    timeformat: str
    conversions: tuple[Conversion, ...]
    pos: int


@dataclass(frozen=True)
class Stats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Table:
    fields: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Fields:
    fields: tuple[str, ...]
    remove: bool
    pos: int


@dataclass(frozen=True)
class Dedup:
    fields: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class Sort:
    keys: tuple[SortKey, ...]
    limit: int  # 0 = no limit
    pos: int
    reverse: bool = False  # a final d/desc


@dataclass(frozen=True)
class Head:
    count: int
    pos: int


@dataclass(frozen=True)
class Bin:
    """``bin``/``bucket``: the field's values put into bins of ``span``."""

    field: str
    span: float
    time: bool  # span given in time units: the bin is its start (epoch); else "lo-hi" text
    alias: str | None
    pos: int


@dataclass(frozen=True)
class Rex:
    field: str
    pattern: str  # a PCRE regular expression (spl.pcre; named groups become fields)
    max_match: int  # 0 = unlimited
    sed: tuple[str, str, int] | None  # (pattern, replacement, count: 0 = all) for mode=sed
    pos: int


@dataclass(frozen=True)
class Fillnull:
    value: str
    fields: tuple[str, ...]  # empty: every field of the results
    pos: int


@dataclass(frozen=True)
class Spath:
    input: str
    output: str | None
    path: str | None  # None: extract every field
    pos: int


@dataclass(frozen=True)
class Foreach:
    patterns: tuple[str, ...]
    template: str  # the bracketed commands, with <<FIELD>> and <<MATCHSTR>>
    template_pos: int
    pos: int


@dataclass(frozen=True)
class Regex:
    field: str
    negate: bool
    pattern: str  # a PCRE regular expression (spl.pcre)
    pos: int


@dataclass(frozen=True)
class Mvexpand:
    field: str
    limit: int  # 0 = all values
    pos: int


@dataclass(frozen=True)
class Makemv:
    field: str
    delim: str | None
    tokenizer: str | None  # a Python regular expression; its first group (or match) is a value
    allow_empty: bool
    pos: int


@dataclass(frozen=True)
class Eventstats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Join:
    fields: tuple[str, ...]
    type: str  # inner or left (outer is a synonym of left)
    max: int  # matches per row; 0 = all
    subsearch: "Pipeline"
    pos: int


@dataclass(frozen=True)
class Xmlkv:
    field: str
    pos: int


@dataclass(frozen=True)
class Fromjson:
    field: str
    prefix: str
    pos: int


@dataclass(frozen=True)
class Addtotals:
    fields: tuple[str, ...]  # may hold wildcards; empty: every numeric field
    fieldname: str
    pos: int


@dataclass(frozen=True)
class Replace:
    pairs: tuple[tuple[str, str], ...]  # (old, new); * wildcards
    fields: tuple[str, ...]  # empty: every field
    pos: int


Command = Union[Tstats, Search, Where, Eval, Rename, Convert, Stats, Table, Fields, Dedup, Sort, Head,
                Bin, Rex, Fillnull, Spath, Foreach, Regex, Mvexpand, Makemv, Eventstats, Join,
                Xmlkv, Fromjson, Addtotals, Replace]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
