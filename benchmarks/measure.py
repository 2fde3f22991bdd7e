"""One command measured as a whole: wall time and peak memory of all its processes (for the benchmarks).

A command may fork a second process for a large pack, so memory is that of the whole process
tree: while the command runs, its processes' proportional set sizes are summed every
``SAMPLE_SECONDS`` (PSS: a page that n processes share, as a forked child shares its parent's,
counts 1/n in each, so the sum is the memory the tree really holds). The peak reported is the
larger of the sampled peak and the main process's own peak resident set (``wait4``), which
sampling cannot miss. Without /proc (not Linux), it is the main process's peak alone.

The time comes from a run of its own, without sampling: reading smaps_rollup walks each
process's page tables, and every 20 ms on a two-core machine that a two-process command fills
it slowed the build of Splunk's 1,711-detection pack by about 7% (2.74 s against 2.56 s,
medians of six alternated runs). So each measurement runs the command twice: once timed, once
sampled.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SAMPLE_SECONDS = 0.02


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            todo += [int(p) for p in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, ValueError):
            pass
    return found


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """The peak of the summed PSS of ``pid`` and its descendants, in KiB, sampled until ``stop``."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _descendants(self.pid)))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib


def run_measured(argv: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak MiB of all its processes) of ``argv`` run in ``cwd``, from a timed run and
    a sampled one; SystemExit naming the command when its exit code is not in ``ok``."""
    seconds, _ = _run(argv, cwd, ok, sample=False)
    _, peak_mib = _run(argv, cwd, ok, sample=True)
    return seconds, peak_mib


def _run(argv: list[str], cwd: Path, ok: tuple[int, ...], *, sample: bool) -> tuple[float, float]:
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks on it
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        memory = TreeMemory(child.pid) if sample else None
        if memory:
            memory.start()
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own resource usage
        seconds = time.perf_counter() - started
        sampled_kib = memory.stop() if memory else 0
        if os.waitstatus_to_exitcode(status) not in ok:
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed with exit code {os.waitstatus_to_exitcode(status)}\n"
                             f"{errors.read().decode(errors='replace')[-4000:]}")
    return seconds, max(sampled_kib, usage.ru_maxrss) / 1024


def whole_process(argv: list[str], cwd: Path) -> tuple[float, float]:
    """``run_measured`` of a command that must exit 0."""
    return run_measured(argv, cwd)


def paired_gain(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> float:
    """Median over the rounds of (their time - our time), the samples being (seconds, anything): how
    much faster a command runs here than in a baseline run right after it, on a machine whose speed drifts."""
    return statistics.median(b - a for (a, _), (b, _) in zip(ours, theirs))
