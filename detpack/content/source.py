"""YAML loading that remembers where every value came from.

``load_yaml`` returns plain Python values plus ``Locations``: a map from field
paths (``tags.mitre_attack_id[0]``, ``rba.risk_objects[1].score``, and
``name#key`` for a mapping key itself) to the line and column in the file.
Locations are looked up in the node tree only when asked for, because most
loads never need one and large packs load thousands of files.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import yaml
import yaml.reader
from yaml.resolver import BaseResolver

from ..errors import Finding, InvalidInput, Location, display_path
from .scalars import NOT_TEXT_START, WORDS, NotAValue, plain_value, type_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any

try:
    from yaml._yaml import CParser as _Parser  # libyaml: an order of magnitude faster on large packs
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


# The tags ``composer()`` gives a node without an explicit one. UNTAGGED (YAML's non-specific tag
# "?"): a plain scalar is typed by ``scalars.plain_value``, a quoted one is text. NON_SPECIFIC, only
# in a text with a "!": a scalar PyYAML's resolver types by its text though it may be tagged "!"
# (``_resolve_tagged``); plain, it is typed as UNTAGGED is. Quoted, PyYAML types it too, by patterns
# whose ``$`` also matches before a final line break (``! "5\n"`` is 5, ``! "yes\n"`` stops PyYAML):
# it is refused, as other tags are.
UNTAGGED = "?"
NON_SPECIFIC = "!"
TYPED_BY_TEXT = (UNTAGGED, NON_SPECIFIC)  # the tags of a plain scalar that scalars.plain_value types
STR = BaseResolver.DEFAULT_SCALAR_TAG
# The explicit tags a node may carry: each gives its own kind of node the type it has anyway.
PLAIN_TAGS = {yaml.ScalarNode: BaseResolver.DEFAULT_SCALAR_TAG, yaml.SequenceNode: BaseResolver.DEFAULT_SEQUENCE_TAG,
              yaml.MappingNode: BaseResolver.DEFAULT_MAPPING_TAG}


class _Composer(_Parser):
    """Parses and composes only; plain scalars are typed after composing (``scalars.plain_value``).

    The composer calls three resolver hooks for every node. Nothing here resolves by path and, in
    a text without a "!", every node's type is decided after composing, so each hook is a C-level
    callable that takes any arguments and returns a constant (``format`` of a text without fields):
    as Python methods they were 600,000 calls for a large pack. Only a text with a "!" (one file in
    thirteen of Splunk's security_content) can tag a node "!": ``_TaggedComposer`` composes it."""

    descend_resolver = "".format  # (parent, index)
    ascend_resolver = "".format  # ()
    resolve = UNTAGGED.format  # (kind, value, implicit): the tag of a node without an explicit one


def _resolve_tagged(kind: type, value: str | None, implicit: tuple | bool) -> str:
    """The tag of a node without an explicit one, or tagged "!". PyYAML's resolver types a scalar by
    its text where ``implicit[0]`` is set (``BaseResolver.resolve``): libyaml sets it for a plain
    scalar and for one tagged "!", quoted or not, but not for an empty one tagged "!" (text), and
    sets ``implicit[1]`` alone for a quoted scalar without a tag. A collection has its one type."""
    if kind is not yaml.ScalarNode or implicit[1]:
        return UNTAGGED
    return NON_SPECIFIC if implicit[0] else STR


class _TaggedComposer(_Composer):
    resolve = staticmethod(_resolve_tagged)


def composer(text: str) -> _Composer:
    """The composer of ``text``: a Python resolve hook only where a node can be tagged "!"."""
    return (_TaggedComposer if "!" in text else _Composer)(text)


PATH_PART = re.compile(r"([^.\[\]#]+)|\[(\d+)\]|(#key)")

# Bounds for content that arrives through pull requests. The largest file of Splunk's
# security_content 4.42 is 73 KB, its deepest value 5 levels down, its largest file 222 values;
# the bounds leave ample room while refusing alias bombs and runaway nesting in milliseconds.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 20
MAX_VALUES = 10_000
# Without aliases a file's text values hold fewer characters than the file has bytes, so this bound
# only ever refuses an alias that repeats a long text (the corpus uses no aliases at all).
MAX_TEXT_CHARS = 2 * MAX_FILE_BYTES


def file_problem(path: Path, root: Path, realpath: Callable[[str], str] = os.path.realpath) -> str | None:
    """Why ``path`` may not be read as part of the pack in ``root``, or None.

    A pack arrives through pull requests: a link (to /etc/passwd, to /dev/zero) or a
    file reached through a linked folder would put host files into the package or
    hang the build, so only regular files that lie inside ``root`` itself are read.
    ``realpath`` resolves folders: a loader checking thousands of files passes one that
    remembers them for the length of its load."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    absolute, top = os.path.abspath(path), os.path.abspath(root)
    inside = top if top.endswith(os.sep) else top + os.sep
    if not absolute.startswith(inside):
        return "lies outside the content directory (through a symbolic link)"
    # The file itself is no link, so it resolves to its resolved folder and its own name.
    folder, name = os.path.split(os.fspath(path))
    if os.path.join(realpath(folder or os.curdir), name) != os.path.join(realpath(top), absolute[len(inside):]):
        return "lies outside the content directory (through a symbolic link)"
    return None


def key_path(path: str) -> str:
    """The locations entry of a mapping key itself, rather than of its value."""
    return f"{path}#key"


def parent_path(path: str) -> str:
    """``a.b[2]`` -> ``a.b`` -> ``a`` -> ``""``; ``a#key`` -> ``a``."""
    if path.endswith("#key"):
        return path.removesuffix("#key")
    return path.rpartition("[")[0] if path.endswith("]") else path.rpartition(".")[0]


# Where a value stands, kept instead of the YAML node tree (which takes ten times the memory): a
# mark is one number, line * MARK_SPAN + column (both counted from 0, as YAML's marks are; no line
# of a file within MAX_FILE_BYTES is longer); a scalar is its mark, a sequence (mark, [items]) and
# a mapping (mark, {key: (key's mark, value)}). Numbers rather than (line, column) pairs: a large
# pack has some 150,000 values, whose marks another process may send back (load.py).
Marks = tuple
MARK_SPAN = MAX_FILE_BYTES + 1


def _mark(yaml_mark) -> int:
    return yaml_mark.line * MARK_SPAN + yaml_mark.column


class Locations:
    """Field path -> Location, looked up in the file's marks (``Marks``) on demand."""

    def __init__(self, name: str, root: Marks | int | None):
        self.name, self.root = name, root

    def _node_mark(self, path: str) -> int | None:
        node, key_mark = self.root, None
        if node is None:
            return None
        for name, index, is_key in PATH_PART.findall(path):
            if is_key:
                return key_mark
            children = node[1] if type(node) is tuple else None
            if name and type(children) is dict:
                entry = children.get(name)
                if entry is None:
                    return None
                key_mark, node = entry
            elif index and type(children) is list and int(index) < len(children):
                node = children[int(index)]
            else:
                return None
        return node if type(node) is int else node[0]

    def __getitem__(self, path: str) -> Location:
        mark = self._node_mark(path)
        if mark is None:
            raise KeyError(path)
        line, column = divmod(mark, MARK_SPAN)
        return Location(self.name, line + 1, column + 1)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._node_mark(path) is not None

    def get(self, path: str, default: Location | None = None) -> Location | None:
        return self[path] if path in self else default


def load_yaml(path: Path, name: str = "") -> tuple[Any, Locations]:
    """Parse one YAML document; raises InvalidInput with the file, line and column.

    ``name`` is how findings name the file (default: ``display_path(path)``)."""
    name = name or display_path(path)
    try:
        text = _read_text(path, name)
    except UnicodeDecodeError as exc:
        raise InvalidInput([Finding(_byte_location(name, exc.object, exc.start), "(file)",
                                    f"not UTF-8 text: {exc.reason}", "UTF-8")]) from None
    except OSError as exc:
        raise InvalidInput([Finding(Location(name), "(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        loader = composer(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        raise InvalidInput([Finding(where, "(yaml)", f"not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids, such as the NULs of UTF-16 text
        before = text[:exc.position]
        where = Location(name, before.count("\n") + 1, exc.position - before.rfind("\n"))
        raise InvalidInput([Finding(where, "(file)", f"character #x{exc.character:04x} is not allowed in YAML",
                                    "UTF-8 text (UTF-16 or binary?)")]) from None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput([Finding(Location(name), "(yaml)", f"not valid YAML: {problem}")]) from None
    converter = _Converter(name)
    value, marks = converter.convert(node) if node is not None else (None, None)
    if converter.duplicates:
        raise InvalidInput(converter.duplicates)
    return value, Locations(name, marks)


def _read_text(path: Path, name: str) -> str:
    """The file's text as ``Path.read_text(encoding="utf-8-sig")`` reads it (universal newlines),
    through one open file: a large pack reads thousands. A file over MAX_FILE_BYTES is refused
    before it is read whole, naming the line where it crosses the bound."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > MAX_FILE_BYTES:
            head = handle.read(MAX_FILE_BYTES)
            where = Location(name, head.count(b"\n") + 1, len(head) - head.rfind(b"\n"))
            raise InvalidInput([Finding(where, "(file)", f"is larger than {MAX_FILE_BYTES} bytes",
                                        "a content file under 1 MiB")])
        text = handle.read().decode("utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _byte_location(name: str, data: bytes, index: int) -> Location:
    """Line and column of the byte at ``index``, counted as the text before it reads."""
    before = data[:index].decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return Location(name, before.count("\n") + 1, len(before) - before.rfind("\n"))


def _refuse(name: str, node: yaml.Node, problem: str, expected: str, field: str = "(yaml)") -> InvalidInput:
    where = Location(name, node.start_mark.line + 1, node.start_mark.column + 1)
    return InvalidInput([Finding(where, field, problem, expected)])


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _tag_refused(name: str, node: yaml.Node, field: str) -> InvalidInput:
    """An explicit tag other than the one a node's kind has anyway (``!!int 5``, ``!Ref x``, ``! "5"``):
    refused rather than read as contentctl's loader would read it (or fail to)."""
    return _refuse(name, node, f"the tag {_shown_tag(node.tag)} is not supported", "a value without a tag", field)


def scalar_value(name: str, node: yaml.ScalarNode, path: str) -> Any:
    """A scalar's value as ``yaml.safe_load`` gives it: plain ones are typed (``scalars.plain_value``),
    quoted and ``!!str`` ones are text."""
    if not node.style and node.tag in TYPED_BY_TEXT:  # plain: style None (Python) or "" (libyaml)
        try:
            return plain_value(node.value)
        except NotAValue as error:
            raise _refuse(name, node, str(error), "quoted text, or a value of the type meant",
                          path or "(document)") from None
    if node.tag != STR and node.tag != UNTAGGED:
        raise _tag_refused(name, node, path or "(document)")
    return node.value


def key_text(name: str, node: yaml.Node, path: str) -> str:
    """A mapping key, which must be text to ``yaml.safe_load`` as well: keys are field names."""
    if type(node) is not yaml.ScalarNode:
        raise _refuse(name, node, "a key is not text", "text keys")
    key = node.value
    typed = not node.style and node.tag in TYPED_BY_TEXT
    if typed and key == "<<":
        raise _refuse(name, node, "merge keys (<<) are not supported", "the keys written out", path or "(document)")
    value = key if typed and key == "=" else scalar_value(name, node, path)  # a value key (=) is text as a key
    if type(value) is not str:
        raise _refuse(name, node, f"the key {key} reads as {type_name(value)}, not text", "text keys (quote it)",
                      path or "(document)")
    return key


class _Converter:
    """Node tree -> plain values, within MAX_DEPTH levels, MAX_VALUES values and MAX_TEXT_CHARS characters.

    An alias is the same node object met again, so an alias bomb shows up as a
    count of values (or of the characters of a long aliased text) that runs past
    its bound long before it could fill memory; it is reported at the key whose
    value expands (an alias has no position of its own in the node tree: it is
    its anchor's node)."""

    def __init__(self, name: str):
        self.name, self.values, self.chars, self.duplicates = name, 0, 0, []
        self.key_node: yaml.Node | None = None  # the mapping key whose value is being converted

    def _expands(self, node: yaml.Node, path: str, what: str) -> InvalidInput:
        return _refuse(self.name, self.key_node or node, f"{path or '(document)'}: expands to more than {what} "
                       "(aliases?)", "a file without alias bombs")

    def convert(self, node: yaml.Node, path: str = "", depth: int = 0) -> tuple[Any, Marks]:
        """The node's plain value and its marks (``Marks``). A large pack has 150,000 values, most
        of them scalars in a mapping or a list: the loops below count those and take their values
        (``_scalar``) themselves rather than through a call of this method each, node types are
        compared as they are and marks computed in place."""
        self.values += 1
        if self.values > MAX_VALUES:
            raise self._expands(node, path, f"{MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise _refuse(self.name, node, f"nests deeper than {MAX_DEPTH} levels", "a shallower document")
        start = node.start_mark
        mark = start.line * MARK_SPAN + start.column  # _mark, inline
        kind = type(node)
        if kind is yaml.ScalarNode:
            return self._scalar(node, path), mark
        if node.tag != UNTAGGED and node.tag != PLAIN_TAGS[kind]:
            raise _tag_refused(self.name, node, path or "(document)")
        depth += 1
        # A scalar child is converted in place while no bound is near; else convert() refuses it.
        inline = depth <= MAX_DEPTH
        if kind is yaml.SequenceNode:
            values, marks = [], []
            for item in node.value:
                if type(item) is yaml.ScalarNode and inline and self.values < MAX_VALUES:
                    self.values += 1
                    values.append(self._scalar(item, path))
                    start = item.start_mark
                    marks.append(start.line * MARK_SPAN + start.column)
                else:
                    value, item_marks = self.convert(item, path, depth)
                    values.append(value)
                    marks.append(item_marks)
            return values, (mark, marks)
        result: dict[str, Any] = {}
        key_marks: dict[str, tuple] = {}
        for key_node, value_node in node.value:
            key = key_node.value if type(key_node) is yaml.ScalarNode else None
            # A quoted key is text unless tagged; a plain one unless it reads as another type.
            if key is None or (key_node.tag != UNTAGGED if key_node.style else
                               key_node.tag not in TYPED_BY_TEXT or key in WORDS or key[:1] in NOT_TEXT_START):
                key = key_text(self.name, key_node, path)  # text, or refused
            start = key_node.start_mark
            if key in result:
                where = Location(self.name, start.line + 1, start.column + 1)
                self.duplicates.append(Finding(where, f"{path}.{key}" if path else key, "duplicate key", "each key once"))
                continue
            if depth == 1:
                self.key_node = key_node
            key_mark = start.line * MARK_SPAN + start.column
            child = f"{path}.{key}" if path else key
            if type(value_node) is yaml.ScalarNode and inline and self.values < MAX_VALUES:
                self.values += 1
                result[key] = self._scalar(value_node, child)
                start = value_node.start_mark
                key_marks[key] = (key_mark, start.line * MARK_SPAN + start.column)
            else:
                result[key], value_marks = self.convert(value_node, child, depth)
                key_marks[key] = (key_mark, value_marks)
        return result, (mark, key_marks)

    def _scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        """A scalar's value, counting its characters."""
        text = node.value
        self.chars += len(text)
        if self.chars > MAX_TEXT_CHARS:
            raise self._expands(node, path, f"{MAX_TEXT_CHARS} characters of text")
        return text if node.style and node.tag == UNTAGGED else scalar_value(self.name, node, path)
