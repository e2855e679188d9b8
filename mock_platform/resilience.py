"""The gateway's protections, each small and separately testable.

CircuitBreaker  closed -> open (>= min_calls and >= error_ratio in the window)
                -> half_open after open_s: one probe -> closed | open again
RetryBudget     retries allowed while retries <= ratio x requests in the window
backoff_s       full jitter: uniform(0, base x 2^attempt), capped
"""

from __future__ import annotations

import collections
import random
import time

__all__ = ["CircuitBreaker", "RetryBudget", "backoff_s"]


class CircuitBreaker:
    def __init__(
        self,
        window_s: float = 4.0,
        min_calls: int = 10,
        error_ratio: float = 0.5,
        open_s: float = 3.0,
    ) -> None:
        """Opens once half the calls of the last ``window_s`` failed (at least ``min_calls``),
        then lets one probe through every ``open_s``. A short window: with 10 s of good calls
        behind it, a dead upstream took 8-9 s of 0.8 s timeouts to trip (half the window had
        to fail first)."""
        self.window_s = window_s
        self.min_calls = min_calls
        self.error_ratio = error_ratio
        self.open_s = open_s
        self.state = "closed"
        self.opened_at = 0.0
        self.transitions: list[tuple[float, str]] = []
        self._calls: collections.deque[tuple[float, bool]] = collections.deque()
        self._probing = False

    def current(self) -> str:
        """The state now: an open breaker whose sleep window has passed is half-open."""
        now = time.monotonic()
        if self.state == "open" and now - self.opened_at >= self.open_s:
            self._move("half_open", now)
        return self.state

    def allow(self) -> bool:
        """May a call go through now? (In half-open, only one probe at a time.)"""
        if self.current() == "open":
            return False
        if self.state == "half_open":
            if self._probing:
                return False
            self._probing = True
        return True

    def record(self, ok: bool) -> None:
        now = time.monotonic()
        if self.state == "half_open":
            self._probing = False
            self._move("closed" if ok else "open", now)
            if not ok:
                self.opened_at = now
            self._calls.clear()
            return
        self._calls.append((now, ok))
        while self._calls and self._calls[0][0] < now - self.window_s:
            self._calls.popleft()
        failures = sum(1 for _, good in self._calls if not good)
        if (
            self.state == "closed"
            and len(self._calls) >= self.min_calls
            and failures / len(self._calls) >= self.error_ratio
        ):
            self.opened_at = now
            self._move("open", now)

    def _move(self, state: str, now: float) -> None:
        if state != self.state:
            self.state = state
            self.transitions.append((now, state))
            del self.transitions[:-20]


class RetryBudget:
    """At most ``ratio`` retries per request over the last ``window_s`` (Envoy/Finagle style)."""

    def __init__(self, ratio: float = 0.1, window_s: float = 10.0, floor: int = 3) -> None:
        self.ratio = ratio
        self.window_s = window_s
        self.floor = floor
        self._requests: collections.deque[float] = collections.deque()
        self._retries: collections.deque[float] = collections.deque()

    def _trim(self, now: float) -> None:
        for queue in (self._requests, self._retries):
            while queue and queue[0] < now - self.window_s:
                queue.popleft()

    def request(self) -> None:
        self._requests.append(time.monotonic())

    def try_retry(self) -> bool:
        now = time.monotonic()
        self._trim(now)
        if len(self._retries) >= max(self.floor, self.ratio * len(self._requests)):
            return False
        self._retries.append(now)
        return True


def backoff_s(attempt: int, base_s: float = 0.05, cap_s: float = 1.0) -> float:
    """Full-jitter exponential backoff (AWS Builders' Library)."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))
