"""Compile AST nodes into Python closures and run them over rows with Splunk semantics.

Rows are dicts field → value (``str``, number, or list for multivalue); a
missing key is null. Every command becomes a stage ``Iterator[row] -> Iterator[row]``;
only ``stats``/``tstats`` (one state per group) and ``sort``/``dedup`` hold more
than one row.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice, product

from . import ast
from .errors import SplError
from .functions import FUNCTIONS, like, to_number, to_text, values_of
from .timefmt import compile_format

Row = dict
Stage = Callable[[Iterator[Row]], Iterator[Row]]
Resolve = Callable[[str], str | None]


def identity(name: str) -> str:
    return name


# --- search expressions: case-insensitive, wildcards, null never matches ---------


# The one case-insensitive form, for search matching and the planner's raw-text
# prefilter alike. Unlike lower() (final sigma), casefold maps each character on
# its own, so a value that is a substring of _raw stays one after folding both.
fold = str.casefold


def value_matcher(pattern: str) -> Callable[[str], bool]:
    """Case-insensitive equality with ``*`` wildcards, on one string."""
    folded = fold(pattern)
    if "*" not in folded:
        return lambda s: fold(s) == folded
    compiled = wildcard_regex(folded)
    return lambda s: compiled.match(fold(s)) is not None


def wildcard_regex(pattern: str) -> re.Pattern:
    """``*`` matches any run of characters (one group each, for rename); the rest is literal."""
    return re.compile("(.*)".join(re.escape(p) for p in pattern.split("*")) + r"\Z", re.DOTALL)


def field_equals(field: str, pattern: str) -> Callable[[Row], bool]:
    match = value_matcher(pattern)

    def test(row: Row) -> bool:
        v = row.get(field)
        if v.__class__ is str:
            return match(v)
        if v is None:
            return False
        return any(match(to_text(x)) for x in values_of(v))

    return test


ORDER_OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


def ordered(a, b, op: str) -> bool:
    """Numeric comparison when both sides are numbers, else by text."""
    na, nb = to_number(a), to_number(b)
    if na is not None and nb is not None:
        return ORDER_OPS[op](na, nb)
    return ORDER_OPS[op](to_text(a), to_text(b))


def compile_search(expr: ast.SearchExpr, resolve: Resolve = identity) -> Callable[[Row], bool]:
    if isinstance(expr, ast.MatchAll):
        return lambda row: True
    if isinstance(expr, ast.And):
        tests = [compile_search(item, resolve) for item in expr.items]
        return lambda row: all(t(row) for t in tests)
    if isinstance(expr, ast.Or):
        tests = [compile_search(item, resolve) for item in expr.items]
        return lambda row: any(t(row) for t in tests)
    if isinstance(expr, ast.Not):
        inner = compile_search(expr.item, resolve)
        return lambda row: not inner(row)
    if isinstance(expr, ast.InList):
        tests = [compile_compare(ast.Compare(expr.field, "=", v, expr.pos), resolve) for v in expr.values]
        return lambda row: any(t(row) for t in tests)
    return compile_compare(expr, resolve)


def compile_compare(expr: ast.Compare, resolve: Resolve) -> Callable[[Row], bool]:
    field = resolve(expr.field)
    if field is None:  # a field the data set cannot have: always null
        return lambda row: False
    if expr.op == "=":
        return field_equals(field, expr.value)
    if expr.op == "!=":
        equals = field_equals(field, expr.value)
        return lambda row: row.get(field) is not None and not equals(row)
    op, value = expr.op, expr.value
    return lambda row: any(ordered(v, value, op) for v in values_of(row.get(field)))


# --- eval expressions ------------------------------------------------------------


def compile_expr(expr: ast.Expr) -> Callable[[Row], object]:
    if isinstance(expr, ast.Literal):
        value = expr.value
        return lambda row: value
    if isinstance(expr, ast.FieldRef):
        name = expr.name
        return lambda row: row.get(name)
    if isinstance(expr, ast.Call):
        return compile_call(expr)
    if isinstance(expr, ast.UnaryOp):
        inner = compile_expr(expr.operand)
        apply = logical_not if expr.op == "NOT" else negate
        return lambda row: apply(inner(row))
    if isinstance(expr, ast.InExpr):
        operand = compile_expr(expr.operand)
        items = [compile_expr(i) for i in expr.items]
        return lambda row: any_of(equals(operand(row), item(row)) for item in items)
    left, right, apply = compile_expr(expr.left), compile_expr(expr.right), BINARY[expr.op]
    return lambda row: apply(left(row), right(row))


def compile_call(expr: ast.Call) -> Callable[[Row], object]:
    entry = FUNCTIONS.get(expr.name)
    if entry is None:
        raise SplError(f"unsupported eval function '{expr.name}'", expr.pos)
    fn, least, most = entry
    if not least <= len(expr.args) <= most:
        raise SplError(f"{expr.name}() takes {least}..{most} arguments, got {len(expr.args)}", expr.pos)
    if expr.name == "case" and len(expr.args) % 2:
        raise SplError("case() needs condition/value pairs", expr.pos)
    args = [compile_expr(a) for a in expr.args]
    return lambda row: fn(*(a(row) for a in args))


def logical_not(v):
    return None if v is None else not (v is True)


def negate(v):
    n = to_number(v)
    return None if n is None else -n


def any_of(results: Iterable) -> bool | None:
    saw_null = False
    for r in results:
        if r is True:
            return True
        saw_null = saw_null or r is None
    return None if saw_null else False


def equals(a, b):
    """eval's ``=``: numeric when both are numbers, else case-sensitive text."""
    if a is None or b is None:
        return None
    if isinstance(a, list):
        return any_of(equals(x, b) for x in a)
    na, nb = to_number(a), to_number(b)
    if na is not None and nb is not None:
        return na == nb
    return to_text(a) == to_text(b)


def compare(op: str) -> Callable:
    def apply(a, b):
        if a is None or b is None:
            return None
        return any(ordered(x, b, op) for x in values_of(a))

    return apply


def logical_and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else a is True and b is True


def logical_or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def logical_xor(a, b):
    return None if a is None or b is None else (a is True) != (b is True)


def arithmetic(fn: Callable) -> Callable:
    def apply(a, b):
        na, nb = to_number(a), to_number(b)
        if na is None or nb is None:
            return None
        try:
            return fn(na, nb)
        except ZeroDivisionError:
            return None

    return apply


def plus(a, b):
    """Numbers add; two strings concatenate."""
    na, nb = to_number(a), to_number(b)
    if na is not None and nb is not None:
        return na + nb
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return None


def concat(a, b):
    return None if a is None or b is None else to_text(a) + to_text(b)


BINARY: dict[str, Callable] = {
    "=": equals,
    "!=": lambda a, b: logical_not(equals(a, b)),
    "<": compare("<"),
    ">": compare(">"),
    "<=": compare("<="),
    ">=": compare(">="),
    "AND": logical_and,
    "OR": logical_or,
    "XOR": logical_xor,
    "LIKE": like,
    "+": plus,
    "-": arithmetic(operator.sub),
    "*": arithmetic(operator.mul),
    "/": arithmetic(operator.truediv),
    "%": arithmetic(operator.mod),
    ".": concat,
}


# --- aggregations -------------------------------------------------------------------


class Aggregate:
    """One aggregation's state within one group."""

    def __init__(self, func: str):
        self.func = func
        self.count = 0
        self.seen: set[str] = set()
        self.best = None

    def add(self, value) -> None:
        if self.func == "count":
            self.count += 1 if value is _ROW else len(values_of(value))
            return
        for v in values_of(value):
            if self.func in ("dc", "values"):
                self.seen.add(to_text(v))
            else:
                self.best = pick(self.best, v, self.func)

    def result(self):
        if self.func == "count":
            return self.count
        if self.func == "dc":
            return len(self.seen)
        if self.func == "values":
            ordered_values = sorted(self.seen)
            return ordered_values[0] if len(ordered_values) == 1 else ordered_values or None
        return self.best


_ROW = object()  # what a bare ``count`` adds per row


def pick(best, value, func: str):
    """min/max: numbers beat strings; strings compare as text."""
    if best is None:
        n = to_number(value)
        return value if n is None else n
    n, nb = to_number(value), to_number(best)
    if n is not None and nb is not None:
        return n if (n < nb if func == "min" else n > nb) else best
    if nb is not None:
        return best
    if n is not None:
        return n
    text = to_text(value)
    return text if (text < best if func == "min" else text > best) else best


def aggregation_input(aggregation: ast.Aggregation, resolve: Resolve) -> Callable[[Row], object]:
    """What one row adds to an aggregation: the marker for a bare ``count``, else the
    field's value (always null for a field the data set cannot have)."""
    if aggregation.field is None:
        return lambda row: _ROW
    field = resolve(aggregation.field)
    if field is None:
        return lambda row: None
    return lambda row: row.get(field)


def group_keys(row: Row, by_fields: list[str | None], fill: str | None) -> list[tuple]:
    """The BY key(s) of a row: multivalue fields split into one key per value; a
    null value drops the row unless ``fill`` replaces it."""
    columns = []
    for field in by_fields:
        values = [to_text(v) for v in values_of(row.get(field) if field else None)]
        values = [v for v in values if v != ""]
        if not values:
            if fill is None:
                return []
            values = [fill]
        columns.append(values)
    return list(product(*columns))


def aggregate_stage(aggregations: tuple[ast.Aggregation, ...], by: tuple[str, ...],
                    resolve: Resolve = identity, fill: str | None = None) -> Stage:
    by_fields = [resolve(f) for f in by]
    inputs = [aggregation_input(a, resolve) for a in aggregations]
    funcs = [a.func for a in aggregations]
    names = [a.name for a in aggregations]

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        groups: dict[tuple, list[Aggregate]] = {}
        if not by:
            groups[()] = [Aggregate(f) for f in funcs]
        for row in rows:
            for key in group_keys(row, by_fields, fill):
                state = groups.get(key)
                if state is None:
                    state = groups[key] = [Aggregate(f) for f in funcs]
                for agg, value_of in zip(state, inputs):
                    agg.add(value_of(row))
        for key in sorted(groups):  # by BY values as text; an unverified choice (spl/__init__.py)
            out = dict(zip(by, key))
            for name, agg in zip(names, groups[key]):
                value = agg.result()
                if value is not None:
                    out[name] = value
            yield out

    return run


# --- row commands --------------------------------------------------------------------


def filter_stage(test: Callable[[Row], object]) -> Stage:
    return lambda rows: (row for row in rows if test(row) is True)


def eval_stage(command: ast.Eval) -> Stage:
    assignments = [(name, compile_expr(expr)) for name, expr in command.assignments]

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            row = dict(row)
            for name, fn in assignments:
                value = fn(row)
                if isinstance(value, bool):
                    raise SplError(f"eval: the result for '{name}' is a boolean, not a value", command.pos)
                if value is None:
                    row.pop(name, None)
                else:
                    row[name] = value
            yield row

    return run


def renamer(old: str, new: str) -> Callable[[str], str | None]:
    """Field name → its new name, or None when ``old`` does not match it."""
    if "*" not in old:
        return lambda name: new if name == old else None
    compiled, pieces = wildcard_regex(old), new.split("*")

    def rename(name: str) -> str | None:
        m = compiled.match(name)
        if not m:
            return None
        return pieces[0] + "".join(g + p for g, p in zip(m.groups(), pieces[1:]))

    return rename


def rename_stage(command: ast.Rename) -> Stage:
    renames = [renamer(old, new) for old, new in command.pairs]

    def rename_row(row: Row) -> Row:
        for rename in renames:
            targets = {k: n for k in row if (n := rename(k)) is not None and n != k}
            if not targets:
                continue
            overwritten = set(targets.values()) - targets.keys()
            row = {targets.get(k, k): v for k, v in row.items() if k not in overwritten}
        return row

    return lambda rows: (rename_row(row) for row in rows)


def convert_stage(command: ast.Convert) -> Stage:
    render = compile_format(command.timeformat, command.pos)

    def ctime(value):
        if isinstance(value, list):
            return [ctime(v) for v in value]
        n = to_number(value)
        return value if n is None else render(n)

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            row = dict(row)
            for conversion in command.conversions:
                if row.get(conversion.field) is not None:
                    row[conversion.alias or conversion.field] = ctime(row[conversion.field])
            yield row

    return run


def field_selector(patterns: tuple[str, ...]) -> Callable[[Row], list[str]]:
    """The row's fields matching ``patterns``, in pattern order."""
    compiled = [wildcard_regex(p) if "*" in p else p for p in patterns]

    def select(row: Row) -> list[str]:
        names: list[str] = []
        for p in compiled:
            if isinstance(p, str):
                matched = [p] if p in row else []
            else:
                matched = [k for k in row if p.match(k)]
            names.extend(n for n in matched if n not in names)
        return names

    return select


def table_stage(command: ast.Table | ast.Fields) -> Stage:
    select = field_selector(command.fields)
    if isinstance(command, ast.Fields) and command.remove:
        def keep_rest(row: Row) -> Row:
            dropped = set(select(row))
            return {k: v for k, v in row.items() if k not in dropped}

        return lambda rows: (keep_rest(row) for row in rows)
    return lambda rows: ({k: row[k] for k in select(row)} for row in rows)


def dedup_stage(command: ast.Dedup) -> Stage:
    """Keeps the first row per value combination; rows lacking a field are dropped."""
    fields = command.fields

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        seen: set[tuple] = set()
        for row in rows:
            values = [row.get(f) for f in fields]
            if any(v is None for v in values):
                continue
            key = tuple(tuple(v) if isinstance(v, list) else to_text(v) for v in values)
            if key not in seen:
                seen.add(key)
                yield row

    return run


def sort_key(value) -> tuple:
    """Numbers first (numerically), then text; nulls last."""
    if value is None:
        return (2, 0, "")
    first = value[0] if isinstance(value, list) else value
    n = to_number(first)
    return (0, n, "") if n is not None else (1, 0, to_text(first))


def sort_stage(command: ast.Sort) -> Stage:
    def run(rows: Iterator[Row]) -> Iterator[Row]:
        collected = list(rows)
        for key in reversed(command.keys):  # stable sorts, last key first
            nulls = [r for r in collected if r.get(key.field) is None]
            present = [r for r in collected if r.get(key.field) is not None]
            present.sort(key=lambda r: sort_key(r.get(key.field)), reverse=key.descending)
            collected = present + nulls
        return iter(collected[: command.limit] if command.limit else collected)

    return run


def head_stage(command: ast.Head) -> Stage:
    return lambda rows: islice(rows, command.count)


def command_stage(command: ast.Command) -> Stage:
    """The stage of any non-generating command."""
    if isinstance(command, ast.Search):
        return filter_stage(compile_search(command.expr))
    if isinstance(command, ast.Where):
        return filter_stage(compile_expr(command.expr))
    if isinstance(command, ast.Stats):
        return aggregate_stage(command.aggregations, command.by)
    builders = {
        ast.Eval: eval_stage,
        ast.Rename: rename_stage,
        ast.Convert: convert_stage,
        ast.Table: table_stage,
        ast.Fields: table_stage,
        ast.Dedup: dedup_stage,
        ast.Sort: sort_stage,
        ast.Head: head_stage,
    }
    builder = builders.get(type(command))
    if builder is None:
        raise SplError(f"'{type(command).__name__.lower()}' must be the first command", command.pos)
    return builder(command)


# --- output ------------------------------------------------------------------------------


def output_value(value) -> str | list[str]:
    if isinstance(value, list):
        return [to_text(v) for v in value]
    return to_text(value)


def output_rows(rows: Iterable[Row]) -> tuple[list[dict[str, str | list[str]]], list[str]]:
    """Rows as Splunk returns them (strings; lists for multivalue) and the columns in
    the order fields first appear."""
    result, columns, known = [], [], set()
    for row in rows:
        result.append({k: output_value(v) for k, v in row.items()})
        for k in row:
            if k not in known:
                known.add(k)
                columns.append(k)
    return result, columns


__all__ = ["compile_search", "compile_expr", "command_stage", "aggregate_stage", "output_rows"]
