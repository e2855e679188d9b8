"""gateway: the only client entry. Auth, routing, and the protections that keep a partial
failure partial.

    client -> gateway (FastAPI, OpenAPI at /openapi.json)
      shed: more than MAX_IN_FLIGHT requests at once -> 503 + Retry-After, at once
      -> Upstream(name, link): own connection pool (bulkhead), timeout, circuit breaker,
         one retry layer for idempotent reads (jittered backoff, retry budget)
      -> upload | feed | search | cdn-edge | status ; view/like events -> outbox -> metrics

Search failures become cached results marked degraded, or a fast 503 + Retry-After. Events
are acknowledged into a durable outbox and shipped in batches, so a slow metrics service never
slows a user and loses nothing. Catalogued defects switch each protection off on its own
(gateway-shared-pool, -no-bulkhead, -retry-storm, -no-breaker, -no-failover, -no-shedding,
search-no-stale-cache, events-fire-and-forget); the fragile profile has them all: one small
pool across upstreams, long waits, three tries of everything, no shedding, so a slow search
starves the feed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mock_platform.common import TLS, Database, Window, json_error, link_client, spoiled
from mock_platform.failover import RegionSelector
from mock_platform.kit import ServiceKit
from mock_platform.resilience import CircuitBreaker, RetryBudget, backoff_s
from mock_platform.rollout import RolloutController, RolloutError
from mock_platform.settings import Settings
from mock_platform.validation import BadInput, read_json

MAX_IN_FLIGHT = 256
BROKEN_BODY = "answered a success with a broken body"
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY, video_id TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL);
"""


def make_token(secret: bytes, creator: str) -> str:
    """A creator's bearer token: ``<creator>.<hmac>``; the load generator makes the same."""
    return f"{creator}.{hmac.new(secret, creator.encode(), hashlib.sha256).hexdigest()[:32]}"


class UpstreamFailed(Exception):
    def __init__(self, upstream: str, reason: str, status: int = 503) -> None:
        super().__init__(f"{upstream}: {reason}")
        self.upstream = upstream
        self.reason = reason
        self.status = status


class Upstream:
    """One upstream behind one link: pool, timeout, breaker, retries."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        base_url: str,
        settings: Settings,
        limit: int = 64,
    ) -> None:
        self.name = name
        self.limit = limit  # bulkhead: calls in flight to this upstream at most
        self.active = 0
        self.observer: Callable[[bool, float], None] | None = None
        self.client = client
        self.base_url = base_url  # "" when the client already points at the link
        self.bulkhead = not settings.has("gateway-no-bulkhead")
        self.storm = settings.has("gateway-retry-storm")  # 3 tries, no budget, no backoff
        self.guarded = not settings.has("gateway-no-breaker")
        self.checks_bodies = not settings.has("gateway-trusts-bodies")
        stuck = settings.has("breaker-never-half-opens")  # open once, open for good
        self.breaker = CircuitBreaker(open_s=math.inf) if stuck else CircuitBreaker()
        self.budget = RetryBudget()
        self.calls = 0  # requests the gateway made of this upstream (before retries)
        self.attempts = 0  # tries, retries included: attempts / calls is the amplification

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.bulkhead and self.active >= self.limit:
            # A full bulkhead rejects at once instead of queueing for a connection.
            raise UpstreamFailed(self.name, "too many requests in flight (bulkhead full)")
        self.active += 1
        try:
            return await self._call(method, path, **kwargs)
        finally:
            self.active -= 1

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        retryable = method == "GET"
        attempts = 3 if self.storm else (2 if retryable else 1)
        self.calls += 1
        self.budget.request()
        last = "no attempt"
        answered: httpx.Response | None = None
        for attempt in range(attempts):
            if self.guarded and not self.breaker.allow():
                raise UpstreamFailed(self.name, "circuit open")
            if attempt and not self.storm:
                if not self.budget.try_retry():
                    if answered is not None:
                        return answered  # no retry left: the upstream's own answer
                    break
                await asyncio.sleep(backoff_s(attempt))
            self.attempts += 1
            started = time.monotonic()
            try:
                response = await self.client.request(method, self.base_url + path, **kwargs)
            except httpx.TimeoutException:
                last = "timed out"
                self._record(False, started)
                if not self.storm:
                    break  # the deadline is spent: a retry would only double the wait
                continue
            except httpx.HTTPError as exc:
                last = f"unreachable ({type(exc).__name__})"
                self._record(False, started)
                continue
            if self.checks_bodies and spoiled(response):
                # A success whose JSON does not parse (empty, cut short, declared too short)
                # is not a success: retried like a 502, never cached or passed on.
                last = BROKEN_BODY
                self._record(False, started)
                continue
            # A 500/502 from an upstream that answered is that request's failure (an edge
            # missing one video during an origin outage); only "I am unavailable" (503/504)
            # counts against the upstream as a whole, like a refused or timed-out connection.
            available = response.status_code not in (503, 504)
            self._record(response.status_code < 500, started, breaker_ok=available)
            if response.status_code < 500 or attempt == attempts - 1:
                return response
            answered = response
            last = f"answered {response.status_code}"
        raise UpstreamFailed(self.name, last, 502 if last == BROKEN_BODY else 503)

    def _record(self, ok: bool, started: float, breaker_ok: bool | None = None) -> None:
        if self.guarded:  # gateway-no-breaker has no breaker at all
            self.breaker.record(ok if breaker_ok is None else breaker_ok)
        if self.observer is not None:  # every attempt counts: a retry must not hide a 500
            self.observer(ok, time.monotonic() - started)


def _passthrough(response: httpx.Response) -> Response:
    keep = {
        "content-type",
        "retry-after",
        "content-range",
        "accept-ranges",
        "x-cache",
        "x-cache-status",
        "age",
        "x-build",
        "x-feed-degraded",
    }
    headers = {k: v for k, v in response.headers.items() if k.lower() in keep}
    return Response(response.content, response.status_code, headers=headers)


class Gateway:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        self.kit = kit
        shared: httpx.AsyncClient | None = None
        if settings.has("gateway-shared-pool"):
            shared = httpx.AsyncClient(
                timeout=10.0, limits=httpx.Limits(max_connections=10), verify=TLS
            )
            kit.on_close(shared.aclose)
        timeouts = {
            "upload": 10.0,
            "feed-a": 2.0,
            "feed-b": 2.0,
            "search": 0.8,
            "search-canary": 0.8,
            "cdn": 3.0,
            "status": 2.0,
        }
        links = {
            "upload": "gateway-upload",
            "feed-a": "gateway-feed-a",
            "feed-b": "gateway-feed-b",
            "search": "gateway-search",
            "search-canary": "gateway-search-canary",
            "cdn": "gateway-cdn",
            "status": "gateway-status",
        }
        self.upstreams: dict[str, Upstream] = {}
        for name, link in links.items():
            if shared is not None:
                self.upstreams[name] = Upstream(name, shared, settings.link_url(link), settings)
                continue
            # the gateway checks its upstreams' answers itself (Upstream.call)
            client = link_client(settings, link, timeouts[name], pool=64, checks_bodies=False)
            kit.on_close(client.aclose)
            self.upstreams[name] = Upstream(name, client, "", settings)
        canary_health = link_client(settings, "gateway-search-canary", 1.0, pool=2)
        kit.on_close(canary_health.aclose)
        self.rollouts = RolloutController(settings, {"search-canary": canary_health})
        kit.on_close(self.rollouts.close)
        for name, canary in (("search", False), ("search-canary", True)):
            self.upstreams[name].observer = functools.partial(
                self.rollouts.record, "search", canary
            )
        spec = dict(settings.own.get("failover", {}).get("feed") or {})
        regions = list(spec.pop("regions", ["feed-a", "feed-b"]))
        if settings.has("region-never-fails-back"):  # the hold-down never ends
            spec["hold_s"] = math.inf
        self.regions = RegionSelector(
            regions, {r: self.upstreams[r].client for r in regions}, **spec
        )
        self.failover = not settings.has("gateway-no-failover")
        if self.failover:
            kit.every(self.regions.interval_s, self.regions.check_all)
        self.metrics = link_client(settings, "gateway-metrics", 2.0)
        kit.on_close(self.metrics.aclose)
        self.outbox = Database(settings.database("gateway-outbox"), OUTBOX_SCHEMA)
        self.shipping_failing_since: float | None = None  # first failed shipment of a backlog
        kit.on_close(self.outbox.close)
        self.search_cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self.search_served = Window()  # ok = fresh results, not ok = cached (degraded)
        self._sending: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.shed = 0
        self.shedding = not settings.has("gateway-no-shedding")
        self.fire_and_forget = settings.has("events-fire-and-forget")
        self.stale_ok = not settings.has("search-no-stale-cache")
        kit.every(0.2, self.ship_events)

    # -- protections ---------------------------------------------------------------------

    def admit(self) -> Response | None:
        if self.shedding and self.in_flight >= MAX_IN_FLIGHT:
            self.shed += 1
            return json_error(503, "overloaded: shedding load", 1)
        return None

    def creator(self, authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise BadInput("a creator's bearer token is required", 401)
        token = authorization.removeprefix("Bearer ").strip()
        creator, _, _ = token.partition(".")
        expected = make_token(self.settings.token_secret, creator)
        if not creator or not hmac.compare_digest(token, expected):
            raise BadInput("invalid bearer token", 401)
        return creator

    async def forward(self, upstream: str, method: str, path: str, **kwargs: Any) -> Response:
        try:
            return _passthrough(await self.upstreams[upstream].call(method, path, **kwargs))
        except UpstreamFailed as exc:
            return json_error(exc.status, f"{exc.upstream} unavailable: {exc.reason}", 2)

    # -- feed: the active region, one retry on the other -----------------------------------

    async def feed(self, params: dict[str, Any]) -> Response:
        region = self.regions.active if self.failover else "feed-a"
        try:
            return _passthrough(await self.upstreams[region].call("GET", "/feed", params=params))
        except UpstreamFailed as exc:
            other = self.regions.fallback() if self.failover else None
            if other is None:
                return json_error(exc.status, f"feed unavailable: {exc.reason}", 2)
        try:
            return _passthrough(await self.upstreams[other].call("GET", "/feed", params=params))
        except UpstreamFailed as exc:
            return json_error(exc.status, f"feed unavailable in every region: {exc.reason}", 2)

    # -- search: canary split, cached or fast failure ---------------------------------------

    async def _search_call(self, q: str, limit: int) -> httpx.Response:
        """Stable or canary by the rollout's weight; attempts feed the judge (observer)."""
        canary = self.rollouts.use_canary("search")
        upstream = self.upstreams["search-canary" if canary else "search"]
        return await upstream.call("GET", "/search", params={"q": q, "limit": limit})

    async def search(self, q: str, limit: int) -> Response:
        key = f"{q}\x00{limit}"
        try:
            response = await self._search_call(q, limit)
        except UpstreamFailed as exc:
            cached = self.search_cache.get(key) if self.stale_ok else None
            if cached is not None:
                self.search_served.add(False, 0)
                try:
                    body = {**json.loads(cached), "degraded": True, "reason": exc.reason}
                except ValueError:  # gateway-trusts-bodies cached a broken answer: as it is
                    return Response(cached, media_type="application/json")
                return JSONResponse(body, headers={"X-Search-Degraded": "1"})
            return json_error(503, f"search unavailable: {exc.reason}", 2)
        if response.status_code == 200:
            self.search_served.add(True, 0)
            self.search_cache[key] = response.content
            self.search_cache.move_to_end(key)
            while len(self.search_cache) > 1000:
                self.search_cache.popitem(last=False)
        return _passthrough(response)

    # -- events: durable outbox, shipped in batches ----------------------------------------

    async def event(self, video_id: str, kind: str, event_id: str | None) -> Response:
        event = {"event_id": event_id or uuid.uuid4().hex, "video_id": video_id, "kind": kind}
        if self.fire_and_forget:  # lost if metrics is slow or down
            task = asyncio.create_task(self._send_once([event]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        else:
            await self.outbox.write(
                "INSERT OR IGNORE INTO outbox (event_id, video_id, kind, at) VALUES (?,?,?,?)",
                (event["event_id"], video_id, kind, time.time()),
            )
        return JSONResponse({"accepted": True, "event_id": event["event_id"]}, status_code=202)

    async def _send_once(self, events: list[dict[str, Any]]) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.metrics.post("/events", json=events, timeout=0.5)

    async def ship_events(self) -> None:
        if self.fire_and_forget:
            return
        batch = await self.outbox.all(
            "SELECT event_id, video_id, kind FROM outbox ORDER BY at LIMIT 500"
        )
        if not batch:
            self.shipping_failing_since = None
            return
        try:
            response = await self.metrics.post("/events", json=batch)
        except httpx.HTTPError:
            self.shipping_failing_since = self.shipping_failing_since or time.time()
            raise
        if response.status_code != 202:
            self.shipping_failing_since = self.shipping_failing_since or time.time()
            return
        self.shipping_failing_since = None
        marks = ",".join("?" for _ in batch)
        await self.outbox.write(
            f"DELETE FROM outbox WHERE event_id IN ({marks})", [e["event_id"] for e in batch]
        )

    async def signals(self) -> dict[str, Any]:
        backlog = await self.outbox.one("SELECT COUNT(*) AS n, MIN(at) AS oldest FROM outbox")
        routes = {route: window.summary() for route, window in self.kit.windows.items()}
        return {
            "routes": routes,
            "breakers": {name: up.breaker.current() for name, up in self.upstreams.items()},
            "attempts": {name: up.attempts for name, up in self.upstreams.items()},
            "calls": {name: up.calls for name, up in self.upstreams.items()},
            "in_flight": self.in_flight,
            "shed": self.shed,
            "outbox_backlog": backlog["n"] if backlog else 0,
            "outbox_oldest_age_s": time.time() - backlog["oldest"]
            if backlog and backlog["oldest"]
            else 0.0,
            # events wait because metrics cannot take them (not merely because they are new)
            "outbox_failing_s": time.time() - self.shipping_failing_since
            if self.shipping_failing_since
            else 0.0,
            "search_degraded_ratio": self.search_served.summary()["error_rate"],
            "feed_regions": self.regions.to_json(),
            "rollouts": [
                r.to_json() | {"events": r.events[-5:]}
                for r in list(self.rollouts.rollouts.values())[-5:]
            ],
        }


Id = Annotated[str, Path(pattern=ID_PATTERN, description="letters, digits, '-' or '_'")]


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    gateway = Gateway(settings, kit)
    app = FastAPI(
        title="Short-video platform (mock)",
        version=settings.build,
        lifespan=kit.lifespan,
        description="The public API of the mock platform the chaos harness attacks.",
    )

    @app.middleware("http")
    async def count_in_flight(request: Request, call_next: Any) -> Any:
        rejected = gateway.admit()
        if rejected is not None:
            return rejected
        gateway.in_flight += 1
        try:
            return await call_next(request)
        finally:
            gateway.in_flight -= 1

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> Response:
        return json_error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return json_error(422, f"{where}: {first.get('msg', 'invalid input')}")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        return json_error(500, "internal error")

    @app.post("/v1/videos", status_code=202, summary="Upload a video")
    async def upload(
        request: Request,
        idempotency_key: Annotated[str, Header(pattern=ID_PATTERN)],
        authorization: Annotated[str | None, Header()] = None,
        content_type: Annotated[str | None, Header()] = None,
        title: Annotated[str, Query(max_length=200)] = "",
        hashtags: Annotated[str, Query(max_length=500)] = "",
        violating: bool = False,
    ) -> Response:
        """Accepted (202 + status URL) only once the blob and metadata are durable."""
        creator = gateway.creator(authorization)
        if not (content_type or "").startswith("video/"):
            raise BadInput("Content-Type must be video/*", 415)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise BadInput(f"videos are limited to {MAX_UPLOAD_BYTES} bytes", 413)
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES:
            raise BadInput(f"videos are limited to {MAX_UPLOAD_BYTES} bytes", 413)
        params = {"title": title, "hashtags": hashtags, "violating": str(violating).lower()}
        headers = {"X-Creator": creator, "Idempotency-Key": idempotency_key}
        return await gateway.forward(
            "upload", "POST", "/videos", content=body, params=params, headers=headers
        )

    @app.get("/v1/videos/{video_id}", summary="A video's status")
    async def video(video_id: Id) -> Response:
        return await gateway.forward("upload", "GET", f"/videos/{video_id}")

    @app.get(
        "/v1/creators/{creator_id}/videos", summary="A creator's own videos (read-your-writes)"
    )
    async def creator_videos(creator_id: Id) -> Response:
        return await gateway.forward("upload", "GET", f"/creators/{creator_id}/videos")

    @app.get("/v1/feed", summary="The For You feed")
    async def feed(
        user: Annotated[str, Query(pattern=ID_PATTERN)] = "anonymous",
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        return await gateway.feed({"user": user, "limit": limit})

    _admin_routes(app, gateway)

    @app.get("/v1/search", summary="Search by text or #hashtag")
    async def search(
        q: Annotated[str, Query(max_length=200)] = "",
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        return await gateway.search(q, limit)

    @app.get("/v1/videos/{video_id}/play", summary="Play a video (HTTP range requests)")
    async def play(video_id: Id, range: Annotated[str | None, Header()] = None) -> Response:
        headers = {"Range": range} if range else {}
        return await gateway.forward("cdn", "GET", f"/play/{video_id}", headers=headers)

    @app.post("/v1/videos/{video_id}/views", status_code=202, summary="Count a view")
    async def view(
        video_id: Id, x_event_id: Annotated[str | None, Header(pattern=ID_PATTERN)] = None
    ) -> Response:
        return await gateway.event(video_id, "view", x_event_id)

    @app.post("/v1/videos/{video_id}/likes", status_code=202, summary="Count a like")
    async def like(
        video_id: Id, x_event_id: Annotated[str | None, Header(pattern=ID_PATTERN)] = None
    ) -> Response:
        return await gateway.event(video_id, "like", x_event_id)

    @app.get("/status", response_class=HTMLResponse, summary="The public status page")
    async def status_page() -> Response:
        return await gateway.forward("status", "GET", "/status")

    @app.get("/status.json", summary="The status page as JSON")
    async def status_json() -> Response:
        return await gateway.forward("status", "GET", "/status.json")

    @app.get("/api/v2/summary.json", summary="The status page, Atlassian Statuspage v2 shape")
    async def statuspage_summary() -> Response:
        return await gateway.forward("status", "GET", "/api/v2/summary.json")

    @app.get("/api/v2/incidents.json", summary="Recent incidents and their updates (v2 shape)")
    async def statuspage_incidents() -> Response:
        return await gateway.forward("status", "GET", "/api/v2/incidents.json")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return JSONResponse(
            {
                "service": settings.service,
                "build": settings.build,
                "profile": settings.profile,
                "ok": True,
            }
        )

    @app.get("/signals", include_in_schema=False)
    async def signals() -> Response:
        return JSONResponse(await gateway.signals())

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        from prometheus_client import generate_latest

        return Response(generate_latest(kit.registry), media_type="text/plain; version=0.0.4")

    return kit.wrap(app)


def _admin_routes(app: FastAPI, gateway: Gateway) -> None:
    """Operator routes: canary rollouts and feed regions."""

    @app.post("/admin/rollouts", status_code=201, summary="Start a canary rollout of a build")
    async def start_rollout(request: Request) -> Response:
        body = await read_json(request)
        try:
            rollout = gateway.rollouts.start(body)
        except RolloutError as exc:
            return json_error(exc.status, str(exc))
        return JSONResponse(rollout.to_json(), status_code=201)

    @app.get("/admin/rollouts", summary="Every rollout")
    async def list_rollouts() -> Response:
        return JSONResponse([r.to_json() for r in gateway.rollouts.rollouts.values()])

    @app.get("/admin/rollouts/{rollout_id}", summary="A rollout's state and events")
    async def get_rollout(rollout_id: Id) -> Response:
        try:
            return JSONResponse(gateway.rollouts.get(rollout_id).to_json())
        except RolloutError as exc:
            return json_error(exc.status, str(exc))

    @app.delete(
        "/admin/rollouts/{rollout_id}", summary="Abort a rollout (weight 0, canary stopped)"
    )
    async def abort_rollout(rollout_id: Id) -> Response:
        try:
            return JSONResponse((await gateway.rollouts.abort(rollout_id)).to_json())
        except RolloutError as exc:
            return json_error(exc.status, str(exc))

    @app.get("/admin/regions", summary="Feed regions: health, the active one, failovers")
    async def regions() -> Response:
        return JSONResponse(gateway.regions.to_json())
