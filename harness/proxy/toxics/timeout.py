"""timeout: drops all data in its direction; closes after ``timeout`` ms without data (0: never).

Removing it closes every connection it was attached to, as in toxiproxy (CleansUp).
"""

from __future__ import annotations

import dataclasses

from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass(frozen=True)
class TimeoutToxic(Toxic):
    timeout: int = 0  # ms

    async def pipe(self, stub: ToxicStub) -> None:
        wait_s = self.timeout / 1000.0 if self.timeout > 0 else None
        # Each chunk restarts the timer and is dropped on purpose: this toxic is a blackhole.
        while await stub.next_chunk(wait_s) is not None:
            pass

    async def cleanup(self, stub: ToxicStub) -> None:
        await stub.close()


register("timeout", TimeoutToxic)
