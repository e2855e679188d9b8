"""Reading many things back over HTTP until each has settled, or a deadline has passed.

    items -> read each (READ_CONCURRENCY at once) -> the unsettled ones read again every
    READ_AGAIN_EVERY_S -> the last answer of each, in the items' order
Used by the invariants' read-back (states until terminal) and the readers' check (each reader
until it agrees). Each read crosses the platform (gateway, links, services), tens of
milliseconds here: a hundred read one by one held a run up for seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from harness.clock import Clock

__all__ = ["READ_AGAIN_EVERY_S", "READ_CONCURRENCY", "read_until_settled"]

READ_CONCURRENCY = 8
READ_AGAIN_EVERY_S = 0.25  # only the unsettled ones are read again

Item = TypeVar("Item")
Answer = TypeVar("Answer")


def read_until_settled(
    items: Sequence[Item],
    read: Callable[[Item], Answer],
    settled: Callable[[Answer], bool],
    clock: Clock,
    deadline: float,
    waiting: Callable[[int], None] = lambda _pending: None,
) -> list[Answer]:
    """Each item's last answer; ``waiting(n)`` before each wait, with n still unsettled."""
    with ThreadPoolExecutor(READ_CONCURRENCY) as pool:
        answers = list(pool.map(read, items))
        pending = [i for i, answer in enumerate(answers) if not settled(answer)]
        while pending and clock.monotonic() < deadline:
            waiting(len(pending))
            clock.sleep(READ_AGAIN_EVERY_S)
            for index, answer in zip(
                pending, pool.map(lambda i: read(items[i]), pending), strict=True
            ):
                answers[index] = answer
            pending = [i for i in pending if not settled(answers[i])]
    return answers
