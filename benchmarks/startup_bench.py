"""Whole-process time of the command line, start-up included (run by hand, not in CI).

Each command runs as a fresh ``python build.py ...`` process, as a user or CI
runs it, on a copy of the shipped pack in a temporary folder (so the repository's
committed files are never rewritten). The commands are interleaved, round after
round, so that a change in the machine's load touches all of them alike; after
one warm-up round, each row gives the median, min and max wall time and the
median CPU time (user + system) of the child over ``--runs`` rounds. Python's
bytecode cache is on (``PYTHONDONTWRITEBYTECODE`` is removed from the children's
environment), as for an installed tool; ``--no-bytecode-cache`` measures the
other case.

    .venv/bin/python benchmarks/startup_bench.py [--runs 15] [--floors] [--contentctl PATH] [--baseline DIR]

``--floors`` also times processes that only import the libraries a command cannot
do without, whatever this project's own code does: argparse, pathlib and PyYAML
for ``validate``, and Jinja2 besides for ``build``. They end as the command line
ends (``detpack.cli.leave``: no module cleared, no object freed). No command starts faster.
"Jinja2 alone" is a process that imports nothing else: a build that split its imports
between two processes could still not render before that much time had passed.

``--baseline DIR`` (another checkout of this project, such as ``git worktree add /tmp/base
<commit>``) also runs that checkout's ``build.py`` commands, each right after ours, and
prints the median of the paired differences: on a machine whose speed drifts, the pairs
show what a change gained.

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
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from measure import paired_gain

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TARGETS = {"build": 0.10, "validate": 0.08, "--help": 0.05}
FLOORS = {"floor of validate": "import argparse, pathlib, yaml; import os; os._exit(0)",
          "floor of build": "import argparse, pathlib, yaml, jinja2; import os; os._exit(0)",
          "Jinja2 alone": "import jinja2; import os; os._exit(0)"}
CONTENTCTL_FOLDERS = ("data_sources", "deployments", "lookups", "baselines", "investigations", "playbooks",
                      "dashboards", "removed", "app_template")


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def interleaved(commands: dict[str, tuple[list[str], Path]], runs: int, env: dict[str, str]) -> dict[str, list]:
    """``commands``: name -> (argv, working folder)."""
    samples = {name: [] for name in commands}
    for round_number in range(runs + 1):
        for name, (argv, cwd) in commands.items():
            sample = timed(argv, env, cwd)
            if round_number:  # round 0 warms the bytecode and file system caches
                samples[name].append(sample)
    return samples


def shipped_pack(folder: Path) -> Path:
    pack = folder / "pack"
    for name in ("detections", "stories", "macros", "attack_data"):
        shutil.copytree(ROOT / name, pack / name)
    shutil.copy(ROOT / "contentctl.yml", pack / "contentctl.yml")
    return pack


def contentctl_pack(folder: Path) -> Path:
    """The shipped pack as contentctl 5 accepts it (see the module's docstring)."""
    pack = folder / "contentctl-pack"
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
    return pack


def ours_and_baseline(pack: Path, here: Path, baseline: Path | None) -> dict[str, tuple[list[str], Path]]:
    """The three commands of this checkout, each followed by the baseline's (``baseline NAME``)."""
    commands = {}
    for name, arguments in (("build", ["build", "--content", str(pack)]), ("validate", ["validate", "--content", str(pack)]),
                            ("--help", ["--help"])):
        commands[f"build.py {name}"] = ([sys.executable, str(ROOT / "build.py"), *arguments], here)
        if baseline:
            commands[f"baseline {name}"] = ([sys.executable, str(baseline / "build.py"), *arguments], here)
    return commands


def report(label: str, samples: list[tuple[float, float]], target: float | None) -> None:
    walls = [wall for wall, _ in samples]
    median = statistics.median(walls)
    verdict = "" if target is None else f"   target <= {target:.2f} s  {'met' if median <= target else 'NOT met'}"
    print(f"{label:<26}{median:8.3f} s  (min {min(walls):.3f}, max {max(walls):.3f}; "
          f"cpu {statistics.median(c for _, c in samples):.3f} s){verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-bytecode-cache", action="store_true")
    parser.add_argument("--floors", action="store_true", help="also time importing the libraries each command needs")
    parser.add_argument("--contentctl", help="path of a contentctl executable to time beside")
    parser.add_argument("--baseline", type=Path, help="another checkout of this project to time in pairs with this one")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.no_bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as work:
        pack = shipped_pack(Path(work))
        here = Path(work)
        commands = {"python -c pass": ([sys.executable, "-c", "pass"], here)} | ours_and_baseline(pack, here, args.baseline)
        if args.floors:
            commands |= {name: ([sys.executable, "-c", imports], here) for name, imports in FLOORS.items()}
        if args.contentctl:
            if (SHARED / "reference").is_dir() and (SHARED / "corpora").is_dir():
                commands["contentctl build"] = ([args.contentctl, "build"], contentctl_pack(here))
            else:
                print(f"contentctl: skipped, {SHARED}/reference and {SHARED}/corpora are needed")
        print(f"{args.runs} interleaved rounds, whole process, python {sys.version.split()[0]}")
        samples = interleaved(commands, args.runs, env)
        for name, taken in samples.items():
            report(name, taken, TARGETS.get(name.removeprefix("build.py ")))
        if args.baseline:
            for name in TARGETS:
                gain = paired_gain(samples[f"build.py {name}"], samples[f"baseline {name}"])
                print(f"{name:<26}paired: {gain * 1000:+.1f} ms faster here than the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
