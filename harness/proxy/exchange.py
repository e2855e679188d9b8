"""The HTTP layer of one connection: where HTTP toxics act, request by request.

    client -> upstream Link:   [noop] -> RequestLayer  -> [TCP toxics] -> server
    server -> downstream Link: [noop] -> ResponseLayer -> [TCP toxics] -> client
                                           Exchange: decisions in request order (FIFO)

A proxy gets the layer on every connection, open or new, when its first HTTP toxic is added
(the connection's links enter their pipelines, one way, as for any toxic). The RequestLayer
reads each request head, asks the proxy's HTTP toxics *as they are now* what happens to it
(Decision: toxicity drawn per request), holds it for its delay, forwards it or swallows it,
and queues the decision. The ResponseLayer takes the decisions in the same order as the
answers come (HTTP/1.1 answers in request order, pipelined or not): passes the answer on,
delays it, replaces it, or spoils it; a made-up answer for a request the upstream never saw
is sent as soon as every answer before it has gone. What the layer cannot parse passes
through untouched, and is counted.
"""

from __future__ import annotations

import collections
import dataclasses
import random
from collections.abc import Callable

from harness.proxy.http1 import (
    Body,
    End,
    Framing,
    Head,
    MessageReader,
    Raw,
    request_framing,
)
from harness.proxy.link import ToxicEntry
from harness.proxy.stream import EOF, INTERRUPTED, Channel, Chunk, Direction
from harness.proxy.toxics.base import Toxic, ToxicStub
from harness.proxy.toxics.http import Decision, HttpToxic, spoil

__all__ = ["Exchange", "HttpCounters", "layer_entries"]


@dataclasses.dataclass
class HttpCounters:
    """One proxy's HTTP figures since it was created (what /metrics exports)."""

    requests: int = 0
    matched: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    faults: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )
    unparsable: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


class Exchange:
    """What the two layers of one connection share."""

    def __init__(
        self,
        toxics: Callable[[], list[ToxicEntry]],
        counters: HttpCounters,
        rng: random.Random,
    ) -> None:
        self.toxics = toxics
        self.counters = counters
        self.rng = rng
        self.pending: collections.deque[Decision] = collections.deque()
        self.passthrough = False  # a tunnel, or a side that could not parse: hands off
        self.answers: Channel | None = None  # the ResponseLayer's input, to wake it

    def decide(self, head: Head) -> Decision:
        counters = self.counters
        counters.requests += 1
        decision = Decision(head.method)
        for entry in self.toxics():
            toxic = entry.toxic
            assert isinstance(toxic, HttpToxic)
            if not toxic.matcher(head):
                continue
            counters.matched[entry.name] += 1
            if entry.toxicity < 1.0 and self.rng.random() >= entry.toxicity:
                continue
            upstream = entry.direction is Direction.UPSTREAM
            kind = toxic.apply(decision, head, self.rng, upstream)
            if kind is not None:
                counters.faults[(entry.name, kind)] += 1
        return decision

    def queue(self, decision: Decision) -> None:
        self.pending.append(decision)
        if decision.before_upstream and self.answers is not None:
            self.answers.put_nowait(Chunk(b"", 0.0))  # wakes the ResponseLayer

    def hands_off(self, direction: str, broken: bool) -> None:
        if broken:
            self.counters.unparsable[direction] += 1
        self.passthrough = True
        self.pending.clear()


@dataclasses.dataclass(frozen=True)
class _Layer(Toxic):
    exchange: Exchange
    synced: bool


@dataclasses.dataclass(frozen=True)
class RequestLayer(_Layer):
    async def pipe(self, stub: ToxicStub) -> None:
        ex = self.exchange
        reader = MessageReader(True, request_framing, synced=self.synced)
        swallowing = False  # the body of a request the upstream never sees
        out = bytearray()  # what this read gives the upstream, sent in one write
        while True:
            item = await stub.recv()
            if item is INTERRUPTED:
                return
            events = reader.finish() if item is EOF else reader.feed(item.data)  # type: ignore[union-attr]
            for event in events:
                if isinstance(event, Head) and not ex.passthrough:
                    decision = ex.decide(event)
                    if decision.request_delay_s > 0:
                        await _send(stub, out)  # what came before it is not held with it
                        if not await stub.sleep(decision.request_delay_s):
                            return
                    swallowing = decision.before_upstream
                    ex.queue(decision)
                    if swallowing and decision.close_after:
                        ex.hands_off("upstream", broken=False)  # its body may never come
                    if not swallowing:
                        out += event.raw
                    if request_framing(event) is Framing.TUNNEL:
                        ex.hands_off("upstream", broken=False)
                elif isinstance(event, End):
                    swallowing = swallowing and ex.passthrough
                elif not swallowing:
                    out += event.raw
            await _send(stub, out)
            if reader.broken and not ex.passthrough:
                ex.hands_off("upstream", broken=True)
            if item is EOF:
                await stub.close()
                return


async def _send(stub: ToxicStub, out: bytearray) -> None:
    if out:
        data = bytes(out)
        out.clear()
        await stub.send(Chunk(data, stub.now()))


@dataclasses.dataclass(frozen=True)
class ResponseLayer(_Layer):
    async def pipe(self, stub: ToxicStub) -> None:
        self.exchange.answers = stub.input
        await _Answers(self.exchange, stub, self.synced).run()


class _Answers:
    """The ResponseLayer's work on one connection: each answer with its request's decision."""

    def __init__(self, exchange: Exchange, stub: ToxicStub, synced: bool) -> None:
        self.ex = exchange
        self.stub = stub
        self.reader = MessageReader(False, self._framing, synced=synced)
        self.current: Decision | None = None  # the decision of the answer being read
        self.head: Head | None = None
        self.held = bytearray()  # an answer being spoiled, whole
        self.out = bytearray()  # what this read gives the client, sent in one write

    async def run(self) -> None:
        stub, reader = self.stub, self.reader
        while True:
            if self.current is None and not await self._made_up_answers():
                return
            await self._flush()
            item = await stub.recv()
            if item is INTERRUPTED:
                return
            events = reader.finish() if item is EOF else reader.feed(item.data)  # type: ignore[union-attr]
            for event in events:
                if not await self._on(event):
                    return
            await self._flush()
            if reader.broken and not self.ex.passthrough:
                self.ex.hands_off("downstream", broken=True)
            if item is EOF:
                await stub.close()
                return

    async def _send(self, data: bytes) -> None:
        self.out += data

    async def _flush(self) -> None:
        if self.out:
            data = bytes(self.out)
            self.out.clear()
            await self.stub.send(Chunk(data, self.stub.now()))

    async def _sleep(self, seconds: float) -> bool:
        await self._flush()  # what came before the held answer is not held with it
        return await self.stub.sleep(seconds)

    async def _close(self) -> None:
        await self._flush()
        await self.stub.close()

    async def _on(self, event: Head | Body | End | Raw) -> bool:
        """Act on one event; False when the connection was ended here."""
        current = self.current
        if isinstance(event, Head) and not self.ex.passthrough and not event.informational:
            return await self._on_head(event)
        if isinstance(event, Body) and current is not None:
            if current.spoil in ("truncate_body", "wrong_length"):
                self.held += event.raw
            elif current.answer is None and current.spoil is None:
                await self._send(event.raw)
            return True
        if isinstance(event, End):
            return await self._on_end()
        await self._send(event.raw)  # an informational head, or what is passed through
        return True

    async def _on_head(self, head: Head) -> bool:
        if not await self._made_up_answers():  # a new answer: those before it are due
            return False
        ex = self.ex
        current = ex.pending.popleft() if ex.pending else Decision("")
        self.current, self.head = current, head
        if current.response_delay_s > 0 and not await self._sleep(current.response_delay_s):
            return False
        if current.answer is not None:
            await self._send(current.answer)
        elif current.spoil in ("garbage_then_close", "empty_success"):
            await self._send(spoil(current.spoil, head, b"", False, ex.rng))
            if current.spoil == "garbage_then_close":
                await self._close()
                return False
        elif current.spoil is None:
            await self._send(head.raw)
        if _tunnel(head, current.method):
            ex.hands_off("downstream", broken=False)
        return True

    async def _on_end(self) -> bool:
        current, head = self.current, self.head
        self.current, self.head = None, None
        if current is None or head is None:
            return True
        if current.spoil in ("truncate_body", "wrong_length"):
            data = spoil(current.spoil, head, bytes(self.held), head.chunked, self.ex.rng)
            await self._send(data)
            await self._close()
            return False
        self.held.clear()
        if current.close_after:
            await self._close()
            return False
        return await self._made_up_answers()

    def _framing(self, head: Head) -> Framing:
        """How this answer's body ends: it depends on the request it answers (the first
        queued one the upstream saw: made-up answers go out before this one is taken)."""
        method = next((d.method for d in self.ex.pending if not d.before_upstream), "")
        if _tunnel(head, method):
            return Framing.TUNNEL
        if head.status < 200 or head.status in (204, 304) or method == "HEAD":
            return Framing.NONE
        if head.chunked:
            return Framing.CHUNKED
        length = head.content_length
        if length is not None:
            return Framing.LENGTH if length else Framing.NONE
        return Framing.UNTIL_CLOSE

    async def _made_up_answers(self) -> bool:
        """Send the answers to requests the upstream never saw that are next in line (no
        answer is being read); False when one of them closed the connection."""
        ex = self.ex
        while ex.pending and ex.pending[0].before_upstream:
            decision = ex.pending.popleft()
            if decision.response_delay_s > 0 and not await self._sleep(decision.response_delay_s):
                return False
            assert decision.answer is not None
            await self._send(decision.answer)
            if decision.close_after:
                await self._close()
                return False
        return True


def _tunnel(head: Head, method: str) -> bool:
    return head.status == 101 or (method == "CONNECT" and 200 <= head.status < 300)


def layer_entries(exchange: Exchange, synced: dict[Direction, bool]) -> dict[Direction, ToxicEntry]:
    """The two hidden stages (unnamed: the API never lists, updates or removes them);
    ``synced``: the direction has carried no byte yet, so it starts on a message."""
    up, down = Direction.UPSTREAM, Direction.DOWNSTREAM
    return {
        up: ToxicEntry("", "upstream", up, 1.0, RequestLayer(exchange, synced[up])),
        down: ToxicEntry("", "downstream", down, 1.0, ResponseLayer(exchange, synced[down])),
    }
