"""bandwidth: at most ``rate`` KB/s (1 KB = 1000 bytes); rate 0 holds all data back, and so
does a negative rate (Toxiproxy 2.12 accepts one too, then panics on the first byte)."""

from __future__ import annotations

import dataclasses

from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Toxic, ToxicStub, register

SLICE_S = 0.1  # large chunks leave in 100 ms slices, as in toxiproxy


@dataclasses.dataclass(frozen=True)
class BandwidthToxic(Toxic):
    rate: int = 0  # KB/s

    async def pipe(self, stub: ToxicStub) -> None:
        bytes_per_s = max(self.rate, 0) * 1000
        slice_size = max(1, int(bytes_per_s * SLICE_S))
        next_at = 0.0  # when the link may send again; idle time is not banked
        while (item := await stub.next_chunk()) is not None:
            if bytes_per_s == 0:
                # toxiproxy's quirk, kept on purpose: rate 0 is a blackhole, not "unlimited";
                # a negative rate is no bandwidth either.
                await stub.sleep(float("inf"))
                await stub.send(item)
                return
            next_at = max(next_at, stub.now())
            data = item.data
            while data:
                piece, data = data[:slice_size], data[slice_size:]
                next_at += len(piece) / bytes_per_s
                if not await stub.sleep(next_at - stub.now()):
                    await stub.send(Chunk(piece + data, item.received_at))  # never drop
                    return
                await stub.send(Chunk(piece, item.received_at))


register("bandwidth", BandwidthToxic)
