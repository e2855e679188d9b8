"""Fakes shared by unit tests: a clock that advances only when slept on."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """time(), monotonic() and sleep(): sleeping moves both clocks, instantly."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - 1_700_000_000.0

    def sleep(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.now += seconds
        self.slept += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
