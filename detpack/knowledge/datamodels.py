"""Data models from their JSON (the CIM app's ``default/data/models/<Model>.json``).

``objects[]`` each have ``objectName``, ``parentName`` (``BaseEvent``,
``BaseSearch`` or another object of the model), ``constraints[].search``,
``fields[]`` and ``calculations[]``. A dataset ``Model.Object`` is the chain from
the root object down: its events match every constraint on the chain, its
fields are the chain's fields and calculation outputs plus ``_time``, ``host``,
``source`` and ``sourcetype``, and its calculations run in chain order after
the event's own fields (an Eval's null result leaves the field null).
A root whose ``parentName`` is ``BaseSearch`` (how the CIM app ships its models,
e.g. Endpoint's ``"baseSearch": "(`cim_Endpoint_indexes`) tag=process tag=report |
eval process_integrity_level=lower(process_integrity_level)"``) takes its
``baseSearch``: the search before the first ``|`` is a constraint and each ``eval``
after it a calculation run before the object's own; any other command there is
reported and not applied. Calculations other than Eval are reported and skipped.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from ..errors import record
from ..spl import SplError, ast, expand, parse
from ..spl.evaluate import compile_expr, compile_search
from ..spl.expressions import (EvalExpression, SearchExpression, compile_eval_text, compile_search_text, eval_fields,
                               search_fields)
from .addons import Setting
from .eventtypes import empty_groups_removed
from .problems import Problems

BASE_FIELDS = ("_time", "host", "source", "sourcetype")
Fields = dict


@record
class Calculation:
    outputs: tuple[str, ...]
    expression: EvalExpression


@record
class Dataset:
    name: str  # "Endpoint.Processes"
    constraints: tuple[SearchExpression, ...]
    fields: tuple[str, ...]
    calculations: tuple[Calculation, ...]

    @property
    def reads(self) -> frozenset[str]:
        """The event fields a row of this dataset can depend on."""
        read = set(self.fields) | set(BASE_FIELDS)
        for c in self.constraints:
            read |= c.fields
        for calc in self.calculations:
            read |= calc.expression.fields
        return frozenset(read)

    def required_tags(self) -> frozenset[str] | None:
        """The tags every event of the dataset has, lower-cased, when its constraints
        are only ``tag=<literal>`` terms (the CIM's form); else None. Lower-cased since
        a search's ``field=value`` matches without case (facts document
        cim-endpoint-processes.md, from the Search Reference), so ``tag=process`` matches a
        tag written ``Process`` in tags.conf."""
        tags = set()
        for constraint in self.constraints:
            terms = constraint.expr.items if isinstance(constraint.expr, ast.And) else (constraint.expr,)
            for term in terms:
                if not (isinstance(term, ast.Compare) and term.op == "=" and term.field == "tag"
                        and "*" not in term.value):
                    return None
                tags.add(term.value.lower())
        return frozenset(tags)

    def row(self, fields: Fields) -> dict | None:
        if not all(c.test(fields) for c in self.constraints):
            return None
        if self.calculations:
            fields = dict(fields)
            for calc in self.calculations:
                value = calc.expression.evaluate(fields)
                if isinstance(value, bool):
                    value = None
                for output in calc.outputs:
                    if value is None:
                        fields.pop(output, None)
                    else:
                        fields[output] = value
        row = {name: value for name in self.fields if (value := fields.get(name)) is not None}
        for name in BASE_FIELDS:
            if name in fields:
                row[name] = fields[name]
        return row


def load_datamodel(origin: Setting, text: str, macros: Mapping, problems: Problems) -> list[Dataset]:
    """Every dataset of one model file (``origin`` names its add-on, layer and path);
    a file that is not a model is reported."""
    try:
        model = json.loads(text)
        name = model["modelName"]
        objects = {o["objectName"]: o for o in model["objects"]}
    except (ValueError, KeyError, TypeError) as error:
        problems.add(origin, "(file)", "(json)", f"not a data model ({error}), ignored")
        return []
    datasets = []
    for object_name in objects:
        chain = object_chain(object_name, objects)
        if chain is None:
            problems.add(origin, object_name, "parentName", "unknown parent, ignored")
            continue
        datasets.append(build_dataset(f"{name}.{object_name}", chain, macros, problems, origin))
    return datasets


def object_chain(name: str, objects: dict) -> list[dict] | None:
    chain, seen = [], set()
    while name in objects and name not in seen:
        seen.add(name)
        chain.append(objects[name])
        name = objects[name].get("parentName", "BaseEvent")
    if name not in ("BaseEvent", "BaseSearch"):
        return None
    return list(reversed(chain))


def build_dataset(name: str, chain: list[dict], macros: Mapping, problems: Problems, origin: Setting) -> Dataset:
    constraints, fields, calculations = [], [], []
    for obj in chain:
        if obj.get("baseSearch"):
            base_search(obj, macros, problems, origin, constraints, calculations)
        for constraint in obj.get("constraints", ()):
            text = constraint.get("search", "")
            try:
                constraints.append(compile_search_text(empty_groups_removed(expand(text, macros))))
            except SplError as error:
                problems.add(origin, obj["objectName"], "constraints",
                             f"search the engine cannot run ({error.message}); the dataset matches nothing")
                constraints.append(SearchExpression(None, lambda row: False, frozenset()))
        for field in obj.get("fields", ()):
            if field.get("fieldName") not in fields and field.get("fieldName") not in BASE_FIELDS:
                fields.append(field["fieldName"])
        for calc in obj.get("calculations", ()):
            outputs = tuple(o["fieldName"] for o in calc.get("outputFields", ()) if "fieldName" in o)
            fields.extend(o for o in outputs if o not in fields)
            if calc.get("calculationType") != "Eval":
                problems.add(origin, obj["objectName"], "calculations",
                             f"{calc.get('calculationType')} calculations are not supported ({', '.join(outputs)} stay null)")
                continue
            try:
                calculations.append(Calculation(outputs, compile_eval_text(calc.get("expression", ""))))
            except SplError as error:
                problems.add(origin, obj["objectName"], "calculations",
                             f"expression for {', '.join(outputs)} the engine cannot run ({error.message}), ignored")
    return Dataset(name, tuple(constraints), tuple(fields), tuple(calculations))


def base_search(obj: dict, macros: Mapping, problems: Problems, origin: Setting,
                constraints: list, calculations: list) -> None:
    """A BaseSearch root's search: its terms a constraint, its ``eval`` assignments
    calculations (in order: each sees the ones before it, as in ``eval``)."""
    try:
        pipeline = parse(empty_groups_removed(expand(obj["baseSearch"], macros)))
    except SplError as error:
        problems.add(origin, obj["objectName"], "baseSearch",
                     f"search the engine cannot run ({error.message}); the dataset matches nothing")
        constraints.append(SearchExpression(None, lambda row: False, frozenset()))
        return
    for command in pipeline.commands:
        if isinstance(command, ast.Search) and not calculations_before(command, pipeline):
            expr = command.expr
            constraints.append(SearchExpression(expr, compile_search(expr), frozenset(search_fields(expr))))
        elif isinstance(command, ast.Eval):
            for field, expr in command.assignments:
                calculations.append(Calculation((field,), EvalExpression(expr, compile_expr(expr),
                                                                         frozenset(eval_fields(expr)))))
        else:
            problems.add(origin, obj["objectName"], "baseSearch",
                         f"command '{type(command).__name__.lower()}' is not applied to the dataset's events")


def calculations_before(command, pipeline: ast.Pipeline) -> bool:
    """A search after an eval reads what the eval made: not a plain constraint."""
    return any(isinstance(c, ast.Eval) for c in pipeline.commands[:pipeline.commands.index(command)])

