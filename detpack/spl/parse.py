"""SPL text (macros already expanded) → ``ast.Pipeline``.

A hand-written recursive-descent parser, one function per command. Anything it
does not know is an ``SplError`` naming the construct and its position, never
ignored.
"""
from __future__ import annotations

import functools
import math
import re
import sys

from . import ast
from .errors import SplError
from .number import to_number
from .datasets import parse_datamodel, parse_from
from .lexer import MAX_CACHED_CHARS, Token, bracket_end, expr_tokens, search_tokens, skip_quoted, split_pipeline
from .lookup import parse_inputlookup, parse_lookup

# stats functions (Search Reference, "Statistical and charting functions"); distinct_count = dc
AGGREGATE_FUNCTIONS = frozenset({"count", "dc", "distinct_count", "values", "list", "min", "max", "sum",
                                 "avg", "mean", "stdev", "range", "earliest", "latest", "first", "last"})
MAX_NESTING = 50  # parentheses (and NOTs) deeper than any real search; Python's stack lies beyond
TSTATS_OPTIONS = frozenset({"summariesonly", "allow_old_summaries", "fillnull_value"})
COMPARE_OPS = frozenset({"=", "!=", "<", ">", "<=", ">="})
EXPR_COMPARE_OPS = frozenset({"=", "==", "!=", "<", ">", "<=", ">="})
DEFAULT_SORT_LIMIT = 10000  # Splunk's sort keeps at most 10,000 results unless given a count
DEFAULT_HEAD_COUNT = 10
DEFAULT_CTIME_FORMAT = "%m/%d/%Y %H:%M:%S"  # convert's default timeformat
COMMAND_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
LEADING_SEARCH = re.compile(r"\s*search(?=\s|\Z)", re.IGNORECASE)
# Time units of a span (Search Reference, bin: "span"; tstats: "span"): seconds per unit.
SPAN = r"(\d+(?:\.\d+)?)([A-Za-z]*)\Z"  # as text, as SED: re compiles them for the first span or sed
SPAN_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
}


class Tokens:
    """A cursor over a token list."""

    def __init__(self, tokens: list[Token], text: str = "", offset: int = 0):
        self.tokens = tokens
        self.last = len(tokens) - 1  # the END token
        self.i = 0
        self.depth = 0
        self.text, self.offset = text, offset  # the command text, to read raw groups from

    def enter(self, token: Token) -> None:
        """One level deeper in parentheses; too deep is an error, not a crash."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SplError(f"parentheses nested deeper than {MAX_NESTING}", token.pos)

    def raw_group(self, open_paren: Token) -> tuple[str, int]:
        """The text inside the parentheses opened by ``open_paren`` (quotes respected) and
        its offset; the cursor moves past the closing parenthesis."""
        start = open_paren.pos - self.offset
        depth, j = 0, start
        while j < len(self.text):
            c = self.text[j]
            if c == '"':
                j = skip_quoted(self.text, j, '"')
                continue
            depth += (c == "(") - (c == ")")
            j += 1
            if depth == 0:
                break
        else:
            raise SplError("'(' is never closed", open_paren.pos)
        while not self.at_end() and self.peek().pos < self.offset + j:
            self.next()
        return self.text[start + 1 : j - 1], open_paren.pos + 1

    def peek(self, ahead: int = 0) -> Token:
        i = self.i + ahead
        return self.tokens[i] if i < self.last else self.tokens[self.last]

    def next(self) -> Token:
        token = self.tokens[self.i]
        if self.i < self.last:
            self.i += 1
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
    try:
        return parse_pipeline(spl, 0)
    except RecursionError:  # a caller already deep in its own stack: still one line
        raise SplError(f"search nested too deeply (more than {MAX_NESTING} levels is refused)") from None


def parse_pipeline(spl: str, base: int) -> ast.Pipeline:
    """``spl`` starts at offset ``base`` of the search (non-zero for subsearches)."""
    segments = [(text, base + offset) for text, offset in split_pipeline(spl)]
    commands: list[ast.Command] = []
    first_text, first_offset = segments[0]
    if first_text.strip():
        # Writing the implicit first command out ("search x=1 | ...") is the same search.
        skip = m.end() if (m := LEADING_SEARCH.match(first_text)) else 0
        commands.append(_search_at(first_text[skip:], first_offset + skip, first_offset))
    elif len(segments) == 1:
        raise SplError("empty search", base)
    for text, offset in segments[1:]:
        commands.append(_command_at(text, offset))
    return ast.Pipeline(tuple(commands))


# A pack's searches share many commands at the same offset (the macros they start with expand
# alike), and nodes never change once parsed: each distinct command is parsed once per process,
# unless it is too long to keep (lexer.MAX_CACHED_CHARS). Errors are not kept; they are raised again.
_cached_search = functools.lru_cache(maxsize=4096)(lambda text, offset, pos: parse_search(text, offset, pos))
_cached_command = functools.lru_cache(maxsize=4096)(lambda text, offset: parse_command(text, offset))


def _search_at(text: str, offset: int, pos: int) -> ast.Command:
    return (_cached_search if len(text) <= MAX_CACHED_CHARS else parse_search)(text, offset, pos)


def _command_at(text: str, offset: int) -> ast.Command:
    return (_cached_command if len(text) <= MAX_CACHED_CHARS else parse_command)(text, offset)


def parse_command(text: str, offset: int) -> ast.Command:
    m = COMMAND_NAME.match(text)
    if not m:
        raise SplError("missing command after '|'", offset + len(text) - len(text.lstrip()))
    name, pos = m.group(1).lower(), offset + m.start(1)
    parser = COMMANDS.get(name)
    if parser is None:
        raise SplError(f"unsupported command '{m.group(1)}'", pos)
    return parser(text[m.end() :], offset + m.end(), pos)


def command_tokens(text: str, offset: int) -> Tokens:
    return Tokens(search_tokens(text, offset), text, offset)


# --- search expressions -------------------------------------------------------
# Search Reference, "search": terms are ANDed; OR binds tighter than AND; only upper-case
# AND, OR and NOT are operators (lower-case ones are search terms); a bare term or quoted
# phrase is free text, matched against the raw event.


def parse_search(text: str, offset: int, pos: int) -> ast.Search:
    tokens = command_tokens(text, offset)
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
        tokens.enter(tokens.next())
        inner = ast.Not(parse_not(tokens, stop))
        tokens.depth -= 1
        return inner
    if tokens.is_op("("):
        tokens.enter(tokens.next())
        inner = parse_search_expr(tokens, stop=())
        tokens.expect_op(")", "to close '('")
        tokens.depth -= 1
        return inner
    return parse_term(tokens)


def parse_term(tokens: Tokens) -> ast.SearchExpr:
    token = tokens.peek()
    if token.kind == "END" or token.kind == "OP" or token.text in ("AND", "OR"):
        raise unexpected(token, "a search term")
    if directive_at(tokens):
        directive, value = parse_directive(tokens)
        return ast.Term(value.text, token.pos, directive)
    tokens.next()
    if tokens.is_op(*COMPARE_OPS):
        op = tokens.next().text
        if directive_at(tokens):
            directive, value = parse_directive(tokens)
            if directive != "CASE" or op not in ("=", "!="):
                raise SplError(f"unsupported directive '{directive}' in a field value", value.pos)
            return ast.Compare(token.text, op, value.text, token.pos, case_sensitive=True)
        value = tokens.expect_value(f"a value after '{token.text}{op}'")
        return ast.Compare(token.text, op, value.text, token.pos)
    if tokens.peek().kind == "WORD" and tokens.peek().text == "IN" and tokens.peek(1).text == "(":
        tokens.next()
        return ast.InList(token.text, parse_value_list(tokens), token.pos)
    if token.kind == "WORD" and token.text == "*":
        return ast.MatchAll(token.pos)
    return ast.Term(token.text, token.pos)


# Search Manual, "Use CASE() and TERM() to match phrases"
# (https://docs.splunk.com/Documentation/Splunk/9.0.5/Search/UseCASEandTERMtomatchphrases):
# CASE(<term>) matches case-sensitively, terms and field values; TERM(<term>) matches one whole
# indexed term, minor breakers included, and cannot hold a major breaker.
DIRECTIVES = ("CASE", "TERM")
# Single-character major breakers of segmenters.conf [default] MAJOR (Admin Manual,
# segmenters.conf): *unverified* list, the default file itself was not at hand.
MAJOR_BREAKERS = frozenset(" \t\r\n[]<>(){}|!;,'\"*&?+")


def directive_at(tokens: Tokens) -> bool:
    """``CASE(`` or ``TERM(`` (any letter case, the parenthesis written onto the word)."""
    word, paren = tokens.peek(), tokens.peek(1)
    return (word.kind == "WORD" and word.text.upper() in DIRECTIVES and paren.kind == "OP"
            and paren.text == "(" and paren.pos == word.pos + len(word.text))


def parse_directive(tokens: Tokens) -> tuple[str, Token]:
    directive = tokens.next().text.upper()
    tokens.next()
    value = tokens.expect_value(f"a term in {directive}()")
    tokens.expect_op(")", f"to close {directive}(")
    if directive == "TERM":
        if broken := next((c for c in value.text if c in MAJOR_BREAKERS and c != "*"), None):
            raise SplError(f"TERM() cannot hold the major breaker '{broken}'", value.pos)
    return directive, value


def parse_value_list(tokens: Tokens) -> tuple[str, ...]:
    """``(v1, v2, ...)``. Commas may be missing or doubled, and a trailing comma is allowed
    (*unverified*: production security_content searches are written so, and run)."""
    tokens.expect_op("(", "after IN")
    values = []
    while not tokens.is_op(")"):
        if tokens.at_end():
            raise unexpected(tokens.peek(), "')' to close the IN list")
        if tokens.is_op(","):
            tokens.next()
            continue
        values.append(tokens.expect_value("a value in the IN list").text)
    if not values:
        raise unexpected(tokens.peek(), "a value in the IN list")
    tokens.next()
    return tuple(values)


# --- tstats / stats -------------------------------------------------------------


def parse_tstats(text: str, offset: int, pos: int) -> ast.Tstats:
    tokens = command_tokens(text, offset)
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
    by, span = parse_by(tokens, span_allowed=True)
    tokens.expect_end("tstats")
    return ast.Tstats(tuple(options), aggregations, datamodel, where, by, pos, span)


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
    """``func``, ``func(field)`` or ``func(eval(expression)) AS name`` (Search Reference,
    stats: "Stats function options"; an eval expression must be renamed with AS)."""
    token = tokens.next()
    func = token.text.lower()
    if token.kind != "WORD" or func not in AGGREGATE_FUNCTIONS:
        raise SplError(f"unsupported aggregation '{token.text}'", token.pos)
    func = "dc" if func == "distinct_count" else "avg" if func == "mean" else func
    field, expr = None, None
    if tokens.is_op("("):
        tokens.next()
        if tokens.is_word("eval") and tokens.peek(1).text == "(":
            tokens.next()
            inner, inner_offset = tokens.raw_group(tokens.peek())
            expr = parse_whole_expr(inner, inner_offset, f"{func}(eval(...))")
            field = f"eval({inner})"
        else:
            field = tokens.expect_value(f"a field name in {func}()").text
        tokens.expect_op(")", f"to close {func}(")
    elif func != "count":
        raise unexpected(tokens.peek(), f"'(' after {func}")
    alias = None
    if tokens.is_word("as"):
        tokens.next()
        alias = aggregation_name(tokens)
    elif expr is not None:
        raise SplError(f"{func}(eval(...)) must be renamed with AS", token.pos)
    stars = field.count("*") if field and expr is None else 0
    if alias is not None and alias.count("*") != stars:
        # Search Reference, stats: <stats-func>(<wc-field>) [AS <wc-field>]; each match
        # gets its own column, so the AS name carries the field's wildcards.
        raise SplError(f"'{func}({field}) as {alias}' needs as many wildcards in the AS name as in the field",
                       token.pos)
    return ast.Aggregation(func, field, alias, token.pos, expr)


def aggregation_name(tokens: Tokens) -> str:
    """The name after AS; a word with parentheses written onto it (``aceFlags(inheritance)``)
    is one name (*unverified*: production security_content searches are written so)."""
    name = tokens.expect_value("a name after 'as'")
    if name.kind != "WORD" or not tokens.is_op("(") or tokens.peek().pos != name.pos + len(name.text):
        return name.text
    inner, _ = tokens.raw_group(tokens.peek())
    return f"{name.text}({inner})"


def parse_by(tokens: Tokens, span_allowed: bool = False) -> tuple[tuple[str, ...], float | None]:
    """``BY f1, f2 ...`` and, for tstats, ``span=<time>`` among them (Search Reference,
    tstats: "span ... Only valid when used with _time in the BY clause")."""
    if not tokens.is_word("by"):
        return (), None
    tokens.next()
    fields, span = [], None
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
            continue
        if tokens.is_word("span") and tokens.peek(1).text == "=":
            key = tokens.next()
            if not span_allowed:
                raise SplError("unsupported BY option 'span' here (bin _time first)", key.pos)
            if span is not None:
                raise SplError("a second span in the BY clause", key.pos)
            tokens.next()
            value = tokens.expect_value("a time span")
            span, is_time = parse_span(value.text, value.pos)
            if not is_time:
                raise SplError(f"span '{value.text}' needs a time unit", value.pos)
            continue
        fields.append(tokens.expect_value("a field after 'by'").text)
    if not fields:
        raise unexpected(tokens.peek(), "a field after 'by'")
    if span is not None and "_time" not in fields:
        raise SplError("span needs _time in the BY clause", tokens.peek().pos)
    return tuple(fields), span


def parse_span(text: str, pos: int) -> tuple[float, bool]:
    """Seconds (or a plain number) and whether it was given in time units. Months and
    subsecond units are refused (calendar months vary in length)."""
    m = re.match(SPAN, text)
    if not m or (m.group(2) and m.group(2).lower() not in SPAN_UNITS) or not 0 < float(m.group(1)) < math.inf:
        raise SplError(f"unsupported span '{text}'", pos)
    number, unit = float(m.group(1)), m.group(2).lower()
    return (number * SPAN_UNITS[unit], True) if unit else (number, False)


def parse_field_list(tokens: Tokens, what: str) -> tuple[str, ...]:
    fields = [tokens.expect_value(what).text]
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
            continue
        fields.append(tokens.expect_value(what).text)
    return tuple(fields)


def parse_stats(text: str, offset: int, pos: int) -> ast.Stats:
    tokens = command_tokens(text, offset)
    aggregations = parse_aggregations(tokens, until=("by",))
    by, _ = parse_by(tokens)
    tokens.expect_end("stats")
    return ast.Stats(aggregations, by, pos)


def parse_eventstats(text: str, offset: int, pos: int) -> ast.Eventstats:
    """Search Reference, eventstats: stats functions whose results are added to every
    result of their group."""
    tokens = command_tokens(text, offset)
    aggregations = parse_aggregations(tokens, until=("by",))
    by, _ = parse_by(tokens)
    tokens.expect_end("eventstats")
    return ast.Eventstats(aggregations, by, pos)


# --- row commands -----------------------------------------------------------------


def parse_rename(text: str, offset: int, pos: int) -> ast.Rename:
    tokens = command_tokens(text, offset)
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
    tokens = command_tokens(text, offset)
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
    tokens = command_tokens(text, offset)
    return ast.Table(parse_field_list(tokens, "a field name"), pos)


def parse_fields(text: str, offset: int, pos: int) -> ast.Fields:
    tokens = command_tokens(text, offset)
    remove = False
    if tokens.is_word("-", "+"):
        remove = tokens.next().text == "-"
    return ast.Fields(parse_field_list(tokens, "a field name"), remove, pos)


def parse_dedup(text: str, offset: int, pos: int) -> ast.Dedup:
    tokens = command_tokens(text, offset)
    if tokens.peek().kind == "WORD" and tokens.peek().text.isdigit():
        raise SplError("unsupported dedup count", tokens.peek().pos)
    fields = parse_field_list(tokens, "a field name")
    for token in tokens.tokens:  # a word here would otherwise become a field name
        if token.kind == "WORD" and token.text.lower() == "sortby":
            raise SplError(f"unsupported dedup option '{token.text}'", token.pos)
    return ast.Dedup(fields, pos)


SORT_OPTIONS = frozenset({"limit"})


def parse_sort(text: str, offset: int, pos: int) -> ast.Sort:
    """Search Reference, sort: ``sort [<count>] [limit=<int>] <sort-by-clause>... [d|desc]``;
    a final ``d``/``desc`` reverses the order of the results."""
    tokens = command_tokens(text, offset)
    limit = DEFAULT_SORT_LIMIT
    counted = tokens.peek().kind == "WORD" and tokens.peek().text.isdigit()
    if counted:
        limit = whole_number(tokens.next().text)
    options = parse_options(tokens, SORT_OPTIONS, "sort")
    if "limit" in options:
        if counted:
            raise SplError("sort takes a count or limit=, not both", options["limit"].pos)
        limit = integer_option(options["limit"], limit, "sort limit")
    keys = []
    reverse = False
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
        if keys and tokens.peek().kind == "WORD" and tokens.peek().text.lower() in ("d", "desc") \
                and tokens.peek(1).kind == "END":
            tokens.next()
            reverse = True
            break
        keys.append(parse_sort_key(tokens))
    if not keys:
        raise unexpected(tokens.peek(), "a field to sort by")
    return ast.Sort(tuple(keys), limit, pos, reverse)


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
    tokens = command_tokens(text, offset)
    count = DEFAULT_HEAD_COUNT
    if not tokens.at_end():
        token = tokens.next()
        if token.kind != "WORD" or not token.text.isdigit():
            raise SplError(f"unsupported head argument '{token.text}'", token.pos)
        count = whole_number(token.text)
    tokens.expect_end("head")
    return ast.Head(count, pos)


def parse_options(tokens: Tokens, known: frozenset[str], command: str) -> dict[str, Token]:
    """Leading and interleaved ``key=value`` options, validated against ``known``; the
    cursor is left on the first token that is not an option."""
    options: dict[str, Token] = {}
    while tokens.peek().kind == "WORD" and tokens.peek(1).kind == "OP" and tokens.peek(1).text == "=":
        key = tokens.next()
        if key.text.lower() not in known:
            raise SplError(f"unsupported {command} option '{key.text}'", key.pos)
        tokens.next()
        options[key.text.lower()] = tokens.expect_value(f"a value for {key.text}")
    return options


def integer_option(token: Token | None, default: int, what: str) -> int:
    if token is None:
        return default
    if not token.text.isdigit():
        raise SplError(f"{what} must be a whole number, not '{token.text}'", token.pos)
    return whole_number(token.text)


def whole_number(digits: str) -> int:
    """A count written in decimal digits, capped at more than any search can have (and
    never handed to int() at a length Python refuses to convert)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else sys.maxsize


BIN_OPTIONS = frozenset({"span", "bins", "minspan", "start", "end", "aligntime"})


def parse_bin(text: str, offset: int, pos: int) -> ast.Bin:
    """Search Reference, bin (``bucket`` is its alias): ``bin [span=...] field [AS new]``.
    Only ``span`` is supported; the other options are refused by name."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, BIN_OPTIONS, "bin")
    field = tokens.expect_value("a field to bin")
    options |= parse_options(tokens, BIN_OPTIONS, "bin")
    alias = None
    if tokens.is_word("as"):
        tokens.next()
        alias = tokens.expect_value("a name after 'as'").text
    options |= parse_options(tokens, BIN_OPTIONS, "bin")
    tokens.expect_end("bin")
    for key in options.keys() - {"span"}:
        raise SplError(f"unsupported bin option '{key}'", options[key].pos)
    if "span" not in options:
        raise SplError("bin without span= (automatic bins) is not supported", pos)
    span, is_time = parse_span(options["span"].text, options["span"].pos)
    return ast.Bin(field.text, span, is_time or field.text == "_time", alias, pos)


REX_OPTIONS = frozenset({"field", "max_match", "mode", "offset_field"})
SED = r"(?s)s/((?:\\.|[^/\\])*)/((?:\\.|[^/\\])*)/(g|\d*)\Z"


def parse_rex(text: str, offset: int, pos: int) -> ast.Rex:
    """Search Reference, rex: ``rex [field=<f>] "<regex>" [max_match=<n>]`` (named groups
    become fields; default field _raw, max_match 1, 0 = unlimited) or ``rex [field=<f>]
    mode=sed "s/<regex>/<replacement>/<g|n>"``."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, REX_OPTIONS, "rex")
    pattern = tokens.peek()
    if pattern.kind != "STRING":
        raise unexpected(pattern, "a quoted regular expression")
    tokens.next()
    options |= parse_options(tokens, REX_OPTIONS, "rex")
    tokens.expect_end("rex")
    if "offset_field" in options:
        raise SplError("unsupported rex option 'offset_field'", options["offset_field"].pos)
    field = options["field"].text if "field" in options else "_raw"
    max_match = integer_option(options.get("max_match"), 1, "max_match")
    mode = options.get("mode")
    if mode is None:
        compiled = python_regex(pattern.text, pattern.pos)
        if not compiled.groupindex:
            raise SplError("rex needs a named group such as (?<name>...)", pattern.pos)
        return ast.Rex(field, pattern.text, max_match, None, pos)
    if mode.text.lower() != "sed":
        raise SplError(f"unsupported rex mode '{mode.text}'", mode.pos)
    if "max_match" in options:  # sed's own flags say which matches to replace
        raise SplError("rex mode=sed takes no max_match", options["max_match"].pos)
    m = re.match(SED, pattern.text)
    if not m:
        raise SplError("unsupported sed expression (only s/regex/replacement/flags)", pattern.pos)
    regex = m.group(1)
    python_regex(regex, pattern.pos)
    # Search Reference, rex: the flags are g (replace all matches) or a number (replace
    # that one match); none replaces the first. 0 is not documented: refused.
    flag = m.group(3)
    occurrence = 0 if flag == "g" else whole_number(flag) if flag else 1
    if flag and flag != "g" and occurrence == 0:
        raise SplError(f"unsupported sed flag '{flag}'", pattern.pos)
    return ast.Rex(field, regex, max_match, (regex, m.group(2), occurrence), pos)


def python_regex(pattern: str, pos: int) -> re.Pattern:
    """A PCRE pattern (Splunk's regular expressions) compiled as ``pcre`` translates it;
    an error names the position of the pattern in the search."""
    from .pcre import UCP, PcreError, compile_pcre, translate  # loaded by the first rex or regex

    try:
        return compile_pcre(pattern)
    except PcreError as error:
        # The offset is in the translated pattern: exact only where nothing was translated.
        offset = error.offset if translate(pattern.removeprefix(UCP)) == pattern else 0
        raise SplError(f"invalid regular expression: {error}", pos + offset) from None


def parse_fillnull(text: str, offset: int, pos: int) -> ast.Fillnull:
    """Search Reference, fillnull: ``fillnull [value=<string>] [<field-list>]``; the value
    defaults to 0, the fields to every field in the results."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, frozenset({"value"}), "fillnull")
    fields = () if tokens.at_end() else parse_field_list(tokens, "a field name")
    value = options["value"].text if "value" in options else "0"
    return ast.Fillnull(value, fields, pos)


SPATH_OPTIONS = frozenset({"input", "output", "path"})


def parse_spath(text: str, offset: int, pos: int) -> ast.Spath:
    """Search Reference, spath: ``spath [input=<f>] [output=<f>] [path=<p> | <p>]``;
    input defaults to _raw; without a path every field is extracted."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, SPATH_OPTIONS, "spath")
    path = options.get("path")
    if not tokens.at_end():
        if path is not None:
            raise SplError("spath takes path= or a positional path, not both", tokens.peek().pos)
        path = tokens.expect_value("a data path")
        options |= parse_options(tokens, SPATH_OPTIONS, "spath")
    tokens.expect_end("spath")
    output = options["output"].text if "output" in options else None
    if output is not None and path is None:
        raise SplError("spath output= needs a path", options["output"].pos)
    return ast.Spath(options["input"].text if "input" in options else "_raw", output,
                     None if path is None else path.text, pos)


FOREACH_OPTIONS = frozenset({"fieldstr", "matchstr", "mode"})


def parse_foreach(text: str, offset: int, pos: int) -> ast.Foreach:
    """Search Reference, foreach: ``foreach <wc-field>... [<subsearch>]``; in the bracketed
    commands ``<<FIELD>>`` is each matching field and ``<<MATCHSTR>>`` what its wildcard
    matched. Only the default mode (multifield) and the default templates are supported."""
    bracket = first_bracket(text, offset, "foreach")
    end = bracket_end(text, bracket)
    tokens = command_tokens(text[:bracket], offset)
    options = parse_options(tokens, FOREACH_OPTIONS, "foreach")
    if options:
        key = next(iter(options))
        raise SplError(f"unsupported foreach option '{key}'", options[key].pos)
    patterns = parse_field_list(tokens, "a field or wildcard")
    if text[end:].strip():
        raise SplError(f"unexpected '{text[end:].strip()[:20]}' after foreach's ']'", offset + end)
    return ast.Foreach(patterns, text[bracket + 1 : end - 1], offset + bracket + 1, pos)


def first_bracket(text: str, offset: int, command: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == '"':
            i = skip_quoted(text, i, '"')
            continue
        if text[i] == "[":
            return i
        i += 1
    raise SplError(f"{command} needs a [subsearch]", offset + len(text))


def parse_regex_command(text: str, offset: int, pos: int) -> ast.Regex:
    """Search Reference, regex: ``regex [<field>=|<field>!=]<regex>`` keeps the results
    whose field (default _raw) matches (or, with !=, does not match)."""
    tokens = command_tokens(text, offset)
    field, negate = "_raw", False
    if tokens.peek(1).kind == "OP" and tokens.peek(1).text in ("=", "!="):
        field = tokens.expect_value("a field").text
        negate = tokens.next().text == "!="
    pattern = tokens.expect_value("a regular expression")
    tokens.expect_end("regex")
    python_regex(pattern.text, pattern.pos)
    return ast.Regex(field, negate, pattern.text, pos)


def parse_mvexpand(text: str, offset: int, pos: int) -> ast.Mvexpand:
    """Search Reference, mvexpand: ``mvexpand <field> [limit=<n>]``."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, frozenset({"limit"}), "mvexpand")
    field = tokens.expect_value("a field")
    options |= parse_options(tokens, frozenset({"limit"}), "mvexpand")
    tokens.expect_end("mvexpand")
    return ast.Mvexpand(field.text, integer_option(options.get("limit"), 0, "limit"), pos)


MAKEMV_OPTIONS = frozenset({"delim", "tokenizer", "allowempty", "setsv"})


def parse_makemv(text: str, offset: int, pos: int) -> ast.Makemv:
    """Search Reference, makemv: ``makemv [delim=<s>|tokenizer=<regex>] [allowempty=<b>]
    <field>``; the default delimiter is a single space."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, MAKEMV_OPTIONS, "makemv")
    field = tokens.expect_value("a field")
    tokens.expect_end("makemv")
    if "setsv" in options:
        raise SplError("unsupported makemv option 'setsv'", options["setsv"].pos)
    tokenizer = options.get("tokenizer")
    allow_empty = "allowempty" in options and options["allowempty"].text.lower() in ("true", "t", "1")
    if tokenizer is not None:
        if "delim" in options:  # the syntax takes one or the other
            raise SplError("makemv takes delim or tokenizer, not both", options["delim"].pos)
        python_regex(tokenizer.text, tokenizer.pos)
        return ast.Makemv(field.text, None, tokenizer.text, allow_empty, pos)
    delim = options["delim"].text if "delim" in options else " "
    if not delim:
        raise SplError("makemv delim must not be empty", options["delim"].pos)
    return ast.Makemv(field.text, delim, None, allow_empty, pos)


JOIN_OPTIONS = frozenset({"type", "max", "usetime", "earlier", "overwrite"})


def parse_join(text: str, offset: int, pos: int) -> ast.Join:
    """Search Reference, join: ``join [type=inner|outer|left] [max=<n>] <fields> [<subsearch>]``
    (defaults: inner, max=1; outer is left)."""
    bracket = first_bracket(text, offset, "join")
    end = bracket_end(text, bracket)
    if text[end:].strip():
        raise SplError(f"unexpected '{text[end:].strip()[:20]}' after join's ']'", offset + end)
    tokens = command_tokens(text[:bracket], offset)
    options = parse_options(tokens, JOIN_OPTIONS, "join")
    fields = parse_field_list_options(tokens, options, JOIN_OPTIONS, "join")
    for key in options.keys() - {"type", "max"}:
        raise SplError(f"unsupported join option '{key}'", options[key].pos)
    kind = options["type"].text.lower() if "type" in options else "inner"
    if kind not in ("inner", "outer", "left"):
        raise SplError(f"unsupported join type '{kind}'", options["type"].pos)
    subsearch = parse_pipeline(text[bracket + 1 : end - 1], offset + bracket + 1)
    return ast.Join(fields, "inner" if kind == "inner" else "left",
                    integer_option(options.get("max"), 1, "max"), subsearch, pos)


def parse_xmlkv(text: str, offset: int, pos: int) -> ast.Xmlkv:
    """Search Reference, xmlkv: ``xmlkv [<field>]`` (default _raw)."""
    tokens = command_tokens(text, offset)
    parse_options(tokens, frozenset(), "xmlkv")  # maxinputs= limits what is read: refused by name
    field = "_raw" if tokens.at_end() else tokens.expect_value("a field").text
    parse_options(tokens, frozenset(), "xmlkv")
    tokens.expect_end("xmlkv")
    return ast.Xmlkv(field, pos)


def parse_fromjson(text: str, offset: int, pos: int) -> ast.Fromjson:
    """Search Reference, fromjson: ``fromjson <field> [prefix=<string>]``."""
    tokens = command_tokens(text, offset)
    options = parse_options(tokens, frozenset({"prefix"}), "fromjson")
    field = tokens.expect_value("a field holding JSON").text
    options |= parse_options(tokens, frozenset({"prefix"}), "fromjson")
    tokens.expect_end("fromjson")
    return ast.Fromjson(field, options["prefix"].text if "prefix" in options else "", pos)


ADDTOTALS_OPTIONS = frozenset({"row", "col", "fieldname", "labelfield", "label"})


def parse_addtotals(text: str, offset: int, pos: int) -> ast.Addtotals:
    """Search Reference, addtotals: each result's numeric fields (or those listed) summed
    into ``fieldname`` (default Total). Column totals (col=true) are refused."""
    tokens = command_tokens(text, offset)
    options: dict[str, Token] = {}
    fields = () if tokens.at_end() else parse_field_list_options(tokens, options, ADDTOTALS_OPTIONS, "addtotals", True)
    for key in ("row", "col"):
        wanted = "true" if key == "row" else "false"
        if key in options and options[key].text.lower() not in (wanted, wanted[0], str(int(wanted == "true"))):
            raise SplError(f"unsupported addtotals option '{key}={options[key].text}'", options[key].pos)
    for key in ("labelfield", "label"):
        if key in options:
            raise SplError(f"unsupported addtotals option '{key}'", options[key].pos)
    return ast.Addtotals(fields, options["fieldname"].text if "fieldname" in options else "Total", pos)


def parse_replace(text: str, offset: int, pos: int) -> ast.Replace:
    """Search Reference, replace: ``replace <wc-string> WITH <wc-string> [, ...] [IN <fields>]``."""
    tokens = command_tokens(text, offset)
    pairs = []
    while True:
        old = tokens.expect_value("a value to replace")
        if not tokens.is_word("with"):
            raise unexpected(tokens.peek(), f"WITH after '{old.text}'")
        tokens.next()
        new = tokens.expect_value("a replacement")
        if new.text.count("*") > old.text.count("*"):
            raise SplError("replace: the replacement has more wildcards than the value", new.pos)
        pairs.append((old.text, new.text))
        if tokens.is_op(","):
            tokens.next()
            continue
        if tokens.at_end() or tokens.is_word("in"):
            break
    fields: tuple[str, ...] = ()
    if tokens.is_word("in"):
        tokens.next()
        fields = parse_field_list(tokens, "a field name")
    tokens.expect_end("replace")
    return ast.Replace(tuple(pairs), fields, pos)


def parse_field_list_options(tokens: Tokens, options: dict, known: frozenset[str], command: str,
                             may_be_empty: bool = False) -> tuple[str, ...]:
    """A field list that may have ``key=value`` options between its fields."""
    fields = []
    while not tokens.at_end():
        if tokens.is_op(","):
            tokens.next()
            continue
        if tokens.peek(1).kind == "OP" and tokens.peek(1).text == "=":
            options |= parse_options(tokens, known, command)
            continue
        fields.append(tokens.expect_value("a field name").text)
    if not fields and not may_be_empty:
        raise unexpected(tokens.peek(), "a field name")
    return tuple(fields)


# --- eval / where -------------------------------------------------------------------


def parse_where(text: str, offset: int, pos: int) -> ast.Where:
    return ast.Where(parse_whole_expr(text, offset, "where"), pos)


def parse_whole_expr(text: str, offset: int, context: str) -> ast.Expr:
    """One eval expression filling ``text``."""
    tokens = Tokens(expr_tokens(text, offset))
    expr = parse_expr(tokens)
    tokens.expect_end(context)
    return expr


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
        tokens.enter(op)
        inner = ast.UnaryOp("NOT", parse_not_expr(tokens), op.pos)
        tokens.depth -= 1
        return inner
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
        tokens.enter(op)
        inner = ast.UnaryOp("-", parse_unary(tokens), op.pos)
        tokens.depth -= 1
        return inner
    return parse_primary(tokens)


def parse_primary(tokens: Tokens) -> ast.Expr:
    token = tokens.next()
    if token.kind == "NUMBER":
        return ast.Literal(to_number(token.text))
    if token.kind == "STRING":
        return ast.Literal(token.text)
    if token.kind == "FIELD":
        return ast.FieldRef(token.text)
    if token.kind == "OP" and token.text == "(":
        tokens.enter(token)
        inner = parse_expr(tokens)
        tokens.expect_op(")", "to close '('")
        tokens.depth -= 1
        return inner
    if token.kind == "WORD" and tokens.is_op("("):  # like(...) is a function here, not the operator
        tokens.enter(tokens.next())
        call = ast.Call(token.text.lower(), parse_arguments(tokens), token.pos)
        tokens.depth -= 1
        return call
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
    "bin": parse_bin,
    "bucket": parse_bin,
    "rex": parse_rex,
    "fillnull": parse_fillnull,
    "spath": parse_spath,
    "foreach": parse_foreach,
    "regex": parse_regex_command,
    "mvexpand": parse_mvexpand,
    "makemv": parse_makemv,
    "eventstats": parse_eventstats,
    "join": parse_join,
    "xmlkv": parse_xmlkv,
    "fromjson": parse_fromjson,
    "addtotals": parse_addtotals,
    "replace": parse_replace,
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

