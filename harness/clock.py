"""Time as the engine and the checks see it: one seam, so unit tests run on a fake clock.

SystemClock: time.time (wall, what journals record), time.monotonic (intervals), sleep
A fake (tests/unit/engine/fakes.py) advances all three on sleep: no test ever waits.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (what the journal records)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


SYSTEM_CLOCK = SystemClock()
