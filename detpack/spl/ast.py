"""The syntax tree of a parsed SPL pipeline: plain frozen records (``node``).

Three families: search expressions (``search`` and ``tstats ... where``, matched
case-insensitively with wildcards), eval expressions (``eval`` and ``where``,
typed and case-sensitive) and commands. ``pos`` is the offset in the expanded
search.
"""
from __future__ import annotations

from typing import Union


class FrozenNode(AttributeError):
    """A node's field was assigned: nodes do not change once parsed."""


def node(cls: type) -> type:
    """A frozen record, as ``dataclasses.dataclass(frozen=True)`` makes one (fields from the
    annotations, class attributes as defaults, equality and hashing by type and fields), but
    without generating code per class: as dataclasses, the node types below were most of the
    engine's import time, which every command that parses SPL pays."""
    names = tuple(cls.__annotations__)
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}

    def __init__(self, *args, **kwargs):
        if not kwargs and len(args) == len(names):  # how the parser makes most nodes: the cheap way
            self.__dict__.update(zip(names, args))
            return
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes {len(names)} fields, {len(args)} given")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{cls.__name__}: unexpected or repeated field '{name}'")
            values[name] = value
        for name in names:
            value = values[name] if name in values else defaults.get(name, _MISSING)
            if value is _MISSING:
                raise TypeError(f"{cls.__name__}: missing field '{name}'")
            object.__setattr__(self, name, value)

    def fields_of(self) -> tuple:
        return tuple(getattr(self, name) for name in names)

    def __eq__(self, other):
        return fields_of(self) == fields_of(other) if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self):
        return hash(fields_of(self))

    def __repr__(self):
        return f"{cls.__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def __setattr__(self, name, value):
        raise FrozenNode(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise FrozenNode(f"cannot delete field '{name}'")

    for name in defaults:
        delattr(cls, name)
    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        setattr(cls, method.__name__, method)
    cls.__match_args__ = names
    return cls


_MISSING = object()

# --- search expressions -------------------------------------------------------


@node
class Compare:
    """``field OP value``; OP is one of = != < > <= >=."""

    field: str
    op: str
    value: str
    pos: int
    case_sensitive: bool = False  # field=CASE(value)


@node
class InList:
    """``field IN (v1, v2, ...)``."""

    field: str
    values: tuple[str, ...]
    pos: int


@node
class MatchAll:
    """A bare ``*``."""

    pos: int


@node
class And:
    items: tuple["SearchExpr", ...]


@node
class Or:
    items: tuple["SearchExpr", ...]


@node
class Not:
    item: "SearchExpr"


@node
class Term:
    """A free-text term or quoted phrase, matched against ``_raw``; ``directive`` is
    ``CASE`` (case-sensitive) or ``TERM`` (one whole indexed term) when written so."""

    value: str
    pos: int
    directive: str = ""


SearchExpr = Union[Compare, InList, MatchAll, Term, And, Or, Not]

# --- eval expressions ---------------------------------------------------------


@node
class Literal:
    value: str | int | float | None


@node
class FieldRef:
    name: str


@node
class BinOp:
    """Arithmetic (+ - * / %), concatenation (.), comparison, AND/OR/XOR, LIKE."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: int


@node
class UnaryOp:
    op: str  # NOT or -
    operand: "Expr"
    pos: int


@node
class Call:
    name: str  # lower-cased
    args: tuple["Expr", ...]
    pos: int


@node
class InExpr:
    operand: "Expr"
    items: tuple["Expr", ...]
    pos: int


Expr = Union[Literal, FieldRef, BinOp, UnaryOp, Call, InExpr]

# --- commands -----------------------------------------------------------------


@node
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


@node
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


@node
class Search:
    expr: SearchExpr
    pos: int


@node
class Where:
    expr: Expr
    pos: int


@node
class Eval:
    assignments: tuple[tuple[str, Expr], ...]
    pos: int


@node
class Rename:
    pairs: tuple[tuple[str, str], ...]  # (old, new); may contain * wildcards
    pos: int


@node
class Conversion:
    func: str  # ctime
    field: str
    alias: str | None


@node
class Convert:
    timeformat: str
    conversions: tuple[Conversion, ...]
    pos: int


@node
class Stats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@node
class Table:
    fields: tuple[str, ...]
    pos: int


@node
class Fields:
    fields: tuple[str, ...]
    remove: bool
    pos: int


@node
class Dedup:
    fields: tuple[str, ...]
    pos: int


@node
class SortKey:
    field: str
    descending: bool


@node
class Sort:
    keys: tuple[SortKey, ...]
    limit: int  # 0 = no limit
    pos: int
    reverse: bool = False  # a final d/desc


@node
class Head:
    count: int
    pos: int


@node
class Bin:
    """``bin``/``bucket``: the field's values put into bins of ``span``."""

    field: str
    span: float
    time: bool  # span given in time units: the bin is its start (epoch); else "lo-hi" text
    alias: str | None
    pos: int


@node
class Rex:
    field: str
    pattern: str  # a PCRE regular expression (spl.pcre; named groups become fields)
    max_match: int  # 0 = unlimited
    sed: tuple[str, str, int] | None  # (pattern, replacement, count: 0 = all) for mode=sed
    pos: int


@node
class Fillnull:
    value: str
    fields: tuple[str, ...]  # empty: every field of the results
    pos: int


@node
class Spath:
    input: str
    output: str | None
    path: str | None  # None: extract every field
    pos: int


@node
class Foreach:
    patterns: tuple[str, ...]
    template: str  # the bracketed commands, with <<FIELD>> and <<MATCHSTR>>
    template_pos: int
    pos: int


@node
class Regex:
    field: str
    negate: bool
    pattern: str  # a PCRE regular expression (spl.pcre)
    pos: int


@node
class Mvexpand:
    field: str
    limit: int  # 0 = all values
    pos: int


@node
class Makemv:
    field: str
    delim: str | None
    tokenizer: str | None  # a Python regular expression; its first group (or match) is a value
    allow_empty: bool
    pos: int


@node
class Eventstats:
    aggregations: tuple[Aggregation, ...]
    by: tuple[str, ...]
    pos: int


@node
class Join:
    fields: tuple[str, ...]
    type: str  # inner or left (outer is a synonym of left)
    max: int  # matches per row; 0 = all
    subsearch: "Pipeline"
    pos: int


@node
class Xmlkv:
    field: str
    pos: int


@node
class Fromjson:
    field: str
    prefix: str
    pos: int


@node
class Addtotals:
    fields: tuple[str, ...]  # may hold wildcards; empty: every numeric field
    fieldname: str
    pos: int


@node
class Replace:
    pairs: tuple[tuple[str, str], ...]  # (old, new); * wildcards
    fields: tuple[str, ...]  # empty: every field
    pos: int


Command = Union[Tstats, Search, Where, Eval, Rename, Convert, Stats, Table, Fields, Dedup, Sort, Head,
                Bin, Rex, Fillnull, Spath, Foreach, Regex, Mvexpand, Makemv, Eventstats, Join,
                Xmlkv, Fromjson, Addtotals, Replace]


@node
class Pipeline:
    commands: tuple[Command, ...]
