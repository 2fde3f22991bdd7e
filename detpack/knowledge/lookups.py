"""CSV file lookups: ``transforms.conf`` tables and the ``LOOKUP-`` call syntax.

A table (transforms.conf.spec) is a stanza with ``filename`` (a CSV under the
add-on's ``lookups/``; "Only file names are supported ... Splunk software strips
the path"), ``case_sensitive_match`` (default true), ``match_type = WILDCARD(f)``
(``*`` in column f matches any run), ``max_matches`` (1-1000; default 100 for a
lookup without ``time_field``: the first rows in file order) and ``min_matches``
(default 0) with ``default_match``, given as often as needed to reach
``min_matches``. A call (props.conf.spec, ``LOOKUP-<class>``) is
``<table> <in> [AS <event field>] ... [OUTPUT|OUTPUTNEW <out> [AS <event field>] ...]``:
OUTPUT overwrites the event's fields, OUTPUTNEW fills only fields the event lacks;
without an output list every other column is output. With OUTPUT, an event that
has every input but no matching row "clears all of the output fields"; with
OUTPUTNEW it is left as it was (*unverified*). The ``lookup`` SPL command uses
the same tables and calls.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from .addons import Setting
from .problems import Problems
from .transforms import truthy

Fields = dict
MATCH_TYPE = re.compile(r"(WILDCARD|CIDR)\(([^)]*)\)", re.IGNORECASE)


class LookupSyntaxError(ValueError):
    pass


@dataclass
class LookupTable:
    name: str
    columns: list[str]
    rows: list[dict[str, str]]
    case_sensitive: bool = True
    wildcard: frozenset[str] = frozenset()
    max_matches: int = 100
    min_matches: int = 0
    default_match: str = ""
    indexes: dict = dataclass_field(default_factory=dict, repr=False, compare=False)  # key columns → values → rows

    def matches(self, keys: Mapping[str, str]) -> list[dict[str, str]]:
        """Rows whose key columns match ``keys`` (lookup column → event value), in file order."""
        columns = tuple(keys)
        if not self.wildcard.intersection(columns):
            values = tuple(keys.values()) if self.case_sensitive else tuple(v.lower() for v in keys.values())
            return self.index(columns).get(values, [])[: self.max_matches]
        tests = [(column, self.tester(column, value)) for column, value in keys.items()]
        found = []
        for row in self.rows:
            if all(test(row.get(column, "")) for column, test in tests):
                found.append(row)
                if len(found) >= self.max_matches:
                    break
        return found

    def index(self, columns: tuple[str, ...]) -> dict[tuple[str, ...], list[dict[str, str]]]:
        """The rows by their values in ``columns`` (lower-cased without case sensitivity),
        built once per set of key columns: exact matching without a scan per event."""
        found = self.indexes.get(columns)
        if found is None:
            found = self.indexes[columns] = {}
            for row in self.rows:
                cells = tuple(row.get(c, "") for c in columns)
                found.setdefault(cells if self.case_sensitive else tuple(c.lower() for c in cells), []).append(row)
        return found

    def tester(self, column: str, value: str) -> Callable[[str], bool]:
        want = value if self.case_sensitive else value.lower()
        if column in self.wildcard:
            flags = 0 if self.case_sensitive else re.IGNORECASE

            def wild(cell: str) -> bool:
                pattern = "(?s)" + ".*".join(re.escape(p) for p in cell.split("*")) + r"\Z"
                return re.match(pattern, value, flags) is not None
            return wild
        if self.case_sensitive:
            return lambda cell: cell == want
        return lambda cell: cell.lower() == want


def table_from_stanza(name: str, settings: dict[str, Setting], files: Mapping[str, bytes],
                      problems: Problems) -> LookupTable | None:
    filename = settings["filename"]
    file = re.split(r"[/\\]", filename.value.strip())[-1]
    content = files.get(file)
    if content is None:
        problems.add(filename, name, "filename", f"lookup file lookups/{file} is missing")
        return None
    for key in ("collection", "external_cmd", "time_field"):
        if key in settings:
            problems.add(settings[key], name, key, "only CSV file lookups are supported, ignored")
            return None
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig", "replace")))
    rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    table = LookupTable(name, list(reader.fieldnames or ()), rows)
    if "case_sensitive_match" in settings:
        table.case_sensitive = truthy(settings["case_sensitive_match"].value)
    if "match_type" in settings:
        for kind, columns in MATCH_TYPE.findall(settings["match_type"].value):
            names = {c.strip() for c in columns.split(",")}
            if kind.upper() == "WILDCARD":
                table.wildcard |= names
            else:
                problems.add(settings["match_type"], name, "match_type", "CIDR matching is not supported, ignored")
    table.max_matches = count_setting(settings, "max_matches", name, 1, 1000, table.max_matches, problems)
    table.min_matches = count_setting(settings, "min_matches", name, 0, 1000, 0, problems)
    if "default_match" in settings:
        table.default_match = settings["default_match"].value
    return table


def count_setting(settings: dict[str, Setting], key: str, name: str, low: int, high: int, default: int,
                  problems: Problems) -> int:
    if key not in settings:
        return default
    try:
        number = int(settings[key].value.strip())
    except ValueError:
        problems.add(settings[key], name, key, f"not a number, {default} used")
        return default
    return min(max(number, low), high)


@dataclass(frozen=True)
class LookupCall:
    table: str
    inputs: tuple[tuple[str, str], ...]   # (lookup column, event field)
    outputs: tuple[tuple[str, str], ...]  # (lookup column, event field); empty: all other columns
    overwrite: bool                       # OUTPUT (True) or OUTPUTNEW (False)


def parse_lookup_call(text: str) -> LookupCall:
    """``table in [AS f] [, ...] [OUTPUT|OUTPUTNEW out [AS f] [, ...]]``."""
    words = text.replace(",", " , ").split()
    if not words:
        raise LookupSyntaxError("empty lookup")
    table, rest = words[0], words[1:]
    upper = [w.upper() for w in rest]
    cut = next((i for i, w in enumerate(upper) if w in ("OUTPUT", "OUTPUTNEW")), len(rest))
    inputs = field_pairs(rest[:cut])
    if not inputs:
        raise LookupSyntaxError("no input field")
    overwrite = cut == len(rest) or upper[cut] == "OUTPUT"
    outputs = field_pairs(rest[cut + 1:]) if cut < len(rest) else ()
    return LookupCall(table, inputs, outputs, overwrite)


def field_pairs(words: list[str]) -> tuple[tuple[str, str], ...]:
    pairs, i = [], 0
    while i < len(words):
        if words[i] == ",":
            i += 1
            continue
        if i + 2 < len(words) and words[i + 1].upper() == "AS":
            pairs.append((words[i], words[i + 2]))
            i += 3
        elif i + 1 < len(words) and words[i + 1].upper() == "AS":
            raise LookupSyntaxError(f"nothing after '{words[i]} AS'")
        else:
            pairs.append((words[i], words[i]))
            i += 1
    return tuple(pairs)


def call_outputs(call: LookupCall, table: LookupTable | None) -> frozenset[str] | None:
    """The event fields a call can set (None: unknown, the table is missing)."""
    if call.outputs:
        return frozenset(f for _, f in call.outputs)
    if table is None:
        return None
    inputs = {c for c, _ in call.inputs}
    return frozenset(c for c in table.columns if c not in inputs)


def apply_lookup(call: LookupCall, table: LookupTable, fields: Fields) -> None:
    values = {}
    for column, field in call.inputs:
        value = fields.get(field)
        if value is None:
            return
        values[column] = value if isinstance(value, str) else to_single(value)
    rows = table.matches(values)
    if len(rows) < table.min_matches:
        default = dict.fromkeys(table.columns, table.default_match)
        rows = rows + [default] * (table.min_matches - len(rows))
    outputs = call.outputs or tuple((c, c) for c in table.columns if c not in values)
    if not rows:
        if call.overwrite:
            for _, field in outputs:
                fields.pop(field, None)
        return
    for column, field in outputs:
        if not call.overwrite and fields.get(field) is not None:
            continue
        found = [row[column] for row in rows if row.get(column)]
        if found:
            fields[field] = found[0] if len(found) == 1 else found
        elif call.overwrite:
            fields.pop(field, None)


def to_single(value) -> str:
    """The first value of a multivalue input (unverified: Splunk looks up each value)."""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


class LookupTables:
    """The apps' tables for the ``lookup`` and ``inputlookup`` SPL commands: a name is a
    ``transforms.conf`` table, or a file under ``lookups/``; same matching as ``LOOKUP-``."""

    def __init__(self, table: Callable[[str], LookupTable | None]):
        self.table = table

    def has(self, name: str) -> bool:
        return self.table(name) is not None

    def rows(self, name: str) -> list[dict[str, str]]:
        return self.table(name).rows

    def apply(self, name: str, inputs: tuple, outputs: tuple, overwrite: bool, row: Fields) -> None:
        apply_lookup(LookupCall(name, inputs, outputs, overwrite), self.table(name), row)
