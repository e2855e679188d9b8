"""What every service shares: JSON errors, SQLite with durable writes, link clients, health,
Prometheus metrics and a sliding window of request outcomes for the status page.

    request -> RequestStats (pure ASGI: counts, latency, X-Build) -> service app
    service -> Database (one thread per SQLite file, WAL + synchronous=FULL)
    service -> link_client(settings, "upload-cdn") -> proxy -> other service
               (a 2xx whose JSON does not parse raises SpoiledAnswer: no answer at all)
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import sqlite3
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_platform.settings import Settings

__all__ = [
    "TLS",
    "Database",
    "RequestStats",
    "SpoiledAnswer",
    "Window",
    "json_error",
    "link_client",
    "metrics_endpoint",
    "reject_spoiled",
    "spoiled",
]

T = TypeVar("T")


def json_error(
    status: int, message: str, retry_after_s: int | None = None, **extra: Any
) -> Response:
    """Every error is JSON with a sentence; retryable ones carry Retry-After."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    body = {"error": message, "retryable": retry_after_s is not None, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


WAL_WAIT_S = 10.0


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Two services that open one new database at the same moment (moderation and its worker,
    forked a millisecond apart) race to switch it to WAL, and SQLite refuses the loser at once
    ("database is locked": a journal-mode change does not wait on the busy handler): retry."""
    deadline = time.monotonic() + WAL_WAIT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Database:
    """A SQLite file used from one worker thread; every write is committed with fsync.

    WAL + synchronous=FULL: a commit that returned is on disk, so a kill -9 of this process
    (or the machine) loses nothing acknowledged.
    """

    def __init__(self, path: Path, schema: str) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=path.stem)
        self._conn: sqlite3.Connection | None = None
        self._path = path
        self._executor.submit(self._open, schema).result()

    def _open(self, schema: str) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        conn.row_factory = sqlite3.Row
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(schema)
        self._conn = conn

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None
        return work(self._conn)

    async def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the row count."""

        def work(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                return conn.execute(sql, params).rowcount

        return await self.run(work)

    async def many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Several statements in one transaction (all or nothing)."""
        batch = list(statements)

        def work(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for sql, params in batch:
                    conn.execute(sql, params)

        await self.run(work)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await self.run(lambda conn: [dict(r) for r in conn.execute(sql, params)])

    async def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()

        self._executor.submit(shut).result()
        self._executor.shutdown()


# One TLS context for every client (links are plain HTTP): httpx builds a new one per client
# otherwise, reading the CA bundle each time (40 ms, 26 times at a platform's start). Made at
# import, so services forked from a preloading process (the topology's preload) share it.
TLS = ssl.create_default_context()


class SpoiledAnswer(httpx.HTTPError):
    """A success whose JSON does not parse (empty, cut short): a failed call, whatever its
    status says, so that every caller's ``except httpx.HTTPError`` falls back as it does for a
    refused or timed-out one, and nobody stores, caches or passes on a wrong answer."""


def _json_success(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300 and "json" in response.headers.get("content-type", "")


def _unparsable(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return True
    return False


def spoiled(response: httpx.Response) -> bool:
    """A 2xx JSON answer (read already) whose body does not parse."""
    return _json_success(response) and _unparsable(response.content)


async def reject_spoiled(response: httpx.Response) -> None:
    """A response hook: raise SpoiledAnswer for a spoiled answer (spoiled()); only a JSON
    success is read here, where the caller would read it anyway."""
    if _json_success(response):
        await response.aread()
        if _unparsable(response.content):
            request = response.request
            raise SpoiledAnswer(
                f"{request.method} {request.url.path}: a {response.status_code} whose JSON"
                " does not parse"
            )


def link_client(
    settings: Settings, link: str, timeout_s: float, pool: int = 50, checks_bodies: bool = True
) -> httpx.AsyncClient:
    """An HTTP client for one link (through its proxy), with its own pool: a bulkhead. It
    rejects spoiled answers (reject_spoiled) unless ``checks_bodies`` is off: the gateway
    checks its upstreams' answers itself (retried, and its defect gateway-trusts-bodies)."""
    return httpx.AsyncClient(
        base_url=settings.link_url(link),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0)),
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        headers={"X-Caller": settings.service},
        verify=TLS,
        trust_env=False,  # service-to-service calls never go through an HTTP proxy from env
        event_hooks={"response": [reject_spoiled]} if checks_bodies else {},
    )


class Window:
    """Request outcomes of the last ``span_s`` seconds: error rate, p95, count. 5 s: what the
    status page reads, so it is never more than a few seconds behind a recovery."""

    def __init__(self, span_s: float = 5.0) -> None:
        self.span_s = span_s
        self._events: collections.deque[tuple[float, bool, float]] = collections.deque()

    def add(self, ok: bool, latency_s: float) -> None:
        now = time.monotonic()
        self._events.append((now, ok, latency_s))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self.span_s:
            self._events.popleft()

    def summary(self) -> dict[str, float]:
        self._trim(time.monotonic())
        count = len(self._events)
        if not count:
            return {"count": 0, "error_rate": 0.0, "p95_s": 0.0}
        errors = sum(1 for _, ok, _ in self._events if not ok)
        latencies = sorted(latency for _, _, latency in self._events)
        return {
            "count": count,
            "error_rate": errors / count,
            "p95_s": latencies[min(count - 1, int(0.95 * count))],
        }


class RequestStats:
    """Pure ASGI: Prometheus counters and latency per route, the X-Build header, and a
    sliding window per route (``windows``) for the status page's signals."""

    def __init__(
        self, app: ASGIApp, build: str, registry: CollectorRegistry, windows: dict[str, Window]
    ) -> None:
        self.app = app
        self.build = build.encode()
        self.windows = windows
        self.requests = Counter(
            "http_requests", "Requests served", ["route", "status"], registry=registry
        )
        self.latency = Histogram("http_request_seconds", "Latency", ["route"], registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if not any(name.lower() == b"x-build" for name, _ in headers):
                    message["headers"] = [*headers, (b"x-build", self.build)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_name(scope)
            elapsed = time.perf_counter() - start
            self.requests.labels(route, str(status)).inc()
            self.latency.labels(route).observe(elapsed)
            if route not in ("/healthz", "/metrics", "/signals", "unmatched"):
                self.windows[route].add(status < 500, elapsed)


def _route_name(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Any]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return metrics
