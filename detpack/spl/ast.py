"""The syntax tree of a parsed SPL pipeline: frozen records (``errors.record``).

Three families: search expressions (``search`` and ``tstats ... where``, matched
case-insensitively with wildcards), eval expressions (``eval`` and ``where``,
typed and case-sensitive) and commands. ``pos`` is the offset in the expanded
search.
"""
from __future__ import annotations

from ..errors import record


# --- search expressions -------------------------------------------------------


@record
class Compare:
    """``field OP value``; OP is one of = != < > <= >=."""

    field: str
    op: str
    value: str
    pos: int
    case_sensitive: bool = False  # field=CASE(value)


@record
class InList:
    """``field IN (v1, v2, ...)``."""

    field: str
    values: tuple[str, ...]
    pos: int


@record
class MatchAll:
    """A bare ``*``."""

    pos: int


@record
class And:
    items: tuple["SearchExpr", ...]


@record
class Or:
    items: tuple["SearchExpr", ...]


@record
class Not:
    item: "SearchExpr"


@record
class Term:
    """A free-text term or quoted phrase, matched against ``_raw``; ``directive`` is
    ``CASE`` (case-sensitive) or ``TERM`` (one whole indexed term) when written so."""

    value: str
    pos: int
    directive: str = ""


SearchExpr = Compare | InList | MatchAll | Term | And | Or | Not

# --- eval expressions ---------------------------------------------------------


@record
class Literal:
    value: str | int | float | None


@record
class FieldRef:
    name: str


@record
class BinOp:
    """Arithmetic (+ - * / %), concatenation (.), comparison, AND/OR/XOR, LIKE."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: int


@record
class UnaryOp:
    op: str  # NOT or -
    operand: "Expr"
    pos: int


@record
class Call:
    name: str  # lower-cased
    args: tuple["Expr", ...]
    pos: int


@record
class InExpr:
    operand: "Expr"
    items: tuple["Expr", ...]
    pos: int


Expr = Literal | FieldRef | BinOp | UnaryOp | Call | InExpr

# --- commands -----------------------------------------------------------------


@record
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


@record
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


@record
class Search:
    expr: SearchExpr
    pos: int


@record
class Where:
    expr: Expr
    pos: int


@record
class Eval:
    assignments: tuple[tuple[str, Expr], ...]
    pos: int


@record
class Rename:
    pairs: tuple[tuple[str, str], ...]  # (old, new); may contain * wildcards
    pos: int


@record
class Conversion:
    func: str  # ctime
    field: str
    alias: str | None


@record
class Convert:
    timeformat: str
    conversions: tuple[Conversion, ...]
    pos: int


@record
class Stats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@record
class Table:
    fields: tuple[str, ...]
    pos: int


@record
class Fields:
    fields: tuple[str, ...]
    remove: bool
    pos: int


@record
class Dedup:
    fields: tuple[str, ...]
    pos: int


@record
class SortKey:
    field: str
    descending: bool


@record
class Sort:
    keys: tuple[SortKey, ...]
    limit: int  # 0 = no limit
    pos: int
    reverse: bool = False  # a final d/desc


@record
class Head:
    count: int
    pos: int


@record
class Bin:
    """``bin``/``bucket``: the field's values put into bins of ``span``."""

    field: str
    span: float
    time: bool  # span given in time units: the bin is its start (epoch); else "lo-hi" text
    alias: str | None
    pos: int


@record
class Rex:
    field: str
    pattern: str  # a PCRE regular expression (spl.pcre; named groups become fields)
    max_match: int  # 0 = unlimited
    sed: tuple[str, str, int] | None  # (pattern, replacement, count: 0 = all) for mode=sed
    pos: int


@record
class Fillnull:
    value: str
    fields: tuple[str, ...]  # empty: every field of the results
    pos: int


@record
class Spath:
    input: str
    output: str | None
    path: str | None  # None: extract every field
    pos: int


@record
class Foreach:
    patterns: tuple[str, ...]
    template: str  # the bracketed commands, with <<FIELD>> and <<MATCHSTR>>
    template_pos: int
    pos: int


@record
class Regex:
    field: str
    negate: bool
    pattern: str  # a PCRE regular expression (spl.pcre)
    pos: int


@record
class Mvexpand:
    field: str
    limit: int  # 0 = all values
    pos: int


@record
class Makemv:
    field: str
    delim: str | None
    tokenizer: str | None  # a Python regular expression; its first group (or match) is a value
    allow_empty: bool
    pos: int


@record
class Eventstats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@record
class Join:
    fields: tuple[str, ...]
    type: str  # inner or left (outer is a synonym of left)
    max: int  # matches per row; 0 = all
    subsearch: "Pipeline"
    pos: int


@record
class Xmlkv:
    field: str
    pos: int


@record
class Fromjson:
    field: str
    prefix: str
    pos: int


@record
class Addtotals:
    fields: tuple[str, ...]  # may hold wildcards; empty: every numeric field
    fieldname: str
    pos: int


@record
class Replace:
    pairs: tuple[tuple[str, str], ...]  # (old, new); * wildcards
    fields: tuple[str, ...]  # empty: every field
    pos: int


Command = (Tstats | Search | Where | Eval | Rename | Convert | Stats | Table | Fields | Dedup | Sort | Head
           | Bin | Rex | Fillnull | Spath | Foreach | Regex | Mvexpand | Makemv | Eventstats | Join
           | Xmlkv | Fromjson | Addtotals | Replace)


@record
class Pipeline:
    commands: tuple[Command, ...]
