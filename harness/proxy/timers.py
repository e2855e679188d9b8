"""Toxic timers to the microsecond on any event loop: one timerfd per loop.

A latency toxic must add its latency, not up to a millisecond more. Event loops cannot wait that
precisely: asyncio waits with ``epoll_wait`` (whole milliseconds, rounded up), uvloop's timers
tick in milliseconds, and Linux lets a ``select()`` or ``poll()`` timeout end late by 0.1% of
its length. A timerfd is a kernel hrtimer with no slack: armed at the earliest toxic deadline
(CLOCK_MONOTONIC, absolute, the clock of ``time.monotonic()``), it becomes readable on time, and
the loop, which only watches it as one more reader, runs what is due.

    call_at(deadline, callback) -> heap of PreciseHandle -> timerfd armed at the earliest
        -> readable -> _fire: every due handle runs, the timerfd is armed at the next

Where no timerfd can be made (not Linux, no libc), the loop's own ``call_at`` does the job, to
its precision.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import time
import weakref
from collections.abc import Callable
from typing import Any, Final, Protocol

__all__ = ["PreciseHandle", "Timer", "call_later", "monotonic"]

_CLOCK_MONOTONIC: Final = 1
_TFD_NONBLOCK: Final = os.O_NONBLOCK
_TFD_CLOEXEC: Final = os.O_CLOEXEC
_TFD_TIMER_ABSTIME: Final = 1

monotonic = time.monotonic  # the toxics' clock: CLOCK_MONOTONIC, to the nanosecond
COMPACT_AT = 100  # cancelled handles before the heap is worth compacting


class Timer(Protocol):
    def cancel(self) -> None: ...


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC: Final = _libc()


class PreciseHandle:
    """A callback waiting in a timerfd's heap; cancelled ones are skipped."""

    __slots__ = ("args", "callback", "cancelled", "owner")

    def __init__(
        self,
        callback: Callable[..., object],
        args: tuple[object, ...],
        owner: _TimerFd,
    ) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False
        self.owner: _TimerFd | None = owner  # None once it left the heap

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            if self.owner is not None:
                self.owner.cancelled_one()


class _TimerFd:
    """One loop's timerfd and the heap of handles waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._fd = fd
        self._heap: list[tuple[float, int, PreciseHandle]] = []
        self._order = itertools.count()
        self._armed_at = float("inf")
        self._cancelled = 0  # cancelled handles still in the heap
        self._spec = _Itimerspec()
        loop.add_reader(fd, self._fire)

    def call_at(self, when: float, callback: Callable[..., object], *args: object) -> PreciseHandle:
        handle = PreciseHandle(callback, args, self)
        heapq.heappush(self._heap, (when, next(self._order), handle))
        if when < self._armed_at:
            self._arm(when)
        return handle

    def _arm(self, when: float) -> None:
        """Arm at ``when`` (a past time fires at once); inf disarms."""
        self._armed_at = when
        value = self._spec.it_value
        if when == float("inf"):
            value.tv_sec, value.tv_nsec = 0, 0
        else:
            nanoseconds = max(int(when * 1e9), 1)  # 0 would disarm
            value.tv_sec, value.tv_nsec = divmod(nanoseconds, 1_000_000_000)
        if _LIBC.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None):
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def cancelled_one(self) -> None:
        """Drop cancelled handles once they are most of the heap (as asyncio's loop does):
        a long sleep cancelled early would otherwise stay until its time came."""
        self._cancelled += 1
        if self._cancelled > COMPACT_AT and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError):  # nothing to read after a re-arm
            os.read(self._fd, 8)  # the expiry count
        now = monotonic()
        # self._heap each time round: a callback that cancels may compact it (a new list)
        while self._heap and (self._heap[0][0] <= now or self._heap[0][2].cancelled):
            handle = heapq.heappop(self._heap)[2]
            handle.owner = None
            if handle.cancelled:
                self._cancelled -= 1
            else:
                handle.cancelled = True  # ran: a later cancel() is a no-op
                handle.callback(*handle.args)
        self._arm(self._heap[0][0] if self._heap else float("inf"))


_TIMERFDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TimerFd | None] = (
    weakref.WeakKeyDictionary()
)


def _timerfd(loop: asyncio.AbstractEventLoop) -> _TimerFd | None:
    try:
        return _TIMERFDS[loop]
    except KeyError:
        pass
    timerfd: _TimerFd | None = None
    if _LIBC is not None:
        fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd >= 0:
            timerfd = _TimerFd(loop, fd)
            weakref.finalize(loop, os.close, fd)  # the loop (and its reader) is gone by then
    _TIMERFDS[loop] = timerfd
    return timerfd


def call_later(delay: float, callback: Callable[..., object], *args: object) -> Timer:
    """Run ``callback(*args)`` in the running loop ``delay`` seconds from now, to the
    microsecond where the platform has a timerfd."""
    loop = asyncio.get_running_loop()
    timerfd = _timerfd(loop)
    if timerfd is None:
        return loop.call_later(delay, callback, *args)
    return timerfd.call_at(monotonic() + delay, callback, *args)
