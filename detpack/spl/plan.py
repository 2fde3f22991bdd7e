"""Compile a parsed pipeline into stages and, when provably safe, a raw-text prefilter.

A search starts either with ``| tstats ... from datamodel=X.Y`` (its input rows are
data-model rows: the caller normalises events with the data model) or with
``search`` (its input rows are the events' search-time fields).

Prefilter: a top-level AND term ``Obj.F=literal`` (or an OR of such terms) can only
match events whose raw text contains the literal's fixed parts, case-insensitively,
when F is a field whose values are always raw substrings (``verbatim_fields``), the
pattern cannot match a value the normaliser invents (``constant_values``) and the
literal holds no character that the raw XML would carry as an entity. A field whose
values are raw pieces joined by known characters (``RawPieces``) is used the same
way for literals without those characters.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import cached_property
import math
import re
from itertools import islice

from ..errors import Fresh, record
from . import ast
from .datasets import DatasetSearch, dataset_stage
from .errors import SplError, UnknownKnowledge
from .expressions import search_fields
from .number import to_number
from .evaluate import Row, Stage, aggregate_stage, command_stage, compile_search, fold, join_stage, value_matcher
from .lookup import Inputlookup, Lookup, inputlookup_stage, lookup_stage

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it
if TYPE_CHECKING:
    from .lookup import LookupTables  # a Protocol, defined for type checkers only

UNPREFIXED_FIELDS = frozenset({"_time", "host", "source", "sourcetype"})
ENTITY_CHARACTERS = frozenset("&<>\"'")
SEARCH_SCOPE = frozenset({"index", "earliest", "latest", "_index_earliest", "_index_latest"})
BOOLEAN_OPTIONS = {"summariesonly", "allow_old_summaries"}
BOOLEAN_WORDS = {"true", "false", "t", "f", "1", "0"}
NUMBER_TEXT = frozenset("0123456789.-infa")  # what functions.format_number writes (inf, nan included)


@record
class RawPieces:
    """What a field's values are made of, when not one of the constants: raw-text pieces
    joined by ``separators`` (characters of eval's literals, or of a multi-line value's
    line breaks), so a text without those characters found in a value is found in the raw
    text; or (``numbers``) the text of a number eval added up."""

    separators: frozenset[str] = frozenset()
    numbers: bool = False

    def allow(self, parts: tuple[str, ...]) -> bool:
        """Whether raw text must hold the (casefolded) ``parts`` of a pattern a value matches."""
        folded = {c for s in self.separators for c in fold(s)}
        if any(c in folded for p in parts for c in p):
            return False
        return not self.numbers or any(set(p) - NUMBER_TEXT for p in parts)


WHOLE = RawPieces()


@record
class Prefilter:
    """AND over clauses; a clause is an OR of alternatives; an alternative needs all
    its (casefolded) parts in the casefolded raw text."""

    clauses: tuple[tuple[tuple[str, ...], ...], ...]

    def keep(self, raw: str) -> bool:
        folded = fold(raw)
        return all(any(all(p in folded for p in alt) for alt in clause) for clause in self.clauses)

    def compile(self, then: Callable[[str], bool] | None = None) -> Callable[[str], bool]:
        """The fastest equivalent of ``keep`` (a single needle is the common case),
        followed by the test ``then`` when given; one call per event on the hot path.
        Its ``scan`` (a RawScan, or None) lets a reader skip the bytes of events it rejects."""
        single = len(self.clauses) == 1 and len(self.clauses[0]) == 1 and len(self.clauses[0][0]) == 1
        if single:
            needle = self.clauses[0][0][0]
            if then is None:
                test = lambda raw: needle in fold(raw)  # noqa: E731
            else:
                test = lambda raw: needle in fold(raw) and then(raw)  # noqa: E731
        else:
            keep = self.keep
            test = (lambda raw: keep(raw)) if then is None else (lambda raw: keep(raw) and then(raw))  # noqa: E731
        test.scan = self.scan() or getattr(then, "scan", None)
        return test

    def scan(self) -> "RawScan | None":
        """What the raw bytes of every event ``keep`` passes contain: a match of one
        clause's alternatives (each by its longest part), case-insensitively. Only for
        ASCII parts without line breaks (a one-line event cannot hold a line break)."""
        for clause in self.clauses:
            parts = [max(alternative, key=len) for alternative in clause]
            if all(p.isascii() and "\n" not in p and "\r" not in p for p in parts):
                return RawScan.of_folded(parts)
        return None


# Characters whose casefold holds an ASCII character (ß -> "ss", ſ -> "s", K -> "k",
# the ligature ﬁ -> "fi" ...): a text holding none of them has every ASCII
# character of its casefold at the place of an ASCII character of its own, so a
# folded ASCII needle is in the casefold exactly when the bytes hold the needle
# without regard to ASCII case. Checked against the whole of Unicode by a test.
ASCII_FOLDING = "\u00df\u0130\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9e\u212a" \
                "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"


@record
class RawScan:
    """A byte-level test a reader may run over many one-line events at once: an event
    whose UTF-8 bytes (invalid bytes included, which decode to U+FFFD) hold no match of
    ``pattern``, none of ``encodings`` and none of ``literals`` cannot pass the raw-text
    test it belongs to."""

    pattern: bytes  # a regular expression over bytes, for the ``regex`` module
    ignore_case: bool = False
    encodings: tuple[bytes, ...] = ()  # UTF-8 of characters that fold into the needles
    literals: tuple[bytes, ...] = ()  # bytes found apart (an alternative in the pattern slows all of it)

    @staticmethod
    def of_folded(needles: Iterable[str]) -> "RawScan":
        """Folded ASCII needles, matched in the casefold of the text."""
        needles = list(needles)
        letters = set("".join(needles))
        encodings = tuple(c.encode() for c in ASCII_FOLDING if letters & set(fold(c)))
        return RawScan(b"|".join(re.escape(n.encode()) for n in needles), True, encodings)

    @cached_property
    def compiled(self):
        import regex  # loaded when a reader first scans, not with the planner

        return regex.compile(self.pattern, regex.IGNORECASE if self.ignore_case else 0)

    @cached_property
    def compiled_literals(self):
        import regex

        return [regex.compile(regex.escape(literal)) for literal in self.literals]

    def line_starts(self, data: bytes, start: int, end: int) -> list[int]:
        """Start offsets, in order, of the lines of ``data[start:end]`` (lines end with
        b"\\n") that may pass; the others cannot."""
        found = set()
        for pattern in (self.compiled, *self.compiled_literals):  # each literal on its own keeps the fast search
            _add_matching_lines(pattern, data, start, end, found)
        for lead, encodings in self.leads.items():  # one pass per first byte
            at = data.find(lead, start, end)
            while at >= 0:
                if data.startswith(encodings, at):
                    found.add(data.rfind(b"\n", start, at) + 1 or start)
                at = data.find(lead, at + 1, end)
        return sorted(found)

    @cached_property
    def leads(self) -> dict[bytes, tuple[bytes, ...]]:
        return {e[:1]: tuple(f for f in self.encodings if f[:1] == e[:1]) for e in self.encodings}



def _add_matching_lines(pattern, data: bytes, start: int, end: int, found: set[int]) -> None:
    """Add to ``found`` the start of each line of ``data[start:end]`` where ``pattern``
    matches. ``concurrent``: the search releases the GIL (bytes cannot change under it),
    so a reading thread scans while the caller works."""
    pos = start
    while (match := pattern.search(data, pos, end, concurrent=True)) is not None:
        found.add(data.rfind(b"\n", start, match.start()) + 1 or start)
        pos = data.find(b"\n", match.start(), end) + 1 or end


Inputs = Callable[[str | None], Iterable[Row]]  # data model (None: events' fields) -> its rows


class Subsearch:
    """A join's subsearch: its plan and, once the search runs, its results."""

    def __init__(self, plan: "Plan", pos: int):
        self.plan = plan
        self.pos = pos
        self.inputs: Inputs | None = None

    def results(self) -> list[Row]:
        if self.inputs is None:
            raise SplError("join: the caller gave no rows for the subsearch", self.pos)
        # Search Reference, join: a subsearch returns at most 50,000 results (subsearch maxout).
        return list(islice(self.plan.execute(self.inputs(self.plan.datamodel), self.inputs), SUBSEARCH_MAXOUT))


SUBSEARCH_MAXOUT = 50_000


@record(frozen=False)
class Plan:
    datamodel: str | None  # e.g. "Endpoint.Processes" when input rows are data-model rows
    prefilter: Prefilter | None
    stages: list[Stage] = Fresh(list)
    subsearches: list[Subsearch] = Fresh(list)  # read the events again
    newest_first: bool = False  # events reordered by _time before the stages (order_sensitive)
    reads: frozenset[str] | None = None  # the data-model fields the stages read (None: any)

    def datamodels(self) -> set[str | None]:
        """Every input this search reads: its own and its subsearches'."""
        return {self.datamodel}.union(*(s.plan.datamodels() for s in self.subsearches))

    def keep(self, then: Callable[[str], bool] | None = None) -> Callable[[str], bool] | None:
        """The raw-text test for ``read_events`` (prefilter, then ``then``), or None."""
        if self.prefilter is None:
            return then
        return self.prefilter.compile(then)

    def execute(self, rows: Iterable[Row], inputs: Inputs | None = None) -> Iterator[Row]:
        """The results of ``rows`` (this search's input); ``inputs`` gives the rows of any
        subsearch (which reads the events again, perhaps through another data model)."""
        for subsearch in self.subsearches:
            subsearch.inputs = inputs
        stream: Iterator[Row] = iter(newest_first(rows) if self.newest_first else rows)
        for stage in self.stages:
            stream = stage(stream)
        return stream


def plan(pipeline: ast.Pipeline, datamodels: Collection[str],
         verbatim_fields: Mapping[str, RawPieces] | Collection[str] = (), constant_values: Collection[str] = (),
         lookups: LookupTables | None = None) -> Plan:
    """``lookups``: the lookup tables ``lookup``/``inputlookup`` read (injected by the caller);
    ``verbatim_fields``: names of fields whose values are raw substrings, or each with its RawPieces."""
    first, *rest = pipeline.commands
    for command in rest:
        if isinstance(command, (ast.Tstats, Inputlookup, DatasetSearch)):
            name = {ast.Tstats: "tstats", Inputlookup: "inputlookup"}.get(type(command), "datamodel/from")
            raise SplError(f"{name} must be the first command", command.pos)
    check_free_text(pipeline)
    subsearches: list[Subsearch] = []

    def stage_of(command: ast.Command) -> Stage:
        if isinstance(command, Lookup):
            return lookup_stage(command, lookups)
        if not isinstance(command, ast.Join):
            return command_stage(command)
        subsearch = Subsearch(plan(command.subsearch, datamodels, (), constant_values, lookups), command.pos)
        subsearches.append(subsearch)
        return join_stage(command, subsearch.results)

    if isinstance(first, DatasetSearch):
        if first.datamodel not in datamodels:
            raise UnknownKnowledge("data model", first.datamodel, first.pos)
        return Plan(first.datamodel, None, [dataset_stage(first), *map(stage_of, rest)], subsearches,
                    order_sensitive(pipeline))
    if isinstance(first, Inputlookup):
        return Plan(None, None, [inputlookup_stage(first, lookups), *map(stage_of, rest)], subsearches)
    if not isinstance(first, ast.Tstats):
        stages = [stage_of(c) for c in pipeline.commands]
        return Plan(None, None, stages, subsearches, order_sensitive(pipeline))
    stages = [stage_of(c) for c in rest]
    if first.datamodel not in datamodels:
        raise UnknownKnowledge("data model", first.datamodel, first.pos)
    check_tstats_options(first)
    check_tstats_where(first.where)
    prefix = first.datamodel.rsplit(".", 1)[-1] + "."
    resolve = datamodel_resolver(prefix)
    generator = tstats_stage(first, resolve)
    prefilter = None
    if first.where is not None:
        verbatim = verbatim_fields if isinstance(verbatim_fields, Mapping) else dict.fromkeys(verbatim_fields, WHOLE)
        prefilter = build_prefilter(first.where, prefix, verbatim, {fold(c) for c in constant_values})
    return Plan(first.datamodel, prefilter, [generator, *stages], subsearches, reads=tstats_reads(first, resolve))


def tstats_reads(command: ast.Tstats, resolve: Callable[[str], str | None]) -> frozenset[str] | None:
    """The data-model fields tstats reads from its rows: its filter's, its groups' and its
    aggregations' (and _time, which spans and time functions read); None for a wildcard."""
    names = list(command.by) + [a.field for a in command.aggregations if a.field] + ["_time"]
    if command.where is not None:
        names.extend(search_fields(command.where))
    if any("*" in name for name in names):
        return None
    return frozenset(field for name in names if (field := resolve(name)) is not None)


def check_free_text(pipeline: ast.Pipeline) -> None:
    """Refuse a free-text term once the results have no ``_raw`` (after stats, tstats,
    inputlookup, or table/fields without it). *Unverified*: whether Splunk then matches the
    term against the other fields' values (the Search Reference, search, speaks of _raw);
    rather than always false, it is refused by name."""
    dropped_by = None
    for command in pipeline.commands:
        if isinstance(command, ast.Search) and dropped_by:
            term = next(free_terms(command.expr), None)
            if term is not None:
                raise SplError(f"unsupported free-text term '{term.value}' after {dropped_by} "
                               "(its results have no _raw)", term.pos)
        dropped_by = dropped_by or raw_dropped_by(command)  # once gone, _raw does not come back


def raw_dropped_by(command: ast.Command) -> str | None:
    """The command's name when its results have no _raw."""
    if isinstance(command, (ast.Stats, ast.Tstats, Inputlookup)):
        return {ast.Stats: "stats", ast.Tstats: "tstats"}.get(type(command), "inputlookup")
    if isinstance(command, ast.Table) and "_raw" not in command.fields:
        return "table"
    if isinstance(command, ast.Fields) and (("_raw" in command.fields) == command.remove):
        return "fields"
    return None


def free_terms(expr: ast.SearchExpr) -> Iterator[ast.Term]:
    if isinstance(expr, ast.Term):
        yield expr
    elif isinstance(expr, (ast.And, ast.Or)):
        for item in expr.items:
            yield from free_terms(item)
    elif isinstance(expr, ast.Not):
        yield from free_terms(expr.item)


# --- event order ------------------------------------------------------------------------
# A search over events sees them newest first (Search Reference, "Event order functions":
# first() is "the most recent instance of this field, based on the order in which the
# events are seen"); replayed files hold them in any order. Only searches whose results
# depend on that order are reordered, since it holds every event the search keeps in
# memory. *Unverified*: Splunk's order among events of the same _time; here, file order.
ORDER_FUNCTIONS = frozenset({"first", "last", "list"})


def order_sensitive(pipeline: ast.Pipeline) -> bool:
    """Does any command pick rows or values by their order (head, dedup, first/last/list)?"""
    for command in pipeline.commands:
        if isinstance(command, (ast.Head, ast.Dedup)):
            return True
        if isinstance(command, (ast.Stats, ast.Eventstats)) and \
                any(a.func in ORDER_FUNCTIONS for a in command.aggregations):
            return True
    return False


def newest_first(rows: Iterable[Row]) -> list[Row]:
    """Rows by descending _time (a stable sort); rows without a numeric _time last."""
    def key(row: Row) -> float:
        when = to_number(row.get("_time"))
        return -when if when is not None else math.inf

    return sorted(rows, key=key)


def datamodel_resolver(prefix: str) -> Callable[[str], str | None]:
    """``Processes.dest`` → ``dest``; _time/host/source/sourcetype stay; other names are null."""
    def resolve(name: str) -> str | None:
        if name.startswith(prefix):
            return name[len(prefix):]
        return name if name in UNPREFIXED_FIELDS else None

    return resolve


def check_tstats_options(command: ast.Tstats) -> None:
    for key, value in command.options:
        if key in BOOLEAN_OPTIONS and value.lower() not in BOOLEAN_WORDS:
            raise SplError(f"tstats {key} must be true or false, not '{value}'", command.pos)


def check_tstats_where(expr: ast.SearchExpr | None) -> None:
    """Refuse ``nodename``: it selects a data-model node, which this engine does not do
    (it would otherwise be a field that is always null and match nothing)."""
    if isinstance(expr, (ast.And, ast.Or)):
        for item in expr.items:
            check_tstats_where(item)
    elif isinstance(expr, ast.Not):
        check_tstats_where(expr.item)
    elif isinstance(expr, ast.Term):
        raise SplError(f"unsupported free-text term '{expr.value}' in tstats (data-model rows have no _raw)", expr.pos)
    elif isinstance(expr, (ast.Compare, ast.InList)) and expr.field.lower() == "nodename":
        raise SplError(f"unsupported tstats filter '{expr.field}' (data-model node selection)", expr.pos)
    elif isinstance(expr, (ast.Compare, ast.InList)) and expr.field.lower() in SEARCH_SCOPE:
        # Search Reference, tstats: index, earliest and latest in WHERE choose the indexes and
        # time range searched; they are not fields of the rows (which would make them false).
        raise SplError(f"unsupported tstats filter '{expr.field}' (index or time range selection)", expr.pos)


def tstats_stage(command: ast.Tstats, resolve: Callable[[str], str | None]) -> Stage:
    """Filter data-model rows with ``where``, then aggregate per BY group."""
    for aggregation in command.aggregations:
        if aggregation.expr is not None:
            raise SplError("tstats takes no eval expressions", aggregation.pos)
    aggregate = aggregate_stage(command.aggregations, command.by, resolve, command.option("fillnull_value"),
                                command.span)
    if command.where is None:
        return aggregate
    test = compile_search(command.where, resolve)
    return lambda rows: aggregate(row for row in rows if test(row))


# --- prefilter -------------------------------------------------------------------------


def build_prefilter(where: ast.SearchExpr, prefix: str, verbatim: Mapping[str, RawPieces],
                    constants: set[str]) -> Prefilter | None:
    terms = where.items if isinstance(where, ast.And) else (where,)
    clauses = [c for t in terms if (c := clause_of(t, prefix, verbatim, constants)) is not None]
    return Prefilter(tuple(clauses)) if clauses else None


def clause_of(term: ast.SearchExpr, prefix: str, verbatim: Mapping[str, RawPieces], constants: set[str]):
    if isinstance(term, ast.InList):
        alternatives = tuple(ast.Compare(term.field, "=", v, term.pos) for v in term.values)
    else:
        alternatives = term.items if isinstance(term, ast.Or) else (term,)
    needed = []
    for alt in alternatives:
        parts = needed_parts(alt, prefix, verbatim, constants)
        if parts is None:
            return None
        needed.append(parts)
    return tuple(needed)


def needed_parts(term: ast.SearchExpr, prefix: str, verbatim: Mapping[str, RawPieces], constants: set[str]):
    """The raw-text parts an event must contain for ``term`` to match, or None if unsure."""
    if not isinstance(term, ast.Compare) or term.op != "=" or not term.field.startswith(prefix):
        return None
    pieces = verbatim.get(term.field[len(prefix):])
    if pieces is None:
        return None
    parts = tuple(p for p in fold(term.value).split("*") if p)
    if not parts or any(c in ENTITY_CHARACTERS for p in parts for c in p) or not pieces.allow(parts):
        return None
    matches = value_matcher(term.value)
    if any(matches(c) for c in constants):
        return None
    return parts
