"""Sockets for proxied connections, whose reader can hand data straight on.

    socket -> StreamReaderProtocol.data_received -> ForwardingReader.feed_data
        a sink is set and nothing is buffered: sink(data) writes it to the other socket now
            (a link's fast path: no task wakes up per chunk, so no loop turn per hop)
        otherwise (a toxic on the link, a backlog, the sink declined): buffered as by any
            StreamReader, and ``wake`` tells the link a task must read it
    EOF or an error on the socket -> ForwardingReader.feed_eof / set_exception -> ``wake``

The link arms the sink only while its reader holds nothing, so bytes never overtake each
other; a link on the fast path with nothing buffered has no task at all (a burst of new
connections costs one task each: the accept's dial). Everything else (pausing a socket whose
buffer fills, the EOF and errors a task reads) is the StreamReader's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import SupportsIndex

__all__ = ["ForwardingReader", "adopt_forwarding_socket", "open_forwarding_connection"]

Sink = Callable[[bytes], bool]  # True: the bytes were forwarded; False: buffer them instead
Wake = Callable[[], None]


class ForwardingReader(asyncio.StreamReader):
    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self.sink: Sink | None = None
        self.wake: Wake | None = None  # called once when a task has something to read
        self._buffered = 0

    @property
    def idle(self) -> bool:
        """Nothing waits to be read: no data fed and unread, no EOF, no error."""
        return self._buffered == 0 and not self.at_eof() and self.exception() is None

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:
        chunk = bytes(data)  # the same object when it is bytes, as data_received passes
        if self.sink is not None and not self._buffered and self.sink(chunk):
            return
        self._buffered += len(chunk)
        super().feed_data(chunk)
        self._wake()

    def feed_eof(self) -> None:
        super().feed_eof()
        self._wake()

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        self._wake()

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self._buffered -= len(data)
        return data

    def _wake(self) -> None:
        wake, self.wake = self.wake, None
        if wake is not None:
            wake()


def _stream(
    limit: int,
) -> tuple[ForwardingReader, asyncio.StreamReaderProtocol, Callable[[], asyncio.Protocol]]:
    reader = ForwardingReader(limit)
    protocol = asyncio.StreamReaderProtocol(reader)
    return reader, protocol, lambda: protocol


async def open_forwarding_connection(
    host: str, port: int, limit: int
) -> tuple[ForwardingReader, asyncio.StreamWriter]:
    """``asyncio.open_connection``, with a ForwardingReader."""
    loop = asyncio.get_running_loop()
    reader, protocol, factory = _stream(limit)
    transport, _ = await loop.create_connection(factory, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def adopt_forwarding_socket(
    sock: socket.socket, limit: int
) -> tuple[ForwardingReader, asyncio.StreamWriter]:
    """An accepted socket as a stream, with a ForwardingReader. Its first bytes are read in a
    later loop turn than the one this returns in: a link started at once sees them first."""
    loop = asyncio.get_running_loop()
    reader, protocol, factory = _stream(limit)
    transport, _ = await loop.connect_accepted_socket(factory, sock)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
