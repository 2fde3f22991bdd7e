"""Bounded retries with exponential backoff, shared by the REST and HEC clients."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; waits grow from ``first`` by ``factor`` up to ``ceiling``.

    Tests pass tiny values so that fault injection stays fast.
    """

    attempts: int = 6
    first: float = 0.5
    factor: float = 2.0
    ceiling: float = 15.0

    def waits(self) -> Iterator[float]:
        """The pause before each retry (one fewer than ``attempts``)."""
        wait = self.first
        for _ in range(self.attempts - 1):
            yield wait
            wait = min(wait * self.factor, self.ceiling)


def poll(check: Callable[[], bool], timeout: float, backoff: Backoff, sleep=time.sleep) -> bool:
    """Call ``check`` until it returns True or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    wait = backoff.first
    while True:
        if check():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sleep(min(wait, remaining))
        wait = min(wait * backoff.factor, backoff.ceiling)
