"""Which fields a search returns, inferred from its text without running it.

Used by validation to prove that every ``$token$`` and risk-object field names a
result field. Inference follows the commands that decide the field set
(``tstats``/``stats`` aggregates and BY fields, ``rename``, ``eval``,
``table``/``fields``) and CIM's ``drop_dm_object_name(X)`` macro; other macros
and commands are taken to keep the field set. A search that does not start
with ``tstats``/``stats`` and never aggregates returns raw events, whose fields
cannot be known, so the answer is None.
"""
from __future__ import annotations

import fnmatch
import re

AGGREGATE = re.compile(r"(\w+)(?:\(([^)]*)\))?(?:\s+as\s+(\"[^\"]+\"|\S+))?", re.IGNORECASE)
DROP_DM = re.compile(r"`drop_dm_object_name\(\s*\"?([\w.]+?)\"?\s*\)`")
BY = re.compile(r"\s+by\s+", re.IGNORECASE)


# An SPL comment runs from ``` to the next ``` (Splunk Search Reference, "Add comments to searches");
# it is not a macro call and says nothing about the search.
COMMENT = re.compile(r"```.*?```", re.DOTALL)


def without_comments(search: str) -> str:
    """The search with each comment replaced by one space."""
    return COMMENT.sub(" ", search) if "```" in search else search


PIPELINE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|`[^`]*`?|[\[\]|]|[^"`\[\]|]+')


def split_pipeline(search: str) -> list[str]:
    """Commands of a search, split at pipes outside quotes, backticks and brackets."""
    parts, current, depth = [], [], 0
    for token in PIPELINE_TOKEN.findall(search):
        if token == "|" and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        depth += {"[": 1, "]": -1}.get(token, 0)
        current.append(token)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def returned_fields(search: str) -> set[str] | None:
    fields: set[str] | None = None
    for command in split_pipeline(search):
        name, _, args = command.partition(" ")
        name = name.lower()
        if name in ("tstats", "stats"):
            fields = _aggregate_fields(args)
        elif fields is None:
            continue
        elif match := DROP_DM.match(command):
            prefix = match.group(1) + "."
            fields = {f.removeprefix(prefix) for f in fields}
        elif name == "rename":
            fields = _renamed(fields, args)
        elif name == "eval":
            fields |= {m.group(1) for m in re.finditer(r"(?:^|,)\s*(\w+)\s*=(?!=)", args)}
        elif name in ("table", "fields") and not args.lstrip().startswith("-"):
            wanted = [w.strip('"') for w in re.split(r"[\s,]+", args) if w and w != "+"]
            fields = {f for f in fields if any(fnmatch.fnmatchcase(f, w) for w in wanted)}
    return fields


def _aggregate_fields(args: str) -> set[str]:
    body, by = (BY.split(args, maxsplit=1) + [""])[:2]
    body = re.sub(r"\bfrom\s+datamodel\s*=\s*\S+.*", "", body, flags=re.IGNORECASE | re.DOTALL)
    body = re.sub(r"\b\w+\s*=\s*\S+", "", body)  # options such as summariesonly=true
    body = re.sub(r"`[^`]*`", "", body)
    fields = set()
    for match in AGGREGATE.finditer(body):
        function, argument, alias = match.groups()
        if alias:
            fields.add(alias.strip('"'))
        else:
            fields.add(f"{function}({argument})" if argument is not None else function)
    fields |= {f.strip(",") for f in by.split() if f.strip(",")}
    return fields


def _renamed(fields: set[str], args: str) -> set[str]:
    for old, new in re.findall(r"(\"[^\"]+\"|\S+)\s+as\s+(\"[^\"]+\"|\S+)", args, re.IGNORECASE):
        old, new = old.strip('",'), new.strip('",')
        if "*" in old:
            pattern = re.compile(re.escape(old).replace(r"\*", "(.*)") + r"\Z")
            fields = {_wild(pattern, f, new) for f in fields}
        elif old in fields:
            fields = (fields - {old}) | {new}
    return fields


def _wild(pattern: re.Pattern, field: str, new: str) -> str:
    match = pattern.match(field)
    return new.replace("*", match.group(1), 1) if match else field
