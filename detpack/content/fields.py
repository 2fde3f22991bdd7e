"""Which fields a search returns, inferred from its text without running it.

Used by validation to warn when a ``$token$`` or risk-object field names no
result field. Inference follows the commands that decide the field set
(``tstats``/``stats`` aggregates and BY fields, ``rename``, ``eval``,
``eventstats``/``streamstats``, ``lookup ... OUTPUT``, ``rex`` named groups,
``iplocation``, ``fillnull``, ``convert ... AS``, ``table``/``fields``,
``top``/``rare``, which name the whole field set even after unknown fields) and CIM's
``drop_dm_object_name(X)`` macro; other macros and commands are taken to keep
the field set. Where the fields cannot be known (raw events before any
aggregation, ``values(*) as *``, ``join``, ``spath``, a lookup that returns its
whole table...), the answer is None: a warning must never be a guess.
"""
from __future__ import annotations

import fnmatch
import functools
import re

DROP_DM = re.compile(r"`drop_dm_object_name\(\s*[\"']?([\w.]+?)[\"']?\s*\)`")
OPTION = re.compile(r"[A-Za-z_]+=")
# Patterns of rarer constructs as text: ``re`` compiles each when first used (and keeps it).
REX_GROUP = r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>"
# Commands whose output fields are exactly their aggregates and BY fields.
AGGREGATING = frozenset({"tstats", "stats"})
# Commands after which the fields cannot be told from the text.
UNKNOWABLE = frozenset({"join", "append", "appendcols", "appendpipe", "spath", "xyseries", "untable", "timechart", "chart",
                        "inputlookup", "datamodel", "from", "foreach", "map", "multisearch", "kvform", "extract",
                        "transpose", "fit", "apply", "mstats", "collect", "outputlookup", "makeresults"})


# An SPL comment runs from ``` to the next ``` (Splunk Search Reference, "Add comments to searches");
# it is not a macro call and says nothing about the search.
COMMENT = r"(?s)```.*?```"


def without_comments(search: str) -> str:
    """The search with each comment replaced by one space."""
    return re.sub(COMMENT, " ", search) if "```" in search else search


PIPELINE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|`[^`]*`?|[\[\]|]|[^"`\[\]|]+')
BRACKET_DEPTH = {"[": 1, "]": -1}


@functools.lru_cache(maxsize=256)  # validation splits each detection's search twice in a row
def split_pipeline(search: str) -> tuple[str, ...]:
    """Commands of a search, split at pipes outside quotes, backticks and brackets."""
    parts, current, depth = [], [], 0
    for token in PIPELINE_TOKEN.findall(search):
        if token == "|" and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        depth += BRACKET_DEPTH.get(token, 0)
        current.append(token)
    parts.append("".join(current).strip())
    return tuple(p for p in parts if p)


def returned_fields(search: str) -> set[str] | None:
    """The fields every result row may carry, or None when the search does not say."""
    fields: set[str] | None = None
    for command in split_pipeline(search):
        name, _, args = command.partition(" ")
        name = name.lower()
        if name in AGGREGATING:
            fields = _aggregate_fields(args)
        elif (listed := _listed_exactly(name, args)) is not None:
            fields = listed
        elif fields is not None:
            fields = None if name in UNKNOWABLE else _transform(fields, name, command, args)
    return fields


def _listed_exactly(name: str, args: str) -> set[str] | None:
    """The fields after a command that names all of them, whatever came before: ``table``/``fields``
    with plain names (no wildcard, no ``-``), ``top``/``rare``."""
    if name in ("top", "rare"):
        return {w for w in _items(args, " ,") if not OPTION.match(w) and w.lower() != "by"} | {"count", "percent"}
    if name in ("table", "fields"):
        words = [_unquote(w) for w in _items(args, " ,") if w != "+"]
        if words and not any(w.startswith("-") or "*" in w or "?" in w for w in words):
            return set(words)
    return None


def _transform(fields: set[str], name: str, command: str, args: str) -> set[str] | None:
    if match := DROP_DM.match(command):
        prefix = match.group(1) + "."
        return {f.removeprefix(prefix) for f in fields}
    if name == "rename":
        return _renamed(fields, args)
    if name == "eval":
        return fields | {_unquote(item.partition("=")[0]) for item in _items(args, ",") if "=" in item}
    if name in ("eventstats", "streamstats"):
        added = _aggregate_fields(args)
        return None if added is None else fields | added
    if name == "lookup":
        return _looked_up(fields, args)
    if name == "rex":
        return fields | set(re.findall(REX_GROUP, args))
    if name == "iplocation":
        return fields | {"City", "Country", "Region", "lat", "lon"}
    if name in ("table", "fields"):
        return _kept(fields, args)
    if name == "fillnull":
        return fields | _filled(args)
    if name == "convert":
        return fields | _converted(args)
    if name == "transaction":
        return fields | {"duration", "eventcount"}
    return fields


@functools.lru_cache(maxsize=None)  # one pattern per set of separators (two are used)
def _item_token(separators: str) -> re.Pattern:
    """A quoted text (to its closing quote or the end), a parenthesis, one separator, or a run of other characters."""
    others = re.escape(separators)
    return re.compile(rf"\"[^\"]*\"?|'[^']*'?|[()]|[{others}]|[^\"'(){others}]+")


def _items(text: str, separators: str) -> list[str]:
    """``text`` split at ``separators`` outside quotes and parentheses; empty items dropped."""
    items, current, depth = [], [], 0
    for token in _item_token(separators).findall(text):  # tokens, not characters: the same split, faster
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and len(token) == 1 and token in separators:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(token)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _unquote(name: str) -> str:
    return name.strip().strip("\"'")


def _aggregate_fields(args: str) -> set[str] | None:
    """Aggregates (``fn(x)``, ``fn(x) as y``, ``count``) and BY fields of a stats-like command."""
    words = _items(re.sub(r"`[^`]*`", " ", args), " ,")
    lowered = [w.lower() for w in words]
    by = lowered.index("by") if "by" in lowered else len(words)
    body, groups = words[:by], words[by + 1:]
    if "from" in lowered[:by]:  # tstats ... from datamodel=X where ...
        body = body[:lowered.index("from")]
    fields, i = set(), 0
    while i < len(body):
        word = body[i]
        alias = body[i + 2] if i + 2 < len(body) and body[i + 1].lower() == "as" else None
        i += 3 if alias else 1
        if OPTION.match(word) and "(" not in word.partition("=")[0]:
            continue
        if alias == "*" or word.endswith("(*)") and alias is None:
            return None  # values(*) as *: every field comes back under its own name
        fields.add(_unquote(alias) if alias else word)
    fields |= {_unquote(g) for g in groups if not OPTION.match(g)}
    return fields


def _looked_up(fields: set[str], args: str) -> set[str] | None:
    """``lookup T match [AS f] OUTPUT|OUTPUTNEW a [AS b] ...``; without OUTPUT every table field comes back."""
    words = _items(args, " ,")
    upper = [w.upper() for w in words]
    start = next((upper.index(k) for k in ("OUTPUTNEW", "OUTPUT") if k in upper), None)
    if start is None:
        return None
    outputs, added, i = words[start + 1:], set(), 0
    while i < len(outputs):
        has_alias = i + 2 < len(outputs) and outputs[i + 1].lower() == "as"
        added.add(_unquote(outputs[i + 2] if has_alias else outputs[i]))
        i += 3 if has_alias else 1
    return fields | added


def _filled(args: str) -> set[str]:
    """``fillnull [value=v] f1 f2``: each named field exists afterwards (Splunk Search Reference,
    fillnull: a field list creates a field that did not exist); without a list, none is added."""
    return {_unquote(w) for w in _items(args, " ,") if not OPTION.match(w)}


CONVERSION = r"\w+\(([^()]*)\)\Z"


def _converted(args: str) -> set[str]:
    """``convert fn(x) [AS y] ...``: y is created (Search Reference, convert); without AS, x is converted in place."""
    words, added = [w for w in _items(args, " ,") if not OPTION.match(w)], set()
    for i, word in enumerate(words):
        if re.match(CONVERSION, word) and i + 2 < len(words) and words[i + 1].lower() == "as":
            added.add(_unquote(words[i + 2]))
    return added


def _kept(fields: set[str], args: str) -> set[str]:
    words = [_unquote(w) for w in _items(args, " ,") if w != "+"]
    if words and words[0].startswith("-"):
        removed = [words[0][1:]] + words[1:] if words[0] != "-" else words[1:]
        return {f for f in fields if not any(fnmatch.fnmatchcase(f, w) for w in removed)}
    return {f for f in fields if any(fnmatch.fnmatchcase(f, w) for w in words)}


def _renamed(fields: set[str], args: str) -> set[str]:
    words = _items(args, " ,")
    for i in range(len(words) - 2):
        if words[i + 1].lower() != "as":
            continue
        old, new = _unquote(words[i]), _unquote(words[i + 2])
        if "*" in old:
            pattern = re.compile(re.escape(old).replace(r"\*", "(.*)") + r"\Z")
            fields = {_wild(pattern, f, new) for f in fields}
        elif old in fields:
            fields = (fields - {old}) | {new}
    return fields


def _wild(pattern: re.Pattern, field: str, new: str) -> str:
    match = pattern.match(field)
    return new.replace("*", match.group(1), 1) if match else field
