"""``props.conf`` at search time: which stanzas apply to an event and what they run.

Stanzas (props.conf.spec): ``[<sourcetype>]``, ``[source::<pattern>]`` and
``[host::<pattern>]``; in patterns ``...`` matches anything, ``*`` anything but a
path separator, ``.`` is literal and the rest is a regular expression (which is
how the add-ons write alternations such as ``(WinEventLog|WMI:WinEventLog)``).
A name without pattern syntax matches literally. ``host::`` matches without case
unless its pattern starts with ``(?-i)``; source and sourcetype with case.
For the same key, ``source::`` beats ``host::`` beats the sourcetype beats
``[default]``; within one kind the higher ``priority`` wins (default 100 for a
literal stanza, 0 for a pattern), then the stanza name that sorts first (ASCII)
(props.conf.spec, "[<spec>] stanza pattern collisions", "Building the final
[<spec>] stanza"). ``rule::``/``delayedrule::`` classify data while indexing.
Sourcetype patterns (``[(?::){0}X:*]``, where the Windows add-on keeps index-time
TRANSFORMS-) are not supported here: a search-time key in one is reported.

Keys run in Splunk's order (Knowledge Manager Manual, "The sequence of
search-time operations"): EXTRACT-, REPORT-, KV_MODE, FIELDALIAS-, EVAL-, LOOKUP-;
within a kind, classes in ASCII order of their names.
"""
from __future__ import annotations

import re

from ..errors import Fresh, record
from .addons import Setting
from .problems import Problems
from .regex import PCRE_LIMIT_UNSUPPORTED, PCRE_LIMITS

KINDS = ("EXTRACT", "REPORT", "FIELDALIAS", "EVAL", "LOOKUP")
# Settings splunkd applies while indexing (line breaking, timestamps, index-time
# transforms) or that only label the sourcetype: this engine's reader does the
# indexing, so they are ignored here on purpose, not overlooked.
INDEX_TIME = frozenset({
    "SHOULD_LINEMERGE", "LINE_BREAKER", "LINE_BREAKER_LOOKBEHIND", "TRUNCATE", "TIME_PREFIX", "TIME_FORMAT",
    "MAX_TIMESTAMP_LOOKAHEAD", "EVENT_BREAKER_ENABLE", "EVENT_BREAKER", "BREAK_ONLY_BEFORE",
    "BREAK_ONLY_BEFORE_DATE", "MUST_BREAK_AFTER", "MUST_NOT_BREAK_AFTER", "MUST_NOT_BREAK_BEFORE",
    "MAX_EVENTS", "DATETIME_CONFIG", "TZ", "CHARSET", "NO_BINARY_CHECK", "ANNOTATE_PUNCT", "MAX_DAYS_AGO",
    "MAX_DAYS_HENCE", "MAX_DIFF_SECS_AGO", "MAX_DIFF_SECS_HENCE", "LEARN_SOURCETYPE", "LEARN_MODEL",
    "category", "description", "pulldown_type", "rename", "priority", "detect_trailing_nulls",
    "INDEXED_EXTRACTIONS", "HEADER_FIELD_LINE_NUMBER", "FIELD_DELIMITER", "FIELD_NAMES", "TIMESTAMP_FIELDS",
    "SEGMENTATION", "given_type", "invalid_cause", "is_valid", "unarchive_cmd", "CHECK_FOR_HEADER",
    "PREAMBLE_REGEX", "FIELD_QUOTE", "HEADER_FIELD_DELIMITER", "KV_TRIM_SPACES", "AUTO_KV_JSON",
    "CHECK_METHOD", "initCrcLength", "sourcetype", "termFrequencyWeightedDist",
    "ADD_EXTRA_TIME_FIELDS", "SHOULD_LINEMERGE", "EVAL-_time",
})
INDEX_TIME_PREFIXES = ("TRANSFORMS-", "SEDCMD-", "SEGMENTATION-", "METRIC-SCHEMA-TRANSFORMS", "INGEST_EVAL")
KV_MODES = frozenset({"none", "auto", "auto_escaped", "multi", "xml", "json"})


LITERAL_PRIORITY, PATTERN_PRIORITY = 100, 0
# props.conf.spec: "The LOOKUP- prefix is actually case-insensitive. Acceptable variants
# include: LOOKUP_<class>, LOOKUP<class>, lookup_<class>, lookup<class>"
LOOKUP_VARIANT = re.compile(r"(?i)lookup[-_]?(.+)")


def normalized(stanzas: dict[str, dict[str, Setting]]) -> dict[str, dict[str, Setting]]:
    """Every stanza with its LOOKUP variants spelled ``LOOKUP-<class>``."""
    return {name: {normal_key(key): setting for key, setting in settings.items()} for name, settings in stanzas.items()}


def normal_key(key: str) -> str:
    match = LOOKUP_VARIANT.fullmatch(key)
    return f"LOOKUP-{match.group(1)}" if match and not key.startswith("LOOKUP-") else key


@record
class StanzaPattern:
    name: str
    kind: str  # "source", "host", "sourcetype" or "default"
    exact: str | None  # a literal name (host: lower-cased)
    regex: re.Pattern | None
    priority: int = LITERAL_PRIORITY

    def matches(self, value: str) -> bool:
        if self.kind == "default":
            return True
        if self.exact is not None:
            return (value.lower() if self.kind == "host" else value) == self.exact
        return self.regex is not None and self.regex.fullmatch(value) is not None


def is_literal(text: str) -> bool:
    return "..." not in text and not any(c in text for c in "*?([|\\")


def stanza_pattern(name: str, settings: dict[str, Setting], problems: Problems) -> StanzaPattern | None:
    any_setting = next(iter(settings.values()), None)
    priority = stanza_priority(name, settings, problems)
    for kind in ("source", "host"):
        prefix = kind + "::"
        if name.startswith(prefix):
            text = name[len(prefix):]
            if is_literal(text):
                return StanzaPattern(name, kind, text.lower() if kind == "host" else text, None,
                                     LITERAL_PRIORITY if priority is None else priority)
            flags = 0
            if kind == "host":
                flags, text = (0, text[5:]) if text.startswith("(?-i)") else (re.IGNORECASE, text)
            try:
                regex = re.compile(glob_regex(text), flags)
            except re.error as error:
                problems.add(any_setting, name, "(stanza)", f"pattern cannot be read ({error}), ignored")
                return None
            return StanzaPattern(name, kind, None, regex, PATTERN_PRIORITY if priority is None else priority)
    if name == "default":
        return StanzaPattern(name, "default", None, None)
    if name.startswith(("rule::", "delayedrule::")) or "::" in name and not name.startswith("("):
        report_search_time_keys(name, settings, problems, "unsupported stanza type")
        return None
    if not is_literal(name):
        report_search_time_keys(name, settings, problems, "sourcetype patterns are not supported")
        return None
    return StanzaPattern(name, "sourcetype", name, None)


def stanza_priority(name: str, settings: dict[str, Setting], problems: Problems) -> int | None:
    if "priority" not in settings:
        return None
    try:
        return int(settings["priority"].value.strip())
    except ValueError:
        problems.add(settings["priority"], name, "priority", "not a number, ignored")
        return None


def report_search_time_keys(name: str, settings: dict[str, Setting], problems: Problems, reason: str) -> None:
    for key, setting in settings.items():
        if key == "KV_MODE" or "-" in key and key.split("-", 1)[0] in KINDS:
            problems.add(setting, name, key, f"{reason}, ignored")


def glob_regex(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("...", i):
            out.append(".*")
            i += 3
        elif text[i] == "*":
            out.append(r"[^/\\]*")
            i += 1
        elif text[i] == ".":
            out.append(r"\.")
            i += 1
        elif text[i] == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@record
class PropsEntry:
    key: str
    setting: Setting
    stanza: str


@record(frozen=False)
class Selected:
    """The winning props entries for one (sourcetype, source, host)."""

    kv_mode: PropsEntry | None = None
    by_kind: dict[str, list[PropsEntry]] = Fresh(dict)  # kind → entries in class order


class PropsIndex:
    def __init__(self, stanzas: dict[str, dict[str, Setting]], problems: Problems):
        self.patterns: list[tuple[StanzaPattern, dict[str, Setting]]] = []
        self.problems = problems
        # value → indices of the stanzas of its kind that match it: a plan depends on the
        # stanzas that match, not on the host or source names themselves
        self._matching: dict[str, dict[str, tuple[int, ...]]] = {"source": {}, "host": {}, "sourcetype": {}}
        self._interned: dict[tuple[int, ...], tuple[int, ...]] = {}
        for name, settings in stanzas.items():
            pattern = stanza_pattern(name, settings, problems)
            if pattern is not None:
                self.patterns.append((pattern, settings))
                self.check_keys(name, settings)

    def check_keys(self, stanza: str, settings: dict[str, Setting]) -> None:
        for key, setting in settings.items():
            kind = key.split("-", 1)[0] if "-" in key else None
            if kind in KINDS or key == "KV_MODE" or key in INDEX_TIME or key.startswith(INDEX_TIME_PREFIXES):
                continue
            if key in PCRE_LIMITS:
                self.problems.add(setting, stanza, key, PCRE_LIMIT_UNSUPPORTED)
                continue
            self.problems.add(setting, stanza, key, "unsupported setting, ignored")

    def signature(self, sourcetype: str, source: str, host: str) -> tuple:
        """Which stanzas match an event: events with one signature share one plan."""
        return self.matching("sourcetype", sourcetype), self.matching("source", source), self.matching("host", host)

    def matching(self, kind: str, value: str) -> tuple[int, ...]:
        cache = self._matching[kind]
        found = cache.get(value)
        if found is None:
            found = tuple(i for i, (p, _) in enumerate(self.patterns) if p.kind == kind and p.matches(value))
            found = cache[value] = self._interned.setdefault(found, found)
        return found

    def select(self, sourcetype: str, source: str, host: str) -> Selected:
        return self.select_signature(self.signature(sourcetype, source, host))

    def select_signature(self, signature: tuple) -> Selected:
        rank = {"source": 0, "host": 1, "sourcetype": 2, "default": 3}
        chosen = {i for indices in signature for i in indices}
        matching = [ps for i, ps in enumerate(self.patterns) if i in chosen or ps[0].kind == "default"]
        matching.sort(key=lambda ps: (rank[ps[0].kind], -ps[0].priority, ps[0].name))
        winners: dict[str, PropsEntry] = {}
        for pattern, settings in matching:
            for key, setting in settings.items():
                if key not in winners:
                    winners[key] = PropsEntry(key, setting, pattern.name)
        selected = Selected()
        for key in sorted(winners):
            entry = winners[key]
            if key == "KV_MODE":
                selected.kv_mode = entry
            elif "-" in key and key.split("-", 1)[0] in KINDS and entry.setting.value.strip():
                selected.by_kind.setdefault(key.split("-", 1)[0], []).append(entry)
        return selected
