"""One child process measured as a whole: wall time and peak resident memory (for the benchmarks)."""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path


def whole_process(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak MiB) of ``argv`` run in ``cwd``; SystemExit naming the command when it fails."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks on it
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own resource usage
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed with exit code {os.waitstatus_to_exitcode(status)}\n"
                             f"{errors.read().decode(errors='replace')[-4000:]}")
    return seconds, usage.ru_maxrss / 1024
