"""The schema checker settles common values without a call (``Schema.bare``): it must find what
checking every value through its own schema finds, in the same order and at the same places."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from detpack.content import schema
from detpack.content.scalars import type_name
from detpack.content.schema import Context, List, Obj, Str
from detpack.content.source import Locations

TOP = {"detection": schema.DETECTION, "story": schema.STORY, "baseline": schema.BASELINE,
       "investigation": schema.INVESTIGATION, "lookup": schema.LOOKUP, "deployment": schema.DEPLOYMENT,
       "macro": schema.MACRO, "settings": schema.SETTINGS}


def reference_check(node: schema.Schema, value, path: str, ctx: Context) -> None:
    """Every value through its own schema's ``check``, one call each."""
    if isinstance(node, Obj):
        if not isinstance(value, dict):
            ctx.report(path, f"is {type_name(value)}", node.expected)
            return
        prefix = f"{path}." if path else ""
        for key in node.required:
            if key not in value:
                ctx.report(path, f"missing required key '{key}'", node.required[key].expected)
        for key, item in value.items():
            if key not in node.known:
                ctx.report(prefix + key, "unknown key", "one of " + ", ".join(sorted(node.known)), at_key=True,
                           warning=not node.closed)
            else:
                reference_check(node.known[key], item, prefix + key, ctx)
    elif isinstance(node, List):
        if not isinstance(value, list):
            ctx.report(path, f"is {type_name(value)}", node.expected)
            return
        if len(value) < node.min_items:
            ctx.report(path, f"has {len(value)} items", f"at least {node.min_items}")
        for i, item in enumerate(value):
            reference_check(node.item, item, f"{path}[{i}]", ctx)
    else:
        node.check(value, path, ctx)


TEXTS = st.text(st.sampled_from(" \t\n\r\x00\x1f\x7f\x85\u00a0\u2028aZ9-_.é"), max_size=6)
LEAVES = (TEXTS | st.sampled_from(["", " ", "x", "T1047", "CVE-2021-44228", "2024-01-31", "a" * 100,
                                    "01234567-89ab-cdef-0123-456789abcdef", "production", "TTP", "endpoint"])
          | st.none() | st.booleans() | st.integers(-5, 200) | st.floats(0, 200, allow_nan=False))


def values_for(node: schema.Schema, depth: int = 0):
    """Values shaped mostly as ``node`` wants, with wrong types, missing and unknown keys mixed in."""
    if isinstance(node, Obj) and depth < 4:
        keys = list(node.known)
        shaped = st.lists(st.sampled_from(keys + ["unknown_key"]), max_size=len(keys) + 1, unique=True).flatmap(
            lambda chosen: st.fixed_dictionaries({key: values_for(node.known.get(key, schema.TEXT), depth + 1)
                                                  for key in chosen}))
        return shaped | LEAVES
    if isinstance(node, List) and depth < 4:
        return st.lists(values_for(node.item, depth + 1), max_size=3) | LEAVES
    return LEAVES


def findings(check, node, value) -> tuple[list[str], list[str]]:
    ctx = Context(Locations("file.yml", 0))  # every path falls back to the document's mark
    check(node, value, "", ctx)
    return [str(f) for f in ctx.findings], [str(f) for f in ctx.warnings]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(TOP)).flatmap(lambda name: st.tuples(st.just(TOP[name]), values_for(TOP[name]))))
def test_the_checker_finds_what_one_check_per_value_finds(case):
    node, value = case
    assert findings(lambda n, v, p, c: n.check(v, p, c), node, value) == findings(reference_check, node, value)


@settings(max_examples=300, deadline=None)
@given(LEAVES, st.sampled_from([schema.TEXT, schema.LINE, schema.NAME, schema.UUID, schema.CVE,
                                Str(min_len=0, multiline=False, allow_empty=True), Str(min_len=5, max_len=8)]))
def test_a_value_settled_in_a_list_or_mapping_is_one_its_schema_passes(value, text):
    for node, wrapped in ((List(text), [value]), (Obj({"k": text}), {"k": value})):
        assert findings(lambda n, v, p, c: n.check(v, p, c), node, wrapped) == findings(reference_check, node, wrapped)


def test_the_fast_path_is_taken_only_where_any_line_of_text_passes():
    assert schema.LINE.bare and schema.TEXT.bare
    assert not schema.NAME.bare and not schema.UUID.bare and not List(schema.LINE).bare
    ctx = Context(Locations("file.yml", 0))
    List(schema.NAME).check(["x" * 100, "ok", " "], "names", ctx)
    assert [(f.field, f.problem) for f in ctx.findings] == [("names[0]", "is 100 characters long"),
                                                             ("names[2]", "is empty")]
