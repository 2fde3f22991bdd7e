"""Reading a large pack in one process: each file's read (``_read_file``: YAML, conversion, schema
checks) and the making of its object (``_made``), against another checkout of this project.

The reading phase is some 45% of building Splunk's security_content 4.42. Whole-process timings
on a busy two-core machine drift by more than a few percent, so both checkouts run in this one
process, file by file in turn (the order swapped from file to file and from round to round):
the baseline's ``detpack`` is imported under another name (the package imports itself only
relatively). For each round the seconds of all files are summed; the table gives medians, minima
and the median of the paired differences. Both checkouts must read every file alike (checked
first), so a row compares the same work.

    .venv/bin/python benchmarks/read_bench.py --baseline /tmp/base [--runs 9] [--content DIR]

Without --content it reads the corpus of ../shared/corpora, unpacked into a temporary folder.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora" / "security_content-4.42.0.tar.gz"


def files(load, content: Path) -> list[tuple]:
    return [(kind, path, str(path)) for kind, (pattern, _, _) in enumerate(load.KINDS)
            for path in sorted(content.glob(pattern))]


def rounds(runs: int, ours, theirs, content: Path) -> dict[str, tuple[list[float], list[float]]]:
    """{step: (our sums, their sums)} over ``runs`` rounds, the two alternated file by file."""
    found = files(ours, content)
    realpaths = ours._Found().realpath, theirs._Found().realpath
    reads = [ours._read_file(content, *f, realpaths[0]) for f in found]
    if reads != [theirs._read_file(content, *f, realpaths[1]) for f in found]:
        raise SystemExit("the two checkouts read the pack differently: nothing to compare")
    sums: dict[str, tuple[list[float], list[float]]] = {"read": ([], []), "made": ([], [])}
    clock = time.perf_counter
    for run in range(runs):
        totals = {"read": [0.0, 0.0], "made": [0.0, 0.0]}
        for i, (file, read) in enumerate(zip(found, reads)):
            for side in ((0, 1) if (i + run) % 2 == 0 else (1, 0)):
                load = (ours, theirs)[side]
                start = clock()
                load._read_file(content, *file, realpaths[side])
                middle = clock()
                load._made(file, read)
                totals["read"][side] += middle - start
                totals["made"][side] += clock() - middle
        for step, (our, their) in totals.items():
            sums[step][0].append(our)
            sums[step][1].append(their)
        gc.collect()
    return sums


def baseline_loader(checkout: Path, folder: Path):
    """The baseline's ``detpack.content.load``, imported as ``detpack_baseline.content.load``."""
    shutil.copytree(checkout / "detpack", folder / "detpack_baseline")
    sys.path.insert(0, str(folder))
    return importlib.import_module("detpack_baseline.content.load")


def main() -> int:
    parser = argparse.ArgumentParser(description="reading a large pack, this checkout against another")
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of this project")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--content", type=Path, help="a content directory (default: the shared corpus)")
    args = parser.parse_args()
    if args.content is None and not CORPUS.is_file():
        print(f"skipped: the corpus is not present at {CORPUS}")
        return 0
    from detpack.content import load as ours

    with tempfile.TemporaryDirectory() as tmp:
        content = args.content
        if content is None:
            with tarfile.open(CORPUS) as archive:
                archive.extractall(tmp, filter="data")
            content = Path(tmp) / "security_content"
        theirs = baseline_loader(args.baseline, Path(tmp))
        collecting = gc.isenabled()
        gc.disable()  # as load_pack reads
        try:
            sums = rounds(args.runs, ours, theirs, content)
        finally:
            if collecting:
                gc.enable()
    print(f"{'step':<8}{'median s':>10}{'min s':>8}{'baseline median':>17}{'min':>8}   paired gain")
    for step, (our, their) in sums.items():
        gain = statistics.median(b - a for a, b in zip(our, their))
        print(f"{step:<8}{statistics.median(our):>10.3f}{min(our):>8.3f}{statistics.median(their):>17.3f}"
              f"{min(their):>8.3f}   {gain:+.3f} s ({100 * gain / statistics.median(their):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
