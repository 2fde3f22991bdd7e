"""Whole-process build of Splunk's security_content 4.42 (validate, render, package), and
`validate --spl` over it: time and peak memory.

Each run is `python build.py build --content CORPUS --output OUT`, then
`python build.py validate --spl --content CORPUS`, each in a fresh process, start-up included;
peak memory is that of all the command's processes together (``measure.run_measured``: a large
pack is worked on by several), sampled in a second run of its own, so that sampling does not slow
the timed one. Prints medians. `validate --spl` exits 1 while
some search cannot run offline, which counts as a run; any other exit code fails the benchmark.
With --contentctl PATH (a contentctl 4.4.1 executable, installed outside the project) it also times
`contentctl build` on a copy of the same corpus, so both are measured under the same machine load.
With --baseline DIR (another checkout of this project, such as `git worktree add /tmp/base <commit>`)
both commands of that checkout run too, each right after ours, and the median of the paired
differences is printed: on a machine whose speed drifts, the pairs show what a change gained.

    .venv/bin/python benchmarks/corpus_build_bench.py [--runs 5] [--contentctl /tmp/cc4/bin/contentctl]
                                                      [--baseline /tmp/base]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

from measure import paired_gain, run_measured, whole_process

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "security_content-4.42.0.tar.gz"
TARGET = "<= 2.0 s, <= 250 MiB"
SPL_TARGET = "<= 3 s"
SOME_SEARCH_CANNOT_RUN = 1  # validate --spl's exit code when a search cannot run offline


def commands(content: Path, out: str) -> dict[str, list[str]]:
    return {"build": [sys.executable, "build.py", "build", "--content", str(content), "--output", out],
            "validate --spl": [sys.executable, "build.py", "validate", "--spl", "--content", str(content)]}


def measured(name: str, argv: list[str], checkout: Path) -> tuple[float, float]:
    """(wall seconds, peak MiB) of one command run in ``checkout``; ``validate --spl`` may exit 1."""
    return run_measured(argv, checkout, ok=(0, SOME_SEARCH_CANNOT_RUN) if name == "validate --spl" else (0,))


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s for s, _ in samples), statistics.median(m for _, m in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description="security_content build benchmark")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--contentctl", help="a contentctl 4.4.1 executable to time on the same corpus")
    parser.add_argument("--baseline", type=Path, help="another checkout of this project to time in pairs with this one")
    args = parser.parse_args()
    if not CORPUS.is_file():
        print(f"skipped: the corpus is not present at {CORPUS}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(CORPUS) as archive:
            archive.extractall(tmp, filter="data")
        content = Path(tmp) / "security_content"
        ours: dict[str, list] = {"build": [], "validate --spl": []}
        theirs: dict[str, list] = {"build": [], "validate --spl": []}
        baseline = commands(content, f"{tmp}/baseline")
        for _ in range(args.runs):  # alternated, so all see the same machine load
            for name, argv in commands(content, f"{tmp}/out").items():
                ours[name].append(measured(name, argv, ROOT))
                if args.baseline:
                    theirs[name].append(measured(name, baseline[name], args.baseline))
        print(f"{'command':<24}{'median s':>10}{'median peak MiB':>17}   target")
        for name, target in (("build", TARGET), ("validate --spl", SPL_TARGET)):
            seconds, mib = medians(ours[name])
            print(f"{'detpack ' + name:<24}{seconds:>10.2f}{mib:>17.1f}   {target}")
            if args.baseline:
                seconds, mib = medians(theirs[name])
                gain = paired_gain(ours[name], theirs[name])
                print(f"{'  baseline':<24}{seconds:>10.2f}{mib:>17.1f}   paired: {gain:+.2f} s faster here")
        if args.contentctl:
            timed = []
            for _ in range(max(1, args.runs // 2)):
                shutil.rmtree(content / "dist", ignore_errors=True)
                timed.append(whole_process([args.contentctl, "build"], content))
            seconds, mib = medians(timed)
            print(f"{'contentctl build':<24}{seconds:>10.2f}{mib:>17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
