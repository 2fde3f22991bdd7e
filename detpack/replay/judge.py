"""The verdict of a detection test: the pass rules shared by ``test`` and ``splunk-test``."""
from __future__ import annotations

from ..content.model import result_tokens
from ..errors import Fresh, record
from .search import SearchResult


@record(frozen=False)
class TestOutcome:
    passed: bool
    reasons: list[str]
    rows: list[dict[str, str | list[str]]] = Fresh(list)



def problem_lines(result: SearchResult) -> list[str]:
    """The stored problems, then how many more bad events were only counted."""
    unstored = result.events_skipped - len(result.problems)
    return list(result.problems) + ([f"... and {unstored} more bad event(s)"] if unstored > 0 else [])


def judge(detection, test, result: SearchResult) -> list[str]:
    """Why the results fail the test (empty when they pass)."""
    rows, reasons = result.rows, []
    if test.expected_count is not None and len(rows) != test.expected_count:
        reasons.append(f"expected {test.expected_count} result(s), got {len(rows)}")
    if not test.positive:
        return reasons
    if not rows:
        return reasons + ["no results"]
    for risk in detection.risk_objects:
        bad = [str(i) for i, row in enumerate(rows, 1) if row.get(risk.field) in (None, "null")]
        if bad:
            reasons.append(f"risk object field '{risk.field}' is missing or null in result(s) {', '.join(bad)}")
    texts = [("risk message", detection.risk_message)]
    texts += [(f"drilldown '{d.name}'", f"{d.name} {d.search}") for d in detection.drilldowns]
    for label, text in texts:
        missing = sorted({t for t in result_tokens(text) if t not in result.columns})
        if missing:
            reasons.append(f"{label}: token(s) {', '.join('$' + t + '$' for t in missing)} are not result fields")
    return reasons


