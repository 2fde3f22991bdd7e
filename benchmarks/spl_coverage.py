"""How much of a security_content pack the offline SPL engine can run (run by hand).

Measures through the code path of ``build.py validate --spl``: the pack is loaded and
checked as that command does (``content.validate.check_pack``, then ``cli.spl_checks``:
the pack's macros, the build's filter macros and the CIM app's definitions). Prints
parse, plan (given the data models and lookups each search names) and run (with the
knowledge the engine has: its built-in set or the pack's add-ons) separately, for every
detection (what the command reports) and for the production ones, the blockers by
count, the median time of the checks over ``--runs`` runs and, with ``--validate``, the
median whole-process time of ``build.py validate --spl`` on the pack (start-up and
loading included; its exit code is printed too).

    work=$(mktemp -d) && tar xzf ../shared/corpora/security_content-4.42.0.tar.gz -C "$work"
    .venv/bin/python benchmarks/spl_coverage.py "$work/security_content" [--top 40] [--list] [--runs 5] [--validate]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detpack.cli import spl_checks  # noqa: E402
from detpack.content.validate import check_pack  # noqa: E402
from detpack.spl.check import KNOWLEDGE, OK, summary  # noqa: E402

QUOTED = re.compile(r"'[^']*'")


def coverage(label: str, checks: list) -> str:
    total = len(checks)
    parsed = sum(c.parsed for c in checks)
    planned = sum(c.outcome in (OK, KNOWLEDGE) for c in checks)
    runs = sum(c.outcome == OK for c in checks)
    return (f"{label}: parse {parsed}/{total} = {parsed / total:.1%}; plan (given its data models and lookups) "
            f"{planned}/{total} = {planned / total:.1%}; run offline today {runs}/{total} = {runs / total:.1%}")


def blocker(problem: str) -> str:
    """The problem without the specifics that differ per search (quoted values)."""
    return QUOTED.sub(lambda m: m.group() if len(m.group()) < 24 else "'…'", problem)


def validate_seconds(pack: Path, runs: int) -> str:
    """Median wall time of the whole ``build.py validate --spl`` process, after a warm-up."""
    argv = [sys.executable, str(ROOT / "build.py"), "validate", "--spl", "--content", str(pack)]

    def once() -> tuple[float, int]:
        started = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        return time.perf_counter() - started, code

    once()
    results = [once() for _ in range(runs)]
    codes = sorted({code for _, code in results})
    return (f"build.py validate --spl: median {statistics.median(t for t, _ in results):.2f} s "
            f"over {runs} run(s), exit code(s) {codes}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pack", type=Path, help="the extracted security_content folder")
    parser.add_argument("--top", type=int, default=40, help="blockers to list (default 40)")
    parser.add_argument("--list", action="store_true", help="print every search's verdict")
    parser.add_argument("--runs", type=int, default=5, help="runs to take the median of (default 5)")
    parser.add_argument("--validate", action="store_true", help="also time `build.py validate --spl` on the pack")
    args = parser.parse_args()

    pack = check_pack(args.pack).pack
    times = []
    for _ in range(max(args.runs, 1)):
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # the add-on warnings validate prints
            checks = spl_checks(pack)
        times.append(time.perf_counter() - started)
    if args.list:
        for check in checks:
            print(check)
    production = [c for c, d in zip(checks, pack.detections) if d.status == "production"]
    print(summary(checks))
    print(coverage("every detection (as validate --spl)", checks))
    print(coverage("production detections", production))
    print(f"checks: median {statistics.median(times):.2f} s over {len(times)} run(s) (in process, pack loaded once)")
    if args.validate:
        print(validate_seconds(args.pack, max(args.runs, 1)))
    print("\nblockers by count (every detection):")
    counts = Counter(blocker(c.problem) for c in checks if c.outcome not in (OK, KNOWLEDGE))
    for problem, n in counts.most_common(args.top):
        print(f"{n:5d}  {problem}")
    print("\nknowledge needed by count:")
    for need, n in Counter(m for c in checks for m in c.missing).most_common(args.top):
        print(f"{n:5d}  {need}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
