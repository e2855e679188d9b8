"""One direction of one proxied connection: source -> toxic stages -> destination (= link.go).

    fast path (no toxic has touched this link):   reader --write--> destination
        (forwarding.py: written from the socket's data callback while nothing is held back;
        no task runs until the reader wakes one: to read what a backlog left buffered, to
        wait for the destination to drain, or to end the link on EOF or an error)
    piped (a toxic is, or was, on this link):
        reader -> input -> [noop] -> [toxic 1] -> ... -> [toxic n] -> output -> writer

A link starts on the fast path and switches to the pipeline the first time a toxic is added,
and stays piped: the switch is one way, so bytes are never reordered. Adding a toxic appends a
stage; removing one stops its stage (it forwards what it holds) and redirects its input to its
output, so no byte is dropped or reordered; updating restarts the stage (toxicity drawn again).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from harness.proxy.forwarding import ForwardingReader
from harness.proxy.stream import (
    EOF,
    FAST_READ_SIZE,
    READ_SIZE,
    Channel,
    Chunk,
    Direction,
    Interrupt,
)
from harness.proxy.timers import monotonic
from harness.proxy.toxics.base import (
    Buffered,
    CleansUp,
    Stateful,
    Toxic,
    ToxicStub,
    pass_through,
)

__all__ = ["Link", "ToxicEntry"]

log = logging.getLogger("harness.proxy")

# Errors that only mean the peer went away; they end a link quietly.
PEER_GONE = (ConnectionError, OSError, asyncio.IncompleteReadError, RuntimeError)


@dataclasses.dataclass(frozen=True)
class ToxicEntry:
    """A toxic as the API knows it: name, stream as spelled by the client, toxicity, config."""

    name: str
    stream: str
    direction: Direction
    toxicity: float
    toxic: Toxic


class _Stage:
    """One toxic (or the hidden no-op) running on this link."""

    __slots__ = ("entry", "stub", "task")

    def __init__(self, entry: ToxicEntry | None, stub: ToxicStub) -> None:
        self.entry = entry
        self.stub = stub
        self.task: asyncio.Task[None] | None = None

    def start(self, *, draw: bool) -> None:
        if draw and self.entry is not None:
            self.stub.active = self.stub.rng.random() < self.entry.toxicity
        self.stub.interrupt = Interrupt()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            if self.entry is not None and self.stub.active:
                await self.entry.toxic.pipe(self.stub)
            else:
                await pass_through(self.stub)
        except asyncio.CancelledError:
            raise
        except Exception:  # a toxic bug must not kill the server; the link just ends
            log.exception("toxic stage failed")
            with contextlib.suppress(Exception):
                await self.stub.close()

    async def stop(self) -> None:
        """Interrupt and wait: the stage forwards any chunk it holds before returning."""
        self.stub.interrupt.set()
        if self.task is None or self.task.done():
            return
        try:
            await asyncio.shield(self.task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our caller is being cancelled, not just the stage


def _buffer_size(toxic: Toxic) -> int:
    return toxic.buffer_size if isinstance(toxic, Buffered) else 1


class Link:
    """Moves bytes from ``source`` to ``dest`` through the current toxics of one direction."""

    def __init__(
        self,
        direction: Direction,
        source: asyncio.StreamReader,
        dest: asyncio.StreamWriter,
        rng: random.Random,
        on_done: Callable[[Link], None],
    ) -> None:
        self.direction = direction
        self.received_bytes = 0
        self.sent_bytes = 0
        self.done = False
        self._source = source
        self._dest = dest
        self._rng = rng
        self._on_done = on_done
        self._stages: list[_Stage] = []
        self._input: Channel | None = None
        self._output: Channel | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None

    def start(self, chain: list[ToxicEntry]) -> None:
        if chain:
            self._enter_pipeline()
            for entry in chain:
                self._append(entry)
        if not self._park():
            self._read()

    # -- live changes (called by the toxic collection) ----------------------------------------

    async def add_toxic(self, entry: ToxicEntry, at: int | None = None) -> None:
        """Add a stage at the end of the line, or at index ``at``."""
        async with self._lock:
            if self.done:
                return
            if self._input is None:
                self._enter_pipeline()
                self._read()
            self._append(entry, at)

    async def add_layer(self, entry: ToxicEntry) -> None:
        """Put the connection's HTTP layer first in line (after the hidden no-op), so every
        toxic added before or after it sees what it lets through."""
        await self.add_toxic(entry, at=1)

    async def update_toxic(self, entry: ToxicEntry) -> None:
        async with self._lock:
            stage = self._find(entry.name)
            if stage is None or self.done:
                return
            await stage.stop()
            if stage.stub.closed:
                return
            stage.entry = entry
            if stage.stub.state is None and isinstance(entry.toxic, Stateful):
                stage.stub.state = entry.toxic.new_state()
            stage.start(draw=True)

    async def remove_toxic(self, name: str) -> None:
        async with self._lock:
            stage = self._find(name)
            if stage is None or self.done:
                return
            await stage.stop()
            index = self._stages.index(stage)
            del self._stages[index]
            # What the stage still held, and whatever the stage before it is still sending,
            # goes on to the next stage in order; later chunks skip the removed stage.
            stage.stub.input.redirect(stage.stub.output)
            self._stages[index - 1].stub.output = stage.stub.output
            if stage.entry is not None and isinstance(stage.entry.toxic, CleansUp):
                await stage.entry.toxic.cleanup(stage.stub)

    def close(self) -> None:
        """Tear down at once (proxy disabled or deleted): no more reads or writes."""
        for task in list(self._tasks):
            task.cancel()
        for stage in self._stages:
            if stage.task is not None:
                stage.task.cancel()
        self._finish()

    def tasks(self) -> list[asyncio.Task[None]]:
        stage_tasks = [s.task for s in self._stages if s.task is not None]
        return [*self._tasks, *stage_tasks]

    # -- internals ----------------------------------------------------------------------------

    def _find(self, name: str) -> _Stage | None:
        for stage in self._stages:
            if stage.entry is not None and stage.entry.name == name:
                return stage
        return None

    def _enter_pipeline(self) -> None:
        self._disarm()  # from now on every byte goes through the stages, after those sent
        self._input = Channel()
        self._output = Channel()
        noop = _Stage(None, ToxicStub(self._input, self._output, self._rng))
        self._stages.append(noop)
        noop.start(draw=False)
        self._spawn(self._write_loop(self._output))

    def _append(self, entry: ToxicEntry, at: int | None = None) -> None:
        """Add a stage at the end of the line (or at index ``at``)."""
        index = len(self._stages) if at is None else at
        before = self._stages[index - 1]
        feed = Channel(_buffer_size(entry.toxic))
        stub = ToxicStub(feed, before.stub.output, self._rng)
        if isinstance(entry.toxic, Stateful):
            stub.state = entry.toxic.new_state()
        stage = _Stage(entry, stub)
        # Re-pointing is synchronous: what ``before`` already sent stays ahead of it.
        before.stub.output = feed
        self._stages.insert(index, stage)
        stage.start(draw=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _read(self) -> None:
        """A task reads the source from now on (unless one does already)."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())
            self._tasks.add(self._reader)
            self._reader.add_done_callback(self._tasks.discard)

    # -- the fast path: the reader forwards in its data callback while nothing is held back --

    def _park(self) -> bool:
        """On the fast path with nothing to read: no task; the reader's callbacks forward,
        and wake a task for anything else. False: a task must read (or go on reading)."""
        source = self._source
        if self.done or self._input is not None or not isinstance(source, ForwardingReader):
            return False
        if not source.idle:
            return False
        source.sink = self._forward
        source.wake = self._wake
        return True

    def _disarm(self) -> None:
        if isinstance(self._source, ForwardingReader):
            self._source.sink = None
            self._source.wake = None

    def _wake(self) -> None:
        """The reader holds what the sink did not take (a backlog, a closing destination),
        or its EOF or error: an ended stream ends the link now, the rest needs a task.
        (Only a parked link, on the fast path, is woken.)"""
        source = self._source
        if source.at_eof() or source.exception() is not None:
            self._finish()
        else:
            self._read()

    def _forward(self, data: bytes) -> bool:
        """Write at once; a closing destination or a backlog is left to a task (it waits
        for the drain, or sees the error) from this chunk or the next on."""
        transport = self._dest.transport
        if self.done or transport.is_closing():
            self._source_sink_off()
            return False
        self.received_bytes += len(data)
        transport.write(data)
        self.sent_bytes += len(data)
        if transport.get_write_buffer_size():
            self._source_sink_off()
        return True

    def _source_sink_off(self) -> None:
        """Stop forwarding in the callback; the reader still wakes a task for what comes."""
        if isinstance(self._source, ForwardingReader):
            self._source.sink = None

    async def _read_loop(self) -> None:
        try:
            while not self._park():
                data = await self._source.read(FAST_READ_SIZE if self._input is None else READ_SIZE)
                if not data:
                    break
                self.received_bytes += len(data)
                if self._input is not None:
                    await self._input.put(Chunk(data, monotonic()))
                else:
                    self._dest.write(data)
                    self.sent_bytes += len(data)
                    await self._dest.drain()
            else:
                return  # parked: the reader's callbacks take over
        except PEER_GONE:
            pass
        if self._input is not None:
            await self._input.put(EOF)
        else:
            self._finish()

    async def _write_loop(self, output: Channel) -> None:
        never = Interrupt()
        try:
            while True:
                item = await output.get(never)
                if item is EOF:
                    break
                assert isinstance(item, Chunk)
                self._dest.write(item.data)
                self.sent_bytes += len(item.data)
                await self._dest.drain()
        except PEER_GONE:
            pass
        self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._disarm()
        # Closing the destination makes the other link's reader see EOF on the same socket,
        # so the whole connection winds down (toxiproxy has no half-close either).
        with contextlib.suppress(Exception):
            self._dest.close()
        current = asyncio.current_task()
        for task in self.tasks():
            if task is not current:
                task.cancel()
        self._on_done(self)
