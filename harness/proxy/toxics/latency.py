"""latency: each chunk leaves at (time it was read) + latency +/- jitter, pipelined."""

from __future__ import annotations

import dataclasses
import random

from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass(frozen=True)
class LatencyToxic(Toxic):
    latency: int = 0  # ms
    jitter: int = 0  # ms, uniform in [-jitter, +jitter)

    # Chunks wait in the stage's input with their read times while it sleeps (toxiproxy: 1024).
    buffer_size = 1024

    def delay_s(self, rng: random.Random) -> float:
        delay_ms = self.latency
        if self.jitter > 0:
            delay_ms += rng.randrange(-self.jitter, self.jitter)
        return max(delay_ms, 0) / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        while (item := await stub.next_chunk()) is not None:
            delay = self.delay_s(stub.rng)
            completed = await stub.sleep(item.received_at + delay - stub.now())
            if not completed:
                await stub.send(item)  # interrupted: forward at once, never drop
                return
            item.received_at += delay  # a later latency toxic measures from here
            await stub.send(item)


register("latency", LatencyToxic)
