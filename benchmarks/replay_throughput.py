#!/usr/bin/env python3
"""Replay throughput and peak memory of the shipped detection, end to end.

Each measurement runs in a fresh subprocess, so its peak RSS (``ru_maxrss``)
belongs to that one replay; the peak includes the interpreter and its imports.
Timed: one ``replay.run_search`` call, i.e. expanding, parsing and planning the
search, then reading, parsing and normalising every event and running the SPL
into result rows (``output_rows``). Not timed: start-up, imports, building the
app, printing. Events/s is events read (prefilter rejects included) over that
time; the figures are medians over ``--runs`` runs.

    .venv/bin/python benchmarks/replay_throughput.py [--runs 5] [--datasets ../shared/datasets]

Searches: the detection as built into the app, and the same search with its
``where`` made ``Processes.process_name=*`` (no text prefilter can help).
Targets: detection >= 250,000 events/s, ``=*`` >= 40,000 events/s, peak RSS <=
150 MiB whatever the corpus size.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORPORA = ("otrf_atomic_host", "splunk_attack_data_art")
DETECTION = "Script Execution via WMI"
SEED_TERM = "Processes.process_name=scrcons.exe"
TARGETS = {"detection": 250_000, "process_name=*": 40_000}
PEAK_LIMIT_MIB = 150


def measure_once(spl_file: Path, app_dir: Path, files: list[str]) -> dict:
    """Runs in the child: one replay, timed, with this process's peak RSS."""
    from detpack.replay.run import shipped_macros
    from detpack.replay.search import run_search

    spl, macros = spl_file.read_text(encoding="utf-8"), shipped_macros(app_dir)
    started = time.perf_counter()
    result = run_search(spl, macros, files)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"events": result.events_read, "seconds": seconds, "rows": len(result.rows), "peak_mib": peak_kib / 1024}


def child_run(spl_file: Path, app_dir: Path, files: list[Path]) -> dict:
    """One measurement in a fresh process; SystemExit with one line when it fails."""
    command = [sys.executable, __file__, "--child", str(spl_file), str(app_dir), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SystemExit(f"error: a replay run over {files[0].parent} failed (exit {done.returncode}): {last}")
    return json.loads(done.stdout)


def searches(build) -> dict[str, str]:
    from detpack.replay.run import shipped_search
    from detpack.build.render import search_stanza_name

    detection = build.pack.detection(DETECTION)
    spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
    if SEED_TERM not in spl:
        raise SystemExit(f"the shipped search no longer contains {SEED_TERM!r}")
    return {"detection": spl, "process_name=*": spl.replace(SEED_TERM, "Processes.process_name=*")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    from detpack.build.app import build_app

    with tempfile.TemporaryDirectory(prefix="detpack-bench-") as folder:
        build = build_app(ROOT, Path(folder) / "out", sync_committed=False)
        print(f"{'search':16} {'corpus':24} {'events':>8} {'events/s':>10} {'peak MiB':>9} {'rows':>5}  target")
        ok = True
        for number, (name, spl) in enumerate(searches(build).items()):
            spl_file = Path(folder) / f"search{number}.spl"
            spl_file.write_text(spl, encoding="utf-8")
            for corpus in CORPORA:
                files = sorted((args.datasets / corpus).glob("*.xml.log*"))
                if not files:
                    print(f"{name:16} {corpus:24} skipped: not found under {args.datasets}")
                    continue
                runs = [child_run(spl_file, build.app_dir, files) for _ in range(args.runs)]
                rate = statistics.median(r["events"] / r["seconds"] for r in runs)
                peak = statistics.median(r["peak_mib"] for r in runs)
                met = rate >= TARGETS[name] and peak <= PEAK_LIMIT_MIB
                ok = ok and met
                print(f"{name:16} {corpus:24} {runs[0]['events']:>8} {rate:>10,.0f} {peak:>9.1f} {runs[0]['rows']:>5}  "
                      f"{'met' if met else 'MISSED'} (>= {TARGETS[name]:,}/s, <= {PEAK_LIMIT_MIB} MiB)")
    print(f"medians of {args.runs} runs, one process per run, Python {sys.version.split()[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(measure_once(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])))
        sys.exit(0)
    sys.exit(main())
