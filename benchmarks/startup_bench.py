"""Whole-process time of the command line, start-up included (run by hand, not in CI).

Each command runs as a fresh ``python build.py ...`` process, as a user or CI
runs it; the figure is the median wall time over ``--runs`` runs, after one
warm-up run. Python's bytecode cache is on (``PYTHONDONTWRITEBYTECODE`` is
removed from the children's environment) because that is how an installed
tool runs; ``--no-bytecode-cache`` measures the other case. ``build`` and
``validate`` are timed twice: answered from the memo (nothing changed since the
last run, the usual case when a command is repeated) and as a real run
(``DETPACK_NO_CACHE=1``, as on a fresh clone or after an edit). The memo lives
in a temporary folder of the benchmark's own.

    .venv/bin/python benchmarks/startup_bench.py [--runs 11] [--contentctl PATH]

``--contentctl`` also times Splunk's ``contentctl build`` (5.x, not a dependency
of this project) on the same one-detection pack as it accepts it: the detection
in its current schema (``../shared/reference/script_execution_via_wmi.v7.yml``;
contentctl 5 refuses the older risk keys and local attack data), our stories,
macros and settings, the reference data sources, and the deployments of the
security_content corpus (``../shared/corpora``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONTENTCTL_FOLDERS = ("data_sources", "deployments", "lookups", "baselines", "investigations", "playbooks",
                      "dashboards", "removed", "app_template")
TARGETS = {"build": 0.10, "validate": 0.08, "--help": 0.05}
MEMO = "answered from the memo"
REAL = "real run"


def median_seconds(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> float:
    def once() -> float:
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started

    once()  # warm-up: bytecode and template caches, file system cache
    return statistics.median(once() for _ in range(runs))


def contentctl_pack(pack: Path) -> None:
    """The shipped pack as contentctl 5 accepts it (see the module's docstring)."""
    for name in ("stories", "macros"):
        shutil.copytree(ROOT / name, pack / name)
    shutil.copy(ROOT / "contentctl.yml", pack / "contentctl.yml")
    for name in CONTENTCTL_FOLDERS:
        (pack / name).mkdir(parents=True)
    (pack / "detections" / "endpoint").mkdir(parents=True)
    shutil.copy(SHARED / "reference" / "script_execution_via_wmi.v7.yml",
                pack / "detections" / "endpoint" / "script_execution_via_wmi.yml")
    for source in (SHARED / "reference" / "data_sources").glob("*.yml"):
        shutil.copy(source, pack / "data_sources" / source.name)
    with tarfile.open(SHARED / "corpora" / "security_content-4.42.0.tar.gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and "/deployments/" in member.name and member.name.endswith(".yml"):
                (pack / "deployments" / Path(member.name).name).write_bytes(tar.extractfile(member).read())


def contentctl_seconds(contentctl: str, runs: int, env: dict[str, str]) -> float | None:
    if not (SHARED / "reference").is_dir() or not (SHARED / "corpora").is_dir():
        print(f"contentctl: skipped, {SHARED}/reference and {SHARED}/corpora are needed")
        return None
    with tempfile.TemporaryDirectory(prefix="startup-contentctl-") as folder:
        pack = Path(folder) / "pack"
        contentctl_pack(pack)
        return median_seconds([contentctl, "build"], runs, env, pack)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--no-bytecode-cache", action="store_true")
    parser.add_argument("--contentctl", help="path of a contentctl executable to time beside")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DETPACK_NO_CACHE")}
    if args.no_bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as work:
        env["DETPACK_CACHE_DIR"] = str(Path(work) / "memo")
        out = str(Path(work) / "out")
        runs = [("build", MEMO, ["build", "--output", out], {}), ("build", REAL, ["build", "--output", out], {"DETPACK_NO_CACHE": "1"}),
                ("validate", MEMO, ["validate"], {}), ("validate", REAL, ["validate"], {"DETPACK_NO_CACHE": "1"}),
                ("--help", "", ["--help"], {})]
        print(f"median of {args.runs} runs, whole process, python {sys.version.split()[0]}")
        print(f"{'python -c pass':<44}{median_seconds([sys.executable, '-c', 'pass'], args.runs, env, ROOT):8.3f} s")
        for name, how, argv, extra in runs:
            seconds = median_seconds([sys.executable, "build.py", *argv], args.runs, env | extra, ROOT)
            verdict = "ok" if seconds <= TARGETS[name] else "over"
            label = f"build.py {name}" + (f" ({how})" if how else "")
            print(f"{label:<44}{seconds:8.3f} s   target <= {TARGETS[name]:.2f} s  {verdict}")
    if args.contentctl and (seconds := contentctl_seconds(args.contentctl, args.runs, env)) is not None:
        print(f"{'contentctl build':<44}{seconds:8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
