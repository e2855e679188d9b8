"""Toxic timers (timers.py): one timerfd per loop, armed at the earliest deadline. What they must
keep, on both loops the proxy runs on: due callbacks run in deadline order and never before
their deadline, a cancelled one never runs, a deadline earlier than the armed one re-arms the
timerfd, and without a timerfd the loop's own timers do the job. (How precise they are:
``harness bench proxy``, the latency toxic's error.)"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from harness.proxy import timers
from harness.proxy.timers import call_later, monotonic

pytestmark = pytest.mark.integration

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def _run(loop_name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        runner.run(main())


async def _record(schedule: list[tuple[str, float]], cancel: set[str]) -> list[tuple[str, float]]:
    """Schedule each (name, delay), cancel some; return (name, lateness) in the order run."""
    ran: list[tuple[str, float]] = []
    done = asyncio.get_running_loop().create_future()
    expected = len(schedule) - len(cancel)

    def fire(name: str, when: float) -> None:
        ran.append((name, monotonic() - when))
        if len(ran) == expected:
            done.set_result(None)

    handles = {}
    for name, delay in schedule:
        handles[name] = call_later(delay, fire, name, monotonic() + delay)
    for name in cancel:
        handles[name].cancel()
    await asyncio.wait_for(done, 5)
    await asyncio.sleep(0.03)  # a cancelled one would have run by now
    return ran


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_callbacks_run_in_deadline_order_never_early_and_cancelled_ones_never(
    loop_name: str,
) -> None:
    async def main() -> None:
        # added latest-first: each new deadline is earlier than the armed one (a re-arm)
        schedule = [("c", 0.015), ("gone", 0.012), ("b", 0.010), ("a", 0.004)]
        ran = await _record(schedule, cancel={"gone"})
        assert [name for name, _ in ran] == ["a", "b", "c"]
        assert all(lateness >= 0 for _, lateness in ran), ran

    _run(loop_name, main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_a_deadline_already_past_runs_at_once_and_the_rest_still_wait(loop_name: str) -> None:
    async def main() -> None:
        ran = await _record([("later", 0.02), ("now", -1.0), ("zero", 0.0)], cancel=set())
        assert [name for name, _ in ran] == ["now", "zero", "later"]

    _run(loop_name, main)


def test_without_a_timerfd_the_loops_own_timers_run_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timers, "_LIBC", None)

    async def main() -> None:
        assert timers._timerfd(asyncio.get_running_loop()) is None
        ran = await _record([("b", 0.01), ("gone", 0.005), ("a", 0.002)], cancel={"gone"})
        assert [name for name, _ in ran] == ["a", "b"]

    _run("asyncio", main)


def test_long_timers_cancelled_early_do_not_pile_up() -> None:
    async def main() -> None:
        timerfd = timers._timerfd(asyncio.get_running_loop())
        assert timerfd is not None
        for _ in range(1000):  # a toxic's long sleep, interrupted (removed, updated) at once
            call_later(3600, lambda: None).cancel()
        assert len(timerfd._heap) <= 2 * timers.COMPACT_AT
        ran = await _record([("b", 0.004), ("gone", 0.002), ("a", 0.001)], cancel={"gone"})
        assert [name for name, _ in ran] == ["a", "b"]

    _run("uvloop", main)


def _is_timerfd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[timerfd]"
    except OSError:
        return False


def test_each_loop_has_its_own_timerfd_closed_once_the_loop_is_gone() -> None:
    seen: list[int] = []

    async def main() -> None:
        timerfd = timers._timerfd(asyncio.get_running_loop())
        assert timerfd is not None
        seen.append(timerfd._fd)
        assert _is_timerfd(timerfd._fd)

    _run("asyncio", main)
    _run("asyncio", main)
    gc.collect()
    assert not any(_is_timerfd(fd) for fd in seen)
