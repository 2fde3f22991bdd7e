"""``props.conf`` at search time: which stanzas apply to an event and what they run.

Stanzas (props.conf.spec): ``[<sourcetype>]``, ``[source::<pattern>]`` and
``[host::<pattern>]``; in patterns ``...`` matches anything, ``*`` anything but a
path separator, ``.`` is literal and the rest is a regular expression (which is
how the add-ons write alternations such as ``(WinEventLog|WMI:WinEventLog)``).
For the same key, ``source::`` beats ``host::`` beats the sourcetype; between two
matching patterns of one kind an exact name beats a pattern, then the stanza
name that sorts first (ASCII) wins (*unverified*: splunkd also honours a
``priority`` key, read here as that tie-break only).

Keys run in Splunk's order (Knowledge Manager Manual, "The sequence of
search-time operations"): EXTRACT-, REPORT-, KV_MODE, FIELDALIAS-, EVAL-, LOOKUP-;
within a kind, classes in ASCII order of their names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .addons import Setting
from .problems import Problems

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
    "CHECK_METHOD", "initCrcLength", "sourcetype", "termFrequencyWeightedDist", "MATCH_LIMIT", "DEPTH_LIMIT",
    "ADD_EXTRA_TIME_FIELDS", "SHOULD_LINEMERGE", "EVAL-_time",
})
INDEX_TIME_PREFIXES = ("TRANSFORMS-", "SEDCMD-", "SEGMENTATION-", "METRIC-SCHEMA-TRANSFORMS", "INGEST_EVAL")
KV_MODES = frozenset({"none", "auto", "auto_escaped", "multi", "xml", "json"})


@dataclass(frozen=True)
class StanzaPattern:
    name: str
    kind: str  # "source", "host" or "sourcetype"
    exact: str | None
    regex: re.Pattern | None

    def matches(self, value: str) -> bool:
        if self.exact is not None:
            return value == self.exact
        return self.regex is not None and self.regex.fullmatch(value) is not None


def stanza_pattern(name: str, problems: Problems, any_setting: Setting | None) -> StanzaPattern | None:
    for kind in ("source", "host"):
        prefix = kind + "::"
        if name.startswith(prefix):
            text = name[len(prefix):]
            if not any(c in text for c in "*.?([|\\"):
                return StanzaPattern(name, kind, text, None)
            try:
                return StanzaPattern(name, kind, None, re.compile(glob_regex(text)))
            except re.error as error:
                problems.add(any_setting, name, "(stanza)", f"pattern cannot be read ({error}), ignored")
                return None
    if name == "default" or "::" in name:
        if name != "default":
            problems.add(any_setting, name, "(stanza)", "unsupported stanza type, ignored")
        return None
    if any(c in name for c in "*?(["):
        return None  # sourcetype "patterns" (such as the add-ons' (?::){0}X:*) hold index-time keys only
    return StanzaPattern(name, "sourcetype", name, None)


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


@dataclass
class PropsEntry:
    key: str
    setting: Setting
    stanza: str


@dataclass
class Selected:
    """The winning props entries for one (sourcetype, source, host)."""

    kv_mode: PropsEntry | None = None
    by_kind: dict[str, list[PropsEntry]] = field(default_factory=dict)  # kind → entries in class order


class PropsIndex:
    def __init__(self, stanzas: dict[str, dict[str, Setting]], problems: Problems):
        self.patterns: list[tuple[StanzaPattern, dict[str, Setting]]] = []
        self.problems = problems
        for name, settings in stanzas.items():
            pattern = stanza_pattern(name, problems, next(iter(settings.values()), None))
            if pattern is not None:
                self.patterns.append((pattern, settings))
                self.check_keys(name, settings)

    def check_keys(self, stanza: str, settings: dict[str, Setting]) -> None:
        for key, setting in settings.items():
            kind = key.split("-", 1)[0] if "-" in key else None
            if kind in KINDS or key == "KV_MODE" or key in INDEX_TIME or key.startswith(INDEX_TIME_PREFIXES):
                continue
            self.problems.add(setting, stanza, key, "unsupported setting, ignored")

    def select(self, sourcetype: str, source: str, host: str) -> Selected:
        rank = {"source": 0, "host": 1, "sourcetype": 2}
        value = {"source": source, "host": host, "sourcetype": sourcetype}
        matching = [(p, s) for p, s in self.patterns if p.matches(value[p.kind])]
        matching.sort(key=lambda ps: (rank[ps[0].kind], ps[0].exact is None, ps[0].name))
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
