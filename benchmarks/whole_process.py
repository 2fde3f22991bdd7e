#!/usr/bin/env python3
"""Whole-process replay throughput beside the machine's read floor, measured in the same run.

Every figure is one fresh process timed from start to exit (interpreter start-up,
imports and, for ``replay``, building the app included); events/s is the data set's
events over that wall time; peak memory is that of the process and the ones it forks, sampled
in a second run of each command (``measure.run_measured``), so that sampling does not slow the
timed one. Medians of
``--runs`` runs, after one run of each command that is not measured. The processes
run as a user's do, with Python's bytecode cache and Jinja's template cache on
(``PYTHONDONTWRITEBYTECODE`` is taken out of their environment: with it, every
run compiles the package and its templates again). The load average is printed
before and after: the machine's other work slows every figure alike.

  floor        python decompressing the files and iterating their lines, nothing else
  detection    ``build.py replay FILES --detection "Script Execution via WMI"`` (built-in knowledge)
  name=*       the shipped search with ``Processes.process_name=*`` (the data set's own
               constraint is the only filter), from the committed default/ conf files
  addons       ``replay`` with ``--addon`` for each folder in --addons (e.g. a full Windows
               add-on), over the Security file only

    .venv/bin/python benchmarks/whole_process.py [--runs 5] [--dataset ../shared/datasets/otrf_atomic_host]
                                                  [--addons DIR ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from measure import whole_process

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DETECTION = "Script Execution via WMI"

FLOOR = """
import gzip, sys
n = 0
for path in sys.argv[1:]:
    with (gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.endswith(".gz")
          else open(path, encoding="utf-8", errors="replace")) as f:
        for _ in f:
            n += 1
print(n)
"""
NAME_ANY = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from detpack.build.render import search_stanza_name
from detpack.content.validate import load_valid_pack
from detpack.replay.run import shipped_macros, shipped_search
from detpack.replay.search import run_search
root = Path({root!r})
pack = load_valid_pack(root)
spl = shipped_search(root, search_stanza_name(pack.app, pack.detection({detection!r})))
spl = spl.replace("Processes.process_name=scrcons.exe", "Processes.process_name=*")
result = run_search(spl, shipped_macros(root), sys.argv[1:])
print(result.events_read)
"""


def median_of(runs: int, command: list[str]) -> tuple[float, float]:
    whole_process(command, ROOT)  # warms the caches a user's second run finds
    results = [whole_process(command, ROOT) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def count_events(files: list[str]) -> int:
    return int(subprocess.run([PYTHON, "-c", FLOOR, *files], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "otrf_atomic_host")
    parser.add_argument("--addons", nargs="*", default=[])
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # children inherit it
    print(f"load average before: {load()}")
    files = sorted(str(p) for p in args.dataset.glob("*.xml.log*"))
    security = [f for f in files if Path(f).name.startswith("security")]
    events, security_events = count_events(files), count_events(security)
    floor, floor_rss = median_of(args.runs, [PYTHON, "-c", FLOOR, *files])
    print(f"{args.dataset.name}: {events:,} events; medians of {args.runs} runs, whole process")
    print(f"  floor      {floor:6.2f} s  {events / floor:9,.0f} ev/s  1.00x  {floor_rss:5.0f} MiB")
    work = {
        "detection": (events, [PYTHON, "build.py", "replay", *files, "--detection", DETECTION]),
        "name=*": (events, [PYTHON, "-c", NAME_ANY.format(root=str(ROOT), detection=DETECTION), *files]),
    }
    if args.addons:
        addon_args = [a for path in args.addons for a in ("--addon", path)]
        work["addons"] = (security_events, [PYTHON, "build.py", "replay", *security, "--detection", DETECTION, *addon_args])
    for name, (count, command) in work.items():
        seconds, rss = median_of(args.runs, command)
        print(f"  {name:10} {seconds:6.2f} s  {count / seconds:9,.0f} ev/s  {seconds / floor:4.2f}x  {rss:5.0f} MiB")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
