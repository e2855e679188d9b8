"""feed: the For You feed, from the catalog replica, ranked by engagement.

    gateway --GET /feed?user=U (gateway-feed-a)--> feed
    feed-X --GET /published (feed-X-catalog)--> catalog-replica   (timeout REPLICA_TIMEOUT_S)
    feed-X --GET /counters  (feed-X-metrics)--> metrics           (optional, short timeout)
    feed-X --GET/SET timeline (feed-X-cache)--> Redis   real stack: the timeline cache first,
                                                        the replica on a miss or a failure

Two regions run this app, feed-a (preferred) and feed-b (standby); the gateway fails over.

Normal: the last good candidate list is kept; when the replica is slow or cut off the feed
serves it marked ``degraded`` with its ``age_s`` instead of failing, and marks ``stale`` when
the replica reports lag above STALE_LAG_S. Counters that cannot be fetched are taken from the
last good read, labelled with their ``counters_as_of``. Fragile: no cache, long timeouts, the
error goes to the user.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Window, json_error, link_client
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings
from mock_platform.timeline_cache import TimelineCache
from mock_platform.validation import int_param, valid_id

REPLICA_TIMEOUT_S = 0.5
CACHE_TIMEOUT_S = 0.1  # the timeline cache, real stack: a slow Redis costs at most this
STALE_LAG_S = 5.0


class Feed:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        patient = settings.has("feed-long-timeouts")
        region = settings.service
        self.replica = link_client(
            settings, f"{region}-catalog", 10.0 if patient else REPLICA_TIMEOUT_S
        )
        if region != "feed-a" and settings.has("feed-standby-shares-primary-link"):
            # the standby's configuration copied from region a: its catalog calls take region
            # a's link, the dependency of the very path the standby protects
            self.replica.base_url = httpx.URL(settings.link_url("feed-a-catalog", borrowed=True))
        self.metrics = link_client(settings, f"{region}-metrics", 10.0 if patient else 0.3)
        kit.on_close(self.replica.aclose)
        kit.on_close(self.metrics.aclose)
        self.candidates: list[dict[str, Any]] = []
        self.candidates_at: float | None = None
        self.counters: dict[str, dict[str, int]] = {}
        self.counters_as_of: float | None = None
        self.served = Window()  # ok = fresh, not ok = degraded or stale
        self.cache: TimelineCache | None = None
        if settings.stack == "real":  # a Redis timeline cache in front of the replica
            self.cache = TimelineCache(
                settings.link_address(f"{region}-cache"), 10.0 if patient else CACHE_TIMEOUT_S
            )
            kit.on_close(self.cache.aclose)

    async def feed(self, request: Request) -> Response:
        user = valid_id(request.query_params.get("user", "anonymous"), "user")
        limit = int_param(request, "limit", 20, 1, 100)
        degraded, lag = False, 0.0
        try:
            candidates, lag = await self._timeline()
        except httpx.HTTPError as exc:
            if self.settings.has("feed-no-last-good") or self.candidates_at is None:
                self.served.add(False, 0)
                return json_error(
                    503, f"feed unavailable: the catalog replica failed ({type(exc).__name__})", 2
                )
            candidates, degraded = self.candidates, True
        await self._refresh_counters([v["video_id"] for v in candidates[:200]])
        items = self._rank(candidates, user)[:limit]
        stale = lag > STALE_LAG_S
        self.served.add(not (degraded or stale), 0)
        age = time.time() - self.candidates_at if self.candidates_at else 0.0
        return JSONResponse(
            {
                "user": user,
                "items": items,
                "state": "degraded" if degraded else "stale" if stale else "fresh",
                "degraded": degraded,
                "stale": stale,
                "age_s": round(age if degraded else 0.0, 3),
                "replica_lag_s": round(lag, 3),
                "counters_as_of": self.counters_as_of,
                "region": self.settings.service,
            },
            headers={"X-Feed-Degraded": "1" if degraded or stale else "0"},
        )

    async def _timeline(self) -> tuple[list[dict[str, Any]], float]:
        """The published videos and how far behind they are: the timeline cache's copy when
        it has one (its lag grown by the copy's age), else the replica's (then cached)."""
        if self.cache is not None:
            cached = await self.cache.read()
            if cached is not None:
                videos, lag, cached_at = cached
                self.candidates, self.candidates_at = videos, time.time()
                return videos, lag + max(time.time() - cached_at, 0.0)
        videos = await self._candidates()
        # This defect never asks how far behind its replica is: it serves old content as if
        # it were current.
        lag = 0.0 if self.settings.has("feed-ignores-replica-lag") else await self._lag()
        if self.cache is not None:
            await self.cache.write(videos, lag)
        return videos, lag

    async def _candidates(self) -> list[dict[str, Any]]:
        response = await self.replica.get("/published", params={"limit": 200})
        response.raise_for_status()
        videos: list[dict[str, Any]] = response.json()["videos"]
        self.candidates, self.candidates_at = videos, time.time()
        return videos

    async def _lag(self) -> float:
        response = await self.replica.get("/lag")
        response.raise_for_status()
        lag: float = response.json()["lag_seconds"]
        return float(lag)

    async def _refresh_counters(self, ids: list[str]) -> None:
        if not ids:
            return
        try:
            response = await self.metrics.get("/counters", params={"ids": ",".join(ids)})
            response.raise_for_status()
        except httpx.HTTPError:
            return  # keep the last counters; their as_of tells how old they are
        body = response.json()
        self.counters.update(body["counters"])
        self.counters_as_of = body["as_of"]

    def _rank(self, videos: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
        def score(video: dict[str, Any]) -> float:
            counts = self.counters.get(video["video_id"], {"views": 0, "likes": 0})
            engagement = counts["views"] + 3 * counts["likes"]
            # A per-user tiebreak so that feeds differ between users, deterministically.
            salt = int(hashlib.sha1(f"{user}{video['video_id']}".encode()).hexdigest()[:4], 16)
            created: float = video["created_at"]
            return engagement * 10 + created / 1e6 + salt / 1e9

        ranked = sorted(videos, key=score, reverse=True)
        return [
            {
                "video_id": v["video_id"],
                "creator": v["creator"],
                "title": v["title"],
                "hashtags": v["hashtags"],
                "status": v["status"],
                **self.counters.get(v["video_id"], {"views": 0, "likes": 0}),
            }
            for v in ranked
        ]

    async def signals(self, request: Request) -> Response:
        summary = self.served.summary()
        return JSONResponse(
            {
                **({"cache": self.cache.signals()} if self.cache is not None else {}),
                "served": summary["count"],
                "degraded_ratio": summary["error_rate"],
                "cache_age_s": round(time.time() - self.candidates_at, 3)
                if self.candidates_at
                else None,
            }
        )


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    feed = Feed(settings, kit)
    routes = [
        Route("/feed", feed.feed, methods=["GET"]),
        Route("/signals", feed.signals, methods=["GET"]),
    ]
    return kit.app(routes)
