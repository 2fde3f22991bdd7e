"""Can the offline engine run a search? Expand, parse and plan it, and say why not.

Receives plain values (search texts, a macro table, the data-model names the
engine has) so that ``validate --spl`` and the coverage benchmark share it. A
search that fails only because a data model or lookup is not known to the
engine is told apart from one that uses SPL the engine does not speak: it will
run once that knowledge is given.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Container, Mapping

from ..errors import record
from .ast import Join, Pipeline
from .errors import SplError, UnknownKnowledge
from .lookup import Inputlookup, Lookup
from .macros import MacroDef, expand
from .parse import parse
from .plan import plan

PARSE, PLAN, KNOWLEDGE, OK = "parse", "plan", "knowledge", "ok"


@record
class SearchCheck:
    name: str
    outcome: str  # ok, knowledge (only a data model/lookup is missing), plan or parse
    problem: str | None = None  # one line: the construct and what is wrong
    position: int | None = None  # offset in the macro-expanded search
    missing: tuple[str, ...] = ()  # knowledge objects the search needs and the engine lacks
    near: str = ""  # the expanded search from ``position`` on, shortened: what a reader looks for

    @property
    def parsed(self) -> bool:
        return self.outcome != PARSE

    @property
    def runs(self) -> bool:
        return self.outcome == OK

    def as_dict(self) -> dict:
        return {"name": self.name, "outcome": self.outcome, "problem": self.problem,
                "position": self.position, "near": self.near, "missing": list(self.missing)}

    def __str__(self) -> str:
        if self.outcome == OK:
            return f"{self.name}: ok"
        where = "" if self.position is None else f" at position {self.position}"
        where += f' (near "{self.near}")' if self.near else ""
        if self.outcome == KNOWLEDGE:
            at = "" if self.position is None else f" (first at position {self.position})"
            return f"{self.name}: needs {', '.join(self.missing)}{at}"
        return f"{self.name}: {self.outcome} error: {self.problem}{where}"


# The parser bounds nesting; this is the last guard, for a shape it does not foresee.
TOO_DEEP = "search nested too deeply for this engine"
NEAR = 30  # characters of context shown after a position
RAW_CONTEXT = 4 * NEAR  # enough raw text to fill NEAR characters once whitespace is folded


class NamedTables:
    """Stands for the lookup tables while checking: every table exists (so planning goes on
    past it) and each name asked for is noted, to be told apart from the known ones."""

    def __init__(self) -> None:
        self.named: list[str] = []

    def has(self, table: str) -> bool:
        self.named.append(table)
        return True

    def defined(self, table: str) -> bool:
        return True


def check_search(name: str, search: str, macros: Mapping[str, MacroDef], datamodels: Collection[str],
                 lookups: Container[str] = ()) -> SearchCheck:
    """``lookups``: the names of the lookup tables the search may read (the pack's and the add-ons')."""
    expanded = None
    try:
        expanded = expand(search, macros)
        pipeline = parse(expanded)
    except RecursionError:
        return SearchCheck(name, PARSE, TOO_DEEP)
    except SplError as error:
        # Before expansion succeeds, positions point into the search as written.
        return SearchCheck(name, PARSE, error.message, error.position, (),
                           near(expanded if expanded is not None else search, error.position))
    known, missing = set(datamodels), []
    first: UnknownKnowledge | None = None
    while True:
        tables = NamedTables()
        try:
            plan(pipeline, known, lookups=tables)
        except UnknownKnowledge as error:
            # Plan again as if it were known, to learn whether anything else is wrong.
            first = first or error
            missing.append(f"{error.kind} '{error.name}'")
            known.add(error.name)
            continue
        except SplError as error:
            return SearchCheck(name, PLAN, error.message, error.position, tuple(missing),
                               near(expanded, error.position))
        except RecursionError:
            return SearchCheck(name, PLAN, TOO_DEEP, None, tuple(missing))
        unknown_tables = [table for table in dict.fromkeys(tables.named) if table not in lookups]
        missing += [f"lookup '{table}'" for table in unknown_tables]
        if not missing:
            return SearchCheck(name, OK)
        if first is not None:
            return SearchCheck(name, KNOWLEDGE, first.message, first.position, tuple(missing))
        position = table_positions(pipeline).get(unknown_tables[0])
        return SearchCheck(name, KNOWLEDGE, f"unknown lookup '{unknown_tables[0]}'", position, tuple(missing))


def table_positions(pipeline: Pipeline) -> dict[str, int]:
    """Where each lookup table is first named, join subsearches included."""
    found: dict[str, int] = {}
    for command in pipeline.commands:
        if isinstance(command, (Lookup, Inputlookup)):
            found.setdefault(command.table, command.pos)
        elif isinstance(command, Join):
            for table, pos in table_positions(command.subsearch).items():
                found.setdefault(table, pos)
    return found


def near(text: str, position: int | None) -> str:
    if position is None:
        return ""
    context = " ".join(text[position : position + RAW_CONTEXT].split())
    return context[:NEAR] + ("…" if len(context) > NEAR else "")


def summary(checks: list[SearchCheck]) -> str:
    """One line: how many searches parse, plan (given the knowledge they name) and run."""
    counts = Counter(c.outcome for c in checks)
    parsed = len(checks) - counts[PARSE]
    planned = counts[OK] + counts[KNOWLEDGE]
    return (f"{len(checks)} search(es): {parsed} parse, {planned} plan, {counts[OK]} run offline; "
            f"{counts[KNOWLEDGE]} need a data model or lookup the engine lacks, "
            f"{counts[PLAN]} use SPL it cannot plan, {counts[PARSE]} do not parse")
