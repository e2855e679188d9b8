"""slow_close: data passes unchanged; closing is postponed by ``delay`` ms after the source ends."""

from __future__ import annotations

import dataclasses

from harness.proxy.stream import EOF, INTERRUPTED, TIMED_OUT, Chunk
from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass(frozen=True)
class SlowCloseToxic(Toxic):
    delay: int = 0  # ms

    async def pipe(self, stub: ToxicStub) -> None:
        while True:
            item = await stub.recv()
            if item is INTERRUPTED:
                return
            if item is EOF or item is TIMED_OUT:
                await stub.sleep(self.delay / 1000.0)  # interrupted: close now
                await stub.close()
                return
            assert isinstance(item, Chunk)
            await stub.send(item)


register("slow_close", SlowCloseToxic)
