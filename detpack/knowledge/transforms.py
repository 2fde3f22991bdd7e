"""``transforms.conf`` search-time extractions: what a ``REPORT-`` class runs.

Settings (transforms.conf.spec): ``REGEX`` (named groups or ``FORMAT``),
``FORMAT`` (``name::value`` pairs, ``$n`` for groups, ``$1::$2`` for names taken
from the text), ``SOURCE_KEY`` (the field read; default ``_raw``), ``MV_ADD``
(a field found again becomes multivalue; default: the new value is discarded),
``KEEP_EMPTY_VALS`` (default false: an empty value makes no field),
``DELIMS``/``FIELDS`` (delimiter-based extraction), ``CLEAN_KEYS`` (default
true: names taken from the text keep only ``[A-Za-z0-9_]``, other characters
become ``_``, and leading ``_`` and digits are dropped). ``_KEY_n``/``_VAL_n``
named groups pair a name with a value.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import record, replace
from .addons import Setting
from .problems import Problems
from .regex import PCRE_LIMIT_UNSUPPORTED, PCRE_LIMITS, compile_pcre

Fields = dict
GROUP_REFERENCE = re.compile(r"\$(\d+)")
CLEAN = re.compile(r"[^A-Za-z0-9_]")
LOOKUP_KEYS = frozenset({"filename", "case_sensitive_match", "match_type", "max_matches", "min_matches",
                         "default_match", "collection", "external_cmd", "fields_list", "batch_index_query",
                         "allow_caching", "external_type", "time_field", "time_format", "filter"})
EXTRACTION_KEYS = frozenset({"REGEX", "FORMAT", "SOURCE_KEY", "MV_ADD", "DELIMS", "FIELDS", "CLEAN_KEYS",
                             "KEEP_EMPTY_VALS", "CAN_OPTIMIZE", "REPEAT_MATCH", "DEST_KEY", "WRITE_META",
                             "DEFAULT_VALUE", "LOOKAHEAD"})
INDEX_TIME_ONLY = frozenset({"DEST_KEY", "WRITE_META", "REPEAT_MATCH", "DEFAULT_VALUE", "LOOKAHEAD"})
TRUE = frozenset({"1", "true", "t", "yes", "y"})


def truthy(value: str) -> bool:
    return value.strip().lower() in TRUE


@record
class Extraction:
    """A compiled ``REPORT-`` transform."""

    name: str
    source_key: str
    outputs: frozenset[str] | None  # field names it can make; None: names come from the text
    run: Callable[[str, Fields], None]  # (source value, fields to add to)
    names_from_text: bool = False  # each name is a piece of the text (``$1::$2``), cleaned when clean
    clean: bool = True

    def restricted(self, names: frozenset[str]) -> "Extraction":
        """This extraction when only ``names`` matter: one taking its names from the text
        skips a text that cannot hold any of them. A cleaned name keeps the key's letters
        and digits in order, ``_`` standing for any other character: each ``_``-separated
        part of the name, its longest one among them, is then in the key, so in the text."""
        if self.outputs is not None or not self.names_from_text:
            return self
        parts = [max(name.split("_"), key=len) if self.clean else name for name in names]
        if not all(parts):
            return self
        needle = re.compile("|".join(sorted({re.escape(p) for p in parts}, key=len, reverse=True)))
        run, found = self.run, needle.search

        def guarded(text: str, fields: Fields) -> None:
            if found(text):
                run(text, fields)

        return replace(self, run=guarded)


def with_global_settings(stanzas: dict[str, dict[str, Setting]]) -> dict[str, dict[str, Setting]]:
    """Each stanza under the file's global settings: transforms.conf.spec, GLOBAL SETTINGS,
    "Use the [default] stanza to define any global settings" (keys at the top of the file
    belong there too) and "the value in the specific stanza takes precedence"."""
    defaults = stanzas.get("default")
    if not defaults:
        return stanzas
    return {name: {**defaults, **settings} for name, settings in stanzas.items() if name != "default"}

def clean_key(name: str) -> str:
    return CLEAN.sub("_", name).lstrip("_0123456789")


def add_value(fields: Fields, name: str, value: str, mv_add: bool, keep_empty: bool = False) -> None:
    if not name or (value == "" and not keep_empty):
        return
    old = fields.get(name)
    if old is None:
        fields[name] = value
    elif mv_add:
        fields[name] = (old if isinstance(old, list) else [old]) + [value]


def compile_extraction(name: str, settings: dict[str, Setting], problems: Problems) -> Extraction | None:
    """The extraction of ``[name]``, or None (reported) when it cannot run."""
    for key, setting in settings.items():
        if key in PCRE_LIMITS:
            problems.add(setting, name, key, PCRE_LIMIT_UNSUPPORTED)
        elif key not in EXTRACTION_KEYS and key not in LOOKUP_KEYS:
            problems.add(setting, name, key, "unsupported setting, ignored")
    mv_add = truthy(settings["MV_ADD"].value) if "MV_ADD" in settings else False
    keep_empty = truthy(settings["KEEP_EMPTY_VALS"].value) if "KEEP_EMPTY_VALS" in settings else False
    clean = truthy(settings["CLEAN_KEYS"].value) if "CLEAN_KEYS" in settings else True
    source_key = settings["SOURCE_KEY"].value.strip() if "SOURCE_KEY" in settings else "_raw"
    if source_key.startswith("field:"):
        source_key = source_key[len("field:"):]
    if "DELIMS" in settings:
        return delims_extraction(name, settings, source_key, mv_add, keep_empty, clean, problems)
    if "REGEX" not in settings:
        any_setting = next(iter(settings.values()), None)
        problems.add(any_setting, name, "REGEX", "no REGEX or DELIMS: not an extraction, ignored")
        return None
    try:
        pattern = compile_pcre(settings["REGEX"].value)
    except re.error as error:
        problems.add(settings["REGEX"], name, "REGEX", f"pattern Python cannot compile ({error}), ignored")
        return None
    template = settings["FORMAT"].value if "FORMAT" in settings else None
    pairs = format_pairs(template) if template else None
    if pairs is None:
        return named_group_extraction(name, pattern, source_key, mv_add, keep_empty, clean)
    return format_extraction(name, pattern, pairs, source_key, mv_add, keep_empty, clean)


def format_pairs(template: str) -> list[tuple[str, str]]:
    """``a::$1 $2::$3`` → [("a", "$1"), ("$2", "$3")]."""
    pairs = []
    for item in template.split():
        field, sep, value = item.partition("::")
        if sep:
            pairs.append((field, value.strip('"')))
    return pairs


def template(text: str, groups: int) -> Callable[[re.Match], str]:
    """A FORMAT name or value as a function of the match: ``$n`` is group n (empty when it
    did not take part or does not exist), other text stays."""
    if "$" not in text:
        return lambda match: text
    single = GROUP_REFERENCE.fullmatch(text)
    if single:
        number = int(single.group(1))
        if number > groups:
            return lambda match: ""
        return lambda match: match.group(number) or ""

    def substitute(match: re.Match) -> str:
        return GROUP_REFERENCE.sub(
            lambda g: (match.group(int(g.group(1))) or "") if int(g.group(1)) <= groups else "", text)

    return substitute


CLEANED: dict[str, str] = {}


def cleaned(name: str) -> str:
    """clean_key, remembered: the same few names come back in every event."""
    found = CLEANED.get(name)
    if found is None:
        found = clean_key(name)
        if len(CLEANED) < 10000:
            CLEANED[name] = found
    return found


def format_extraction(name, pattern, pairs, source_key, mv_add, keep_empty, clean) -> Extraction:
    dynamic = any("$" in field for field, _ in pairs)
    outputs = None if dynamic else frozenset(field for field, _ in pairs)
    if pairs == [("$1", "$2")] and pattern.groups == 2:
        return Extraction(name, source_key, outputs, pair_run(pattern, mv_add, keep_empty, clean), True, clean)
    if not dynamic and all("$" not in value or GROUP_REFERENCE.fullmatch(value) for _, value in pairs):
        return Extraction(name, source_key, outputs, fixed_run(pattern, pairs, mv_add, keep_empty))
    compiled = [(template(field, pattern.groups), "$" in field, template(value, pattern.groups))
                for field, value in pairs]

    def run(text: str, fields: Fields) -> None:
        for match in pattern.finditer(text):
            for field, from_text, value in compiled:
                key = field(match)
                add_value(fields, cleaned(key) if clean and from_text else key, value(match), mv_add, keep_empty)

    return Extraction(name, source_key, outputs, run)


def fixed_run(pattern, pairs: list[tuple[str, str]], mv_add: bool, keep_empty: bool) -> Callable[[str, Fields], None]:
    """Fixed names, each value one group (``user::$1``) or text: the common REPORT, without a
    template call per value. A group the pattern lacks gives "", as in ``template``."""
    plan = []
    for field, value in pairs:
        single = GROUP_REFERENCE.fullmatch(value)
        if single is None:
            plan.append((field, None, value))
        elif int(single.group(1)) <= pattern.groups:
            plan.append((field, int(single.group(1)), ""))
        else:
            plan.append((field, None, ""))

    def run(text: str, fields: Fields) -> None:
        for match in pattern.finditer(text):
            for field, number, constant in plan:
                add_value(fields, field, constant if number is None else (match.group(number) or ""), mv_add,
                          keep_empty)

    return run


def pair_run(pattern: re.Pattern, mv_add: bool, keep_empty: bool, clean: bool) -> Callable[[str, Fields], None]:
    """``$1::$2``, the add-ons' common form, on findall's tuples (the hot path)."""
    def run(text: str, fields: Fields) -> None:
        get, known = fields.get, CLEANED.get
        for key, value in pattern.findall(text):
            if value == "" and not keep_empty:
                continue
            if clean:
                key = known(key) or cleaned(key)
            old = get(key)
            if old is None:
                if key:
                    fields[key] = value
            elif mv_add:
                fields[key] = (old if isinstance(old, list) else [old]) + [value]

    return run


def named_group_extraction(name, pattern, source_key, mv_add, keep_empty, clean) -> Extraction:
    names = [g for g in pattern.groupindex if not g.startswith(("_KEY_", "_VAL_"))]
    keyed = sorted(g[len("_KEY_"):] for g in pattern.groupindex if g.startswith("_KEY_"))
    outputs = None if keyed else frozenset(names)

    def run(text: str, fields: Fields) -> None:
        for match in pattern.finditer(text):
            for group in names:
                value = match.group(group)
                if value is not None:
                    add_value(fields, group, value, mv_add, keep_empty)
            for n in keyed:
                key, value = match.group(f"_KEY_{n}"), match.group(f"_VAL_{n}")
                if key is not None and value is not None:
                    add_value(fields, clean_key(key) if clean else key, value, mv_add, keep_empty)

    return Extraction(name, source_key, outputs, run)


def delims_extraction(name, settings, source_key, mv_add, keep_empty, clean, problems) -> Extraction | None:
    delims = quoted_list(settings["DELIMS"].value)
    if not delims or len(delims) > 2:
        problems.add(settings["DELIMS"], name, "DELIMS", "expected one or two quoted delimiter sets, ignored")
        return None
    names = [n.strip().strip('"') for n in settings["FIELDS"].value.split(",")] if "FIELDS" in settings else None
    pair_delims = delims[0]
    kv_delims = delims[1] if len(delims) == 2 else None
    # transforms.conf.spec: "Splunk software consumes consecutive delimiter characters
    # unless you specify a list of field names"
    collapse = names is None

    def run(text: str, fields: Fields) -> None:
        pieces = split_outside_quotes(text, pair_delims, collapse)
        if kv_delims is None:
            if names is not None:
                for field, value in zip(names, pieces):
                    add_value(fields, field, unquoted(value), mv_add, keep_empty)
                return
            # "Alternately, Splunk software reads even tokens as field names and odd
            # tokens as field values."
            for key, value in zip(pieces[0::2], pieces[1::2]):
                key = unquoted(key)
                add_value(fields, clean_key(key) if clean else key, unquoted(value), mv_add, keep_empty)
            return
        for piece in pieces:
            halves = split_outside_quotes(piece, kv_delims, False, 1)
            if len(halves) == 2 and halves[0]:
                key = unquoted(halves[0])
                add_value(fields, clean_key(key) if clean else key, unquoted(halves[1]), mv_add, keep_empty)

    outputs = frozenset(names) if names and kv_delims is None else None
    return Extraction(name, source_key, outputs, run)


def split_outside_quotes(text: str, delims: str, collapse: bool, limit: int = -1) -> list[str]:
    """Split at each delimiter character outside double quotes (a backslash escapes a
    quote: transforms.conf.spec, DELIMS, "An escaped double quote (\\") is ok");
    ``collapse``: a run of delimiters is one, and empty pieces are dropped."""
    pieces, start, quoted, i = [], 0, False, 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in delims and not quoted and limit != 0:
            pieces.append(text[start:i])
            start, limit = i + 1, limit - 1
        i += 1
    pieces.append(text[start:])
    return [p for p in pieces if p != ""] if collapse else pieces


def unquoted(value: str) -> str:
    """A value written in double quotes, without them (*unverified*: that the quotes go)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def quoted_list(text: str) -> list[str]:
    """``"|", "="`` → ["|", "="] (backslash escapes as in the spec)."""
    return [bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]
