"""The proxy's event-loop selector: epoll, with timer waits to the microsecond.

asyncio waits for its next timer with ``epoll_wait``, whose timeout is whole milliseconds
(rounded up): a 100 ms latency toxic woke up to 1 ms late, and by how much depended on where
in the millisecond its chunk arrived. The epoll descriptor is itself readable while any of its
descriptors has events, so a blocking wait with a timeout is done by ``select()`` on that one
descriptor (a ``timeval``: microseconds), then the events are collected at once with a zero
timeout. Waits without a timeout, and polls, go straight to epoll as before.
"""

from __future__ import annotations

import asyncio
import select
import selectors

__all__ = ["PreciseEpollSelector", "precise_loop"]


class PreciseEpollSelector(selectors.EpollSelector):
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            try:
                select.select([self.fileno()], [], [], timeout)
            except ValueError:  # a descriptor past FD_SETSIZE: the millisecond wait it is
                pass
            else:
                timeout = 0
        return super().select(timeout)


def precise_loop() -> asyncio.AbstractEventLoop:
    """A selector event loop on :class:`PreciseEpollSelector` (a ``loop_factory``)."""
    return asyncio.SelectorEventLoop(PreciseEpollSelector())
