"""noop: passes everything through unchanged (useful for tests)."""

from __future__ import annotations

import dataclasses

from harness.proxy.toxics.base import Toxic, ToxicStub, pass_through, register


@dataclasses.dataclass(frozen=True)
class NoopToxic(Toxic):
    async def pipe(self, stub: ToxicStub) -> None:
        await pass_through(stub)


register("noop", NoopToxic)
