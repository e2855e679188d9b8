"""TimelineCache: the real stack's feed timeline cache, on Redis, behind the feed's own link.

    feed-X --GET/SET timeline:published (feed-X-cache)--> Redis (feed-cache)
    read()  -> (videos, lag, cached_at) or None: a miss, or Redis down, slow or refusing
    write() -> the replica's answer kept for TTL_S (a failure to keep it is only counted)

A cache never decides whether the feed answers: whatever Redis does, read() returns within
its timeout and the feed goes to the replica (slower, still correct). Only the real stack
has one (topology `stacks.real`: the feed-cache service and the feed-X-cache links).
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["TimelineCache"]

KEY = "timeline:published"
TTL_S = 2


class TimelineCache:
    def __init__(self, address: str, timeout_s: float) -> None:
        host, _, port = address.rpartition(":")
        self.client = Redis(
            host=host,
            port=int(port),
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # one try: the replica is the fallback, not a retry
            single_connection_client=False,
        )
        self.hits = self.misses = self.failures = 0

    async def read(self) -> tuple[list[dict[str, Any]], float, float] | None:
        try:
            raw = await self.client.get(KEY)
        except (RedisError, OSError):
            self.failures += 1
            return None
        if raw is None:
            self.misses += 1
            return None
        body = json.loads(raw)
        self.hits += 1
        return body["videos"], float(body["lag"]), float(body["at"])

    async def write(self, videos: list[dict[str, Any]], lag: float) -> None:
        body = json.dumps({"videos": videos, "lag": lag, "at": time.time()})
        try:
            await self.client.set(KEY, body, ex=TTL_S)
        except (RedisError, OSError):
            self.failures += 1

    def signals(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "failures": self.failures}

    async def aclose(self) -> None:
        await self.client.aclose()
