"""timeout: drops all data in its direction; closes after ``timeout`` ms without data (0: never).

Removing it closes every connection it was attached to, as in toxiproxy (CleansUp).
"""

from __future__ import annotations

import dataclasses

from harness.proxy.stream import EOF, INTERRUPTED, TIMED_OUT
from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass(frozen=True)
class TimeoutToxic(Toxic):
    timeout: int = 0  # ms

    async def pipe(self, stub: ToxicStub) -> None:
        wait_s = self.timeout / 1000.0 if self.timeout > 0 else None
        while True:
            item = await stub.recv(wait_s)  # each chunk (dropped) restarts the timer
            if item is INTERRUPTED:
                return
            if item is EOF or item is TIMED_OUT:
                await stub.close()
                return
            # Any chunk is dropped on purpose: this toxic's job is a blackhole.

    async def cleanup(self, stub: ToxicStub) -> None:
        await stub.close()


register("timeout", TimeoutToxic)
