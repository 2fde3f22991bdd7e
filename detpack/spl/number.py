"""Text that reads as a number, as Splunk reads it: the one part of eval's value rules the parser needs."""
from __future__ import annotations

import re

MAX_INT_DIGITS = 18  # every integer this long fits in 64 bits
NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\Z")


def to_number(value) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and NUMBER.match(value):
        text = value.strip()
        if len(text) > MAX_INT_DIGITS or not text.lstrip("+-").isdigit():
            return float(text)  # beyond 64-bit integers numbers are doubles (and int() has a length limit)
        return int(text)
    return None
