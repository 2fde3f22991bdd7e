"""Which data-model fields the raw-text prefilter may rely on.

The planner's prefilter drops an event unparsed when its raw text lacks a literal
the search compares a field with. That is sound only for fields whose every value
is a substring of ``_raw`` or one of a few known constants. This module traces
each field back through the knowledge that can make it: the reader's own XML
fields and what extractions capture (REPORT/EXTRACT groups, DELIMS pieces,
KV_MODE=auto values) are raw substrings (entities kept encoded); a FORMAT text is
a constant; an alias inherits its source; pieces, trims, ``mvindex``, a
replace removing a prefix and a replace keeping one group to the end of each line
stay substrings (of a constant: the texts they make of it);
``if``/``case``/``coalesce`` are the union of their branches; literals are
constants; a concatenation whose raw pieces are each set apart by literal text is
raw pieces joined by that text's characters (``spl.plan.RawPieces``), and a ``+``
that may add numbers may also be a number. Anything else (``lower``, other
``replace``s, lookups, KV_MODE=xml/json, which decode entities; the indexed
labels ``source`` and ``sourcetype``; ``eventtype`` and ``tag``, named by
eventtypes.conf and tags.conf) is not traceable. Each kind of props.conf
knowledge reads the fields as the kinds before it leave them (props.conf.spec,
search-time operation sequence: extractions, FIELDALIAS, EVAL, LOOKUP), so an
EVAL reading the field it sets reads the extracted value. A data model's
calculations are traced in chain order, each reading the fields as the earlier
ones left them.
"""
from __future__ import annotations

import re

from ..errors import record
from ..spl import ast
from ..spl.errors import SplError
from ..spl.evaluate import compile_expr, fold, walk_expr
from ..spl.expressions import compile_eval_text
from ..spl.functions import to_text
from ..spl.number import to_number
from ..spl.plan import RawPieces
from .datamodels import Dataset
from .engine import Knowledge, parse_aliases, split_in_field
from .eventtypes import specialized
from .lookups import LookupSyntaxError, call_outputs, parse_lookup_call
from .props import is_literal
from .regex import outside_classes
from .transforms import GROUP_REFERENCE, format_pairs, truthy

SUBSTRING_FUNCTIONS = frozenset({"mvindex", "split", "trim", "ltrim", "rtrim"})
BRANCH_FUNCTIONS = frozenset({"if", "case", "coalesce"})
EVENTTYPE_OUTPUTS = frozenset({"eventtype", "tag"})
# Indexed fields that are labels, not raw text (replay.events.index_event; host is <Computer>).
LABELS = frozenset({"source", "sourcetype", "_time", "index", "splunk_server", "linecount"})
# When each kind of knowledge runs: a producer is seen by the kinds after its own.
EXTRACTION, ALIAS, EVAL, LOOKUP, FINAL = range(5)
STAGE_OF = {"constant": EXTRACTION, "made": EXTRACTION, "alias": ALIAS, "eval": EVAL, "lookup": LOOKUP}
LINE_BREAK = frozenset("\n")
# (?:Y)?(.*) where Y cannot match a line break: no class, group, line break or escape but \\ \/ \.
LINE_SUFFIX = re.compile(r"\(\?:(?:[^\\\[\]()\n\r]|\\[\\/.])+\)\?\(\.\*\)\Z")


@record
class Trace:
    """``verbatim``: every value is one of ``constants`` or made as ``pieces`` says."""

    verbatim: bool
    constants: frozenset[str] = frozenset()
    pieces: RawPieces = RawPieces()


UNTRACEABLE = Trace(False)


def union(traces) -> Trace:
    traces = list(traces)
    if any(not t.verbatim for t in traces):
        return UNTRACEABLE
    return Trace(True, frozenset().union(*(t.constants for t in traces)),
                 RawPieces(frozenset().union(*(t.pieces.separators for t in traces)),
                           any(t.pieces.numbers for t in traces)))


def apart(trace: Trace, separators: frozenset[str]) -> Trace:
    """``trace`` with more characters that may set its raw pieces apart."""
    if not trace.verbatim:
        return trace
    return Trace(True, trace.constants, RawPieces(trace.pieces.separators | separators, trace.pieces.numbers))


class Tracer:
    def __init__(self, knowledge: Knowledge):
        # field → [("alias", source, key) | ("eval", expr, key) | ("constant", text) | ("made",) | ("lookup",)]
        self.producers: dict[str, list] = {}
        self.by_stanza: dict[str, dict[str, list]] = {}  # stanza → field → producers
        self.key_stanzas: dict[str, list[str]] = {}  # props key → stanzas setting it
        self.any_field_opaque = False
        # an extraction keeps empty values (KEEP_EMPTY_VALS), or the reader gives an empty System element
        self.empty_values = knowledge.reader_fields
        self.extracted = Trace(True)  # what any extraction may capture
        self.extraction_sources: set[str] = set()  # fields REPORT/EXTRACT read (other than _raw)
        self.memo: dict[tuple[str, int], Trace] = {}  # (field, stage) → trace as the knowledge before it leaves it
        self.stage: dict[str, Trace] = {}  # field → trace after the data model's calculations so far
        self.filled: dict[str, ast.Literal] = {}  # stage field → constant a fill calculation gave it when missing
        self.collect(knowledge)
        # A capture is a substring of what it reads: untraceable when what it reads is, or is a constant.
        for source in self.extraction_sources:
            trace = self.field(source, ALIAS)
            if not trace.verbatim or trace.constants:
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
                    for source, alias, _ in parse_aliases(value) or ():  # as the engine reads them
                        self.add(stanza, alias, ("alias", source, key))
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
                    table = knowledge.table(call.table, None)
                    if table is None:
                        continue  # not run without its table (Knowledge.lookup_steps); named as a problem
                    for field in call_outputs(call, table):
                        self.producers.setdefault(field, []).append(("lookup",))
                elif kind == "REPORT":
                    for name in (n.strip() for n in value.split(",") if n.strip()):
                        self.report(knowledge.transforms.get(name, {}))
                elif kind == "EXTRACT":
                    source = split_in_field(value)[1]
                    if source != "_raw":
                        self.extraction_sources.add(source)

    def report(self, settings: dict) -> None:
        """A transform's values are captures (substrings): one group of REGEX, or a piece
        DELIMS splits off (without its quotes, ``\\"`` read as ``"``: a quote may set its
        raw pieces apart). FORMAT text without a group is a constant; text with groups
        is not traced."""
        if "KEEP_EMPTY_VALS" in settings and truthy(settings["KEEP_EMPTY_VALS"].value):
            self.empty_values = True
        if "DELIMS" in settings:
            self.extracted = apart(self.extracted, frozenset('"'))
        elif "FORMAT" in settings:
            for field, value in format_pairs(settings["FORMAT"].value):
                if GROUP_REFERENCE.fullmatch(value):
                    continue
                if "$" in field:
                    self.any_field_opaque = True  # text under names the event gives
                else:
                    self.producers.setdefault(field, []).append(("made",) if "$" in value else ("constant", value))
        source = settings["SOURCE_KEY"].value.strip() if "SOURCE_KEY" in settings else "_raw"
        if source != "_raw":
            self.extraction_sources.add(source.removeprefix("field:"))

    def add(self, stanza: str, field: str, producer: tuple) -> None:
        self.producers.setdefault(field, []).append(producer)
        self.by_stanza.setdefault(stanza, {}).setdefault(field, []).append(producer)

    def field_when_null(self, name: str, other: str) -> Trace:
        """The trace of ``other`` on events where ``name`` is null or empty. The producer
        of ``name`` that ran last on such an event had null inputs (``strict_inputs``),
        so the inputs every producer of ``name`` shares are null there; this is used in
        the stanzas that set ``name`` (sound only when no other stanza that could apply
        to the same event sets the same key: two exact source::/host:: stanzas)."""
        if self.any_field_opaque:
            return UNTRACEABLE
        if any(p[0] not in ("alias", "eval") for p in self.producers.get(other, ())):
            return self.field(other)
        made = self.producers.get(name, ())
        if self.empty_values or any(p[0] not in ("alias", "eval") for p in made):
            return self.field(other)  # an empty or looked-up value tells nothing of the inputs
        shared = set.intersection(*(strict_inputs(p) for p in made)) if made else set()
        traces = [self.extracted]
        for stanza, fields in self.by_stanza.items():
            nulls = set()
            for producer in fields.get(name, ()):
                if not self.only_here(producer[2], stanza):
                    return self.field(other)
                nulls = shared
            for producer in fields.get(other, ()):
                if producer[0] == "alias":
                    traces.append(Trace(True) if producer[1] in nulls else self.field(producer[1], EVAL))
                else:
                    traces.append(self.expr(producer[1], frozenset(nulls)))
        return union(traces)

    def only_here(self, key: str, stanza: str) -> bool:
        others = [s for s in self.key_stanzas.get(key, ()) if s != stanza]
        exact = lambda s: s.startswith(("source::", "host::")) and is_literal(s.split("::", 1)[1])
        # two literal stanzas of one kind never match one event (host:: names compare without case)
        return all(exact(s) and exact(stanza) and s.split("::")[0] == stanza.split("::")[0]
                   and s.lower() != stanza.lower() for s in others)

    def field(self, name: str, before: int = FINAL) -> Trace:
        """A field as the knowledge that runs ``before`` a stage leaves it (FINAL: all of it)."""
        if self.any_field_opaque:
            return UNTRACEABLE
        if (name, before) in self.memo:
            return self.memo[name, before]
        if name in EVENTTYPE_OUTPUTS or name.startswith("tag::") or name in LABELS:
            return UNTRACEABLE  # names from eventtypes.conf/tags.conf or labels, not from the raw text
        self.memo[name, before] = UNTRACEABLE  # a cycle is not traceable
        traces = [self.extracted]  # the reader's own value or a capture, or absent
        for producer in self.producers.get(name, ()):
            if STAGE_OF[producer[0]] >= before:
                continue
            if producer[0] == "alias":
                traces.append(self.field(producer[1], EVAL))  # aliases read extractions and aliases
            elif producer[0] == "eval":
                traces.append(self.expr(producer[1]))
            elif producer[0] == "constant":
                traces.append(Trace(True, frozenset({producer[1]})))
            else:
                traces.append(UNTRACEABLE)
        self.memo[name, before] = union(traces)
        return self.memo[name, before]

    def before_eval(self, name: str) -> Trace:
        """A field as an EVAL- key reads it: all EVAL- keys see the same input."""
        return self.field(name, EVAL)

    def current(self, name: str) -> Trace:
        """A field as the data model's calculations so far leave it."""
        return self.stage[name] if name in self.stage else self.field(name)

    def expr(self, expr: ast.Expr, nulls: frozenset[str] = frozenset(), ref=None) -> Trace:
        """``ref`` traces a field the expression reads: ``field`` for props knowledge,
        ``current`` for a data-model calculation."""
        ref = ref or self.before_eval
        if nulls and definitely_null(expr, nulls):
            return Trace(True)
        if isinstance(expr, ast.Literal):
            return Trace(True, frozenset() if expr.value is None else frozenset({to_text(expr.value)}))  # as eval writes it
        if isinstance(expr, ast.FieldRef):
            return Trace(True) if expr.name in nulls else ref(expr.name)
        if isinstance(expr, ast.BinOp) and expr.op in (".", "+"):
            return self.concatenation(expr, nulls, ref)
        if isinstance(expr, ast.Call):
            if expr.name == "null":
                return Trace(True)
            if keeps_a_substring(expr):
                return substring_of(expr, self.expr(expr.args[0], nulls, ref))
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

    def concatenation(self, expr: ast.BinOp, nulls: frozenset[str], ref) -> Trace:
        """Raw pieces each set apart by a literal text: a text without that text's characters
        found in the value is found in one piece. A ``+`` that may add two numbers is one
        piece of the chain around it (its number's text replaces all of its own pieces)."""
        operands: list[ast.Expr] = []

        def flatten(node: ast.Expr, top: bool) -> None:
            if isinstance(node, ast.BinOp) and node.op in (".", "+") and (top or not may_add(node)):
                flatten(node.left, False)
                flatten(node.right, False)
            else:
                operands.append(node)

        flatten(expr, True)
        traces, separators, after_piece = [], set(), False
        for operand in operands:
            if isinstance(operand, ast.Literal) and isinstance(operand.value, str) and operand.value:
                separators |= set(operand.value)
                after_piece = False
                continue
            trace = self.expr(operand, nulls, ref)
            if after_piece or not trace.verbatim or trace.constants:
                return UNTRACEABLE  # two pieces side by side, or a piece of text the raw may not hold
            traces.append(trace)
            after_piece = True
        if not traces:
            return UNTRACEABLE
        joined = union(traces)
        return Trace(True, frozenset(), RawPieces(joined.pieces.separators | frozenset(separators),
                                                  joined.pieces.numbers or may_add(expr)))

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
            if keeps_a_substring(expr):
                return substring_of(expr, self.expr_when_null(expr.args[0], null_field))
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


def may_add(expr: ast.BinOp) -> bool:
    """Whether a ``+`` may add two numbers (spl.evaluate.plus) rather than join two texts."""
    return expr.op == "+" and may_be_number(expr.left) and may_be_number(expr.right)


def may_be_number(expr: ast.Expr) -> bool:
    if isinstance(expr, ast.Literal):
        return expr.value is not None and to_number(expr.value) is not None
    if isinstance(expr, ast.BinOp) and expr.op in (".", "+"):
        return may_add(expr) or not holds_text(expr)
    return True


def holds_text(expr: ast.Expr) -> bool:
    """Whether a value of ``expr`` (when not null) holds a literal character no number's text has."""
    if isinstance(expr, ast.Literal):
        return isinstance(expr.value, str) and to_number(expr.value) is None and bool(set(expr.value) - NUMBER_CHARACTERS)
    if isinstance(expr, ast.BinOp) and expr.op in (".", "+") and not may_add(expr):
        return holds_text(expr.left) or holds_text(expr.right)
    return False


NUMBER_CHARACTERS = frozenset("0123456789+-.eE \t\n\r\f\v")  # what spl.number.NUMBER may read


def strict_inputs(producer: tuple) -> set[str]:
    """Fields that are all null when the producer's value is null or empty, extractions
    making no empty value (an alias's source; a field, or every field of a coalesce, an
    EVAL copies). Not those under split/mvindex/trim: a path ending with its separator,
    blanks or an index past the end make an empty or null value of a field that is not."""
    if producer[0] == "alias":
        return {producer[1]}
    expr = producer[1]
    if isinstance(expr, ast.Call) and expr.name == "coalesce":
        if all(isinstance(a, ast.FieldRef) for a in expr.args):
            return {a.name for a in expr.args}
        return set()
    return {expr.name} if isinstance(expr, ast.FieldRef) else set()


def is_missing_test(expr: ast.Expr, field: str) -> bool:
    """``isnull(F) OR F=""``"""
    return (isinstance(expr, ast.BinOp) and expr.op == "OR" and isinstance(expr.left, ast.Call)
            and expr.left.name == "isnull" and expr.left.args == (ast.FieldRef(field),)
            and is_empty_test(expr.right, field, ("=", "==")))


def fill_constant(expr: ast.Expr, field: str) -> ast.Literal | None:
    """C in ``if(isnull(F) OR F="", C, F)``: F unchanged, or C where it was missing."""
    if (isinstance(expr, ast.Call) and expr.name == "if" and len(expr.args) == 3 and is_missing_test(expr.args[0], field)
            and expr.args[2] == ast.FieldRef(field) and isinstance(expr.args[1], ast.Literal)):
        return expr.args[1]
    return None


def is_present_test(expr: ast.Expr, field: str) -> bool:
    """``isnotnull(F) AND F!=""``"""
    return (isinstance(expr, ast.BinOp) and expr.op == "AND" and isinstance(expr.left, ast.Call)
            and expr.left.name == "isnotnull" and expr.left.args == (ast.FieldRef(field),)
            and is_empty_test(expr.right, field, ("!=",)))


def is_empty_test(expr: ast.Expr, field: str, ops: tuple[str, ...]) -> bool:
    return (isinstance(expr, ast.BinOp) and expr.op in ops and expr.left == ast.FieldRef(field)
            and isinstance(expr.right, ast.Literal) and expr.right.value == "")


def keeps_a_substring(expr: ast.Call) -> bool:
    return bool(expr.args) and expr.name in SUBSTRING_FUNCTIONS or is_capture_replace(expr) or is_prefix_removal(expr)


def substring_of(call: ast.Call, trace: Trace) -> Trace:
    """What a function keeping substrings of its first argument's values makes of that
    argument's trace: the same raw pieces (a capture replace: also set apart by line
    breaks), and the texts it makes of the constants (a piece of a constant is not one)."""
    if not trace.verbatim:
        return trace
    constants = trace.constants
    if constants and call.name != "mvindex":  # mvindex picks one of the values as they are
        if any(isinstance(node, ast.FieldRef) for arg in call.args[1:] for node in walk_expr(arg)):
            return UNTRACEABLE
        evaluate = compile_expr(ast.Call(call.name, (ast.FieldRef("value"),) + tuple(call.args[1:]), call.pos))
        made = (evaluate({"value": c}) for c in constants)
        constants = frozenset(str(v) for value in made if value is not None
                              for v in (value if isinstance(value, list) else [value]))
    separators = LINE_BREAK if is_capture_replace(call) else frozenset()
    return Trace(True, constants, RawPieces(trace.pieces.separators | separators, trace.pieces.numbers))


def is_prefix_removal(expr: ast.Call) -> bool:
    """``replace(X, "^...", "")``: removes a prefix of each value, once."""
    if expr.name != "replace" or len(expr.args) != 3 or expr.args[2] != ast.Literal(""):
        return False
    pattern = expr.args[1]
    return isinstance(pattern, ast.Literal) and isinstance(pattern.value, str) and anchored_at_start(pattern.value)


def anchored_at_start(text: str) -> bool:
    """Whether a pattern matches only at the start of the text, and a match is one piece of
    it: it starts with ``^`` and has no ``|`` outside a group, no flags, no ``\\K``."""
    if not text.startswith("^"):
        return False
    for at, token, depth in outside_classes(text):
        if token == "\\K" or token == "|" and depth == 0:
            return False
        if token == "(" and text.startswith("(?", at) and not text.startswith(GROUPS_WITHOUT_FLAGS, at):
            return False
    return True


GROUPS_WITHOUT_FLAGS = ("(?:", "(?=", "(?!", "(?<=", "(?<!")


def is_capture_replace(expr: ast.Call) -> bool:
    """``replace(X, "^...(...)....*", "\\1")``: the first group of a match anchored at
    the start of X, the rest of X's first line dropped. Its value is a substring of X
    when X is one line; on a value of several lines it is the group followed by the
    later lines. ``replace(X, "(?:Y)?(.*)", "\\1")`` (Y matching no line break): each
    line's match runs to its end and keeps a suffix of it. Either way, pieces of X set
    apart by line breaks."""
    if expr.name != "replace" or len(expr.args) != 3:
        return False
    pattern, replacement = expr.args[1], expr.args[2]
    if not (isinstance(pattern, ast.Literal) and isinstance(pattern.value, str)
            and isinstance(replacement, ast.Literal) and replacement.value == "\\1"):
        return False
    text = pattern.value
    return anchored_at_start(text) and text.endswith(".*") or LINE_SUFFIX.match(text) is not None


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


def traceable_fields(knowledge: Knowledge, dataset: Dataset) -> tuple[dict[str, RawPieces], frozenset[str]]:
    """(fields of ``dataset`` always raw text or a constant, each with what its values are
    made of; those constants)."""
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
    verbatim, constants = {}, set()
    for name in dataset.fields + ("host",):
        trace = tracer.current(name)
        if trace.verbatim:
            verbatim[name] = trace.pieces
            constants |= trace.constants
    return verbatim, frozenset(constants)


def dataset_event_codes(knowledge: Knowledge, dataset: Dataset) -> frozenset[str] | None:
    """EventCodes one of which an event has to be in ``dataset``, when its constraints are
    tags given only by event types that each name their codes; else None. An event needs
    every required tag, each from an event type of its own: the codes of any one tag's
    event types will do (the fewest are taken)."""
    required = dataset.required_tags()  # None for a tag pattern: any tag may match it
    if not required or set(knowledge.tags) - {"eventtype"}:
        return None
    if not Tracer(knowledge).field("EventCode").verbatim or Tracer(knowledge).producers.get("EventCode"):
        return None
    tagged = knowledge.tags.get("eventtype", {})
    by_tag = [codes for tag in sorted(required) if (codes := tag_event_codes(knowledge, tagged, tag)) is not None]
    return min(by_tag, key=len) if by_tag else None


def addon_event_codes(knowledge: Knowledge, dataset: Dataset, sourcetype: str) -> frozenset[str] | None:
    """Texts one of which the raw text of an event of ``sourcetype`` holds when the event is
    in ``dataset``, under an add-on's knowledge; else None. The event types giving a required
    tag are decided on the sourcetype (as Knowledge plans them); each one left must test
    EventCode against literal values, which are then in the raw text: EventCode is traced to
    raw text whole. An extraction naming fields after the event's text could name one
    ``sourcetype`` and so change what the event types see: only an event holding that word
    can, so the word is one of the texts."""
    required = dataset.required_tags()  # None for a tag pattern: any tag may match it
    if not required:
        return None
    tracer = Tracer(knowledge)
    code = tracer.field("EventCode")
    if tracer.any_field_opaque or tracer.producers.get("sourcetype") or not code.verbatim or code.constants:
        return None
    by_value = {tag.lower() for field, values in knowledge.tags.items() if field != "eventtype"
                for tags in values.values() for tag in tags}
    tagged = knowledge.tags.get("eventtype", {})
    names = {fold(e.name) for e in knowledge.eventtypes}
    known: dict[str, bool] = {}
    left = {}
    for eventtype in knowledge.eventtypes:
        left[eventtype.name] = specialized(eventtype.search.expr, {"sourcetype": sourcetype}, known, names)
        if isinstance(left[eventtype.name], bool):
            known[fold(eventtype.name)] = left[eventtype.name]
    by_tag = []
    for tag in sorted(required - by_value):
        codes: set[str] | None = set()
        for eventtype in knowledge.eventtypes:
            if tag in {t.lower() for t in tagged.get(eventtype.name, ())}:
                found = codes_tested(left[eventtype.name])
                if found is None:
                    codes = None
                    break
                codes |= found
        if codes is not None and all(code.pieces.allow((fold(c),)) for c in codes):
            by_tag.append(frozenset(codes))
    return min(by_tag, key=len) | {"sourcetype"} if by_tag else None


def codes_tested(expr) -> frozenset[str] | None:
    """EventCode values one of which an event matching ``expr`` (what is left of an event
    type's search) has, or None when that is not known; an empty set when nothing matches."""
    if isinstance(expr, bool):
        return None if expr else frozenset()
    if isinstance(expr, ast.And):
        return next((c for c in map(codes_tested, expr.items) if c is not None), None)
    if isinstance(expr, ast.Or):
        found = [codes_tested(item) for item in expr.items]
        return None if None in found else frozenset().union(*found)
    values = [expr.value] if isinstance(expr, ast.Compare) and expr.op == "=" else \
        list(expr.values) if isinstance(expr, ast.InList) else None
    if values is None or expr.field != "EventCode" or any("*" in v for v in values):
        return None
    return frozenset(values)


def tag_event_codes(knowledge: Knowledge, tagged: dict, tag: str) -> frozenset[str] | None:
    codes: set[str] = set()
    for eventtype in knowledge.eventtypes:
        if tag in {t.lower() for t in tagged.get(eventtype.name, ())}:
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
