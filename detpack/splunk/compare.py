"""Compare Splunk's result rows with the offline engine's rows for the same data.

Fields whose names start with ``_`` (``_time``, ``_raw``, ``_bkt``...) are
Splunk internals that the two sides render differently, so they are left out. A
one-element list and its single string are the same value (splunkd sends a
multivalue field as a list, a single value as a string).
"""
from __future__ import annotations

Row = dict[str, "str | list[str]"]


def normal(row: Row) -> dict[str, tuple[str, ...]]:
    out = {}
    for key, value in row.items():
        if key.startswith("_"):
            continue
        values = tuple(value) if isinstance(value, list) else (str(value),)
        out[key] = values
    return out


def show(values: tuple[str, ...] | None) -> str:
    if values is None:
        return "(absent)"
    return repr(values[0]) if len(values) == 1 else repr(list(values))


def describe(row: dict[str, tuple[str, ...]]) -> str:
    return "{" + ", ".join(f"{k}={show(v)}" for k, v in sorted(row.items())) + "}"


def _same_fields(a: dict, b: dict) -> int:
    return sum(1 for k in a.keys() & b.keys() if a[k] == b[k])


def compare_rows(offline: list[Row], splunk: list[Row], label: str) -> list[str]:
    """Every difference: rows only offline (missing), only in Splunk (extra), and per-field differences."""
    expected = [normal(r) for r in offline]
    actual = [normal(r) for r in splunk]
    for row in list(expected):  # exact matches first, as a multiset
        if row in actual:
            actual.remove(row)
            expected.remove(row)
    differences = []
    for row in expected:
        best = max(actual, key=lambda other: _same_fields(row, other), default=None)
        keys = row.keys() | (best.keys() if best else set())
        if best is None or _same_fields(row, best) * 2 < len(keys):
            differences.append(f"{label}: missing row {describe(row)}")
            continue
        actual.remove(best)
        for key in sorted(keys):
            if row.get(key) != best.get(key):
                differences.append(f"{label}: row {describe(row)}: field {key}: offline {show(row.get(key))}, "
                                   f"Splunk {show(best.get(key))}")
    differences += [f"{label}: extra row {describe(row)}" for row in actual]
    return differences
