"""The proxy's selector: epoll whose timed waits are done by select() on the epoll descriptor
(microseconds, not epoll_wait's whole milliseconds). What it must keep: events are reported
as epoll reports them, a timed wait with nothing ready returns nothing, and past FD_SETSIZE it
falls back to the millisecond wait. (How precise it is: ``harness bench proxy``.)"""

from __future__ import annotations

import asyncio
import select
import selectors
import socket
from collections.abc import Iterator

import pytest

from harness.proxy.selector import PreciseEpollSelector, precise_loop

pytestmark = pytest.mark.integration


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_events_are_reported_and_a_timed_wait_with_none_returns_none(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    with PreciseEpollSelector() as selector:
        selector.register(left, selectors.EVENT_READ, "left")
        assert selector.select(0.01) == []
        right.send(b"x")
        ready = selector.select(5)
        assert [(key.data, events) for key, events in ready] == [("left", selectors.EVENT_READ)]
        assert selector.select(None)[0][0].data == "left"  # level-triggered, as epoll
        assert selector.select(0)[0][0].data == "left"


def test_past_fd_setsize_it_waits_as_epoll_does(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise ValueError("filedescriptor out of range in select()")

    monkeypatch.setattr(select, "select", refuse)
    left, right = pair
    with PreciseEpollSelector() as selector:
        selector.register(left, selectors.EVENT_READ, "left")
        assert selector.select(0.01) == []
        right.send(b"x")
        assert selector.select(5)[0][0].data == "left"


def test_the_loop_runs_timers_and_sockets() -> None:
    async def main() -> bytes:
        reader_sock, writer_sock = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=reader_sock)
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, writer_sock.send, b"late")
        try:
            return await asyncio.wait_for(reader.read(4), 5)
        finally:
            writer.close()
            await writer.wait_closed()
            writer_sock.close()

    with asyncio.Runner(loop_factory=precise_loop) as runner:
        assert runner.run(main()) == b"late"
