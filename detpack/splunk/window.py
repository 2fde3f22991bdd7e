"""``--as-scheduled``: a saved search's own time window, and the test events moved into it.

Splunk's relative time modifiers as ``dispatch.earliest_time``/``latest_time`` use
them (``-70m@m``: 70 minutes ago, snapped down to the minute; ``now``; an epoch
number). Only the forms below are read; anything else is refused rather than
guessed (Splunk documents more: ``@w0``, ``+1d``, chained offsets...).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RELATIVE = re.compile(r"\A(?:(?P<sign>[+-])(?P<amount>\d+)(?P<unit>[smhd]))?(?:@(?P<snap>[smhd]))?\Z")
SYSTEM_TIME = re.compile(r"(SystemTime=['\"])(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")


class WindowError(ValueError):
    """A time modifier this module does not read, or events that do not fit the window."""


def relative_time(spec: str, now: float) -> float:
    """Epoch seconds of a time modifier at ``now`` (UTC snapping, as the test user's time zone is UTC)."""
    spec = spec.strip()
    if spec == "now":
        return now
    try:
        return float(spec)
    except ValueError:
        pass
    found = RELATIVE.match(spec)
    if not found or not (found["amount"] or found["snap"]):
        raise WindowError(f"time modifier {spec!r} is not -N[smhd][@s|m|h|d], 'now' or an epoch time")
    moment = now
    if found["amount"]:
        moment += (1 if found["sign"] == "+" else -1) * int(found["amount"]) * UNIT_SECONDS[found["unit"]]
    if found["snap"]:
        moment -= moment % UNIT_SECONDS[found["snap"]]
    return moment


@dataclass(frozen=True)
class Placement:
    offset: int          # seconds added to every event time
    earliest: float      # the window when the events were placed
    latest: float
    tolerance: float     # seconds after placement before the set of events inside the window can change

    def inside(self, moved_time: float) -> bool:
        return self.earliest <= moved_time < self.latest


def place_in_window(times: list[float], earliest: str, latest: str, now: float | None = None) -> Placement:
    """Shift ``times`` (keeping their spacing) so that the latest lies one second before the window's end.

    The window moves forward with the clock, so the events are put as late as possible. Events older
    than one window stay outside it, as they would for a single scheduled run. The events inside stay
    inside for ``tolerance`` seconds: from the window's start to the first of them, less the snapping."""
    now = time.time() if now is None else now
    start, end = relative_time(earliest, now), relative_time(latest, now)
    if end <= start:
        raise WindowError(f"the search's window {earliest} to {latest} is empty")
    offset = int(end - 1 - max(times))
    first = min(t + offset for t in times if t + offset >= start)
    # snapping may move the window's start up to one snap unit further at once
    snap = UNIT_SECONDS.get(earliest.rpartition("@")[2], 0) if "@" in earliest else 0
    return Placement(offset, start, end, first - start - snap)


def shift_raw_time(raw: str, offset: int) -> str:
    """The event text with its ``TimeCreated SystemTime`` moved by ``offset`` seconds (fraction kept), so
    that the text and the HEC ``time`` agree."""
    def moved(found: re.Match) -> str:
        then = datetime.strptime(found[2], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
        return found[1] + datetime.fromtimestamp(then + offset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    return SYSTEM_TIME.sub(moved, raw, count=1)
