"""A proxy: one listener; every accepted client gets a fresh upstream connection and two links
(= proxy.go).

    client --accept--> Proxy --dial upstream--> Connection(upstream Link, downstream Link)

The listener is read by a callback that accepts every waiting client and gives each one task:
dial the upstream, then adopt the client's socket and start the links in the same loop turn
(so the client's first bytes, waiting in the kernel meanwhile, take the links' fast path).
A client whose upstream cannot be dialled is closed unread, as Toxiproxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import struct
from collections.abc import Callable

from harness.proxy.errors import ApiError
from harness.proxy.forwarding import adopt_forwarding_socket, open_forwarding_connection
from harness.proxy.link import Link
from harness.proxy.stream import Direction

__all__ = ["Connection", "Proxy", "resolve_listen", "split_host_port"]

log = logging.getLogger("harness.proxy")

DIAL_TIMEOUT_S = 5.0
BACKLOG = 4096
ACCEPT_BATCH = 256  # clients accepted per readiness of the listener, before the loop moves on
ACCEPT_RETRY_S = 1.0  # out of file descriptors: stop accepting this long (as asyncio does)
# accept() errors that mean "not now" for the whole listener, not "this client failed"
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
STREAM_LIMIT = 256 * 1024  # a stream buffers up to twice this before pausing its socket


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` / ``:port`` -> (host, port), with Go's error texts."""
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            raise ApiError(500, f"listen tcp: address {address}: missing ']' in address")
        host, rest = address[1:close], address[close + 1 :]
        if not rest.startswith(":"):
            raise ApiError(500, f"listen tcp: address {address}: missing port in address")
        port_text = rest[1:]
    else:
        if ":" not in address:
            raise ApiError(500, f"listen tcp: address {address}: missing port in address")
        host, port_text = address.rsplit(":", 1)
        if ":" in host:
            raise ApiError(500, f"listen tcp: address {address}: too many colons in address")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ApiError(500, f"listen tcp: address {address}: invalid port")
    return host, int(port_text)


def _format(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def resolve_listen(address: str) -> tuple[str, int, int]:
    """(ip, port, family) for a listen address; names resolve to IPv4 first, as Go's do."""
    host, port = split_host_port(address)
    if host == "":
        return "::", port, socket.AF_INET6
    loop = asyncio.get_running_loop()
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        if infos:
            ip = str(infos[0][4][0])
            return ip, port, family
    raise ApiError(500, f"listen tcp: lookup {host}: no such host")


class Connection:
    """One client and its upstream, joined by an upstream and a downstream link."""

    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        rng: random.Random,
        on_closed: Callable[[Connection, Link], None],
    ) -> None:
        self._writers = (client[1], server[1])
        self._on_closed = on_closed
        self.upstream = Link(Direction.UPSTREAM, client[0], server[1], rng, self._link_done)
        self.downstream = Link(Direction.DOWNSTREAM, server[0], client[1], rng, self._link_done)
        self.closed = False

    def links(self) -> tuple[Link, Link]:
        return self.upstream, self.downstream

    def reset_on_close(self) -> None:
        """SO_LINGER 0: closing sends RST, not FIN (a reset_peer toxic is present)."""
        for writer in self._writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _link_done(self, link: Link) -> None:
        self._on_closed(self, link)
        if self.upstream.done and self.downstream.done:
            self.closed = True

    def close(self) -> None:
        """Drop the connection now (proxy disabled, deleted or moved): peers see EOF."""
        for link in self.links():
            link.close()
        for writer in self._writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()


class Proxy:
    """A named listener forwarding to ``upstream``; its toxics live in ``toxics``."""

    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        *,
        rng: random.Random,
        new_connection: Callable[[Proxy, Connection], None],
        link_done: Callable[[Proxy, Link], None],
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.connections: set[Connection] = set()
        self._rng = rng
        self._new_connection = new_connection
        self._link_done = link_done
        self._listener: socket.socket | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.enabled:
            return
        ip, port, family = await resolve_listen(self.listen)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and ip == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((ip, port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ApiError(500, f"listen tcp {_format(ip, port)}: bind: {reason}") from None
        self._listener = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept_waiting, sock)
        bound = sock.getsockname()
        self.listen = _format(bound[0], bound[1])
        self.enabled = True
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Close the listener first (new connects are refused), then every connection."""
        self.enabled = False
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in list(self._pending):
            task.cancel()
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()
        await asyncio.sleep(0)  # let cancelled link tasks unwind

    async def differs(self, listen: str, upstream: str) -> bool:
        """Toxiproxy's rule: a change of resolved listen address or of the upstream string."""
        ip, port, _ = await resolve_listen(listen)
        return _format(ip, port) != self.listen or upstream != self.upstream

    def _accept_waiting(self, listener: socket.socket) -> None:
        """The listener is readable: accept every client waiting, a task each."""
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPT_BATCH):
            try:
                client, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS:  # retried later, not in a busy loop
                    log.warning(
                        "proxy %s: accept: %s; pausing for %g s", self.name, exc, ACCEPT_RETRY_S
                    )
                    loop.remove_reader(listener.fileno())
                    loop.call_later(ACCEPT_RETRY_S, self._resume_accepting, listener)
                return  # any other error: this client is gone; the next readiness goes on
            client.setblocking(False)
            task = loop.create_task(self._serve(client))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self._listener is listener:  # not stopped (nor restarted) meanwhile
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept_waiting, listener)

    async def _serve(self, client: socket.socket) -> None:
        """Dial the upstream, then join the two: links start in the turn the client's stream
        is made, before its first bytes are read."""
        adopted = False
        try:
            server = await self._dial()
            if server is None:
                return
            if not self.enabled:
                server[1].transport.abort()
                return
            try:
                stream = await adopt_forwarding_socket(client, STREAM_LIMIT)
            except BaseException:
                server[1].transport.abort()
                raise
            adopted = True
            # TCP_NODELAY: asyncio's socket transports set it on every TCP socket already.
            conn = Connection(stream, server, self._rng, self._on_link_done)
            self.connections.add(conn)
            self._new_connection(self, conn)
        finally:
            if not adopted:
                # unread: the client sees a prompt EOF (a reset if it had sent something)
                client.close()

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            host, port = split_host_port(self.upstream)
            async with asyncio.timeout(DIAL_TIMEOUT_S):  # no extra task per dial, as wait_for
                return await open_forwarding_connection(host, port, STREAM_LIMIT)
        except (OSError, ApiError, TimeoutError, UnicodeError) as exc:
            log.info("proxy %s: upstream %s unreachable: %s", self.name, self.upstream, exc)
            return None

    def _on_link_done(self, conn: Connection, link: Link) -> None:
        self._link_done(self, link)
        if conn.upstream.done and conn.downstream.done:
            self.connections.discard(conn)
