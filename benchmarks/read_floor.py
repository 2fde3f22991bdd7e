"""The machine's floor for reading events, against what read_events costs on top.

For each shared data set (../shared/datasets from the project root, or --datasets):
  floor       decompress and split into lines, nothing else (gzip/open + `for line in f`)
  reject-all  read_events with a keep that rejects every event (the reader's own cost)
  planner     read_events with the raw-text filter replay compiles for the shipped
              detection (built from this project into a temporary folder): its
              prefilter, then its data set's event codes; nearly all rejected
  re-icase    an re.IGNORECASE search for `scrcons.exe`, for comparison
Figures are events (lines) per second, median of --runs runs, one core.

    .venv/bin/python benchmarks/read_floor.py [--runs 5] [--datasets DIR]
"""
from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detpack.replay import run, search  # noqa: E402
from detpack.build.app import build_app  # noqa: E402
from detpack.replay.events import ReadStats, read_events  # noqa: E402
from detpack.build.render import search_stanza_name  # noqa: E402

DETECTION = "Script Execution via WMI"
LITERAL = "scrcons.exe"
LITERAL_RE = re.compile(re.escape(LITERAL), re.IGNORECASE)


def floor(paths: list[Path]) -> int:
    lines = 0
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            for _ in handle:
                lines += 1
    return lines


def reader(keep):
    def run(paths: list[Path]) -> int:
        events = 0
        for path in paths:
            stats = ReadStats()
            for _ in read_events(path, stats=stats, keep=keep):
                pass
            if stats.events_skipped:
                raise SystemExit(f"{path}: {stats.events_skipped} bad events: {stats.problems[:3]}")
            events += stats.events_read
        return events
    return run


def shipped_filter():
    """The raw-text filter of the shipped detection, as ``search.run_search`` compiles it."""
    with tempfile.TemporaryDirectory(prefix="detpack-floor-") as folder:
        build = build_app(ROOT, Path(folder), sync_committed=False)
        detection = build.pack.detection(DETECTION)
        spl = run.shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        compiled = search.plan_search(spl, run.shipped_macros(build.app_dir))
    keep = search.raw_event_filter(compiled)
    if keep is None:
        raise SystemExit(f"the planner compiles no raw-text filter for {DETECTION!r}")
    return keep


def measures() -> dict:
    return {
        "floor": floor,
        "reject-all": reader(lambda raw: False),
        "planner": reader(shipped_filter()),
        "re-icase": reader(lambda raw: LITERAL_RE.search(raw) is not None),
    }


def median_rate(measure, paths: list[Path], runs: int) -> tuple[int, float]:
    rates, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        count = measure(paths)
        rates.append(count / (time.perf_counter() - start))
    return count, statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    folders = sorted(p for p in args.datasets.iterdir() if p.is_dir()) if args.datasets.is_dir() else []
    if not folders:
        raise SystemExit(f"no data sets under {args.datasets}")
    columns = measures()
    print(f"medians of {args.runs} runs, events (lines) per second")
    print(f"{'data set':<26}{'events':>9}" + "".join(f"{m:>13}" for m in columns))
    for folder in folders:
        paths = sorted(folder.glob("*.xml.log*"))
        cells, count = [], 0
        for measure in columns.values():
            count, rate = median_rate(measure, paths, args.runs)
            cells.append(f"{rate:>13,.0f}")
        print(f"{folder.name:<26}{count:>9,}" + "".join(cells))


if __name__ == "__main__":
    main()
