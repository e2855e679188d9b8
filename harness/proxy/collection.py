"""The proxy server's state: every proxy and, per proxy, its toxic chains (= *_collection.go).

    ProxyCollection --owns--> Proxy --each has--> ToxicCollection --reaches--> live Links

Every change to the state happens under the collection's lock; a change to the toxic chain is
made first (synchronously), then carried to each live link, so a connection accepted in between
starts with the new chain and is never changed twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import weakref
from collections.abc import Awaitable, Callable

from harness.proxy import errors
from harness.proxy.errors import ApiError
from harness.proxy.exchange import Exchange, HttpCounters, layer_entries
from harness.proxy.link import Link, ToxicEntry
from harness.proxy.server import Connection, Proxy
from harness.proxy.stream import Direction, parse_direction
from harness.proxy.toxics import TOXIC_TYPES
from harness.proxy.toxics.base import (
    InvalidAttributes,
    ResetsConnection,
    Toxic,
)
from harness.proxy.toxics.http import HttpToxic

__all__ = ["ProxyCollection", "ProxySpec", "ToxicCollection", "ToxicSpec"]

# How long an API call waits for live links to take a toxic change before answering anyway;
# the change still completes on every link, in order (each link serialises its own changes).
APPLY_WAIT_S = 2.0


@dataclasses.dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class ToxicSpec:
    """A create or update request for a toxic, already type-checked by the API layer."""

    name: str = ""
    type: str = ""
    stream: str | None = None
    toxicity: float | None = None
    attributes: dict[str, object] | None = None


async def _apply(calls: list[Awaitable[None]]) -> None:
    if not calls:
        return
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.wait(tasks, timeout=APPLY_WAIT_S)


class ToxicCollection:
    """The upstream and downstream toxic chains of one proxy and the links they reach.

    HTTP toxics are listed in the chains like any toxic, but no link runs them as stages:
    each connection's HTTP layer (exchange.py) asks them about every request, as they are
    at that moment, so a change reaches open connections with the next request."""

    def __init__(self, rng: random.Random, connections: set[Connection]) -> None:
        self.chains: dict[Direction, list[ToxicEntry]] = {d: [] for d in Direction}
        self.links: set[Link] = set()
        self.http = HttpCounters()
        self._rng = rng
        self._connections = connections  # the proxy's own set of open connections
        self._layered: weakref.WeakSet[Connection] = weakref.WeakSet()

    def http_entries(self) -> list[ToxicEntry]:
        return [entry for entry in self.entries() if isinstance(entry.toxic, HttpToxic)]

    def _layers(self, conn: Connection) -> dict[Direction, ToxicEntry]:
        self._layered.add(conn)
        synced = {link.direction: link.received_bytes == 0 for link in conn.links()}
        return layer_entries(Exchange(self.http_entries, self.http, self._rng), synced)

    def entries(self) -> list[ToxicEntry]:
        """Upstream toxics in the order added, then downstream ones (Toxiproxy's listing)."""
        return [*self.chains[Direction.UPSTREAM], *self.chains[Direction.DOWNSTREAM]]

    def find(self, name: str) -> ToxicEntry:
        for entry in self.entries():
            if entry.name == name:
                return entry
        raise ApiError(*errors.TOXIC_NOT_FOUND)

    def attach(self, conn: Connection) -> None:
        """Start a new connection's links with the current chains (and the HTTP layer
        first, when the proxy has an HTTP toxic)."""
        http = any(isinstance(e.toxic, HttpToxic) for c in self.chains.values() for e in c)
        layers = self._layers(conn) if http else {}
        for link in conn.links():
            chain = [e for e in self.chains[link.direction] if not isinstance(e.toxic, HttpToxic)]
            if any(isinstance(e.toxic, ResetsConnection) for e in chain):
                conn.reset_on_close()
            if link.direction in layers:
                chain.insert(0, layers[link.direction])
            self.links.add(link)
            link.start(chain)

    def detach(self, link: Link) -> None:
        self.links.discard(link)

    def _links(self, direction: Direction) -> list[Link]:
        return [link for link in self.links if link.direction == direction and not link.done]

    async def add(self, spec: ToxicSpec) -> ToxicEntry:
        stream = "downstream" if spec.stream is None else spec.stream
        direction = parse_direction(stream)
        if direction is None:
            raise ApiError(*errors.INVALID_STREAM)
        name = spec.name or f"{spec.type}_{stream}"
        cls = TOXIC_TYPES.get(spec.type)
        if cls is None:
            raise ApiError(*errors.INVALID_TOXIC_TYPE)
        if any(entry.name == name for entry in self.entries()):
            raise ApiError(*errors.TOXIC_EXISTS)
        toxic = _decode(cls, None, spec.attributes)
        toxicity = 1.0 if spec.toxicity is None else spec.toxicity
        entry = ToxicEntry(name, stream, direction, toxicity, toxic)
        self.chains[direction].append(entry)
        if isinstance(toxic, HttpToxic):
            await _apply(self._layer_open_connections())
        else:
            await _apply([link.add_toxic(entry) for link in self._links(direction)])
        return entry

    def _layer_open_connections(self) -> list[Awaitable[None]]:
        """Give every open connection without one an HTTP layer (made once, kept)."""
        calls: list[Awaitable[None]] = []
        for conn in list(self._connections):
            if conn in self._layered or conn.closed:
                continue
            layers = self._layers(conn)
            calls += [link.add_layer(layers[link.direction]) for link in conn.links()]
        return calls

    async def update(self, name: str, spec: ToxicSpec) -> ToxicEntry:
        current = self.find(name)
        toxic = _decode(type(current.toxic), current.toxic, spec.attributes)
        toxicity = current.toxicity if spec.toxicity is None else spec.toxicity
        entry = dataclasses.replace(current, toxic=toxic, toxicity=toxicity)
        chain = self.chains[current.direction]
        chain[chain.index(current)] = entry
        await _apply([link.update_toxic(entry) for link in self._links(entry.direction)])
        return entry

    async def remove(self, name: str) -> None:
        entry = self.find(name)
        self.chains[entry.direction].remove(entry)
        await _apply([link.remove_toxic(name) for link in self._links(entry.direction)])

    async def remove_all(self) -> None:
        for entry in self.entries():
            await self.remove(entry.name)


def _decode(cls: type[Toxic], current: Toxic | None, raw: dict[str, object] | None) -> Toxic:
    try:
        return cls.decode(current, raw or {})
    except InvalidAttributes as exc:
        raise ApiError.bad_body(str(exc)) from None


LinkDone = Callable[[Proxy, Link], None]


class ProxyCollection:
    """Every proxy by name; create, update, delete, populate and reset."""

    def __init__(self, rng: random.Random, on_link_done: LinkDone | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.toxics: dict[str, ToxicCollection] = {}
        self._rng = rng
        self._on_link_done = on_link_done
        self._lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(*errors.PROXY_NOT_FOUND)
        return proxy

    def _new_proxy(self, spec: ProxySpec) -> Proxy:
        toxics: ToxicCollection  # bound below; connections arrive once the proxy starts
        proxy = Proxy(
            spec.name,
            spec.listen,
            spec.upstream,
            rng=self._rng,
            new_connection=lambda _proxy, conn: toxics.attach(conn),
            link_done=self._link_finished,
        )
        toxics = ToxicCollection(self._rng, proxy.connections)
        self.toxics[spec.name] = toxics
        return proxy

    def _link_finished(self, proxy: Proxy, link: Link) -> None:
        toxics = self.toxics.get(proxy.name)
        if toxics is not None:
            toxics.detach(link)
        if self._on_link_done is not None:
            self._on_link_done(proxy, link)

    async def create(self, spec: ProxySpec) -> Proxy:
        async with self._lock:
            return await self._create(spec)

    async def _create(self, spec: ProxySpec) -> Proxy:
        if spec.name in self.proxies:
            raise ApiError(*errors.PROXY_EXISTS)
        proxy = self._new_proxy(spec)
        if spec.enabled:
            try:
                await proxy.start()
            except ApiError:
                del self.toxics[spec.name]
                raise
        self.proxies[spec.name] = proxy
        return proxy

    async def update(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        async with self._lock:
            proxy = self.get(name)
            if await proxy.differs(listen, upstream):
                await proxy.stop()
                proxy.listen, proxy.upstream = listen, upstream
            if enabled and not proxy.enabled:
                await proxy.start()
            elif not enabled and proxy.enabled:
                await proxy.stop()
            return proxy

    async def delete(self, name: str) -> None:
        async with self._lock:
            proxy = self.get(name)
            await proxy.stop()
            del self.proxies[name]
            del self.toxics[name]

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Add-or-replace each proxy in order; stop at the first failure (no rollback).

        On failure the ApiError carries the proxies handled so far in ``.populated``.
        """
        async with self._lock:
            done: list[Proxy] = []
            try:
                for spec in specs:
                    existing = self.proxies.get(spec.name)
                    if existing is not None:
                        if not await existing.differs(spec.listen, spec.upstream):
                            done.append(existing)
                            continue
                        await existing.stop()
                        del self.proxies[spec.name]
                    done.append(await self._create(spec))
            except ApiError as exc:
                exc.populated = done
                raise
            return done

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic; live connections stay."""
        async with self._lock:
            for name, proxy in sorted(self.proxies.items()):
                await proxy.start()
                await self.toxics[name].remove_all()

    async def close(self) -> None:
        async with self._lock:
            for proxy in self.proxies.values():
                await proxy.stop()
