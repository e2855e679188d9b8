"""reset_peer: at the first data in its direction, waits ``timeout`` ms, then resets (RST).

The RST needs SO_LINGER 0, set when a connection is accepted while this toxic exists
(ResetsConnection); added to an open connection it closes with a plain FIN, as in toxiproxy.
"""

from __future__ import annotations

import dataclasses

from harness.proxy.stream import INTERRUPTED
from harness.proxy.toxics.base import Toxic, ToxicStub, register


@dataclasses.dataclass(frozen=True)
class ResetPeerToxic(Toxic):
    timeout: int = 0  # ms

    resets_connection = True

    async def pipe(self, stub: ToxicStub) -> None:
        item = await stub.recv()
        if item is INTERRUPTED:
            return
        # Data (or EOF) arrived: it is dropped on purpose, then the connection is reset.
        # Unlike toxiproxy, an interrupt during the wait resets at once instead of hanging.
        await stub.sleep(self.timeout / 1000.0)
        await stub.close()


register("reset_peer", ResetPeerToxic)
