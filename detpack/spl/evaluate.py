"""Compile AST nodes into Python closures and run them over rows with Splunk semantics.

Rows are dicts field → value (``str``, number, or list for multivalue); a
missing key is null. Every command becomes a stage ``Iterator[row] -> Iterator[row]``;
only ``stats``/``tstats`` (one state per group) and ``sort``/``dedup`` hold more
than one row.
"""
from __future__ import annotations

import decimal
import json
import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice, product

from . import ast
from .errors import SplError
from .functions import FUNCTIONS, LAZY, like, regex, to_number, to_text, values_of
from .number import MAX_INT_DIGITS
from .parse import MAJOR_BREAKERS, parse_pipeline
from .timefmt import compile_format, compile_parser

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
    """Case-insensitive equality with ``*`` wildcards, on one string. The common shapes
    (``x``, ``*x*``, ``x*``, ``*x``) need no regular expression; others compile theirs
    when first used, so planning many searches stays cheap."""
    folded = fold(pattern)
    stars = folded.count("*")
    inner = folded.strip("*")
    if stars == 0:
        return lambda s: fold(s) == folded
    if "*" not in inner:
        if folded.startswith("*") and folded.endswith("*"):
            return lambda s: inner in fold(s)
        if folded.endswith("*") and stars == 1:
            return lambda s: fold(s).startswith(inner)
        if folded.startswith("*") and stars == 1:
            return lambda s: fold(s).endswith(inner)
    pieces = folded.split("*")
    return lambda s: glob_captures(pieces, fold(s)) is not None


def glob_captures(pieces: list[str], text: str) -> list[str] | None:
    """What each ``*`` between ``pieces`` takes for ``text`` to match the whole pattern, or
    None. Each earlier star takes as much as it can (what a greedy ``(.*)`` regex would
    give): the middle pieces are placed from the right, each at its last occurrence, which
    costs one scan of the text per piece however many stars there are (a backtracking
    regex costs O(n^stars) on a value that almost matches)."""
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return [] if text == first else None
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return None
    low, high = len(first), len(text) - len(last)
    ends = [high]  # where each star ends, from the last star back
    for piece in reversed(pieces[1:-1]):
        at = text.rfind(piece, low, high)
        if at < 0:
            return None
        ends.append(at)
        high = at
    starts = [len(first)] + [end + len(piece) for end, piece in zip(reversed(ends[1:]), pieces[1:-1])]
    return [text[start:end] for start, end in zip(starts, reversed(ends))]


def wildcard_regex(pattern: str) -> re.Pattern:
    """``*`` matches any run of characters (one group each, for rename); the rest is literal."""
    return re.compile("(.*)".join(re.escape(p) for p in pattern.split("*")) + r"\Z", re.DOTALL)


def field_equals(field: str, pattern: str, case_sensitive: bool = False) -> Callable[[Row], bool]:
    if case_sensitive:
        pieces = pattern.split("*")
        match = lambda s: glob_captures(pieces, s) is not None  # noqa: E731
    else:
        match = value_matcher(pattern)

    def test(row: Row) -> bool:
        v = row.get(field)
        if v.__class__ is str:
            return match(v)
        if v is None:
            return False
        for x in values_of(v):
            if match(x if x.__class__ is str else to_text(x)):
                return True
        return False

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
        return all_tests([compile_search(item, resolve) for item in expr.items])
    if isinstance(expr, ast.Or):
        return any_test([compile_search(item, resolve) for item in expr.items])
    if isinstance(expr, ast.Not):
        inner = compile_search(expr.item, resolve)
        return lambda row: not inner(row)
    if isinstance(expr, ast.InList):
        return any_test([compile_compare(ast.Compare(expr.field, "=", v, expr.pos), resolve) for v in expr.values])
    if isinstance(expr, ast.Term):
        return compile_term(expr, resolve)
    return compile_compare(expr, resolve)


def all_tests(tests: list[Callable[[Row], bool]]) -> Callable[[Row], bool]:
    def test(row: Row) -> bool:
        for t in tests:
            if not t(row):
                return False
        return True

    return test


def any_test(tests: list[Callable[[Row], bool]]) -> Callable[[Row], bool]:
    def test(row: Row) -> bool:
        for t in tests:
            if t(row):
                return True
        return False

    return test


def compile_term(term: ast.Term, resolve: Resolve) -> Callable[[Row], bool]:
    """A free-text term or phrase: found in ``_raw`` case-insensitively, not inside a
    longer word (Search Manual, "Event segmentation and searching": the index holds the
    segments between breakers, and ``_`` is a minor breaker). *Unverified* approximation:
    a breaker here is any character other than a letter or digit; ``*`` matches any run."""
    field = resolve("_raw")
    folding = fold if term.directive != "CASE" else (lambda text: text)
    pieces = [re.escape(p) for p in folding(term.value).split("*")]
    if term.directive == "TERM":  # one whole term: bounded by major breakers (parse.MAJOR_BREAKERS)
        major = re.escape("".join(sorted(MAJOR_BREAKERS)))
        body = f"[^{major}]*?".join(pieces)
        compiled = re.compile(f"(?:^|(?<=[{major}])){body}(?=[{major}]|$)")
    elif "*" in term.value:
        found = term_finder(folding(term.value).split("*"), term.value[:1].isalnum(), term.value[-1:].isalnum())
        if field is None:
            return lambda row: False
        return lambda row: any(found(folding(to_text(v))) for v in values_of(row.get(field)))
    else:
        start = r"(?<![^\W_])" if term.value[:1].isalnum() else ""
        end = r"(?![^\W_])" if term.value[-1:].isalnum() else ""
        compiled = re.compile(start + "".join(pieces) + end, re.DOTALL)
    if field is None:
        return lambda row: False
    return lambda row: any(compiled.search(folding(to_text(v))) for v in values_of(row.get(field)))


def term_finder(pieces: list[str], bounded_start: bool, bounded_end: bool) -> Callable[[str], bool]:
    """Is there a run of text holding ``pieces`` in order (``*`` between them takes any
    run), starting and ending at a breaker when asked? The earliest start and then the
    earliest place of each piece leave the most room for the rest, so one scan per piece
    decides it (a backtracking regex costs O(n^stars))."""
    first, middle, last = pieces[0], pieces[1:-1], pieces[-1]

    def breaker(text: str, i: int) -> bool:
        return i < 0 or i >= len(text) or not (text[i].isalnum())

    def found(text: str) -> bool:
        at = text.find(first)
        while at >= 0 and bounded_start and first and not breaker(text, at - 1):
            at = text.find(first, at + 1)
        if at < 0:
            return False
        position = at + len(first)
        for piece in middle:
            at = text.find(piece, position)
            if at < 0:
                return False
            position = at + len(piece)
        at = text.find(last, position)
        while at >= 0 and bounded_end and last and not breaker(text, at + len(last)):
            at = text.find(last, at + 1)
        return at >= 0

    return found


def compile_compare(expr: ast.Compare, resolve: Resolve) -> Callable[[Row], bool]:
    field = resolve(expr.field)
    if field is None:  # a field the data set cannot have: always null
        return lambda row: False
    if expr.op == "=":
        return field_equals(field, expr.value, expr.case_sensitive)
    if expr.op == "!=":
        equals = field_equals(field, expr.value, expr.case_sensitive)
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
        if all(is_text(i) for i in expr.items):
            tests = [equals_text(i.value) for i in expr.items]
            return lambda row: any_of(test(value) for value in (operand(row),) for test in tests)
        items = [compile_expr(i) for i in expr.items]
        return lambda row: any_of(equals(operand(row), item(row)) for item in items)
    if expr.op in ("=", "!=") and is_text(expr.right):
        operand, test = compile_expr(expr.left), equals_text(expr.right.value)
        if expr.op == "=":
            return lambda row: test(operand(row))
        return lambda row: logical_not(test(operand(row)))
    return compile_binary(expr)


def is_text(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Literal) and isinstance(expr.value, str)


def equals_text(text: str) -> Callable[[object], bool | None]:
    """``equals(value, text)`` with what it learns from ``text`` learnt once: comparisons with
    a quoted text (``EventCode=="4688"``) are most of what calculated fields compute."""
    digits = text.isdigit() and text.isascii() and len(text) <= MAX_INT_DIGITS
    number = int(text) if digits else None
    numeric = may_be_number(text)

    def test(value):
        if value.__class__ is str:
            if value == text:
                return True
            if digits and value.isdigit() and value.isascii() and len(value) <= MAX_INT_DIGITS:
                return int(value) == number
            if not (numeric and may_be_number(value)):
                return False
        return equals(value, text)

    return test


def compile_binary(expr: ast.BinOp) -> Callable[[Row], object]:
    """A chain of left-associative operators (``a OR b OR c ...``, ``1+1+...``) is nested down
    its left side; it is walked and evaluated with loops, so a chain of any length costs
    no recursion (a right side nests only as deep as the parser allows). ``AND`` after a
    false value and ``OR`` after a true one are decided: their right side is not computed
    (*unverified* that Splunk skips it too; only a run-time error there could tell)."""
    steps = []
    while isinstance(expr, ast.BinOp):
        steps.append((expr.op, expr.right))
        expr = expr.left
    first = compile_expr(expr)
    rest = [(DECIDED.get(op, UNDECIDED), BINARY[op], compile_expr(right)) for op, right in reversed(steps)]
    if len(rest) == 1:
        (decided, apply, right), = rest
        if decided is UNDECIDED:
            return lambda row: apply(first(row), right(row))
        return lambda row: decided if (value := first(row)) is decided else apply(value, right(row))

    def evaluate(row: Row):
        value = first(row)
        for decided, apply, right in rest:
            if value is not decided:
                value = apply(value, right(row))
        return value

    return evaluate


def compile_call(expr: ast.Call) -> Callable[[Row], object]:
    if expr.name in PER_VALUE:
        return compile_per_value(expr)
    if expr.name == "now" and not expr.args:
        started = int(time.time())  # the time the search starts
        return lambda row: started
    entry = FUNCTIONS.get(expr.name)
    if entry is None:
        raise SplError(f"unsupported eval function '{expr.name}'", expr.pos)
    fn, least, most = entry
    if not least <= len(expr.args) <= most:
        raise SplError(f"{expr.name}() takes {least}..{most} arguments, got {len(expr.args)}", expr.pos)
    if expr.name == "case" and len(expr.args) % 2:
        raise SplError("case() needs condition/value pairs", expr.pos)
    check_literal_time_format(expr)
    check_literal_pattern(expr)
    args = [compile_expr(a) for a in expr.args]
    return fn(*args) if expr.name in LAZY else call_with(fn, args)


def call_with(fn: Callable, args: list[Callable[[Row], object]]) -> Callable[[Row], object]:
    """``fn`` of the arguments' values; the usual counts spelled out (no generator per call)."""
    if not args:
        return lambda row: fn()
    if len(args) == 1:
        first, = args
        return lambda row: fn(first(row))
    if len(args) == 2:
        first, second = args
        return lambda row: fn(first(row), second(row))
    if len(args) == 3:
        first, second, third = args
        return lambda row: fn(first(row), second(row), third(row))
    return lambda row: fn(*[a(row) for a in args])


def check_literal_time_format(expr: ast.Call) -> None:
    """strftime()/strptime() with a quoted format: a directive the engine cannot handle
    fails when the search is planned, not when the first event arrives."""
    if expr.name in ("strftime", "strptime") and isinstance(expr.args[1], ast.Literal) \
            and isinstance(expr.args[1].value, str):
        (compile_format if expr.name == "strftime" else compile_parser)(expr.args[1].value, expr.pos)


PATTERN_ARGUMENT = {"match": 1, "replace": 1, "mvfind": 1}  # the argument that is a regular expression


def check_literal_pattern(expr: ast.Call) -> None:
    """match()/replace()/mvfind() with a quoted pattern: one the engine cannot compile fails
    when the search is planned, as rex's does, not when the function first runs (which an
    argument if(), case() or coalesce() does not choose never does). *Unverified* that
    Splunk refuses such a search before it reads events."""
    index = PATTERN_ARGUMENT.get(expr.name)
    if index is not None and is_text(expr.args[index]):
        try:
            regex(expr.args[index].value)
        except SplError as error:
            raise SplError(error.message, expr.pos) from None


PER_VALUE = {"mvfilter": 1, "mvmap": 2}


def compile_per_value(expr: ast.Call) -> Callable[[Row], object]:
    """mvfilter(predicate) keeps the values of the one field the predicate names for which
    it is true; mvmap(field, expression) maps each value of the field (Search Reference,
    "Multivalue eval functions")."""
    if len(expr.args) != PER_VALUE[expr.name]:
        raise SplError(f"{expr.name}() takes {PER_VALUE[expr.name]} argument(s), got {len(expr.args)}", expr.pos)
    body = expr.args[-1]
    if expr.name == "mvmap":
        if not isinstance(expr.args[0], ast.FieldRef):
            raise SplError("mvmap() needs a field as its first argument", expr.pos)
        field = expr.args[0].name
    else:
        names = {n.name for n in walk_expr(body) if isinstance(n, ast.FieldRef)}
        if len(names) != 1:
            raise SplError("mvfilter() must name exactly one field", expr.pos)
        field = names.pop()
    compute = compile_expr(body)

    def apply(row: Row):
        results = []
        for value in values_of(row.get(field)):
            result = compute(row | {field: value})
            if expr.name == "mvfilter":
                if result is True:
                    results.append(value)
            elif result is not None:
                results.extend(values_of(result))
        return None if not results else results[0] if len(results) == 1 else results

    return apply


def walk_expr(expr: ast.Expr) -> Iterator[ast.Expr]:
    yield expr
    children: tuple = ()
    if isinstance(expr, ast.BinOp):
        children = (expr.left, expr.right)
    elif isinstance(expr, ast.UnaryOp):
        children = (expr.operand,)
    elif isinstance(expr, ast.Call):
        children = expr.args
    elif isinstance(expr, ast.InExpr):
        children = (expr.operand, *expr.items)
    for child in children:
        yield from walk_expr(child)


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


def may_be_number(text: str) -> bool:
    """False when ``to_number`` surely finds no number in ``text`` (by its first character)."""
    first = text[:1]
    return first != "" and (first in "+-." or first.isdigit() or first.isspace())


def equals(a, b):
    """eval's ``=``: numeric when both are numbers, else case-sensitive text."""
    if a is None or b is None:
        return None
    if a.__class__ is str and b.__class__ is str:
        if a == b:  # the same text is the same number too
            return True
        if a.isdigit() and b.isdigit() and a.isascii() and b.isascii() and len(a) <= MAX_INT_DIGITS >= len(b):
            return int(a) == int(b)  # what to_number makes of them, without its pattern
        if not (may_be_number(a) and may_be_number(b)):
            return False  # different texts, and not both numbers
    if isinstance(a, list):
        return any_of(equals(x, b) for x in a)
    if isinstance(b, list):
        return any_of(equals(a, x) for x in b)
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


UNDECIDED = object()  # no left value decides the operator
DECIDED = {"AND": False, "OR": True}  # the left value that is the result, whatever the right

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
    """One aggregation's state within one group (Search Reference, "Statistical and
    charting functions"). Slots and no reference to itself: a search may hold one per
    group and function, many thousands."""

    __slots__ = ("func", "count", "seen", "items", "best", "numbers", "when")
    LIST_LIMIT = 100  # list() returns at most 100 values

    def __init__(self, func: str):
        self.func = func
        self.count = 0
        self.seen: set[str] = set()
        self.items: list = []
        self.best = None
        self.numbers: list[int | float] = []
        self.when = None  # earliest/latest: the time of the value kept

    def add(self, value, time=None) -> None:
        adder(self.func)(self, value, time)

    def add_count(self, value, time=None) -> None:
        self.count += 1 if value is _ROW else len(values_of(value))

    def add_distinct(self, value, time=None) -> None:
        for v in values_of(value):
            self.seen.add(to_text(v))

    def add_extreme(self, value, time=None) -> None:
        best = self.best
        if value.__class__ in NUMBER_CLASSES and best.__class__ in NUMBER_CLASSES:
            # two numbers (what min(_time) and max(_time) see): pick's own numeric comparison
            if value < best if self.func == "min" else value > best:
                self.best = value
            return
        for v in values_of(value):
            self.best = pick(self.best, v, self.func)

    def add_numbers(self, value, time=None) -> None:
        self.numbers.extend(n for v in values_of(value) if (n := to_number(v)) is not None)

    def add_list(self, value, time=None) -> None:
        self.items.extend(values_of(value)[: self.LIST_LIMIT - len(self.items)])

    def keep_by_time(self, value, time) -> None:
        """earliest/latest by _time (rows without one count in arrival order); first/last
        by arrival order, which for events is newest first (plan.order_sensitive)."""
        if value is None:
            return
        if self.func in ("first", "last"):
            if self.best is None or self.func == "last":
                self.best = value
            return
        when = to_number(time)
        if self.best is None or (when is not None and (
                self.when is None or (when < self.when if self.func == "earliest" else when >= self.when))):
            self.best, self.when = value, when

    def result(self):
        func = self.func
        if func == "count":
            return self.count
        if func == "dc":
            return len(self.seen)
        if func == "values":
            ordered_values = sorted(self.seen)
            return ordered_values[0] if len(ordered_values) == 1 else ordered_values or None
        if func == "list":
            return self.items[0] if len(self.items) == 1 else self.items or None
        if func in ("sum", "avg", "stdev", "range"):
            return numeric_result(func, self.numbers)
        return self.best


NUMBER_CLASSES = (int, float)  # exactly: not bool


def adder(func: str) -> Callable[[Aggregate, object, object], None]:
    """The Aggregate method adding a row's value for ``func``."""
    return getattr(Aggregate, ADDERS.get(func, "add_extreme"))


def numeric_result(func: str, numbers: list[int | float]):
    if not numbers:
        return None
    if func == "sum":
        return sum(numbers)
    if func == "range":
        return max(numbers) - min(numbers)
    mean = sum(numbers) / len(numbers)
    if func == "avg":
        return mean
    if len(numbers) < 2:  # the sample standard deviation of one value
        return 0
    return math.sqrt(sum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))


_ROW = object()  # what a bare ``count`` adds per row
ADDERS = {
    "count": "add_count", "dc": "add_distinct", "values": "add_distinct", "list": "add_list",
    **dict.fromkeys(("sum", "avg", "stdev", "range"), "add_numbers"),
    **dict.fromkeys(("earliest", "latest", "first", "last"), "keep_by_time"),
}


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
    """What one row adds to an aggregation: the marker for a bare ``count``, the value of
    ``eval(...)`` (true counts as 1, false as null), else the field's value (always null for
    a field the data set cannot have)."""
    if aggregation.expr is not None:
        compute = compile_expr(aggregation.expr)

        def evaluated(row: Row):
            value = compute(row)
            return None if value is False else 1 if value is True else value

        return evaluated
    if aggregation.field is None:
        return lambda row: _ROW
    field = resolve(aggregation.field)
    if field is None:
        return lambda row: None
    return lambda row: row.get(field)


def group_keys(row: Row, by_fields: list[str | None], fill: str | None,
               bins: list[Callable | None] | None = None) -> list[tuple]:
    """The BY key(s) of a row: multivalue fields split into one key per value; a
    null value drops the row unless ``fill`` replaces it; ``bins`` put a value in its bin."""
    if bins is None:  # the common row first: a text or null per field makes one key at most
        key = []
        for field in by_fields:
            v = row.get(field) if field else None
            if v.__class__ is str and v:
                key.append(v)
            elif v is None or v == "":
                if fill is None:
                    return []
                key.append(fill)
            else:  # a multivalue or a number: the general way
                break
        else:
            return [tuple(key)]
    columns = []
    for i, field in enumerate(by_fields):
        values = values_of(row.get(field) if field else None)
        if bins is not None and bins[i] is not None:
            values = [b for v in values if (b := bins[i](v)) is not None]
        values = [text for v in values if (text := to_text(v)) != ""]
        if not values:
            if fill is None:
                return []
            values = [fill]
        columns.append(values)
    return list(product(*columns))


def decimal_text(value: decimal.Decimal) -> str:
    """As Splunk prints a number: digits, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def time_bin(span: float) -> Callable[[object], int | float | None]:
    """The start of the span-long bin holding a time (UTC; epoch-aligned)."""
    def bin_of(value):
        n = to_number(value)
        if n is None:
            return None
        start = math.floor(n / span) * span
        return int(start) if float(start).is_integer() else start
    return bin_of


class Groups:
    """Aggregation state per BY group, for stats, tstats and eventstats.

    Search Reference, stats (https://docs.splunk.com/Documentation/Splunk/9.3.0/SearchReference/Stats):
    ``<stats-func>(<evaled-field> | <wc-field>) [AS <wc-field>]``: a wildcard field aggregates
    each field it matches into its own column, named by the AS pattern (its wildcards take
    the matched text) or ``func(field)``. *Unverified*: a wildcard does not match the BY
    fields, nor internal fields (``_time``...) unless the pattern itself starts with ``_``.
    """

    def __init__(self, aggregations: tuple[ast.Aggregation, ...], by: tuple[str, ...],
                 resolve: Resolve = identity, fill: str | None = None, span: float | None = None):
        fixed = [a for a in aggregations if not is_wildcard(a)]
        self.by = by
        self.by_fields = [resolve(f) for f in by]
        self.bins = [time_bin(span) if f == "_time" else None for f in by] if span else None
        self.inputs = [aggregation_input(a, resolve) for a in fixed]
        self.funcs = [a.func for a in fixed]
        self.adders = [adder(f) for f in self.funcs]
        self.names = [a.name for a in fixed]
        self.wild = [wildcard_aggregation(a, resolve, set(by)) for a in aggregations if is_wildcard(a)]
        self.fill = fill
        self.time_field = resolve("_time")
        self.state: dict[tuple, list[Aggregate]] = {}
        self.wild_state: dict[tuple, dict[str, Aggregate]] = {}

    def new_group(self, key: tuple) -> list[Aggregate]:
        state = self.state[key] = [Aggregate(f) for f in self.funcs]
        if self.wild:
            self.wild_state[key] = {}
        return state

    def add(self, row: Row) -> list[tuple]:
        keys = group_keys(row, self.by_fields, self.fill, self.bins)
        time = row.get(self.time_field) if self.time_field else None
        for key in keys:
            state = self.state.get(key)
            if state is None:
                state = self.new_group(key)
            for agg, add, value_of in zip(state, self.adders, self.inputs):
                add(agg, value_of(row), time)
            if self.wild:
                self.add_wildcards(row, self.wild_state[key], time)
        return keys

    def add_wildcards(self, row: Row, state: dict[str, "Aggregate"], time) -> None:
        for func, column_of in self.wild:
            for field, value in row.items():
                if (column := column_of(field)) is not None:
                    agg = state.get(column)
                    if agg is None:
                        agg = state[column] = Aggregate(func)
                    agg.add(value, time)

    def results(self, key: tuple) -> dict:
        out = {}
        aggregates = [*zip(self.names, self.state[key]), *self.wild_state.get(key, {}).items()]
        for name, agg in aggregates:
            value = agg.result()
            if value is not None:
                out[name] = value
        return out


def is_wildcard(aggregation: ast.Aggregation) -> bool:
    return aggregation.expr is None and aggregation.field is not None and "*" in aggregation.field


def wildcard_aggregation(aggregation: ast.Aggregation, resolve: Resolve, by: set[str]):
    """(func, field name -> its output column or None), the answers remembered per name."""
    if resolve is not identity:
        raise SplError(f"unsupported wildcard field '{aggregation.field}' in tstats", aggregation.pos)
    pattern = aggregation.field
    rename = renamer(pattern, aggregation.alias or f"{aggregation.func}({pattern})")
    internal_too = pattern.startswith("_")
    columns: dict[str, str | None] = {}

    def column_of(field: str) -> str | None:
        if field not in columns:
            skip = field in by or (field.startswith("_") and not internal_too)
            columns[field] = None if skip else rename(field)
        return columns[field]

    return aggregation.func, column_of


def aggregate_stage(aggregations: tuple[ast.Aggregation, ...], by: tuple[str, ...],
                    resolve: Resolve = identity, fill: str | None = None, span: float | None = None) -> Stage:
    groups_of = lambda: Groups(aggregations, by, resolve, fill, span)  # noqa: E731
    groups_of()  # refuses what cannot run at plan time

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        groups = groups_of()
        if not by:
            groups.new_group(())
        for row in rows:
            groups.add(row)
        for key in sorted(groups.state):  # by BY values as text; an unverified choice (spl/__init__.py)
            yield dict(zip(by, key)) | groups.results(key)

    return run


def eventstats_stage(command: ast.Eventstats) -> Stage:
    """Search Reference, eventstats: every result keeps its fields and gains its group's
    statistics (results without the BY fields gain none)."""
    def run(rows: Iterator[Row]) -> Iterator[Row]:
        groups = Groups(command.aggregations, command.by)
        if not command.by:
            groups.new_group(())
        collected = [(row, groups.add(row)) for row in rows]
        for row, keys in collected:
            key = keys[0] if keys else (() if not command.by else None)
            yield row if key is None else row | groups.results(key)

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
    known: dict[str, str | None] = {}  # rows repeat the same names: each is matched once

    def rename(name: str) -> str | None:
        if name in known:
            return known[name]
        m = compiled.match(name)
        renamed = pieces[0] + "".join(g + p for g, p in zip(m.groups(), pieces[1:])) if m else None
        if len(known) < RENAMES_KEPT:
            known[name] = renamed
        return renamed

    return rename


RENAMES_KEPT = 4096  # bounded: field names come from the data


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
    """Search Reference, convert: ``ctime(field)`` renders epoch times; a wildcard field
    converts every matching field (``AS`` names the copies with the same wildcard). A value
    that is not a number, or a time no calendar can show, is left as it is (*unverified*)."""
    render = compile_format(command.timeformat, command.pos)

    def ctime(value):
        if isinstance(value, list):
            return [ctime(v) for v in value]
        n = to_number(value)
        if n is None or not math.isfinite(n):
            return value
        try:
            return render(n)
        except (OverflowError, ValueError, OSError):  # beyond datetime's years 1..9999
            return value

    targets = [conversion_targets(c, command.pos) for c in command.conversions]

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            row = dict(row)
            for target in targets:
                for source, destination in target(row):
                    if row.get(source) is not None:
                        row[destination] = ctime(row[source])
            yield row

    return run


def conversion_targets(conversion: ast.Conversion, pos: int) -> Callable[[Row], list[tuple[str, str]]]:
    """(field, field to write) pairs of one conversion in a row."""
    field, alias = conversion.field, conversion.alias
    if "*" not in field:
        return lambda row: [(field, alias or field)]
    if alias is not None and alias.count("*") != field.count("*"):
        raise SplError(f"convert: '{alias}' must have as many wildcards as '{field}'", pos)
    rename = renamer(field, alias or field)
    return lambda row: [(k, rename(k) if alias else k) for k in list(row) if rename(k) is not None]


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
        if command.reverse:
            collected.reverse()
        return iter(collected[: command.limit] if command.limit else collected)

    return run


def head_stage(command: ast.Head) -> Stage:
    return lambda rows: islice(rows, command.count)


def bin_stage(command: ast.Bin) -> Stage:
    """Search Reference, bin: a time becomes the start of its span (epoch-aligned, UTC); a
    number the range of its bin, written ``low-high``."""
    bin_of = time_bin(command.span)
    span = decimal.Decimal(repr(command.span))  # decimal steps: 0.3 with span 0.1 is in 0.3-0.4

    def binned(value):
        if command.time:
            return bin_of(value)
        n = to_number(value)
        if n is None or not math.isfinite(n):
            return None
        start = (decimal.Decimal(repr(n)) / span).to_integral_value(decimal.ROUND_FLOOR) * span
        return f"{decimal_text(start)}-{decimal_text(start + span)}"

    target = command.alias or command.field

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            value = row.get(command.field)
            if value is not None:
                row = dict(row)
                result = [b for v in values_of(value) if (b := binned(v)) is not None]
                if result:
                    row[target] = result if isinstance(value, list) else result[0]
                else:
                    row.pop(target, None)
            yield row

    return run


def rex_stage(command: ast.Rex) -> Stage:
    """Search Reference, rex: named groups of the first ``max_match`` matches (0: all)
    become fields, multivalue beyond one; with no match the fields are left alone.
    mode=sed replaces matches in the field itself."""
    compiled = regex(command.pattern)
    field = command.field
    if command.sed is not None:
        replace = sed_substitution(compiled, sed_replacement(command.sed[1]), command.sed[2])

        def edit(row: Row) -> Row:
            value = row.get(field)
            if value is None:
                return row
            edited = [replace(to_text(v)) for v in values_of(value)]
            return row | {field: edited if isinstance(value, list) else edited[0]}

        return lambda rows: (edit(row) for row in rows)
    names = list(compiled.groupindex)
    limit = command.max_match

    def extract(row: Row) -> Row:
        found: dict[str, list[str]] = {}
        matches = 0
        for value in values_of(row.get(field)):
            for m in compiled.finditer(to_text(value)):
                for name in names:
                    if m.group(name) is not None:
                        found.setdefault(name, []).append(m.group(name))
                matches += 1
                if matches == limit:
                    break
            if matches == limit:
                break
        if not found:
            return row
        return row | {k: v[0] if len(v) == 1 else v for k, v in found.items()}

    return lambda rows: (extract(row) for row in rows)


def sed_substitution(compiled: re.Pattern, replacement: Callable[[re.Match], str],
                     occurrence: int) -> Callable[[str], str]:
    """Replace every match (``occurrence`` 0, the g flag) or only the ``occurrence``-th."""
    if occurrence == 0:
        return lambda text: compiled.sub(replacement, text)

    def replace(text: str) -> str:
        for n, m in enumerate(compiled.finditer(text), 1):
            if n == occurrence:
                return text[: m.start()] + replacement(m) + text[m.end():]
        return text

    return replace


def sed_replacement(text: str) -> Callable[[re.Match], str]:
    """sed's replacement: ``\\1``..``\\9`` are groups, ``&`` is the whole match (*unverified*
    for ``&``: sed's meaning, which Splunk's rex docs do not spell out)."""
    parts = re.split(r"(\\\d|\\&|&)", text)

    def replace(m: re.Match) -> str:
        out = []
        for part in parts:
            if part == "&":
                out.append(m.group(0))
            elif part == "\\&":
                out.append("&")
            elif len(part) == 2 and part[0] == "\\" and part[1].isdigit():
                out.append(m.group(int(part[1])) or "" if int(part[1]) <= (m.re.groups) else "")
            else:
                out.append(part)
        return "".join(out)

    return replace


def fillnull_stage(command: ast.Fillnull) -> Stage:
    """Search Reference, fillnull: null fields get ``value``; without a field list, every
    field that some result has (so the results are held until the last one)."""
    value = command.value
    if command.fields:
        fields = command.fields
        return lambda rows: ({f: value for f in fields if row.get(f) is None} | row for row in rows)

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        collected = list(rows)
        names = list(dict.fromkeys(k for row in collected for k in row))
        for row in collected:
            yield {k: row[k] if row.get(k) is not None else value for k in names}

    return run


def spath_stage(command: ast.Spath) -> Stage:
    """Search Reference, spath, for JSON input: ``a.b`` steps into objects, ``{}`` takes
    every element of an array (multivalue), ``{n}`` one element (1-based, *unverified*);
    without a path every leaf becomes a field named by its path. XML input is refused."""
    path = None if command.path is None else parse_json_path(command.path, command.pos)
    output = command.output or command.path

    def extract(row: Row) -> Row:
        text = row.get(command.input)
        if text is None:
            return row
        text = to_text(text[0] if isinstance(text, list) else text)
        data = load_json(text)
        if data is INVALID_JSON:
            if text.lstrip().startswith("<"):
                raise SplError("spath: XML input is not supported", command.pos)
            return row
        if path is None:
            found: dict[str, list] = {}
            flatten(data, "", found)
            return row | {k: v[0] if len(v) == 1 else v for k, v in found.items()}
        values = [json_text(v) for v in follow(data, path) if v is not None and not isinstance(v, (dict, list))]
        values += [json.dumps(v, separators=(",", ":")) for v in follow(data, path) if isinstance(v, (dict, list))]
        if not values:
            return row
        return row | {output: values[0] if len(values) == 1 else values}

    return lambda rows: (extract(row) for row in rows)


JSON_STEP = re.compile(r"([^.{}]*)((?:\{\d*\})*)")


def parse_json_path(path: str, pos: int) -> list[tuple[str, list[int | None]]]:
    """``a.b{}.c{2}`` → [("a", []), ("b", [None]), ("c", [2])]."""
    steps = []
    for part in path.split("."):
        m = JSON_STEP.fullmatch(part)
        if not m:
            raise SplError(f"unsupported spath path '{path}'", pos)
        indexes = [int(i) if i else None for i in re.findall(r"\{(\d*)\}", m.group(2))]
        steps.append((m.group(1), indexes))
    return steps


INVALID_JSON = object()
MAX_JSON_DEPTH = 100  # deeper than any real event; *unverified* whether Splunk has such a bound


def load_json(text: str):
    """The JSON value of ``text``, or INVALID_JSON: not JSON, or nested deeper than
    MAX_JSON_DEPTH (whose walk would exhaust the stack): that event's field is left as is."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return INVALID_JSON
    level, depth = [data], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return INVALID_JSON
        level = [v for d in level if isinstance(d, (dict, list)) for v in (d.values() if isinstance(d, dict) else d)]
    return data


def follow(data, steps) -> list:
    current = [data]
    for name, indexes in steps:
        if name:
            current = [d[name] for d in current if isinstance(d, dict) and name in d]
        for index in indexes:
            nxt = []
            for d in current:
                if isinstance(d, list):
                    nxt.extend(d if index is None else d[index - 1 : index] if index > 0 else [])
            current = nxt
    return current


def flatten(data, prefix: str, found: dict[str, list]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            flatten(value, f"{prefix}.{key}" if prefix else key, found)
    elif isinstance(data, list):
        for item in data:
            flatten(item, prefix + "{}", found)
    elif data is not None:
        found.setdefault(prefix, []).append(json_text(data))


def json_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def foreach_stage(command: ast.Foreach) -> Stage:
    """Search Reference, foreach: the bracketed eval runs once per field matching the
    wildcards, with ``<<FIELD>>`` the field and ``<<MATCHSTR>>`` what ``*`` matched."""
    def compile_for(name: str, matched: str) -> list[Stage]:
        text = command.template.replace("<<FIELD>>", name).replace("<<MATCHSTR>>", matched)
        commands = parse_pipeline("|" + text, command.template_pos - 1).commands  # commands, no leading |
        for c in commands:
            if not isinstance(c, ast.Eval):
                raise SplError("foreach supports only eval in its [subsearch]", c.pos)
        return [eval_stage(c) for c in commands]

    compile_for("field", "field")  # refuse a bad template before any row is read
    matchers = [(wildcard_regex(p), "*" in p) for p in command.patterns]
    cache: dict[str, list[Stage]] = {}

    def apply(row: Row) -> Row:
        for name in list(row):
            for compiled, wild in matchers:
                m = compiled.match(name)
                if m is None:
                    continue
                stages = cache.get(name)
                if stages is None:
                    matched = "".join(m.groups()) if wild else ""
                    stages = cache[name] = compile_for(name, matched)
                for stage in stages:
                    row = next(stage(iter([row])))
                break
        return row

    return lambda rows: (apply(row) for row in rows)


def regex_stage(command: ast.Regex) -> Stage:
    compiled = regex(command.pattern)
    field, negate = command.field, command.negate

    def test(row: Row) -> bool:
        found = any(compiled.search(to_text(v)) for v in values_of(row.get(field)))
        return found != negate

    return filter_stage(test)


def join_stage(command: ast.Join, subsearch_results: Callable[[], list[Row]]) -> Stage:
    """Search Reference, join: each result joins the subsearch results whose join fields
    hold the same values (case-sensitive text); their fields overwrite the result's. At most
    ``max`` matches per result (0: all). inner drops a result with no match, left keeps it."""
    fields = command.fields

    def key_of(row: Row) -> tuple | None:
        values = [row.get(f) for f in fields]
        if any(v is None for v in values):
            return None
        return tuple(tuple(to_text(x) for x in v) if isinstance(v, list) else to_text(v) for v in values)

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        index: dict[tuple, list[Row]] = {}
        for sub in subsearch_results():
            if (key := key_of(sub)) is not None:
                index.setdefault(key, []).append(sub)
        for row in rows:
            key = key_of(row)
            matches = index.get(key, []) if key is not None else []
            if command.max:
                matches = matches[: command.max]
            if not matches:
                if command.type == "left":
                    yield row
                continue
            for match in matches:
                yield row | match

    return run


XML_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?>([^<>]*)</\1\s*>")


def xmlkv_stage(command: ast.Xmlkv) -> Stage:
    """Search Reference, xmlkv: ``<key>value</key>`` becomes the field key=value (elements
    holding only text; a key seen again becomes multivalue, *unverified*)."""
    def extract(row: Row) -> Row:
        found: dict[str, list[str]] = {}
        for value in values_of(row.get(command.field)):
            for m in XML_ELEMENT.finditer(to_text(value)):
                found.setdefault(m.group(1), []).append(m.group(2))
        return row | {k: v[0] if len(v) == 1 else v for k, v in found.items()} if found else row

    return lambda rows: (extract(row) for row in rows)


def fromjson_stage(command: ast.Fromjson) -> Stage:
    """Search Reference, fromjson: each top-level key of the field's JSON object becomes a
    field (prefixed); arrays become multivalue fields, objects stay JSON text."""
    def expand(row: Row) -> Row:
        value = row.get(command.field)
        if value is None:
            return row
        data = load_json(to_text(value[0] if isinstance(value, list) else value))
        if not isinstance(data, dict):
            return row
        out = dict(row)
        for key, item in data.items():
            items = [json_value(i) for i in (item if isinstance(item, list) else [item]) if i is not None]
            if items:
                out[command.prefix + key] = items[0] if len(items) == 1 and not isinstance(item, list) else items
        return out

    return lambda rows: (expand(row) for row in rows)


def json_value(value) -> str:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else json_text(value)


def addtotals_stage(command: ast.Addtotals) -> Stage:
    """Search Reference, addtotals: the sum of each result's numeric fields (all of them, or
    those the list names, wildcards allowed) in ``fieldname``."""
    select = field_selector(command.fields) if command.fields else None

    def total(row: Row) -> Row:
        names = select(row) if select else [k for k in row if k != command.fieldname]
        numbers = [n for k in names for v in values_of(row.get(k)) if (n := to_number(v)) is not None]
        return row | {command.fieldname: sum(numbers)} if numbers else row

    return lambda rows: (total(row) for row in rows)


def replace_stage(command: ast.Replace) -> Stage:
    """Search Reference, replace: a whole value matching a pattern (``*`` wildcards, case-
    sensitive, *unverified*) becomes the replacement, whose ``*`` take what the pattern's
    matched; the first matching pair wins."""
    pairs = [(old.split("*"), new.split("*")) for old, new in command.pairs]

    def replaced(value):
        if isinstance(value, list):
            return [replaced(v) for v in value]
        text = to_text(value)
        for pattern, pieces in pairs:
            if (taken := glob_captures(pattern, text)) is not None:
                return pieces[0] + "".join(g + p for g, p in zip(taken, pieces[1:]))
        return value

    def apply(row: Row) -> Row:
        names = command.fields or list(row)
        return row | {k: replaced(row[k]) for k in names if row.get(k) is not None}

    return lambda rows: (apply(row) for row in rows)


def mvexpand_stage(command: ast.Mvexpand) -> Stage:
    """Search Reference, mvexpand: one result per value of the field (the first ``limit``);
    a result whose field is null or single-valued passes unchanged (*unverified* for null)."""
    field, limit = command.field, command.limit or None

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            value = row.get(field)
            if not isinstance(value, list):
                yield row
                continue
            for item in value[:limit]:
                yield row | {field: item}

    return run


def makemv_stage(command: ast.Makemv) -> Stage:
    """Search Reference, makemv: a field's text split by ``delim`` or into the matches of
    ``tokenizer`` (its first group when it has one); empty values dropped unless allowempty."""
    tokenizer = regex(command.tokenizer) if command.tokenizer else None

    def split(text: str) -> list[str]:
        if tokenizer is None:
            return text.split(command.delim)
        return [m.group(1) if tokenizer.groups else m.group(0) for m in tokenizer.finditer(text)]

    def apply(row: Row) -> Row:
        value = row.get(command.field)
        if value is None or isinstance(value, list):
            return row
        parts = [p for p in split(to_text(value)) if p or command.allow_empty]
        if not parts:
            return {k: v for k, v in row.items() if k != command.field}
        return row | {command.field: parts[0] if len(parts) == 1 else parts}

    return lambda rows: (apply(row) for row in rows)


def command_stage(command: ast.Command) -> Stage:
    """The stage of any non-generating command."""
    if isinstance(command, ast.Search):
        return filter_stage(compile_search(command.expr))
    if isinstance(command, ast.Where):
        return filter_stage(compile_expr(command.expr))
    if isinstance(command, ast.Stats):
        return aggregate_stage(command.aggregations, command.by)
    builders = {
        ast.Bin: bin_stage,
        ast.Rex: rex_stage,
        ast.Fillnull: fillnull_stage,
        ast.Spath: spath_stage,
        ast.Foreach: foreach_stage,
        ast.Regex: regex_stage,
        ast.Mvexpand: mvexpand_stage,
        ast.Makemv: makemv_stage,
        ast.Eventstats: eventstats_stage,
        ast.Xmlkv: xmlkv_stage,
        ast.Fromjson: fromjson_stage,
        ast.Addtotals: addtotals_stage,
        ast.Replace: replace_stage,
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
