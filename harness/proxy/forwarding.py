"""Sockets for proxied connections, whose reader can hand data straight on.

    socket -> StreamReaderProtocol.data_received -> ForwardingReader.feed_data
        a sink is set and nothing is buffered: sink(data) writes it to the other socket now
            (a link's fast path: no task wakes up per chunk, so no loop turn per hop)
        otherwise (a toxic on the link, a backlog, the sink declined): buffered as by any
            StreamReader, and the link's task reads it

The link arms the sink only while its reader holds nothing, so bytes never overtake each
other; everything else (EOF, errors, pausing a socket whose buffer fills) is the StreamReader's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import SupportsIndex

__all__ = ["ForwardingReader", "open_forwarding_connection", "start_forwarding_server"]

Sink = Callable[[bytes], bool]  # True: the bytes were forwarded; False: buffer them instead
ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ForwardingReader(asyncio.StreamReader):
    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self.sink: Sink | None = None
        self._buffered = 0

    @property
    def empty(self) -> bool:
        """Nothing fed is waiting to be read."""
        return self._buffered == 0

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        chunk = bytes(data)  # the same object when it is bytes, as data_received passes
        if self.sink is not None and not self._buffered and self.sink(chunk):
            return
        self._buffered += len(chunk)
        super().feed_data(chunk)

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self._buffered -= len(data)
        return data


async def start_forwarding_server(
    client_connected: ClientConnected, sock: socket.socket, backlog: int, limit: int
) -> asyncio.Server:
    """``asyncio.start_server`` on ``sock``, with a ForwardingReader per client."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        return asyncio.StreamReaderProtocol(ForwardingReader(limit), client_connected)

    return await loop.create_server(factory, sock=sock, backlog=backlog)


async def open_forwarding_connection(
    host: str, port: int, limit: int
) -> tuple[ForwardingReader, asyncio.StreamWriter]:
    """``asyncio.open_connection``, with a ForwardingReader."""
    loop = asyncio.get_running_loop()
    reader = ForwardingReader(limit)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
