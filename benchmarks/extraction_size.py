"""Field extraction time against event size: one event of many small elements.

Times ``parse_event`` plus the built-in knowledge for events of 1, 2 and 4 MiB made
of self-closing ``<Data Name='X'/>`` elements; a linear extractor roughly doubles
per step. Median of --runs runs.

    .venv/bin/python benchmarks/extraction_size.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detpack.knowledge import load_knowledge  # noqa: E402
from detpack.replay.events import RawEvent, parse_event  # noqa: E402

HEAD = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1</EventID>"
        "<TimeCreated SystemTime='2020-01-01T00:00:00Z'/><Channel>Security</Channel><Computer>h</Computer>"
        "</System><EventData>")
TAIL = "</EventData></Event>"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    knowledge = load_knowledge()
    for mib in (1, 2, 4):
        raw = HEAD + "<Data Name='X'/>" * (mib * 1024 * 1024 // 16) + TAIL
        event = RawEvent(raw, "XmlWinEventLog:Security", "XmlWinEventLog", "bench:1")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            knowledge.apply(parse_event(event))
            times.append(time.perf_counter() - started)
        print(f"{mib} MiB event: {statistics.median(times):.3f} s (median of {runs})")


if __name__ == "__main__":
    main()
