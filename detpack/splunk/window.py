"""``--as-scheduled``: a saved search's own time window, and the test events moved into it.

Splunk's relative time modifiers as ``dispatch.earliest_time``/``latest_time`` use
them (``-70m@m``: 70 minutes ago, snapped down to the minute; ``now``; an epoch
number). Only the forms below are read; anything else is refused rather than
guessed (Splunk documents more: ``@w0``, ``+1d``, chained offsets...).
"""
from __future__ import annotations

import math
import re
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


MARGIN = 30.0  # seconds kept between the newest event and the window's end, beyond one snap unit


MAX_RUNS = 48  # consecutive scheduled runs simulated at most for one test


class TooWide(WindowError):
    """The events a test expects the search to find are spread wider than the runs simulated can cover."""


@dataclass(frozen=True)
class Placement:
    offset: int          # seconds added to every event time
    earliest: float      # the window, by the server's clock, when the events were placed
    latest: float
    tolerance: float     # seconds after placement before the set of events inside the window can change
    # consecutive runs, oldest first, when one window cannot hold the events: (the run's time for
    # dispatch.now, its window's start, its end), all by the server's clock; empty for one run now
    runs: tuple[tuple[float, float, float], ...] = ()
    split: bool = False  # the runs split a group of events the declared count counts as one

    def inside(self, moved_time: float) -> bool:
        return any(start <= moved_time < end for _, start, end in self.windows())

    def windows(self) -> tuple[tuple[float | None, float, float], ...]:
        return self.runs or ((None, self.earliest, self.latest),)


def snap_seconds(spec: str) -> int:
    """The snap unit of a time modifier (``-10m@m``: 60), 0 without one."""
    found = RELATIVE.match(spec.strip())
    return UNIT_SECONDS[found["snap"]] if found and found["snap"] else 0


def place_in_window(times: list[float], earliest: str, latest: str, now: float, needed: list[float] | None = None,
                    shift: float = 0.0) -> Placement:
    """Shift ``times`` (keeping their spacing) so that every time in ``needed`` (default: all of ``times``) lies
    inside the window ``earliest`` to ``latest`` as the server computes it at ``now`` (the server's clock).

    The newest needed event goes one snap unit of ``latest`` plus ``MARGIN`` before the window's end: a server
    whose clock differs from ``now`` by less than that still has it inside, and the end only moves forward with
    time. Events older than the window stay outside, as they would for a single scheduled run. The needed
    events stay inside for ``tolerance`` seconds: from the window's start to the oldest of them, less the
    snapping of ``earliest``. When they do not fit into one window with those margins, the placement holds
    consecutive runs whose windows cover them all (``consecutive_runs``), the events moved ``shift`` seconds
    further back (to choose where the runs' boundaries fall among them)."""
    needed = needed or times
    start, end = relative_time(earliest, now), relative_time(latest, now)
    if end <= start:
        raise WindowError(f"the search's window {earliest} to {latest} is empty")
    # no event in the future either: searches up to "now" (the count and searchability checks) must see them all
    offset = int(min(end - snap_seconds(latest) - MARGIN - max(needed), now - MARGIN - max(times)))
    tolerance = min(needed) + offset - start - snap_seconds(earliest)
    if tolerance > 0:
        return Placement(offset, start, end, tolerance)
    offset -= int(shift)
    return Placement(offset, start, end, float("inf"), consecutive_runs(min(needed) + offset, earliest, latest, now))


def boundary_shifts(needed: list[float], placement: Placement) -> list[float]:
    """For consecutive runs: the shifts that put a run's window start just before one of the needed events
    (``MARGIN`` before it), so that a group of events need not be split between two runs."""
    length = placement.latest - placement.earliest
    return sorted({(t + placement.offset - placement.earliest - MARGIN) % length for t in needed})


def consecutive_runs(oldest: float, earliest: str, latest: str, now: float) -> tuple[tuple[float, float, float], ...]:
    """Runs one window length apart, back from ``now``, until their windows reach ``oldest``: as a schedule
    whose period equals the window (hourly for -70m@m to -10m@m) runs it. Each run's time is fixed
    (``dispatch.now``), so the windows no longer move while the test runs. Each time is a whole second,
    as ``dispatch.now`` is sent: a run at 59.6 s past a minute, sent rounded to the next minute, would
    have Splunk snap its window a minute later than the one computed here. The length is taken at that whole
    second too: a window snapped at one end only (``-65m@m`` to ``-5m``) is longer by the fraction of ``now``."""
    latest_run = math.floor(now)
    length = relative_time(latest, latest_run) - relative_time(earliest, latest_run)
    runs = []
    for k in range(MAX_RUNS):
        at = latest_run - k * length
        runs.append((at, relative_time(earliest, at), relative_time(latest, at)))
        if runs[-1][1] <= oldest:
            return tuple(reversed(runs))
    raise TooWide(f"the events the test expects to be found span more than {MAX_RUNS} runs of the window "
                  f"{earliest} to {latest}")


def shift_raw_time(raw: str, offset: int) -> str:
    """The event text with its ``TimeCreated SystemTime`` moved by ``offset`` seconds (fraction kept), so
    that the text and the HEC ``time`` agree."""
    def moved(found: re.Match) -> str:
        then = datetime.strptime(found[2], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
        return found[1] + datetime.fromtimestamp(then + offset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    return SYSTEM_TIME.sub(moved, raw, count=1)
