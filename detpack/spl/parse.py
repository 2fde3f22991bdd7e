"""SPL text (macros already expanded) → ``ast.Pipeline``.

A hand-written recursive-descent parser, one function per command. Anything it
does not know is an ``SplError`` naming the construct and its position, never
ignored.
"""
from __future__ import annotations

import re

from . import ast
from .errors import SplError
from .lexer import Token, expr_tokens, search_tokens, split_pipeline
from .datasets import parse_datamodel, parse_from
from .lookup import parse_inputlookup, parse_lookup

AGGREGATE_FUNCTIONS = frozenset({"count", "dc", "values", "min", "max"})
TSTATS_OPTIONS = frozenset({"summariesonly", "allow_old_summaries", "fillnull_value"})
COMPARE_OPS = frozenset({"=", "!=", "<", ">", "<=", ">="})
EXPR_COMPARE_OPS = frozenset({"=", "==", "!=", "<", ">", "<=", ">="})
DEFAULT_SORT_LIMIT = 10000  # Splunk's sort keeps at most 10,000 results unless given a count
DEFAULT_HEAD_COUNT = 10
DEFAULT_CTIME_FORMAT = "%m/%d/%Y %H:%M:%S"  # convert's default timeformat
COMMAND_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")


class Tokens:
    """A cursor over a token list."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def at_end(self) -> bool:
        return self.peek().kind == "END"

    def is_op(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "OP" and token.text in ops

    def is_word(self, *words: str) -> bool:
        """A bare word, compared case-insensitively with lower-case ``words``."""
        token = self.peek()
        return token.kind == "WORD" and token.text.lower() in words

    def expect_op(self, op: str, what: str) -> Token:
        if not self.is_op(op):
            raise unexpected(self.peek(), f"'{op}' {what}")
        return self.next()

    def expect_value(self, what: str) -> Token:
        token = self.peek()
        if token.kind not in ("WORD", "STRING"):
            raise unexpected(token, what)
        return self.next()

    def expect_end(self, command: str) -> None:
        if not self.at_end():
            token = self.peek()
            raise SplError(f"unexpected '{token.text}' in {command}", token.pos)


def unexpected(token: Token, wanted: str) -> SplError:
    found = "end of command" if token.kind == "END" else f"'{token.text}'"
    return SplError(f"expected {wanted}, found {found}", token.pos)


# --- pipeline -------------------------------------------------------------------


def parse(spl: str) -> ast.Pipeline:
    """Parse a whole search. Without a leading ``|`` the first command is ``search``."""
    segments = split_pipeline(spl)
    commands: list[ast.Command] = []
    first_text, first_offset = segments[0]
    if first_text.strip():
        commands.append(parse_search(first_text, first_offset, first_offset))
    elif len(segments) == 1:
        raise SplError("empty search", 0)
    for text, offset in segments[1:]:
        commands.append(parse_command(text, offset))
    return ast.Pipeline(tuple(commands))


def parse_command(text: str, offset: int) -> ast.Command:
    m = COMMAND_NAME.match(text)
    if not m:
        raise SplError("missing command after '|'", offset + len(text) - len(text.lstrip()))
    name, pos = m.group(1).lower(), offset + m.start(1)
    parser = COMMANDS.get(name)
    if parser is None:
        raise SplError(f"unsupported command '{m.group(1)}'", pos)
    return parser(text[m.end() :], offset + m.end(), pos)


# --- search expressions -------------------------------------------------------


def parse_search(text: str, offset: int, pos: int) -> ast.Search:
    tokens = Tokens(search_tokens(text, offset))
    if tokens.at_end():
        return ast.Search(ast.MatchAll(pos), pos)
    expr = parse_search_expr(tokens, stop=())
    tokens.expect_end("search")
    return ast.Search(expr, pos)


def parse_search_expr(tokens: Tokens, stop: tuple[str, ...]) -> ast.SearchExpr:
    """Implicit/explicit AND of OR-groups: in ``search``, OR binds tighter than AND."""
    items = [parse_or(tokens, stop)]
    while not tokens.at_end() and not tokens.is_op(")") and not tokens.is_word(*stop):
        if tokens.peek().kind == "WORD" and tokens.peek().text == "AND":
            tokens.next()
        items.append(parse_or(tokens, stop))
    return items[0] if len(items) == 1 else ast.And(tuple(items))


def parse_or(tokens: Tokens, stop: tuple[str, ...]) -> ast.SearchExpr:
    items = [parse_not(tokens, stop)]
    while tokens.peek().kind == "WORD" and tokens.peek().text == "OR":
        tokens.next()
        items.append(parse_not(tokens, stop))
    return items[0] if len(items) == 1 else ast.Or(tuple(items))


def parse_not(tokens: Tokens, stop: tuple[str, ...]) -> ast.SearchExpr:
    if tokens.peek().kind == "WORD" and tokens.peek().text == "NOT":
        tokens.next()
        return ast.Not(parse_not(tokens, stop))
    if tokens.is_op("("):
        tokens.next()
        inner = parse_search_expr(tokens, stop=())
        tokens.expect_op(")", "to close '('")
        return inner
    return parse_term(tokens)


def parse_term(tokens: Tokens) -> ast.SearchExpr:
    token = tokens.peek()
    if token.kind == "END" or token.kind == "OP" or token.text in ("AND", "OR"):
        raise unexpected(token, "a search term")
    tokens.next()
    if tokens.is_op(*COMPARE_OPS):
        op = tokens.next().text
        value = tokens.expect_value(f"a value after '{token.text}{op}'")
        return ast.Compare(token.text, op, value.text, token.pos)
    if token.kind == "WORD" and tokens.peek().kind == "WORD" and tokens.peek().text == "IN":
        tokens.next()
        return ast.InList(token.text, parse_value_list(tokens), token.pos)
    if token.kind == "WORD" and token.text == "*":
        return ast.MatchAll(token.pos)
    raise SplError(f"unsupported free-text search term '{token.text}'", token.pos)


def parse_value_list(tokens: Tokens) -> tuple[str, ...]:
    tokens.expect_op("(", "after IN")
    values = [tokens.expect_value("a value in the IN list").text]
    while tokens.is_op(","):
        tokens.next()
        values.append(tokens.expect_value("a value in the IN list").text)
    tokens.expect_op(")", "to close the IN list")
    return tuple(values)


# --- tstats / stats -------------------------------------------------------------


def parse_tstats(text: str, offset: int, pos: int) -> ast.Tstats:
    tokens = Tokens(search_tokens(text, offset))
    options = parse_tstats_options(tokens)
    aggregations = parse_aggregations(tokens, until=("from",))
    if not tokens.is_word("from"):
        raise unexpected(tokens.peek(), "'from datamodel=...' in tstats")
    tokens.next()
    if not tokens.is_word("datamodel"):
        raise SplError("unsupported tstats source (only 'from datamodel=X.Y')", tokens.peek().pos)
    tokens.next()
    tokens.expect_op("=", "after datamodel")
    datamodel = tokens.expect_value("a data model name").text
    where = None
    if tokens.is_word("where"):
        tokens.next()
        where = parse_search_expr(tokens, stop=("by",))
    by = parse_by(tokens)
    tokens.expect_end("tstats")
    return ast.Tstats(tuple(options), aggregations, datamodel, where, by, pos)


def parse_tstats_options(tokens: Tokens) -> list[tuple[str, str]]:
    options = []
    while tokens.peek().kind == "WORD" and tokens.peek(1).kind == "OP" and tokens.peek(1).text == "=":
        key = tokens.next()
        if key.text.lower() not in TSTATS_OPTIONS:
            raise SplError(f"unsupported tstats option '{key.text}'", key.pos)
        tokens.next()
        options.append((key.text.lower(), tokens.expect_value(f"a value for {key.text}").text))
    return options


def parse_aggregations(tokens: Tokens, until: tuple[str, ...]) -> tuple[ast.Aggregation, ...]:
    aggregations = []
    while not tokens.at_end() and not tokens.is_word(*until):
        aggregations.append(parse_aggregation(tokens))
        if tokens.is_op(","):
            tokens.next()
    if not aggregations:
        raise unexpected(tokens.peek(), "an aggregation such as count")
    return tuple(aggregations)


def parse_aggregation(tokens: Tokens) -> ast.Aggregation:
    token = tokens.next()
    func = token.text.lower()
    if token.kind != "WORD" or func not in AGGREGATE_FUNCTIONS:
        raise SplError(f"unsupported aggregation '{token.text}'", token.pos)
    field = None
    if tokens.is_op("("):
        tokens.next()
        field = tokens.expect_value(f"a field name in {func}()").text
        tokens.expect_op(")", f"to close {func}(")
    elif func != "count":
        raise unexpected(tokens.peek(), f"'(' after {func}")
    alias = None
    if tokens.is_word("as"):
        tokens.next()
        alias = tokens.expect_value("a name after 'as'").text
    return ast.Aggregation(func, field, alias, token.pos)


def parse_by(tokens: Tokens) -> tuple[str, ...]:
    if not tokens.is_word("by"):
        return ()
    tokens.next()
    fields = parse_field_list(tokens, "a field after 'by'")
    return fields


def parse_field_list(tokens: Tokens, what: str) -> tuple[str, ...]:
    fields = [tokens.expect_value(what).text]
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
        fields.append(tokens.expect_value(what).text)
    return tuple(fields)


def parse_stats(text: str, offset: int, pos: int) -> ast.Stats:
    tokens = Tokens(search_tokens(text, offset))
    aggregations = parse_aggregations(tokens, until=("by",))
    by = parse_by(tokens)
    tokens.expect_end("stats")
    return ast.Stats(aggregations, by, pos)


# --- row commands -----------------------------------------------------------------


def parse_rename(text: str, offset: int, pos: int) -> ast.Rename:
    tokens = Tokens(search_tokens(text, offset))
    pairs = []
    while True:
        old = tokens.expect_value("a field to rename")
        if not tokens.is_word("as"):
            raise unexpected(tokens.peek(), f"'as' after '{old.text}'")
        tokens.next()
        new = tokens.expect_value("a new field name")
        if old.text.count("*") != new.text.count("*"):
            raise SplError("rename wildcards must match in number", old.pos)
        pairs.append((old.text, new.text))
        if tokens.is_op(","):
            tokens.next()
        if tokens.at_end():
            return ast.Rename(tuple(pairs), pos)


def parse_convert(text: str, offset: int, pos: int) -> ast.Convert:
    tokens = Tokens(search_tokens(text, offset))
    timeformat = DEFAULT_CTIME_FORMAT
    conversions = []
    while not tokens.at_end():
        token = tokens.next()
        if token.kind == "WORD" and token.text.lower() == "timeformat" and tokens.is_op("="):
            tokens.next()
            timeformat = tokens.expect_value("a time format").text
            continue
        if token.kind != "WORD" or token.text.lower() != "ctime" or not tokens.is_op("("):
            raise SplError(f"unsupported convert argument '{token.text}'", token.pos)
        tokens.next()
        field = tokens.expect_value("a field in ctime()").text
        tokens.expect_op(")", "to close ctime(")
        alias = None
        if tokens.is_word("as"):
            tokens.next()
            alias = tokens.expect_value("a name after 'as'").text
        conversions.append(ast.Conversion("ctime", field, alias))
    if not conversions:
        raise SplError("convert needs a conversion such as ctime(field)", pos)
    return ast.Convert(timeformat, tuple(conversions), pos)


def parse_table(text: str, offset: int, pos: int) -> ast.Table:
    tokens = Tokens(search_tokens(text, offset))
    return ast.Table(parse_field_list(tokens, "a field name"), pos)


def parse_fields(text: str, offset: int, pos: int) -> ast.Fields:
    tokens = Tokens(search_tokens(text, offset))
    remove = False
    if tokens.is_word("-", "+"):
        remove = tokens.next().text == "-"
    return ast.Fields(parse_field_list(tokens, "a field name"), remove, pos)


def parse_dedup(text: str, offset: int, pos: int) -> ast.Dedup:
    tokens = Tokens(search_tokens(text, offset))
    if tokens.peek().kind == "WORD" and tokens.peek().text.isdigit():
        raise SplError("unsupported dedup count", tokens.peek().pos)
    fields = parse_field_list(tokens, "a field name")
    for token in tokens.tokens:  # a word here would otherwise become a field name
        if token.kind == "WORD" and token.text.lower() == "sortby":
            raise SplError(f"unsupported dedup option '{token.text}'", token.pos)
    return ast.Dedup(fields, pos)


def parse_sort(text: str, offset: int, pos: int) -> ast.Sort:
    tokens = Tokens(search_tokens(text, offset))
    limit = DEFAULT_SORT_LIMIT
    if tokens.peek().kind == "WORD" and tokens.peek().text.isdigit():
        limit = int(tokens.next().text)
    keys = []
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
        keys.append(parse_sort_key(tokens))
    if not keys:
        raise unexpected(tokens.peek(), "a field to sort by")
    return ast.Sort(tuple(keys), limit, pos)


def parse_sort_key(tokens: Tokens) -> ast.SortKey:
    token = tokens.expect_value("a field to sort by")
    text, descending = token.text, False
    if token.kind == "WORD" and text in ("-", "+"):
        descending = text == "-"
        token = tokens.expect_value("a field to sort by")
        text = token.text
    elif token.kind == "WORD" and text[0] in "-+":
        descending, text = text[0] == "-", text[1:]
    if tokens.is_op("("):
        raise SplError(f"unsupported sort function '{text}'", token.pos)
    return ast.SortKey(text, descending)


def parse_head(text: str, offset: int, pos: int) -> ast.Head:
    tokens = Tokens(search_tokens(text, offset))
    count = DEFAULT_HEAD_COUNT
    if not tokens.at_end():
        token = tokens.next()
        if token.kind != "WORD" or not token.text.isdigit():
            raise SplError(f"unsupported head argument '{token.text}'", token.pos)
        count = int(token.text)
    tokens.expect_end("head")
    return ast.Head(count, pos)


# --- eval / where -------------------------------------------------------------------


def parse_where(text: str, offset: int, pos: int) -> ast.Where:
    tokens = Tokens(expr_tokens(text, offset))
    expr = parse_expr(tokens)
    tokens.expect_end("where")
    return ast.Where(expr, pos)


def parse_eval(text: str, offset: int, pos: int) -> ast.Eval:
    tokens = Tokens(expr_tokens(text, offset))
    assignments = []
    while True:
        name = parse_assignment_target(tokens, text, offset)
        assignments.append((name, parse_expr(tokens)))
        if tokens.at_end():
            return ast.Eval(tuple(assignments), pos)
        tokens.expect_op(",", "between eval assignments")


def parse_assignment_target(tokens: Tokens, text: str, offset: int) -> str:
    """The field left of ``=``: a quoted 'name' or the raw text (dots allowed)."""
    first = tokens.peek()
    if first.kind == "FIELD" and tokens.peek(1).text == "=":
        tokens.next()
        tokens.next()
        return first.text
    while not tokens.at_end() and not tokens.is_op("="):
        tokens.next()
    equals = tokens.expect_op("=", "in eval assignment")
    name = text[first.pos - offset : equals.pos - offset].strip()
    if not name or any(c.isspace() for c in name):
        raise SplError("invalid eval target field", first.pos)
    return name


def parse_expr(tokens: Tokens) -> ast.Expr:
    return parse_binary(tokens, 0)


# Lowest to highest precedence; each level is left-associative.
BINARY_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"OR"}),
    frozenset({"XOR"}),
    frozenset({"AND"}),
)
ARITH_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"+", "-", "."}),
    frozenset({"*", "/", "%"}),
)


def keyword(tokens: Tokens) -> str | None:
    token = tokens.peek()
    return token.text.upper() if token.kind == "WORD" else None


def parse_binary(tokens: Tokens, level: int) -> ast.Expr:
    if level == len(BINARY_LEVELS):
        return parse_not_expr(tokens)
    left = parse_binary(tokens, level + 1)
    while keyword(tokens) in BINARY_LEVELS[level]:
        op = tokens.next()
        left = ast.BinOp(op.text.upper(), left, parse_binary(tokens, level + 1), op.pos)
    return left


def parse_not_expr(tokens: Tokens) -> ast.Expr:
    if keyword(tokens) == "NOT":
        op = tokens.next()
        return ast.UnaryOp("NOT", parse_not_expr(tokens), op.pos)
    return parse_comparison(tokens)


def parse_comparison(tokens: Tokens) -> ast.Expr:
    left = parse_arith(tokens, 0)
    if tokens.is_op(*EXPR_COMPARE_OPS):
        op = tokens.next()
        return ast.BinOp("=" if op.text == "==" else op.text, left, parse_arith(tokens, 0), op.pos)
    if keyword(tokens) == "LIKE":
        op = tokens.next()
        return ast.BinOp("LIKE", left, parse_arith(tokens, 0), op.pos)
    if keyword(tokens) == "IN":
        op = tokens.next()
        tokens.expect_op("(", "after IN")
        items = parse_arguments(tokens)
        return ast.InExpr(left, items, op.pos)
    return left


def parse_arith(tokens: Tokens, level: int) -> ast.Expr:
    if level == len(ARITH_LEVELS):
        return parse_unary(tokens)
    left = parse_arith(tokens, level + 1)
    while tokens.is_op(*ARITH_LEVELS[level]):
        op = tokens.next()
        left = ast.BinOp(op.text, left, parse_arith(tokens, level + 1), op.pos)
    return left


def parse_unary(tokens: Tokens) -> ast.Expr:
    if tokens.is_op("-"):
        op = tokens.next()
        return ast.UnaryOp("-", parse_unary(tokens), op.pos)
    return parse_primary(tokens)


def parse_primary(tokens: Tokens) -> ast.Expr:
    token = tokens.next()
    if token.kind == "NUMBER":
        return ast.Literal(float(token.text) if any(c in token.text for c in ".eE") else int(token.text))
    if token.kind == "STRING":
        return ast.Literal(token.text)
    if token.kind == "FIELD":
        return ast.FieldRef(token.text)
    if token.kind == "OP" and token.text == "(":
        inner = parse_expr(tokens)
        tokens.expect_op(")", "to close '('")
        return inner
    if token.kind == "WORD" and tokens.is_op("("):  # like(...) is a function here, not the operator
        tokens.next()
        return ast.Call(token.text.lower(), parse_arguments(tokens), token.pos)
    if token.kind == "WORD" and token.text.upper() not in ("AND", "OR", "XOR", "NOT", "LIKE", "IN"):
        return ast.FieldRef(token.text)
    raise unexpected(token, "a value, field or function")


def parse_arguments(tokens: Tokens) -> tuple[ast.Expr, ...]:
    """Comma-separated expressions up to and including the closing ``)``."""
    args: list[ast.Expr] = []
    if tokens.is_op(")"):
        tokens.next()
        return ()
    while True:
        args.append(parse_expr(tokens))
        if tokens.is_op(")"):
            tokens.next()
            return tuple(args)
        tokens.expect_op(",", "between arguments")


COMMANDS = {
    "tstats": parse_tstats,
    "search": parse_search,
    "where": parse_where,
    "eval": parse_eval,
    "rename": parse_rename,
    "convert": parse_convert,
    "stats": parse_stats,
    "table": parse_table,
    "fields": parse_fields,
    "dedup": parse_dedup,
    "sort": parse_sort,
    "head": parse_head,
    "lookup": parse_lookup,
    "inputlookup": parse_inputlookup,
    "datamodel": parse_datamodel,
    "from": parse_from,
}

