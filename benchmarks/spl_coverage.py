"""How much of a security_content pack the offline SPL engine can run (run by hand).

Reads the pack's YAML directly (``detections/**/*.yml`` with ``status:
production`` and ``macros/*.yml``), so it measures the SPL engine even where the
pack does not load as a whole; checks each search with ``detpack.spl.check``
against the engine's data models, and prints parse/plan coverage, the
blockers by count, the median time of the checks over ``--runs`` runs and, with
``--validate``, the median whole-process time of ``build.py validate --spl`` on
the pack (start-up and loading included; its exit code is printed too, since a
pack the loader refuses stops before the SPL checks).

    work=$(mktemp -d) && tar xzf ../shared/corpora/security_content-4.42.0.tar.gz -C "$work"
    .venv/bin/python benchmarks/spl_coverage.py "$work/security_content" [--top 40] [--list] [--runs 5] [--validate]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detpack.knowledge import load_knowledge  # noqa: E402
from detpack.spl import MacroDef  # noqa: E402
from detpack.spl.check import KNOWLEDGE, OK, check_searches, summary  # noqa: E402

QUOTED = re.compile(r"'[^']*'")


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def corpus_macros(root: Path) -> dict[str, MacroDef]:
    macros = {}
    for path in sorted((root / "macros").glob("*.yml")):
        doc = load_yaml(path)
        args = tuple(doc.get("arguments") or ())
        key = f"{doc['name']}({len(args)})" if args else doc["name"]
        macros[key] = MacroDef(key, args, doc["definition"])
    return macros


def corpus_searches(root: Path, macros: dict[str, MacroDef]) -> list[tuple[str, str]]:
    """Production searches; each detection's ``<file stem>_filter`` macro is added as the
    build writes it (``search *``)."""
    searches = []
    for path in sorted((root / "detections").rglob("*.yml")):
        doc = load_yaml(path)
        if doc.get("status") == "production" and doc.get("search"):
            searches.append((f"{path.relative_to(root)}", doc["search"]))
            filter_macro = f"{path.stem}_filter"
            macros.setdefault(filter_macro, MacroDef(filter_macro, (), "search *"))
    return searches


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

    # Macros of the CIM app the pack expects installed: this project's own definitions.
    macros = corpus_macros(ROOT) | corpus_macros(args.pack)
    searches = corpus_searches(args.pack, macros)
    times = []
    for _ in range(max(args.runs, 1)):
        started = time.perf_counter()
        checks = check_searches(searches, macros, load_knowledge().datasets.keys())
        times.append(time.perf_counter() - started)
    if args.list:
        for check in checks:
            print(check)
    total = len(checks)
    parsed = sum(c.parsed for c in checks)
    planned = sum(c.outcome in (OK, KNOWLEDGE) for c in checks)
    print(summary(checks))
    print(f"parse {parsed}/{total} = {parsed / total:.1%}; plan (given its data models and lookups) "
          f"{planned}/{total} = {planned / total:.1%}; run today {sum(c.outcome == OK for c in checks)}")
    print(f"checks: median {statistics.median(times):.2f} s over {len(times)} run(s) (in process, YAML read once)")
    if args.validate:
        print(validate_seconds(args.pack, max(args.runs, 1)))
    print("\nblockers by count:")
    counts = Counter(blocker(c.problem) for c in checks if c.outcome not in (OK, KNOWLEDGE))
    for problem, n in counts.most_common(args.top):
        print(f"{n:5d}  {problem}")
    print("\nknowledge needed by count:")
    for need, n in Counter(m for c in checks for m in c.missing).most_common(args.top):
        print(f"{n:5d}  {need}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
