"""CSV file lookups: ``transforms.conf`` tables and the ``LOOKUP-`` call syntax.

A table (transforms.conf.spec) is a stanza with ``filename`` (a CSV under the
add-on's ``lookups/``; "Only file names are supported ... Splunk software strips
the path"), ``case_sensitive_match`` (default true), ``match_type = WILDCARD(f)``
(``*`` in column f matches any run), ``max_matches`` (1-1000; default 100 for a
lookup without ``time_field``: the first rows in file order) and ``min_matches``
(default 0) with ``default_match``, given as often as needed to reach
``min_matches``. Other keys are taken when they change nothing offline
(``OFFLINE_NO_EFFECT``); the rest are named once (``NOT_RUN``, ``SET_ASIDE``, or not a
lookup key at all). A search running in an app sees that app's own tables and files
before the add-ons' (``app_first``). A call (props.conf.spec, ``LOOKUP-<class>``) is
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
from pathlib import Path

from ..errors import Fresh, record
from .addons import Addon, Setting, addon_from_files, folder_files
from .problems import Problems
from .transforms import truthy

Fields = dict


class LookupSyntaxError(ValueError):
    pass


@record(frozen=False, unequal=("indexes",), hidden=("indexes",))
class LookupTable:
    name: str
    columns: list[str]
    rows: list[dict[str, str]]
    case_sensitive: bool = True
    wildcard: frozenset[str] = frozenset()
    max_matches: int = 100
    min_matches: int = 0
    default_match: str = ""
    indexes: dict = Fresh(dict)  # key columns → values → rows: a cache, so neither compared nor shown

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


# transforms.conf.spec, "Lookup tables": the keys the engine applies, ...
APPLIED = frozenset({"filename", "case_sensitive_match", "match_type", "max_matches", "min_matches", "default_match"})
# ... those that change nothing in a CSV lookup's rows offline: caching and batching of large
# lookups, who may write the file (outputlookup), where it is replicated, reverse lookups (which
# rewrite a search on an output field; the engine evaluates the lookup instead), settings of
# external, KV store or geospatial lookups, and temporal offsets read only with time_field ...
OFFLINE_NO_EFFECT = frozenset({"batch_index_query", "allow_caching", "cache_size", "check_permission", "replicate",
                               "reverse_lookup_honor_case_sensitive_match", "fields_list", "max_ext_batch",
                               "python.version", "feature_id_element", "time_format", "max_offset_secs",
                               "min_offset_secs"})
# ... and those that make a lookup the engine cannot run: KV store, scripted and temporal
# lookups, and a filter on the table's rows (a search expression, not supported here).
NOT_RUN = {"collection": "a KV store lookup", "external_cmd": "an external lookup",
           "external_type": "not a CSV file lookup", "time_field": "a temporal lookup",
           "filter": "a filter on the table's rows"}
# ... and one that is named and set aside: whether Splunk still matches on the columns it leaves
# unindexed ("not indexed and not searchable") is *unverified*; the engine matches every column.
SET_ASIDE = {"index_fields_list": "every column is matched, ignored"}
MATCH_TYPE_ITEM = re.compile(r"\s*(\w+)\(([^)]*)\)\s*,?")


def table_from_stanza(name: str, settings: dict[str, Setting], files: Mapping[str, bytes],
                      problems: Problems, *, rows: bool = True) -> LookupTable | None:
    """The CSV table a transforms.conf lookup stanza defines, or None; each reason is named once.
    ``rows=False``: the same checks and table, but of the file only its header is read."""
    for key, setting in settings.items():
        if key in NOT_RUN:
            problems.add(setting, name, key, f"{NOT_RUN[key]}: only CSV file lookups are supported, table not used")
            return None
        if key in SET_ASIDE:
            problems.add(setting, name, key, SET_ASIDE[key])
        elif key not in APPLIED and key not in OFFLINE_NO_EFFECT:
            problems.add(setting, name, key, "not a lookup setting of transforms.conf.spec, ignored")
    if "filename" not in settings:
        problems.add(next(iter(settings.values()), None), name, "filename", "no filename: not a CSV lookup table, not used")
        return None
    filename = settings["filename"]
    file = re.split(r"[/\\]", filename.value.strip())[-1]
    if not file.lower().endswith(".csv"):  # such as a Machine Learning Toolkit model, read by `apply`
        problems.add(filename, name, "filename", f"lookups/{file} is not a CSV file, table not used")
        return None
    content = files.get(file)
    if content is None:
        problems.add(filename, name, "filename", f"lookup file lookups/{file} is missing")
        return None
    if undecodable := not_utf8(content):  # named once, like the file's other problems
        problems.note(f"lookups/{file}:{undecodable}")
    header, table_rows, error = read_csv(content, rows)
    if error:  # the file's problem, named once however many stanzas (or searches, by file name) read it
        problems.note(f"lookups/{file}:{error}; no lookup reads it")
        return None
    table = LookupTable(name, header, table_rows)
    if "case_sensitive_match" in settings:
        table.case_sensitive = truthy(settings["case_sensitive_match"].value)
    if "match_type" in settings:
        table.wildcard = match_types(settings["match_type"], name, problems)
    table.max_matches = count_setting(settings, "max_matches", name, 1, 1000, table.max_matches, problems)
    table.min_matches = count_setting(settings, "min_matches", name, 0, 1000, 0, problems)
    if "default_match" in settings:
        table.default_match = settings["default_match"].value
    return table


def read_csv(content: bytes, rows_too: bool = True) -> tuple[list[str], list[dict[str, str]], str]:
    """(header, rows, "") or ([], [], "<line>: <reason>"). The first non-blank line is the header;
    a header with an empty or repeated column name makes no table (which column Splunk would
    read is *unverified*). A short row's missing cells are empty, a long row's extra cells dropped."""
    reader = csv.reader(io.StringIO(content.decode("utf-8-sig", "replace"), newline=""))
    header: list[str] | None = None
    rows = []
    try:
        for row in reader:
            if header is None:
                if row:
                    header = row
                    problem = header_problem(header)
                    if problem:
                        return [], [], f"{reader.line_num}: {problem}"
                    if not rows_too:
                        break
                continue
            if row:
                rows.append({column: row[i] if i < len(row) else "" for i, column in enumerate(header)})
    except csv.Error as error:
        return [], [], f"{reader.line_num}: not readable as CSV ({error})"
    if header is None:
        return [], [], "1: no header line"
    return header, rows, ""


def not_utf8(content: bytes) -> str:
    """"<line>: <reason>" for a file that is not UTF-8 (read_csv then reads U+FFFD in place of
    each such byte), else ""."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        return (f"{line}: not UTF-8 (byte 0x{content[error.start]:02x}), read with U+FFFD in place of each "
                "byte that is not")
    return ""


def header_problem(header: list[str]) -> str:
    seen = set()
    for number, column in enumerate(header, 1):
        if not column.strip():
            return f"column {number} of the header has no name"
        if column in seen:
            return f"column '{column}' appears twice in the header"
        seen.add(column)
    return ""


def match_types(setting: Setting, name: str, problems: Problems) -> frozenset[str]:
    """The WILDCARD columns of ``match_type`` (``WILDCARD(f)``, ``CIDR(f)``, ``EXACT(f)``, comma
    separated); CIDR and anything unreadable are named and matched exactly."""
    wildcard, text, at = set(), setting.value, 0
    while at < len(text.rstrip()):
        item = MATCH_TYPE_ITEM.match(text, at)
        if item is None:
            problems.add(setting, name, "match_type", f"cannot read '{text[at:].strip()}', matched exactly")
            break
        kind, columns = item.group(1).upper(), {c.strip() for c in item.group(2).split(",") if c.strip()}
        if kind == "WILDCARD":
            wildcard |= columns
        elif kind == "CIDR":
            problems.add(setting, name, "match_type", "CIDR matching is not supported, matched exactly")
        elif kind != "EXACT":
            problems.add(setting, name, "match_type", f"unknown match type {item.group(1)}, matched exactly")
        at = item.end()
    return frozenset(wildcard)


def count_setting(settings: dict[str, Setting], key: str, name: str, low: int, high: int, default: int,
                  problems: Problems) -> int:
    if key not in settings:
        return default
    try:
        number = int(settings[key].value.strip())
    except ValueError:
        problems.add(settings[key], name, key, f"not a number, {default} used")
        return default
    if not low <= number <= high:  # the spec gives the range; Splunk's handling outside it is *unverified*
        problems.add(settings[key], name, key, f"outside {low}-{high}, {min(max(number, low), high)} used")
    return min(max(number, low), high)


@record
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
    ``transforms.conf`` table, or a file under ``lookups/``; same matching as ``LOOKUP-``
    (Search Reference: lookup's table "Can be either the name of a CSV file ... or the name
    of a stanza in the transforms.conf file"; inputlookup takes a <filename> ending in .csv
    or a <tablename>). ``defined``: the name is the apps', though its table may be unreadable."""

    def __init__(self, table: Callable[[str], LookupTable | None], defined: Callable[[str], bool] = lambda name: False):
        self.table, self.defined = table, defined

    def has(self, name: str) -> bool:
        return self.table(name) is not None

    def rows(self, name: str) -> list[dict[str, str]]:
        return self.table(name).rows

    def apply(self, name: str, inputs: tuple, outputs: tuple, overwrite: bool, row: Fields) -> None:
        apply_lookup(LookupCall(name, inputs, outputs, overwrite), self.table(name), row)


# --- the running app's own lookups -----------------------------------------------------------

APP_LOOKUP_FILES = ("default/transforms.conf", "local/transforms.conf")


def app_lookups(app_dir: Path) -> Addon:
    """A built app's lookup definitions (``transforms.conf``) and files (``lookups/*.csv``), read
    from the very folder the package is made of; AddonError/ConfError when unreadable."""
    files = {relative: content for relative, content in folder_files(app_dir).items()
             if relative in APP_LOOKUP_FILES or relative.startswith("lookups/")}
    return addon_from_files(app_dir.name, files, str(app_dir))


def check_tables(names, transforms: Mapping[str, dict[str, Setting]], files: Mapping[str, bytes],
                 problems: Problems) -> None:
    """Name every problem of the tables ``names`` (settings, file, header) without reading rows."""
    for name in names:
        if transforms.get(name):
            table_from_stanza(name, transforms[name], files, problems, rows=False)


def app_first(app: Addon, others: Addon) -> Addon:
    """The add-ons' knowledge as a search running in ``app`` sees it.

    Admin Manual, "Configuration file precedence": a search runs in an app/user context, where
    the current app's directories (local, then default) come before "App directories for all
    other apps (local, followed by default) -- for exported settings only"; copies of a stanza
    are merged setting by setting, the higher copy winning each setting. So a lookup the app
    defines is the app's, keeping only the settings it leaves unset from another app's stanza of
    that name. A lookup file is resolved by name in the same order (transforms.conf.spec,
    ``filename``: "If file is in multiple 'lookups' directories, no layering is done. Standard
    conf file precedence is used to disambiguate"), so the app's file wins whichever stanza
    names it. The add-ons are taken as exporting their lookups (their metadata is not read:
    *unverified*); the app's own objects need no export in its own context.
    """
    transforms = {name: dict(settings) for name, settings in others.confs.get("transforms", {}).items()}
    for name, settings in app.confs.get("transforms", {}).items():
        transforms.setdefault(name, {}).update(settings)
    return Addon(others.name, {**others.confs, "transforms": transforms}, others.datamodels,
                 {**others.lookups, **app.lookups}, [*app.skipped, *others.skipped])
