"""What a toxic is, the stub it runs on, and the registry of toxic types (= toxics/toxic.go).

A toxic is a typed config (integer attributes with defaults) plus one ``async pipe(stub)`` that
moves chunks from ``stub`` input to output. Optional powers are Protocols, so no code outside a
toxic's own file ever branches on its type:

    Buffered          the stage's input buffers ``buffer_size`` chunks (latency: 1024)
    Stateful          per-connection state that survives restarts (limit_data's byte count)
    CleansUp          runs when the toxic is removed from a live link (timeout closes it)
    ResetsConnection  connections accepted while it exists close with RST (reset_peer)
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, ClassVar, Protocol, runtime_checkable

from harness.proxy.stream import EOF, INTERRUPTED, TIMED_OUT, Channel, Chunk, Interrupt, Item
from harness.proxy.timers import monotonic
from harness.proxy.wire import json_kind

__all__ = [
    "TOXIC_TYPES",
    "Buffered",
    "CleansUp",
    "InvalidAttributes",
    "ResetsConnection",
    "Stateful",
    "Toxic",
    "ToxicStub",
    "decode_attributes",
    "pass_through",
    "register",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class InvalidAttributes(ValueError):
    """An attribute value the toxic cannot take; the message is the API's error text."""


@dataclasses.dataclass(frozen=True)
class Toxic:
    """Base of every toxic type; subclasses are frozen dataclasses of int attributes."""

    type_name: ClassVar[str] = ""

    def check(self) -> str | None:
        """A problem with these attribute values (a sentence), or None. Override per type."""
        return None

    async def pipe(self, stub: ToxicStub) -> None:
        raise NotImplementedError

    @classmethod
    def decode(cls, current: Toxic | None, raw: dict[str, Any]) -> Toxic:
        """This type from API attributes merged over ``current``; InvalidAttributes if bad."""
        return decode_attributes(cls, current, raw)

    def attributes(self) -> dict[str, Any]:
        """Every attribute, defaults included, in declaration order (the API's order)."""
        return dataclasses.asdict(self)


@runtime_checkable
class Buffered(Protocol):
    buffer_size: int


@runtime_checkable
class Stateful(Protocol):
    def new_state(self) -> object: ...


@runtime_checkable
class CleansUp(Protocol):
    async def cleanup(self, stub: ToxicStub) -> None: ...


@runtime_checkable
class ResetsConnection(Protocol):
    resets_connection: bool


TOXIC_TYPES: dict[str, type[Toxic]] = {}


def register(name: str, cls: type[Toxic]) -> None:
    """Make ``cls`` available under Toxiproxy's type name ``name``."""
    cls.type_name = name
    TOXIC_TYPES[name] = cls


def decode_attributes(cls: type[Toxic], current: Toxic | None, raw: dict[str, Any]) -> Toxic:
    """Merge ``raw`` JSON attributes over ``current`` (or the defaults) and validate them.

    Unknown keys are ignored and ``null`` keeps the current value, as Go's decoder does. Every
    value is checked before anything is applied, so a 400 never half-updates a toxic.
    """
    base = current if current is not None else cls()
    changes: dict[str, int] = {}
    names = {field.name for field in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in names or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidAttributes(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f".attributes.{key} of type int64"
            )
        if isinstance(value, float) or not INT64_MIN <= value <= INT64_MAX:
            raise InvalidAttributes(
                f"json: cannot unmarshal number {value} into Go struct field "
                f".attributes.{key} of type int64"
            )
        changes[key] = value
    toxic = dataclasses.replace(base, **changes)
    problem = toxic.check()
    if problem is not None:
        raise InvalidAttributes(f"invalid attributes for {cls.type_name}: {problem}")
    return toxic


class ToxicStub:
    """One toxic's stage on one link: input and output channels, an interrupt, and whether
    this link drew the toxic (toxicity is drawn per connection and direction, at stage start).
    """

    __slots__ = ("active", "closed", "input", "interrupt", "output", "rng", "state")

    def __init__(self, input_: Channel, output: Channel, rng: random.Random) -> None:
        self.input = input_
        self.output = output
        self.rng = rng
        self.interrupt = Interrupt()
        self.active = True
        self.closed = False
        self.state: object | None = None

    def now(self) -> float:
        return monotonic()

    async def recv(self, timeout_s: float | None = None) -> Item:
        """The next chunk, EOF, INTERRUPTED or (with ``timeout_s``) TIMED_OUT."""
        return await self.input.get(self.interrupt, timeout_s)

    async def next_chunk(self, timeout_s: float | None = None) -> Chunk | None:
        """The next chunk, or None when the stage must return: it was interrupted, or the
        stream ended (or ``timeout_s`` passed with no data), in which case it is closed."""
        item = await self.recv(timeout_s)
        if item is INTERRUPTED:
            return None
        if item is EOF or item is TIMED_OUT:
            await self.close()
            return None
        assert isinstance(item, Chunk)
        return item

    async def send(self, chunk: Chunk) -> None:
        """Forward a chunk; waits while the next stage is full, never drops it."""
        if chunk.data:
            await self.output.put(chunk, self.interrupt)

    async def sleep(self, seconds: float) -> bool:
        """True when the time ran out, False when interrupted first."""
        return await self.interrupt.sleep(seconds)

    async def close(self) -> None:
        """End the stream here: what was sent before still arrives, then the link closes."""
        if not self.closed:
            self.closed = True
            await self.output.put(EOF, self.interrupt)


async def pass_through(stub: ToxicStub) -> None:
    """The no-op stage: forward everything until interrupted or the stream ends."""
    while (chunk := await stub.next_chunk()) is not None:
        await stub.send(chunk)
