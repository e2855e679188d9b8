"""Region failover for one upstream (the feed), the way a load balancer does it.

    every interval_s: GET /healthz on each region through its own link (timeout_s)
      fall consecutive failures -> region down;  rise consecutive successes -> region up
    active = the preferred region (the first) while it is up; after a failover it gets traffic
             back only when its checks have all passed for hold_s (any failure restarts the
             clock: no flapping), else the current region while up, else any region up
    every switch is an event: {at, from, to, reason}

Detection budget: fall x interval_s + timeout_s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx

__all__ = ["Region", "RegionSelector"]


@dataclasses.dataclass
class Region:
    name: str
    up: bool = True
    streak: int = 0  # consecutive results of the same kind as the last one
    last_ok: bool = True
    healthy_since: float | None = dataclasses.field(default_factory=time.monotonic)


class RegionSelector:
    def __init__(
        self,
        regions: list[str],
        clients: dict[str, httpx.AsyncClient],
        interval_s: float = 1.0,
        timeout_s: float = 0.5,
        fall: int = 3,
        rise: int = 2,
        hold_s: float = 10.0,
    ) -> None:
        self.regions = [Region(name) for name in regions]
        self.clients = clients
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.fall = fall
        self.rise = rise
        self.hold_s = hold_s
        self.active = regions[0]
        self.events: list[dict[str, Any]] = []
        self.switches = 0  # every failover and failback since the start

    @property
    def preferred(self) -> str:
        return self.regions[0].name

    async def check_all(self) -> None:
        results = await asyncio.gather(*(self._check(r.name) for r in self.regions))
        for region, ok in zip(self.regions, results, strict=True):
            self.observe(region.name, ok)
        self.choose()

    async def _check(self, name: str) -> bool:
        try:
            response = await self.clients[name].get("/healthz", timeout=self.timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def observe(self, name: str, ok: bool, now: float | None = None) -> None:
        """Count one health-check result (pure: the tests drive it directly)."""
        now = time.monotonic() if now is None else now
        region = next(r for r in self.regions if r.name == name)
        region.streak = region.streak + 1 if ok == region.last_ok else 1
        region.last_ok = ok
        # Any failed check restarts the hold clock: only an unbroken run of good checks earns
        # traffic back (no flapping on a region that fails now and then).
        if not ok:
            region.healthy_since = None
        elif region.healthy_since is None:
            region.healthy_since = now
        if region.up and not ok and region.streak >= self.fall:
            region.up = False
        elif not region.up and ok and region.streak >= self.rise:
            region.up = True

    def choose(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        preferred = self.regions[0]
        current = next(r for r in self.regions if r.name == self.active)
        held = preferred.healthy_since is not None and now - preferred.healthy_since >= self.hold_s
        if preferred.up and (self.active == preferred.name or held):
            target = preferred
        elif current.up:
            target = current
        else:
            target = next((r for r in self.regions if r.up), current)
        if target.name != self.active:
            reason = (
                "failover: region down" if not current.up else "failback: preferred region healthy"
            )
            self.events.append(
                {"at": time.time(), "from": self.active, "to": target.name, "reason": reason}
            )
            del self.events[:-50]
            self.switches += 1
            self.active = target.name
        return self.active

    def fallback(self) -> str | None:
        """Another region that is up, for one retry when the active one fails a request."""
        return next((r.name for r in self.regions if r.up and r.name != self.active), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "regions": {
                r.name: {"up": r.up, "streak": r.streak, "ok": r.last_ok} for r in self.regions
            },
            "events": self.events,
            "switches": self.switches,
            "detection_budget_s": self.fall * self.interval_s + self.timeout_s,
        }
