"""``eventtypes.conf`` and ``tags.conf``: the ``eventtype`` and ``tag`` fields.

An event type (eventtypes.conf.spec) is a stanza with ``search = <search terms>``
(``disabled = 1`` turns it off); an event gets ``eventtype`` = every event type
whose search it matches, evaluated by the SPL engine's search evaluator. Tags
(tags.conf.spec) are stanzas ``[<field>=<value>]`` with ``<tag> = enabled|disabled``;
an event gets ``tag`` = the enabled tags of every field value it has, event
types included (``[eventtype=<name>]``), and ``tag::<field>`` per field.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import unquote

from ..errors import record
from ..spl import SplError, ast, expand
from ..spl.evaluate import compile_search, fold, value_matcher
from ..spl.expressions import SearchExpression, compile_search_text, search_fields
from ..spl.functions import to_text, values_of
from .addons import Setting
from .problems import Problems
from .transforms import truthy

Fields = dict


@record
class EventType:
    name: str
    search: SearchExpression

    @property
    def refers(self) -> bool:
        """Whether its search reads other event types (``eventtype=<name>``)."""
        return "eventtype" in self.search.fields


def referenced(expr) -> Iterator[str]:
    if isinstance(expr, ast.Compare) and expr.field == "eventtype":
        yield expr.value
    elif isinstance(expr, ast.InList) and expr.field == "eventtype":
        yield from expr.values
    elif isinstance(expr, (ast.And, ast.Or)):
        for item in expr.items:
            yield from referenced(item)
    elif isinstance(expr, ast.Not):
        yield from referenced(expr.item)


def named(pattern: str, names) -> list[str]:
    """The event type names an ``eventtype=<pattern>`` term matches: a search term, so
    case-insensitive with ``*`` as its only wildcard (as the search evaluator tests it)."""
    matches = value_matcher(pattern)
    return [name for name in names if matches(name)]


def eventtype_closure(names: set[str], eventtypes: list[EventType]) -> set[str]:
    """``names`` and every event type their searches read, transitively."""
    by_name = {e.name: e for e in eventtypes}
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found or name not in by_name:
            continue
        found.add(name)
        for pattern in referenced(by_name[name].search.expr):
            todo.extend(named(pattern, by_name))
    return found


def dependency_order(eventtypes: list[EventType]) -> list[EventType]:
    """Event types after the ones their searches read, so ``eventtype=x`` sees x's
    result; a cycle is broken in name order (such a search sees no result for it)."""
    by_name = {e.name: e for e in eventtypes}
    ordered: list[EventType] = []
    state: dict[str, str] = {}

    def visit(eventtype: EventType) -> None:
        if state.get(eventtype.name):
            return
        state[eventtype.name] = "visiting"
        for pattern in referenced(eventtype.search.expr):
            for name in sorted(named(pattern, by_name)):
                if name in by_name and not state.get(name):
                    visit(by_name[name])
        state[eventtype.name] = "done"
        ordered.append(eventtype)

    for eventtype in eventtypes:
        visit(eventtype)
    return ordered


def compile_eventtypes(stanzas: dict[str, dict[str, Setting]], macros: Mapping, problems: Problems) -> list[EventType]:
    compiled = []
    for name in sorted(stanzas):
        settings = stanzas[name]
        if "disabled" in settings and truthy(settings["disabled"].value):
            continue
        if "search" not in settings:
            continue
        setting = settings["search"]
        try:
            compiled.append(EventType(name, compile_search_text(empty_groups_removed(expand(setting.value, macros)))))
        except SplError as error:
            problems.add(setting, name, "search", f"search the engine cannot run ({error.message}), ignored")
    return dependency_order(compiled)


def empty_groups_removed(search: str) -> str:
    """``()`` (what the CIM's index macros expand to by default) restricts nothing."""
    previous = None
    while previous != search:
        previous, search = search, search.replace("()", "")
    return search


def compile_tags(stanzas: dict[str, dict[str, Setting]], problems: Problems) -> dict[str, dict[str, list[str]]]:
    """field → value → enabled tags."""
    tags: dict[str, dict[str, list[str]]] = {}
    for name, settings in stanzas.items():
        field, sep, value = name.partition("=")
        if not sep:
            problems.add(next(iter(settings.values()), None), name, "(stanza)", "not a <field>=<value> stanza, ignored")
            continue
        enabled = [tag for tag, s in settings.items() if s.value.strip().lower() == "enabled"]
        if enabled:
            # tags.conf.spec: "It is recommended that the value be URL encoded" (the Windows
            # add-on writes [app=win%3Alocal]); %XX is decoded, "+" kept (unverified).
            tags.setdefault(field.strip(), {})[unquote(value.strip())] = sorted(enabled)
    return tags


def matching_eventtypes(fields: Fields, eventtypes: list[EventType]) -> list[str]:
    """The names of the event types (in dependency order) whose search ``fields`` match; one that
    reads ``eventtype`` sees those matched before it in ``fields``."""
    matched: list[str] = []
    for eventtype in eventtypes:
        if eventtype.refers:
            fields["eventtype"] = list(matched)
        if eventtype.search.test(fields):
            matched.append(eventtype.name)
    return matched


def add_eventtypes_and_tags(fields: Fields, eventtypes: list[EventType],
                            tags: dict[str, dict[str, list[str]]], matcher: "EventTypeMatcher | None" = None) -> None:
    """``matcher``: the same event types planned for the event's sourcetype and source
    (used when the event still has them)."""
    if matcher is not None and matcher.applies(fields):
        matched = matcher.matching(fields)
    else:
        matched = matching_eventtypes(fields, eventtypes)
    if matched:
        fields["eventtype"] = matched[0] if len(matched) == 1 else sorted(matched)
    else:
        fields.pop("eventtype", None)
    found: list[str] = []
    for field, by_value in tags.items():
        value = fields.get(field)
        if value is None:
            continue
        per_field: list[str] = []
        for v in value if isinstance(value, list) else (value,):
            per_field.extend(t for t in by_value.get(str(v), ()) if t not in per_field)
        if per_field:
            fields[f"tag::{field}"] = per_field[0] if len(per_field) == 1 else per_field
            found.extend(t for t in per_field if t not in found)
    if found:
        fields["tag"] = found[0] if len(found) == 1 else sorted(found)


# --- event types as they stand for one sourcetype and source ---------------------------

FIXED_FIELDS = ("sourcetype", "source")


class EventTypeMatcher:
    """The event types for events of one sourcetype and source, planned once.

    Each search is simplified with those two values known (``source=WinEventLog:System``
    is decided once, not per event); ``eventtype=x`` of an event type decided that way
    becomes a constant too. What is left of each search is then run per event: a search
    that is only ``f=v1 OR f=v2 ...`` (no wildcard, as most Windows event types test
    EventCode) becomes one table look-up per field; the rest are tested in dependency
    order, those reading ``eventtype`` last, each seeing what matched before it
    (``matching_eventtypes``). ``fields``: what the remaining searches read."""

    def __init__(self, eventtypes: list[EventType], fixed: dict[str, str | None]):
        self.fixed = tuple(fixed.get(f) for f in FIXED_FIELDS)
        row = {f: v for f, v in fixed.items() if v is not None}
        names = {fold(e.name) for e in eventtypes}
        known: dict[str, bool] = {}
        self.always: list[str] = []
        tables: dict[str, dict[str, list[str]]] = {}
        self.tested: list[EventType] = []
        self.referring: list[EventType] = []
        for eventtype in eventtypes:
            expr = specialized(eventtype.search.expr, row, known, names)
            if isinstance(expr, bool):
                known[fold(eventtype.name)] = expr
                if expr:
                    self.always.append(eventtype.name)
                continue
            membership = literal_membership(expr)
            if membership is not None:
                field, values = membership
                table = tables.setdefault(field, {})
                for value in values:
                    table.setdefault(fold(value), [])
                    if eventtype.name not in table[fold(value)]:
                        table[fold(value)].append(eventtype.name)
                continue
            compiled = EventType(eventtype.name, SearchExpression(expr, compile_search(expr),
                                                                  frozenset(search_fields(expr))))
            (self.referring if compiled.refers else self.tested).append(compiled)
        self.tables = list(tables.items())
        self.fields = frozenset(tables).union(*(e.search.fields for e in self.tested + self.referring))

    def applies(self, fields: Fields) -> bool:
        """Whether ``fields`` still have the sourcetype and source this plan was made for."""
        return (fields.get("sourcetype"), fields.get("source")) == self.fixed

    def matching(self, fields: Fields) -> list[str]:
        matched = list(self.always)
        for field, table in self.tables:
            value = fields.get(field)
            if value is None:
                continue
            if value.__class__ is str:
                matched.extend(table.get(fold(value), ()))
            else:
                for v in values_of(value):
                    matched.extend(n for n in table.get(fold(to_text(v)), ()) if n not in matched)
        for eventtype in self.tested:
            if eventtype.search.test(fields):
                matched.append(eventtype.name)
        for eventtype in self.referring:
            fields["eventtype"] = list(matched)
            if eventtype.search.test(fields):
                matched.append(eventtype.name)
        return matched


def specialized(expr, row: dict, known: dict[str, bool], names: set[str]):
    """``expr`` with the terms on ``row``'s fields (and on decided event types) replaced by
    their truth: True, False or a smaller expression. A term is decided by the engine's
    own test on ``row``, so the result is the same as testing the whole event."""
    if isinstance(expr, ast.MatchAll):
        return True
    if isinstance(expr, (ast.Compare, ast.InList)):
        if expr.field in row:
            return compile_search(expr)(row)
        if expr.field == "eventtype":
            return eventtype_term(expr, known, names)
        return expr
    if isinstance(expr, ast.Not):
        inner = specialized(expr.item, row, known, names)
        return (not inner) if isinstance(inner, bool) else ast.Not(inner)
    if isinstance(expr, (ast.And, ast.Or)):
        decisive = isinstance(expr, ast.Or)  # the value that decides the whole group
        items = []
        for item in expr.items:
            item = specialized(item, row, known, names)
            if item is decisive:
                return decisive
            if not isinstance(item, bool):
                items.append(item)
        if not items:
            return not decisive
        return items[0] if len(items) == 1 else type(expr)(tuple(items))
    return expr  # a free-text term reads _raw


def eventtype_term(expr, known: dict[str, bool], names: set[str]):
    """``eventtype=<name>`` (or ``IN``) once the named event types are decided; a name
    no event type has never matches."""
    if isinstance(expr, ast.Compare) and (expr.op != "=" or expr.case_sensitive):
        return expr
    values = [expr.value] if isinstance(expr, ast.Compare) else list(expr.values)
    if any("*" in v for v in values):
        return expr
    truths = [known.get(fold(v), False if fold(v) not in names else None) for v in values]
    if any(t is True for t in truths):
        return True
    if all(t is False for t in truths):
        return False
    return expr


def literal_membership(expr) -> tuple[str, list[str]] | None:
    """(field, values) when ``expr`` is only ``field=value`` terms joined by OR (or an
    ``IN`` list) on one field other than ``eventtype``, without wildcards."""
    terms = expr.items if isinstance(expr, ast.Or) else (expr,)
    field, values = None, []
    for term in terms:
        if isinstance(term, ast.Compare) and term.op == "=" and not term.case_sensitive:
            found = (term.field, [term.value])
        elif isinstance(term, ast.InList):
            found = (term.field, list(term.values))
        else:
            return None
        if found[0] == "eventtype" or (field is not None and found[0] != field) or any("*" in v for v in found[1]):
            return None
        field = found[0]
        values.extend(found[1])
    return field, values
