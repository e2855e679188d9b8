"""slicer: splits each chunk into pieces of about ``average_size`` bytes, ``delay`` us apart.

Every value Toxiproxy 2.12 accepts is accepted here, including those it then crashes on (its
recursion overflows the stack): ``average_size`` 0 or less slices nothing (data passes in the
chunks it came in), a ``size_variation`` above ``average_size`` only makes pieces more uneven
(each is at least 1 byte), a negative ``size_variation`` or ``delay`` counts as 0.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Toxic, ToxicStub, register


def split_points(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Boundaries 0 = b0 < ... < bn = size; every piece is at most average + variation.

    Halves are split again, each split moved by up to +/- variation, as toxiproxy does, but
    iteratively (toxiproxy recurses and overflows its stack on average 0).
    """
    points = [0, size] if size > 0 else [0]
    if average <= 0:
        return points  # nothing to slice to (Toxiproxy recurses forever)
    variation = max(variation, 0)
    pending = [(0, size)]
    while pending:
        start, end = pending.pop()
        if end - start - average <= variation:
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        points.append(mid)
        pending.append((start, mid))
        pending.append((mid, end))
    return sorted(points)


@dataclasses.dataclass(frozen=True)
class SlicerToxic(Toxic):
    average_size: int = 0  # bytes
    size_variation: int = 0  # bytes
    delay: int = 0  # microseconds between pieces

    async def pipe(self, stub: ToxicStub) -> None:
        while (item := await stub.next_chunk()) is not None:
            points = split_points(len(item.data), self.average_size, self.size_variation, stub.rng)
            for begin, end in itertools.pairwise(points):
                await stub.send(Chunk(item.data[begin:end], item.received_at))
                if end < len(item.data) and not await stub.sleep(max(self.delay, 0) / 1e6):
                    await stub.send(Chunk(item.data[end:], item.received_at))
                    return


register("slicer", SlicerToxic)
