"""``eventtypes.conf`` and ``tags.conf``: the ``eventtype`` and ``tag`` fields.

An event type (eventtypes.conf.spec) is a stanza with ``search = <search terms>``
(``disabled = 1`` turns it off); an event gets ``eventtype`` = every event type
whose search it matches, evaluated by the SPL engine's search evaluator. Tags
(tags.conf.spec) are stanzas ``[<field>=<value>]`` with ``<tag> = enabled|disabled``;
an event gets ``tag`` = the enabled tags of every field value it has, event
types included (``[eventtype=<name>]``), and ``tag::<field>`` per field.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from ..spl import SplError, ast, expand
from ..spl.expressions import SearchExpression, compile_search_text
from .addons import Setting
from .problems import Problems
from .transforms import truthy

Fields = dict


@dataclass(frozen=True)
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
            todo.extend(fnmatch.filter(by_name, pattern.lower()) if "*" in pattern else [pattern])
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
            for name in sorted(fnmatch.filter(by_name, pattern.lower()) if "*" in pattern else [pattern]):
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
                            tags: dict[str, dict[str, list[str]]]) -> None:
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
