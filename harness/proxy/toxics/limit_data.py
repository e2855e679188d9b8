"""limit_data: passes ``bytes`` bytes in total on a link, cuts the chunk that crosses it, closes."""

from __future__ import annotations

import dataclasses

from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass
class LimitState:
    """Bytes already sent on this link; survives restarts of the stage (updates)."""

    sent: int = 0


def take(limit: int, state: LimitState, data: bytes) -> tuple[bytes, bool]:
    """The part of ``data`` that may pass, and whether the link must close after it."""
    remaining = max(limit - state.sent, 0)
    allowed = data[:remaining]
    state.sent += len(allowed)
    return allowed, limit - state.sent <= 0


@dataclasses.dataclass(frozen=True)
class LimitDataToxic(Toxic):
    bytes: int = 0

    def new_state(self) -> object:
        return LimitState()

    async def pipe(self, stub: ToxicStub) -> None:
        state = stub.state
        assert isinstance(state, LimitState)
        while (item := await stub.next_chunk()) is not None:
            allowed, must_close = take(self.bytes, state, item.data)
            await stub.send(Chunk(allowed, item.received_at))
            if must_close:
                await stub.close()
                return


register("limit_data", LimitDataToxic)
