"""Which data-model fields the raw-text prefilter may rely on.

The planner's prefilter drops an event unparsed when its raw text lacks a literal
the search compares a field with. That is sound only for fields whose every value
is a substring of ``_raw`` or one of a few known constants. This module traces
each field back through the knowledge that can make it: the reader's own XML
fields are raw substrings (entities kept encoded); an alias inherits its
source; pieces, trims and ``mvindex`` of a field stay substrings; ``if``/``case``/
``coalesce`` are the union of their branches; literals are constants; anything
else (concatenation, ``lower``, ``replace``, lookups, KV_MODE=xml/json, which
decode entities; ``eventtype`` and ``tag``, named by eventtypes.conf and tags.conf)
is not traceable. A data model's calculations are traced in chain order, each
reading the fields as the earlier ones left them.
"""
from __future__ import annotations

import re

from ..errors import record
from ..spl import ast
from ..spl.errors import SplError
from ..spl.expressions import compile_eval_text
from .datamodels import Dataset
from .engine import Knowledge, split_in_field
from .lookups import LookupSyntaxError, call_outputs, parse_lookup_call
from .props import is_literal

SINGLE_GROUP = re.compile(r'"?\$\d+"?\Z')
SUBSTRING_FUNCTIONS = frozenset({"mvindex", "split", "trim", "ltrim", "rtrim"})
BRANCH_FUNCTIONS = frozenset({"if", "case", "coalesce"})
EVENTTYPE_OUTPUTS = frozenset({"eventtype", "tag"})


@record
class Trace:
    verbatim: bool
    constants: frozenset[str] = frozenset()


UNTRACEABLE = Trace(False)


def union(traces) -> Trace:
    traces = list(traces)
    if any(not t.verbatim for t in traces):
        return UNTRACEABLE
    return Trace(True, frozenset().union(*(t.constants for t in traces)))


class Tracer:
    def __init__(self, knowledge: Knowledge):
        self.producers: dict[str, list] = {}  # field → [("alias", source) | ("eval", expr) | ("opaque",)]
        self.by_stanza: dict[str, dict[str, list]] = {}  # stanza → field → producers
        self.key_stanzas: dict[str, list[str]] = {}  # props key → stanzas setting it
        self.any_field_opaque = False
        self.extraction_sources: set[str] = set()  # fields REPORT/EXTRACT read (other than _raw)
        self.memo: dict[str, Trace] = {}  # field → trace as the knowledge leaves it
        self.stage: dict[str, Trace] = {}  # field → trace after the data model's calculations so far
        self.filled: dict[str, ast.Literal] = {}  # stage field → constant a fill calculation gave it when missing
        self.collect(knowledge)
        # A capture is a substring of what it reads: untraceable when what it reads is.
        if any(not self.field(source).verbatim for source in self.extraction_sources):
            self.any_field_opaque = True
        self.memo.clear()

    def collect(self, knowledge: Knowledge) -> None:
        for stanza, settings in knowledge.props_stanzas.items():
            for key, setting in settings.items():
                kind, _, name = key.partition("-")
                value = setting.value
                self.key_stanzas.setdefault(key, []).append(stanza)
                if key == "KV_MODE" and value.strip().lower() in ("xml", "json"):
                    self.any_field_opaque = True
                elif kind == "FIELDALIAS":
                    for word_source, _, word_alias in alias_triples(value):
                        self.add(stanza, word_alias, ("alias", word_source, key))
                elif kind == "EVAL":
                    try:
                        expr = compile_eval_text(value).expr
                    except SplError:
                        continue
                    self.add(stanza, name, ("eval", expr, key))
                elif kind == "LOOKUP":
                    try:
                        call = parse_lookup_call(value)
                    except LookupSyntaxError:
                        continue
                    outputs = call_outputs(call, knowledge.table(call.table, None))
                    if outputs is None:
                        self.any_field_opaque = True
                    for field in outputs or ():
                        self.producers.setdefault(field, []).append(("opaque",))
                elif kind == "REPORT":
                    for name in (n.strip() for n in value.split(",") if n.strip()):
                        self.report(knowledge.transforms.get(name, {}))
                elif kind == "EXTRACT":
                    source = split_in_field(value)[1]
                    if source != "_raw":
                        self.extraction_sources.add(source)

    def report(self, settings: dict) -> None:
        """A transform's values are captures (substrings) unless FORMAT builds them from
        more than one group or from text, or DELIMS splits them."""
        template = settings["FORMAT"].value if "FORMAT" in settings else ""
        values = [v for _, _, v in (p.partition("::") for p in template.split())]
        if "DELIMS" in settings or any(not SINGLE_GROUP.match(v) for v in values):
            self.any_field_opaque = True
        source = settings["SOURCE_KEY"].value.strip() if "SOURCE_KEY" in settings else "_raw"
        if source != "_raw":
            self.extraction_sources.add(source.removeprefix("field:"))

    def add(self, stanza: str, field: str, producer: tuple) -> None:
        self.producers.setdefault(field, []).append(producer)
        self.by_stanza.setdefault(stanza, {}).setdefault(field, []).append(producer)

    def field_when_null(self, name: str, other: str) -> Trace:
        """The trace of ``other`` on events where ``name`` is null: per stanza, a
        producer of ``name`` that is non-null whenever its input is tells that the
        input is null there too (sound only when no other stanza that could apply
        to the same event sets the same key: two exact source::/host:: stanzas)."""
        if self.any_field_opaque:
            return UNTRACEABLE
        traces = [Trace(True)]
        for stanza, fields in self.by_stanza.items():
            nulls = set()
            for producer in fields.get(name, ()):
                if not self.only_here(producer[2], stanza):
                    return self.field(other)
                nulls |= strict_inputs(producer)
            for producer in fields.get(other, ()):
                if producer[0] == "alias":
                    traces.append(Trace(True) if producer[1] in nulls else self.field(producer[1]))
                else:
                    traces.append(self.expr(producer[1], frozenset(nulls)))
        return union(traces)

    def only_here(self, key: str, stanza: str) -> bool:
        others = [s for s in self.key_stanzas.get(key, ()) if s != stanza]
        exact = lambda s: s.startswith(("source::", "host::")) and is_literal(s.split("::", 1)[1])
        # two literal stanzas of one kind never match one event (host:: names compare without case)
        return all(exact(s) and exact(stanza) and s.split("::")[0] == stanza.split("::")[0]
                   and s.lower() != stanza.lower() for s in others)

    def field(self, name: str) -> Trace:
        if self.any_field_opaque:
            return UNTRACEABLE
        if name in self.memo:
            return self.memo[name]
        if name in EVENTTYPE_OUTPUTS or name.startswith("tag::"):
            return UNTRACEABLE  # names from eventtypes.conf/tags.conf, not from the raw text
        self.memo[name] = UNTRACEABLE  # a cycle is not traceable
        traces = [Trace(True)]  # the reader's own value, or absent
        for producer in self.producers.get(name, ()):
            if producer[0] == "alias":
                traces.append(self.field(producer[1]))
            elif producer[0] == "eval":
                traces.append(self.expr(producer[1]))
            else:
                traces.append(UNTRACEABLE)
        self.memo[name] = union(traces)
        return self.memo[name]

    def current(self, name: str) -> Trace:
        """A field as the data model's calculations so far leave it."""
        return self.stage[name] if name in self.stage else self.field(name)

    def expr(self, expr: ast.Expr, nulls: frozenset[str] = frozenset(), ref=None) -> Trace:
        """``ref`` traces a field the expression reads: ``field`` for props knowledge,
        ``current`` for a data-model calculation."""
        ref = ref or self.field
        if nulls and definitely_null(expr, nulls):
            return Trace(True)
        if isinstance(expr, ast.Literal):
            return Trace(True, frozenset() if expr.value is None else frozenset({str(expr.value)}))
        if isinstance(expr, ast.FieldRef):
            return Trace(True) if expr.name in nulls else ref(expr.name)
        if isinstance(expr, ast.Call):
            if expr.name == "null":
                return Trace(True)
            if expr.name in SUBSTRING_FUNCTIONS and expr.args:
                return self.expr(expr.args[0], nulls, ref)
            if expr.name == "if" and len(expr.args) == 3:
                known = truth(expr.args[0], nulls)
                if known is not None:
                    return self.expr(expr.args[1 if known else 2], nulls, ref)
                return union(self.expr(a, nulls, ref) for a in expr.args[1:])
            if expr.name == "case":
                return union(self.expr(a, nulls, ref) for a in expr.args[1::2])
            if expr.name == "coalesce":
                return union(self.expr(a, nulls, ref) for a in expr.args)
        return UNTRACEABLE

    def calculation(self, field: str, expr: ast.Expr) -> Trace:
        """A data-model calculation, reading fields as the earlier calculations left
        them; the CIM's fallback ``if(isnull(F) OR F="", A, F)`` traces A on the
        events where F is null."""
        if (isinstance(expr, ast.Call) and expr.name == "if" and len(expr.args) == 3
                and is_missing_test(expr.args[0], field) and expr.args[2] == ast.FieldRef(field)):
            fallback = expr.args[1]
            return union([self.current(field), self.expr_when_null(fallback, field)])
        if (isinstance(expr, ast.Call) and expr.name == "case" and len(expr.args) >= 2
                and is_present_test(expr.args[0], field) and expr.args[1] == ast.FieldRef(field)):
            # case(isnotnull(F) AND F!="", F, <rest>): the CIM's process_name form
            rest = ast.Call("case", expr.args[2:], expr.pos)
            return union([self.current(field), self.expr_when_null(rest, field)])
        return self.expr(expr, ref=self.current)

    def expr_when_null(self, expr: ast.Expr, null_field: str) -> Trace:
        if isinstance(expr, ast.FieldRef):
            if expr.name == null_field:
                return Trace(True)
            if null_field in self.stage or expr.name in self.stage and not self.filled.get(expr.name):
                return self.current(expr.name)  # a calculation broke the link the knowledge gives
            filled = [self.expr(self.filled[expr.name])] if expr.name in self.stage else []
            return union([self.field_when_null(null_field, expr.name), *filled])
        if isinstance(expr, ast.Literal):
            return self.expr(expr)
        if isinstance(expr, ast.Call):
            if expr.name in SUBSTRING_FUNCTIONS and expr.args or is_capture_replace(expr):
                return self.expr_when_null(expr.args[0], null_field)
            if expr.name == "if" and len(expr.args) == 3:
                return union(self.expr_when_null(a, null_field) for a in expr.args[1:])
            if expr.name == "case":
                return union(self.expr_when_null(a, null_field) for a in expr.args[1::2])
        return UNTRACEABLE


def definitely_null(expr: ast.Expr, nulls: frozenset[str]) -> bool:
    """Null whenever the fields in ``nulls`` are: concatenation with a null is null."""
    if isinstance(expr, ast.FieldRef):
        return expr.name in nulls
    if isinstance(expr, ast.BinOp) and expr.op in (".", "+"):
        return definitely_null(expr.left, nulls) or definitely_null(expr.right, nulls)
    if isinstance(expr, ast.Call):
        if expr.name == "null":
            return True
        if expr.name == "if" and len(expr.args) == 3:
            return definitely_null(expr.args[1], nulls) and definitely_null(expr.args[2], nulls)
    return False


def strict_inputs(producer: tuple) -> set[str]:
    """Fields that are all null when the producer's value is (an alias's source; the
    fields under a chain of split/mvindex/trim, or every field of a coalesce there)."""
    if producer[0] == "alias":
        return {producer[1]}
    expr = producer[1]
    while isinstance(expr, ast.Call) and expr.name in SUBSTRING_FUNCTIONS and expr.args:
        if expr.name == "mvindex" and not (len(expr.args) == 2 and isinstance(expr.args[1], (ast.Literal, ast.UnaryOp))):
            return set()
        expr = expr.args[0]
    if isinstance(expr, ast.Call) and expr.name == "coalesce":
        if all(isinstance(a, ast.FieldRef) for a in expr.args):
            return {a.name for a in expr.args}
        return set()
    return {expr.name} if isinstance(expr, ast.FieldRef) else set()


def is_missing_test(expr: ast.Expr, field: str) -> bool:
    return (isinstance(expr, ast.BinOp) and expr.op == "OR"
            and expr.left == ast.Call("isnull", (ast.FieldRef(field),), expr.left.pos if isinstance(expr.left, ast.Call) else 0))


def fill_constant(expr: ast.Expr, field: str) -> ast.Literal | None:
    """C in ``if(isnull(F) OR F="", C, F)``: F unchanged, or C where it was missing."""
    if (isinstance(expr, ast.Call) and expr.name == "if" and len(expr.args) == 3 and is_missing_test(expr.args[0], field)
            and expr.args[2] == ast.FieldRef(field) and isinstance(expr.args[1], ast.Literal)):
        return expr.args[1]
    return None


def is_present_test(expr: ast.Expr, field: str) -> bool:
    return (isinstance(expr, ast.BinOp) and expr.op == "AND" and isinstance(expr.left, ast.Call)
            and expr.left.name == "isnotnull" and expr.left.args == (ast.FieldRef(field),))


def is_capture_replace(expr: ast.Call) -> bool:
    """``replace(X, "^...(...)....*", "\\1")``: the first group of a match anchored at
    the start of X, the rest of X's first line dropped. Its value is a substring of X
    when X is one line; on a value of several lines it is the group followed by the
    later lines: each piece a substring, so a literal without a line break found in
    it is found in X (the prefilter's literals come from one-line search values)."""
    if expr.name != "replace" or len(expr.args) != 3:
        return False
    pattern, replacement = expr.args[1], expr.args[2]
    return (isinstance(pattern, ast.Literal) and isinstance(pattern.value, str) and pattern.value.startswith("^")
            and pattern.value.endswith(".*") and isinstance(replacement, ast.Literal) and replacement.value == "\\1")


def truth(expr: ast.Expr, nulls: frozenset[str]) -> bool | None:
    """True/False when the nulls alone decide a condition, else None."""
    if isinstance(expr, ast.Call) and expr.name == "isnull" and len(expr.args) == 1 \
            and isinstance(expr.args[0], ast.FieldRef) and expr.args[0].name in nulls:
        return True
    if isinstance(expr, ast.BinOp) and expr.op in ("OR", "AND"):
        left, right = truth(expr.left, nulls), truth(expr.right, nulls)
        if expr.op == "OR":
            return True if True in (left, right) else None
        return False if False in (left, right) else None
    return None


def alias_triples(text: str):
    words = text.replace(",", " ").split()
    return [tuple(words[i:i + 3]) for i in range(0, len(words) - 2, 3)]


def traceable_fields(knowledge: Knowledge, dataset: Dataset) -> tuple[frozenset[str], frozenset[str]]:
    """(fields of ``dataset`` always a raw substring or a constant, those constants)."""
    tracer = Tracer(knowledge)
    for calc in dataset.calculations:  # in chain order: each reads what the earlier ones left
        expr = calc.expression.expr
        if len(calc.outputs) == 1:
            trace = tracer.calculation(calc.outputs[0], expr)
        else:
            trace = tracer.expr(expr, ref=tracer.current)
        for output in calc.outputs:
            tracer.stage[output] = trace
            tracer.filled.pop(output, None)
        if len(calc.outputs) == 1 and (constant := fill_constant(expr, calc.outputs[0])) is not None:
            tracer.filled[calc.outputs[0]] = constant
    verbatim, constants = set(), set()
    for name in dataset.fields + ("host",):
        trace = tracer.current(name)
        if trace.verbatim:
            verbatim.add(name)
            constants |= trace.constants
    return frozenset(verbatim), frozenset(constants)


def dataset_event_codes(knowledge: Knowledge, dataset: Dataset) -> frozenset[str] | None:
    """The EventCodes an event can have to be in ``dataset``, when its constraints are
    tags given only by event types that each name their codes; else None."""
    required = set()
    for constraint in dataset.constraints:
        terms = constraint.expr.items if isinstance(constraint.expr, ast.And) else (constraint.expr,)
        for term in terms:
            if not (isinstance(term, ast.Compare) and term.op == "=" and term.field == "tag"):
                return None
            required.add(term.value.lower())  # values compare without case
    if not required or set(knowledge.tags) - {"eventtype"}:
        return None
    if not Tracer(knowledge).field("EventCode").verbatim or Tracer(knowledge).producers.get("EventCode"):
        return None
    tagged = knowledge.tags.get("eventtype", {})
    codes: set[str] = set()
    for eventtype in knowledge.eventtypes:
        if not required <= {tag.lower() for tag in tagged.get(eventtype.name, ())}:
            continue
        found = event_codes(eventtype.search.expr)
        if found is None:
            return None
        codes |= found
    return frozenset(codes)


def event_codes(expr) -> set[str] | None:
    terms = expr.items if isinstance(expr, ast.And) else (expr,)
    for term in terms:
        if isinstance(term, ast.Compare) and term.op == "=" and term.field == "EventCode" and "*" not in term.value:
            return {term.value}
        if isinstance(term, ast.InList) and term.field == "EventCode" and not any("*" in v for v in term.values):
            return set(term.values)
    return None
