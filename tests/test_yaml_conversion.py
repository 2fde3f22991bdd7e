"""The node tree -> plain values conversion of source.py, held to a plain recursive reference.

``convert`` converts a scalar child inside its parent's loop rather than by a call of its own; on
generated YAML (duplicate keys, anchors and aliases, nested lists and mappings in flow and block
style, plain scalars of every type the resolver knows) it must give the same values, marks and
duplicate-key findings as one call per node, and refuse at the same node with the same words,
whatever the bounds (drawn small here, so that every bound is crossed at every kind of node)."""
from __future__ import annotations

from unittest import mock

import yaml
from hypothesis import given, settings, strategies as st
from yaml.resolver import BaseResolver

from detpack.content import source
from detpack.errors import Finding, InvalidInput, Location


class ReferenceConverter:
    """One recursive call per node: the semantics ``source._Converter`` keeps."""

    def __init__(self, name: str):
        self.name, self.values, self.chars, self.duplicates = name, 0, 0, []
        self.key_node = None

    def expands(self, node, path, what):
        return source._refuse(self.name, self.key_node or node, f"{path or '(document)'}: expands to more than {what} "
                              "(aliases?)", "a file without alias bombs")

    def convert(self, node, path="", depth=0):
        self.values += 1
        if self.values > source.MAX_VALUES:
            raise self.expands(node, path, f"{source.MAX_VALUES} values")
        if depth > source.MAX_DEPTH:
            raise source._refuse(self.name, node, f"nests deeper than {source.MAX_DEPTH} levels", "a shallower document")
        mark = source._mark(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            self.chars += len(node.value)
            if self.chars > source.MAX_TEXT_CHARS:
                raise self.expands(node, path, f"{source.MAX_TEXT_CHARS} characters of text")
            return source.scalar_value(self.name, node, path), mark
        if node.tag not in (source.UNTAGGED, source.PLAIN_TAGS[type(node)]):
            raise source._tag_refused(self.name, node, path or "(document)")
        if isinstance(node, yaml.SequenceNode):
            converted = [self.convert(item, path, depth + 1) for item in node.value]
            return [value for value, _ in converted], (mark, [marks for _, marks in converted])
        result, key_marks = {}, {}
        for key_node, value_node in node.value:
            key = source.key_text(self.name, key_node, path)
            child = f"{path}.{key}" if path else key
            if key in result:
                where = Location(self.name, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                self.duplicates.append(Finding(where, child, "duplicate key", "each key once"))
                continue
            if depth == 0:
                self.key_node = key_node
            result[key], value_marks = self.convert(value_node, child, depth + 1)
            key_marks[key] = (source._mark(key_node.start_mark), value_marks)
        return result, (mark, key_marks)


# Plain scalars of every kind the resolver tells apart, and near misses that stay text.
PLAIN = ["null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "FALSE", "yes", "No", "on", "Off",
         "0", "7", "-12", "+3", "1_000", "012", "0x1F", "0o17", "1.5", "-.5", "+1.0e3", "1_0.2_5", "1e5",
         ".inf", ".nan", "1:20", "2024-01-31", "T1047", "scrcons.exe", "a b", "$x$", "%y%", "_z", "(w"]
KEYS = ["a", "b", "c", "tags", "1", "yes"]


def scalar():
    plain = st.sampled_from(PLAIN) | st.text("abcXYZ019_.-+ ", min_size=1, max_size=6).map(str.strip).filter(bool)
    quoted = st.text("ab1 .yes", max_size=5).flatmap(lambda t: st.sampled_from([f'"{t}"', f"'{t}'"]))
    return plain | quoted | st.just("")


def tree():
    """("scalar", text) | ("alias",) | ("seq", [...], anchored) | ("map", [(key, ...)], anchored)."""
    leaves = scalar().map(lambda text: ("scalar", text)) | st.just(("alias",))
    return st.recursive(leaves, lambda children: (
        st.tuples(st.just("seq"), st.lists(children, max_size=4), st.booleans())
        | st.tuples(st.just("map"), st.lists(st.tuples(st.sampled_from(KEYS) | st.just(("alias",)), children),
                                             max_size=4), st.booleans())), max_leaves=25)


class Flow:
    """Renders a tree as flow YAML; an alias names the last anchor rendered before it."""

    def __init__(self):
        self.anchors = 0

    def render(self, node) -> str:
        if node[0] == "scalar":
            return node[1]
        if node[0] == "alias":
            return f"*a{self.anchors}" if self.anchors else "x"
        anchor = ""
        if node[2]:
            self.anchors += 1
            anchor = f"&a{self.anchors} "
        if node[0] == "seq":
            return anchor + "[" + ", ".join(self.render(item) for item in node[1]) + "]"
        return anchor + "{" + ", ".join(f"{self.key(key)}: {self.render(value)}" for key, value in node[1]) + "}"

    def key(self, key) -> str:
        return self.render(key) if isinstance(key, tuple) else key


def block(entries) -> str:
    """A block mapping at the top, each value in flow style on its key's line, or a block list below it."""
    flow, lines = Flow(), []
    for key, value in entries:
        if value[0] == "seq" and not value[2]:
            lines.append(f"{key}:")
            lines += [f"  - {flow.render(item)}" for item in value[1]]
        else:
            lines.append(f"{key}: {flow.render(value)}")
    return "\n".join(lines) + "\n"


def outcome(converter_class, node):
    converter = converter_class("file.yml")
    try:
        value, marks = converter.convert(node)
    except InvalidInput as exc:
        return "refused", [str(f) for f in exc.findings], converter.values, converter.chars
    # repr tells True from 1 and 1.0 from 1, and shows the order of keys
    return repr(value), repr(marks), [str(f) for f in converter.duplicates], converter.values, converter.chars


def compose(text: str):
    loader = source.composer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def assert_same(text: str, max_values: int, max_depth: int, max_chars: int) -> None:
    try:
        node = compose(text)
    except yaml.YAMLError:
        return  # not YAML at all: nothing is converted
    if node is None:
        return
    with mock.patch.multiple(source, MAX_VALUES=max_values, MAX_DEPTH=max_depth, MAX_TEXT_CHARS=max_chars):
        assert outcome(source._Converter, node) == outcome(ReferenceConverter, node), text


class ReferenceComposer(source._Parser, BaseResolver):
    """The composer with PyYAML's own resolver hooks, each a Python method, and every node without a
    tag of its own given ``source.UNTAGGED`` or, in a text with a "!", the tag of
    ``source._resolve_tagged``: ``source.composer`` replaces the hooks by C-level callables (in a
    text with a "!", that one function) and must compose alike."""

    def __init__(self, stream):
        source._Parser.__init__(self, stream)
        BaseResolver.__init__(self)
        self.tagged = "!" in stream

    def resolve(self, kind, value, implicit):
        return source._resolve_tagged(kind, value, implicit) if self.tagged else source.UNTAGGED


def node_tree(make_composer, text: str):
    """Every node's kind, tag, style, value and marks, an alias as the number of its anchor's node."""
    seen: dict[int, int] = {}

    def shown(node):
        if id(node) in seen:
            return "alias", seen[id(node)]
        seen[id(node)] = len(seen)
        value = node.value
        if isinstance(value, list):
            value = [tuple(map(shown, item)) if isinstance(item, tuple) else shown(item) for item in value]
        marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
        return (type(node).__name__, node.tag, getattr(node, "style", None), getattr(node, "flow_style", None),
                value, marks)

    loader = make_composer(text)
    try:
        node = loader.get_single_node()
        return shown(node) if node is not None else None
    except yaml.YAMLError as exc:
        return "error", str(exc)
    finally:
        loader.dispose()


@settings(max_examples=300, deadline=None)
@given(tree(), st.sampled_from(["", "!!str ", "!x ", "! "]))
def test_the_composer_makes_the_node_tree_the_resolver_hooks_of_pyyaml_make(node, tag):
    text = tag + Flow().render(node)
    assert node_tree(source.composer, text) == node_tree(ReferenceComposer, text), text


BOUNDS = st.tuples(st.integers(1, 40), st.integers(0, 6), st.integers(0, 80))
UNBOUNDED = (10_000, 20, 10_000)


@settings(max_examples=400, deadline=None)
@given(tree(), BOUNDS)
def test_a_flow_document_converts_as_one_call_per_node_would(node, bounds):
    text = Flow().render(node)
    assert_same(text, *UNBOUNDED)
    assert_same(text, *bounds)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KEYS), tree()), min_size=1, max_size=6), BOUNDS)
def test_a_block_document_converts_as_one_call_per_node_would(entries, bounds):
    text = block(entries)
    assert_same(text, *UNBOUNDED)
    assert_same(text, *bounds)


def test_the_reference_sees_what_the_properties_compare():
    """The generated documents do reach duplicates, aliases, refusals and every scalar type."""
    text = "a: &a [1, 1.5, yes, ~, '1', x]\nb: *a\na: 2\nc: {d: [[*a]]}\n"
    values, marks, duplicates, _, _ = outcome(ReferenceConverter, compose(text))
    assert values == "{'a': [1, 1.5, True, None, '1', 'x'], 'b': [1, 1.5, True, None, '1', 'x'], 'c': {'d': [[[1, 1.5, True, None, '1', 'x']]]}}"
    assert duplicates == ["file.yml:3:1: a: duplicate key (expected each key once)"]
    with mock.patch.multiple(source, MAX_VALUES=12, MAX_DEPTH=20, MAX_TEXT_CHARS=100):
        assert outcome(source._Converter, compose(text))[:2] == ("refused", [
            "file.yml:2:1: (yaml): b: expands to more than 12 values (aliases?) (expected a file without alias bombs)"])
