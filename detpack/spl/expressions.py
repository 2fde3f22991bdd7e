"""Single expressions compiled from text, for callers outside a pipeline.

Splunk's knowledge objects hold SPL fragments: ``EVAL-x = <eval expression>`` in
props.conf, ``search = <search terms>`` in eventtypes.conf, data-model
constraints and Eval calculations. They go through the same parser and
evaluator as ``eval``/``where`` and ``search`` in a pipeline: one evaluator.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from ..errors import record
from . import ast
from .evaluate import Row, compile_expr, compile_search, walk_expr
from .parse import Tokens, parse_expr, parse_search
from .lexer import expr_tokens


@record
class EvalExpression:
    expr: ast.Expr
    evaluate: Callable[[Row], object]
    fields: frozenset[str]  # the fields it reads


@record
class SearchExpression:
    expr: ast.SearchExpr
    test: Callable[[Row], bool]
    fields: frozenset[str]


# The built-in add-ons repeat expressions across sourcetypes (the same EVAL-process_name in eight
# stanzas): each distinct text is parsed and compiled once. A compiled expression is shared only
# when it is pure: ``now()`` binds the time its search starts when compiled, so one that calls it is
# compiled afresh each time from its kept syntax tree. The cache is bounded: an add-on's texts are
# untrusted input. A text that fails is not kept (lru_cache keeps no exception), so every place it
# appears reports it.
@functools.lru_cache(maxsize=4096)
def _parsed_eval(text: str) -> tuple[ast.Expr, EvalExpression | None]:
    """The text's syntax tree, and its compiled expression when that can be shared."""
    tokens = Tokens(expr_tokens(text, 0))
    expr = parse_expr(tokens)
    tokens.expect_end("eval expression")
    return expr, None if _reads_clock(expr) else _compiled(expr)


def compile_eval_text(text: str) -> EvalExpression:
    """An eval expression; raises SplError (position in ``text``) when it is not one."""
    expr, shared = _parsed_eval(text)
    return shared or _compiled(expr)


def _compiled(expr: ast.Expr) -> EvalExpression:
    return EvalExpression(expr, compile_expr(expr), frozenset(eval_fields(expr)))


def _reads_clock(expr: ast.Expr) -> bool:
    return any(isinstance(e, ast.Call) and e.name == "now" for e in walk_expr(expr))


CLOCK_FUNCTIONS = frozenset({"now", "time"})
# What one expression remembers is bounded, as the values come from the data: so many results
# and so many characters of values and results (then it starts afresh); a longer value is
# computed each time.
REMEMBERED_RESULTS = 1024
REMEMBERED_CHARS = 1 << 16
REMEMBERED_VALUE_CHARS = 1024


def remembered(expression: EvalExpression) -> Callable[[Row], object]:
    """``expression.evaluate``, remembering its result for each combination of the text
    values it reads. An expression that reads no clock is a function of those values alone,
    and an add-on's calculated fields see the same paths, names and codes again and again.
    A row where one of them is not text (a number, a multivalue) or is long is computed
    directly; a multivalue result is handed out as a fresh list, so no two rows share one."""
    if not expression.fields or any(isinstance(e, ast.Call) and e.name in CLOCK_FUNCTIONS
                                    for e in walk_expr(expression.expr)):
        return expression.evaluate
    names, evaluate, known = tuple(sorted(expression.fields)), expression.evaluate, {}
    held = 0  # characters of the values and results remembered

    def evaluate_remembered(row: Row):
        nonlocal held
        key = tuple(map(row.get, names))
        for value in key:
            if value is not None and (value.__class__ is not str or len(value) > REMEMBERED_VALUE_CHARS):
                return evaluate(row)
        result = known.get(key, known)
        if result is known:
            result = evaluate(row)
            size = _chars(key) + (_chars(result) if result.__class__ is list else _chars((result,)))
            if len(known) >= REMEMBERED_RESULTS or held + size > REMEMBERED_CHARS:
                known.clear()
                held = 0
            known[key] = result
            held += size
        return list(result) if result.__class__ is list else result

    evaluate_remembered.results = known  # for its bound to be seen
    return evaluate_remembered


def _chars(values) -> int:
    return sum(len(v) for v in values if v.__class__ is str)


def compile_search_text(text: str) -> SearchExpression:
    """Search terms (``field=value``, AND/OR/NOT, IN); raises SplError when unsupported."""
    expr = parse_search(text, 0, 0).expr
    return SearchExpression(expr, compile_search(expr), frozenset(search_fields(expr)))


def eval_fields(expr: ast.Expr) -> Iterator[str]:
    if isinstance(expr, ast.FieldRef):
        yield expr.name
    elif isinstance(expr, ast.BinOp):
        yield from eval_fields(expr.left)
        yield from eval_fields(expr.right)
    elif isinstance(expr, ast.UnaryOp):
        yield from eval_fields(expr.operand)
    elif isinstance(expr, ast.Call):
        for arg in expr.args:
            yield from eval_fields(arg)
    elif isinstance(expr, ast.InExpr):
        yield from eval_fields(expr.operand)
        for item in expr.items:
            yield from eval_fields(item)


def search_fields(expr: ast.SearchExpr) -> Iterator[str]:
    if isinstance(expr, (ast.Compare, ast.InList)):
        yield expr.field
    elif isinstance(expr, (ast.And, ast.Or)):
        for item in expr.items:
            yield from search_fields(item)
    elif isinstance(expr, ast.Not):
        yield from search_fields(expr.item)
