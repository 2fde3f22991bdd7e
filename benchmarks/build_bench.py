"""Build time and peak memory: validate + render + package (AppInspect excluded).

Each run is a fresh interpreter, so peak memory (ru_maxrss, of the second process too) is that of one build;
the time is measured inside it, around the build call only. Prints medians.

    .venv/bin/python benchmarks/build_bench.py [--runs 7] [--count 2000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate_pack import generate  # noqa: E402

ONE_BUILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from detpack.build.app import build_app
start = time.perf_counter()
build_app({content!r}, {output!r}, sync_committed=False)
seconds = time.perf_counter() - start
# A large pack forks a second process: its peak is added to this one's (an upper bound, as the
# pages the two share count twice).
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"seconds": seconds, "peak_mib": peak / 1024}}))
"""


def measure(content: Path, runs: int) -> dict:
    samples = []
    with tempfile.TemporaryDirectory() as output:
        for _ in range(runs):
            code = ONE_BUILD.format(root=str(ROOT), content=str(content), output=output)
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(s["seconds"] for s in samples),
            "peak_mib": statistics.median(s["peak_mib"] for s in samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description="build benchmark")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    shipped = measure(ROOT, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        large = measure(generate(Path(tmp) / "pack", args.count), max(3, args.runs // 2))
    print(f"{'pack':<24}{'median build s':>16}{'median peak MiB':>17}   target")
    print(f"{'shipped app':<24}{shipped['seconds']:>16.3f}{shipped['peak_mib']:>17.1f}   <= 0.3 s, <= 60 MiB")
    print(f"{f'{args.count} detections':<24}{large['seconds']:>16.3f}{large['peak_mib']:>17.1f}   <= 2 s")


if __name__ == "__main__":
    main()
