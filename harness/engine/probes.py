"""Reading the platform during a run: the status page, regions, rollouts, lag, queue, breakers,
the feed's own flags, counters' age, read-your-writes, retry amplification.

A reading that cannot be taken is None (it never counts as a pass). Readings that cost the
platform something (an upload) are taken at most every COSTLY_EVERY_S."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from harness.scenario.model import (
    FailoverExpectation,
    ProbeExpectation,
    RolloutExpectation,
    StatusExpectation,
)

__all__ = ["Prober"]

COSTLY_EVERY_S = 2.0


class Prober:
    def __init__(
        self, gateway_url: str, service_url: Callable[[str], str], token_secret: str = ""
    ) -> None:
        self.gateway_url = gateway_url
        self.service_url = service_url
        self.token_secret = token_secret.encode()
        self.http = httpx.Client(timeout=2.0, trust_env=False)
        self._phase_start: dict[str, tuple[int, int]] = {}  # upstream -> (attempts, calls)
        self._costly: dict[str, tuple[float, Any]] = {}
        self._phase_started = time.time()

    def new_phase(self) -> None:
        """Counters that are read as a difference start again (retry_ratio, region_switches)."""
        self._phase_start.clear()
        self._phase_started = time.time()

    def close(self) -> None:
        self.http.close()

    def _get(self, url: str) -> Any:
        try:
            response = self.http.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def read(
        self,
        expectation: StatusExpectation
        | ProbeExpectation
        | RolloutExpectation
        | FailoverExpectation,
    ) -> Any:
        if isinstance(expectation, StatusExpectation):
            page = self._get(f"{self.gateway_url}/status.json")
            return page["components"][expectation.status]["state"] if page else None
        if isinstance(expectation, FailoverExpectation):
            regions = self._get(f"{self.gateway_url}/admin/regions")
            return regions["active"] if regions else None
        if isinstance(expectation, RolloutExpectation):
            rollouts = self._get(f"{self.gateway_url}/admin/rollouts") or []
            mine = [r for r in rollouts if r["service"] == expectation.rollout]
            return mine[-1]["state"] if mine else None
        return self._probe(expectation)

    def _probe(self, expectation: ProbeExpectation) -> Any:
        if expectation.probe == "replication_lag":
            lag = self._get(f"{self.service_url('catalog-replica')}/lag")
            return lag["lag_seconds"] if lag else None
        if expectation.probe in ("queue_depth", "queue_age"):
            queue = self._get(f"{self.service_url('moderation')}/signals")
            key = "queue_depth" if expectation.probe == "queue_depth" else "oldest_pending_age_s"
            return queue[key] if queue else None
        if expectation.probe in ("counters_age", "feed_state"):
            feed = self._get(f"{self.gateway_url}/v1/feed?user=prober")
            if feed is None:
                return None if expectation.probe == "counters_age" else "error"
            if expectation.probe == "feed_state":
                return "degraded" if feed["degraded"] else "stale" if feed["stale"] else "fresh"
            as_of = feed.get("counters_as_of")
            return None if as_of is None else round(time.time() - float(as_of), 3)
        if expectation.probe == "region_switches":
            regions = self._get(f"{self.gateway_url}/admin/regions")
            if regions is None:
                return None
            return sum(1 for e in regions["events"] if e["at"] >= self._phase_started)
        if expectation.probe == "own_upload_visible":
            return self._costly_reading("own_upload_visible", self._own_upload_visible)
        signals = self._get(f"{self.gateway_url}/signals")
        if signals is None:
            return None
        target = expectation.target or ""
        if expectation.probe == "retry_ratio":
            now = (signals["attempts"].get(target, 0), signals["calls"].get(target, 0))
            start = self._phase_start.setdefault(target, now)
            calls = now[1] - start[1]
            return round((now[0] - start[0]) / calls, 3) if calls else None
        return signals["breakers"].get(target)

    def _costly_reading(self, key: str, read: Callable[[], Any]) -> Any:
        last = self._costly.get(key)
        if last is None or time.monotonic() - last[0] >= COSTLY_EVERY_S:
            self._costly[key] = (time.monotonic(), read())
        return self._costly[key][1]

    def _own_upload_visible(self) -> str:
        """Read-your-writes as a creator sees it: upload, then list my videos at once."""
        creator = "prober"
        token = hmac.new(self.token_secret, creator.encode(), hashlib.sha256).hexdigest()[:32]
        headers = {
            "Authorization": f"Bearer {creator}.{token}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "video/mp4",
        }
        try:
            made = self.http.post(
                f"{self.gateway_url}/v1/videos",
                content=b"probe" * 100,
                headers=headers,
                params={"title": "read your writes"},
            )
            if made.status_code != 202:
                return f"upload answered {made.status_code}"
            video_id = made.json()["video_id"]
            mine = self.http.get(f"{self.gateway_url}/v1/creators/{creator}/videos")
            mine.raise_for_status()
            listed = {v["video_id"] for v in mine.json()["videos"]}
        except (httpx.HTTPError, ValueError, KeyError):
            return "unreachable"
        return "visible" if video_id in listed else "missing"
