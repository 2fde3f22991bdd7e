"""``--es``: what Enterprise Security's risk and notable actions should write for a dispatch's results.

The expectations come from the package's own stanza (``action.risk.param._risk``,
``_risk_message``, ``action.notable.param.*``); what the actions write is taken
from the splunkd notes: fact 20 (risk: ``index=risk``, ``search_name`` = the
stanza, ``risk_object``, ``risk_object_type``, ``risk_score``, ``risk_message``
with tokens substituted), fact 21 (notable: ``index=notable``, ``search_name``,
``rule_title``, ``severity``, ``security_domain``, the ``nes_fields``) and fact 22
(drilldowns: ES runs their text after ``$field$`` substitution from the notable;
it does not know ``%original_detection_search%``).

What fails a test: a declared risk object with no risk event, a risk event with
another ``risk_object_type`` or ``risk_score`` than declared, a risk message
that does not match the declared one (its ``$tokens$`` as wildcards) or still
holds a ``$token$``, no notable with the declared title, severity and security
domain, a drilldown ES cannot run. contentctl's integration test
(``correlation_search.py``) checks no more than that: at least one risk event
per risk object, that a notable exists, the message against the pattern; its
per-object counting is commented out and its notable validation is not
implemented. So how many risk events and notables ES writes per result row is
*unverified*: the expected counts (one risk event per risk object per row, one
notable per row) are compared, and a difference is a warning, not a failure.
*Unverified* too: how ES renders a multivalue field in a risk message (joined
with ``,`` here).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from ..content.mappings import ES_TOKENS

# the app folder Enterprise Security installs as; *unverified*: not among the project's sourced splunkd notes
ES_APP = "SplunkEnterpriseSecuritySuite"
TOKEN = re.compile(r"\$([A-Za-z_][A-Za-z0-9_.]*)\$")
RISK_FIELDS = ("risk_object", "risk_object_type", "risk_score", "risk_message")
NOTABLE_FIELDS = ("rule_title", "severity", "security_domain")
PLACEHOLDER = "%original_detection_search%"


@dataclass(frozen=True)
class EsExpectations:
    risk_events: list[dict[str, str]]
    notables: list[dict[str, str]]
    nes_fields: tuple[str, ...]
    drilldowns: list[dict]

    @classmethod
    def from_stanza(cls, stanza: dict[str, str], rows: list[dict]) -> "EsExpectations":
        """ValueError when the stanza's risk or drilldown JSON cannot be read."""
        try:
            risks = json.loads(stanza.get("action.risk.param._risk") or "[]")
            drilldowns = json.loads(stanza.get("action.notable.param.drilldown_searches") or "[]")
        except ValueError as exc:
            raise ValueError(f"the package's risk or drilldown JSON is not readable: {exc}") from None
        message = stanza.get("action.risk.param._risk_message", "")
        risk_events = []
        if stanza.get("action.risk") == "1":
            for row in rows:
                for risk in risks:
                    for value in values(row.get(risk.get("risk_object_field", ""))):
                        risk_events.append({"risk_object": value, "risk_object_type": str(risk.get("risk_object_type")),
                                            "risk_score": number(risk.get("risk_score")),
                                            "risk_message": substitute(message, row)})
        nes = tuple(f.strip() for f in stanza.get("action.notable.param.nes_fields", "").split(",") if f.strip())
        notables = []
        if stanza.get("action.notable") == "1":
            declared = {key: stanza.get(f"action.notable.param.{key}", "") for key in NOTABLE_FIELDS}
            notables = [{**declared, **{f: ",".join(values(row.get(f))) for f in nes}} for row in rows]
        return cls(risk_events, notables, nes, drilldowns)


def values(value) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def number(value) -> str:
    """A score as one text for both sides (``36``, ``36.0`` and ``"36"`` are the same score)."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def substitute(text: str, row: dict) -> str:
    """``$field$`` tokens replaced by the row's values; a token with no value is left as it is."""
    return TOKEN.sub(lambda m: ",".join(values(row.get(m[1]))) or m[0], text)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def risk_search(name: str, since: float) -> str:
    """The risk events this stanza's action indexed from ``since`` (a whole second: index time) on."""
    return f"index=risk search_name={quoted(name)} _index_earliest={int(since)} | table {' '.join(RISK_FIELDS)}"


def notable_search(name: str, since: float, nes_fields: tuple[str, ...]) -> str:
    """The notables this stanza's action indexed from ``since`` on, with the fields the check compares."""
    fields = " ".join(dict.fromkeys([*NOTABLE_FIELDS, *nes_fields]))
    return f"index=notable search_name={quoted(name)} _index_earliest={int(since)} | table {fields}"


def _key(row: dict, fields) -> tuple:
    return tuple(number(row.get(f)) if f == "risk_score" else ",".join(values(row.get(f))) for f in fields)


def message_pattern(template: str) -> re.Pattern:
    """The risk message as declared, each ``$token$`` a wildcard (as contentctl matches it)."""
    return re.compile(".*".join(re.escape(part) for part in TOKEN.split(template)[::2]) + r"\Z", re.DOTALL)


@dataclass
class Findings:
    failures: list[str]
    warnings: list[str]  # differences that rest on *unverified* behaviour: reported, not failed


def check_risk_events(expected: EsExpectations, found: list[dict], template: str = "") -> Findings:
    """Every declared risk object has a risk event with its declared type and score; every message matches the
    declared one and has no ``$token$`` left. Counts per risk object are compared as warnings."""
    failures, warnings = [], []
    want = Counter(_key(r, ("risk_object", "risk_object_type", "risk_score")) for r in expected.risk_events)
    got = Counter(_key(r, ("risk_object", "risk_object_type", "risk_score")) for r in found)
    for (obj, kind, score), count in sorted(want.items()):
        events = [r for r in found if ",".join(values(r.get("risk_object"))) == obj]
        if not events:
            failures.append(f"ES risk event: no risk event for risk_object={obj!r} ({kind}, score {score})")
            continue
        wrong = sorted({(str(r.get("risk_object_type")), number(r.get("risk_score"))) for r in events} - {(kind, score)})
        failures += [f"ES risk event: risk_object={obj!r} has risk_object_type={k!r}, risk_score={s!r}; declared "
                     f"{kind!r}, {score!r}" for k, s in wrong]
        if got[(obj, kind, score)] != count and not wrong:
            warnings.append(f"ES risk events for risk_object={obj!r}: {got[(obj, kind, score)]}, expected {count} "
                            "(one per result row: *unverified*)")
    pattern = message_pattern(template) if template else None
    for message in sorted({",".join(values(r.get("risk_message"))) for r in found}):
        if TOKEN.search(message):
            failures.append(f"ES risk event: risk_message {message!r} has a token left unfilled")
        elif pattern and not pattern.match(message):
            failures.append(f"ES risk event: risk_message {message!r} does not match the declared {template!r}")
    return Findings(failures, warnings)


def check_notables(expected: EsExpectations, found: list[dict], result_fields: list[str] = ()) -> Findings:
    """A notable with the declared title, severity and security domain when the search has results; counts and
    ``nes_fields`` values compared as warnings; each drilldown must run as ES runs it: no placeholder ES does
    not know, every token filled from the notable (which carries the result's fields)."""
    failures, warnings = [], []
    declared = {k: expected.notables[0][k] for k in NOTABLE_FIELDS} if expected.notables else {}
    matching = [n for n in found if all(",".join(values(n.get(k))) == v for k, v in declared.items())]
    if expected.notables and not matching:
        failures.append("ES notable: no notable for this search with " +
                        ", ".join(f"{k}={v!r}" for k, v in declared.items()))
    elif expected.notables:
        fields = tuple(dict.fromkeys([*NOTABLE_FIELDS, *expected.nes_fields]))
        want, got = Counter(_key(r, fields) for r in expected.notables), Counter(_key(r, fields) for r in matching)
        if want != got:
            warnings.append(f"ES notables: {len(matching)} found, {len(expected.notables)} expected with the "
                            "result rows' nes_fields (one per result row: *unverified*)")
    for drilldown in expected.drilldowns:
        name, search = str(drilldown.get("name", "")), str(drilldown.get("search", ""))
        if PLACEHOLDER in search:
            failures.append(f"ES drilldown {name!r}: {PLACEHOLDER} is left in its search, and ES does not "
                            "substitute it")
        known = {field for notable in found for field in notable} | set(result_fields) | ES_TOKENS
        tokens = {t for text in (drilldown.get("name", ""), search) for t in TOKEN.findall(str(text))}
        left = sorted(tokens - known)
        if left and found:
            failures.append(f"ES drilldown {name!r}: token(s) {', '.join(f'${t}$' for t in left)} have no value "
                            "in the notable")
    return Findings(failures, warnings)
