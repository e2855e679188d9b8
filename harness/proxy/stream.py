"""Directions, chunks, and the interruptible channel joining toxic stages (= toxiproxy stream/)."""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

from harness.proxy.timers import call_later, monotonic

__all__ = [
    "EOF",
    "INTERRUPTED",
    "TIMED_OUT",
    "Channel",
    "Chunk",
    "Direction",
    "Interrupt",
    "Item",
    "calibrate_timer_lead",
    "parse_direction",
]

# The largest read from a source socket into a toxic chain, as in toxiproxy (32 KiB).
READ_SIZE: Final = 32 * 1024
# On the fast path (no toxic on the link) chunk size means nothing, so read more at once.
FAST_READ_SIZE: Final = 256 * 1024


class _TimerLead:
    """How early to start a toxic's timer so that it fires on time.

    A toxic's timer (timers.py: a timerfd, microsecond-precise) still wakes the loop late by
    a steady few tens of microseconds: the wake-up itself. ``calibrate_timer_lead`` measures
    it once at start-up so that a 100 ms latency toxic adds 100 ms, not 100.05.
    """

    seconds = 0.0


async def calibrate_timer_lead(samples: int = 25) -> float:
    """Measure the loop's median timer lateness and start toxic timers that much early.

    Probe lengths are spread over 2-6 ms (fractions of a millisecond matter: whole ones are
    not rounded up), stepping evenly so the calibration itself is deterministic.
    """
    late = []
    interrupt = Interrupt()
    for index in range(samples):
        probe_s = 0.002 + 0.004 * index / samples + 0.00037 * (index % 3)
        start = monotonic()
        await interrupt.sleep(probe_s)
        late.append(monotonic() - start - probe_s)
    late.sort()
    _TimerLead.seconds = min(max(late[len(late) // 2], 0.0), 0.002)
    return _TimerLead.seconds


class Direction(enum.Enum):
    """Which way a link carries bytes: client to server (upstream) or back (downstream)."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"

    def __str__(self) -> str:
        return self.value


def parse_direction(text: str) -> Direction | None:
    """``upstream``/``downstream`` in any case; anything else (including "") is None."""
    try:
        return Direction(text.lower())
    except ValueError:
        return None


@dataclass(slots=True)
class Chunk:
    """Bytes from one read of a source socket, and when they were read (``timers.monotonic``).

    ``received_at`` moves forward as latency toxics hold the chunk, so stacked latencies add up.
    """

    data: bytes
    received_at: float


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


EOF: Final = _Marker("EOF")  # the source ended: close the destination after what came before
INTERRUPTED: Final = _Marker("INTERRUPTED")  # the stage was asked to stop (toxic changed)
TIMED_OUT: Final = _Marker("TIMED_OUT")  # nothing arrived within the wait a stage asked for


class Interrupt:
    """A stage's stop request: a flag plus the future the stage is parked on, if any.

    One stage awaits at most one thing at a time, so one slot is enough.
    """

    __slots__ = ("_waiter", "is_set")

    def __init__(self) -> None:
        self.is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self.is_set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self.is_set = False

    async def park(self, waiter: asyncio.Future[None]) -> None:
        """Wait for ``waiter`` or for the interrupt, whichever comes first."""
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    async def sleep(self, seconds: float) -> bool:
        """Sleep; True if the time ran out, False if interrupted first."""
        if self.is_set:
            return False
        if seconds <= 0:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handle = call_later(max(seconds - _TimerLead.seconds, 0), _resolve, waiter)
        try:
            await self.park(waiter)
        finally:
            handle.cancel()
        return not self.is_set


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


Item = Chunk | _Marker


class Channel:
    """A bounded FIFO between two stages, like a Go channel, whose waits an Interrupt can end.

    ``maxsize`` 1 is the hand-over of an unbuffered Go channel plus one slot; a latency stage
    asks for more so that chunks queue up (and keep their read times) while it sleeps.
    """

    __slots__ = ("_getter", "_items", "_putters", "_redirect", "maxsize")

    def __init__(self, maxsize: int = 1) -> None:
        self.maxsize = maxsize
        self._items: deque[Item] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._redirect: Channel | None = None

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return self._redirect is None and len(self._items) >= self.maxsize

    def put_nowait(self, item: Item) -> None:
        """Append even past maxsize (used to hand over held data; never drops it)."""
        if self._redirect is not None:
            self._redirect.put_nowait(item)
            return
        self._items.append(item)
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    def redirect(self, target: Channel) -> None:
        """Retire this channel: what it holds, and whatever is put into it later (by a
        writer that is still waiting on it), goes to ``target`` in order."""
        for item in self.drain():
            target.put_nowait(item)
        self._redirect = target

    async def put(self, item: Item, interrupt: Interrupt | None = None) -> None:
        """Append, waiting while full. An interrupt ends the wait and the item goes in anyway
        (one past maxsize): a stopping stage forwards what it holds and never blocks."""
        while self.full() and not (interrupt is not None and interrupt.is_set):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                if interrupt is None:
                    await waiter
                else:
                    await interrupt.park(waiter)
            finally:
                if waiter in self._putters:
                    self._putters.remove(waiter)
        self.put_nowait(item)

    def get_nowait(self) -> Item | None:
        if not self._items:
            return None
        item = self._items.popleft()
        self._wake_putter()
        return item

    async def get(self, interrupt: Interrupt, timeout_s: float | None = None) -> Item:
        """The next item; INTERRUPTED when the interrupt comes first, TIMED_OUT when
        ``timeout_s`` passes first. In both cases nothing is taken from the channel."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else monotonic() + timeout_s
        while True:
            if interrupt.is_set:
                return INTERRUPTED
            if self._items:
                item = self._items.popleft()
                self._wake_putter()
                return item
            if deadline is not None and monotonic() >= deadline:
                return TIMED_OUT
            waiter: asyncio.Future[None] = loop.create_future()
            handle = (
                None if deadline is None else call_later(deadline - monotonic(), _resolve, waiter)
            )
            self._getter = waiter
            try:
                await interrupt.park(waiter)
            finally:
                self._getter = None
                if handle is not None:
                    handle.cancel()

    def drain(self) -> list[Item]:
        """Take everything queued, oldest first."""
        items = list(self._items)
        self._items.clear()
        while self._putters:
            self._wake_putter()
        return items

    def _wake_putter(self) -> None:
        while self._putters:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
