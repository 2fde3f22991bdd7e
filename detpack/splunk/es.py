"""``--es``: what Enterprise Security's risk and notable actions should write for a dispatch's results.

The expectations come from the package's own stanza (``action.risk.param._risk``,
``_risk_message``, ``action.notable.param.*``); what the actions write is taken
from the splunkd notes: fact 20 (risk: ``index=risk``, ``search_name`` = the
stanza, ``risk_object``, ``risk_object_type``, ``risk_score``, ``risk_message``
with tokens substituted), fact 21 (notable: ``index=notable``, ``search_name``,
``rule_title``, ``severity``, ``security_domain``, the ``nes_fields``) and fact 22
(drilldowns: ES runs their text after ``$field$`` substitution from the notable;
it does not know ``%original_detection_search%``). One risk event per risk
object per result row and one notable per result row follow contentctl's
integration test (``correlation_search.py``), which counts them that way.
*Unverified*: how ES renders a multivalue field in a risk message (joined with
``,`` here).
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


def _differences(kind: str, expected: list[dict], found: list[dict], fields) -> list[str]:
    want, got = Counter(_key(r, fields) for r in expected), Counter(_key(r, fields) for r in found)
    show = lambda key: "{" + ", ".join(f"{f}={v!r}" for f, v in zip(fields, key)) + "}"  # noqa: E731
    return ([f"ES {kind}: missing {show(k)}" for k in sorted((want - got).elements())] +
            [f"ES {kind}: unexpected {show(k)}" for k in sorted((got - want).elements())])


def check_risk_events(expected: EsExpectations, found: list[dict]) -> list[str]:
    """One risk event per risk object per result row, with type, score and message as declared."""
    return _differences("risk event", expected.risk_events, found, RISK_FIELDS)


def check_notables(expected: EsExpectations, found: list[dict]) -> list[str]:
    """One notable per result row with the declared title, severity, security domain and ``nes_fields``;
    each drilldown must run as ES runs it: no placeholder ES does not know, every token filled."""
    fields = tuple(dict.fromkeys([*NOTABLE_FIELDS, *expected.nes_fields]))
    failures = _differences("notable", expected.notables, found, fields)
    for drilldown in expected.drilldowns:
        name, search = str(drilldown.get("name", "")), str(drilldown.get("search", ""))
        if PLACEHOLDER in search:
            failures.append(f"ES drilldown {name!r}: {PLACEHOLDER} is left in its search, and ES does not "
                            "substitute it")
        for notable in found:
            texts = [substitute(drilldown.get(k, ""), notable) for k in ("name", "search")]
            left = sorted({t for text in texts for t in TOKEN.findall(text)} - ES_TOKENS)
            if left:
                failures.append(f"ES drilldown {name!r}: token(s) {', '.join(f'${t}$' for t in left)} have no "
                                "value in the notable")
                break
    return failures
