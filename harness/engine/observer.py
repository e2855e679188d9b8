"""What users and operators saw during a run: the status page, deployments, failovers.

    walker (about once a second) -> StateObserver.poll() -> GET gateway /status.json
        -> a change of a component's state, a rollout's state or weight, the feed's region
           -> journal["observed"] entry + an "observed" event (console, game-day timeline)
    end of the run -> StateObserver.finish() -> GET /admin/regions -> journal["failovers"]

Reports chart these over time; the game day's post-mortem takes time to detect (the first
status-page change after the first fault) from them. A page that cannot be read is skipped:
observing never fails a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["StateObserver"]

POLL_EVERY_S = 1.0


class StateObserver:
    def __init__(
        self,
        gateway_url: str,
        journal: dict[str, Any],
        event: Callable[[str, str], None],
        http: httpx.Client | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.journal = journal
        self.journal.setdefault("observed", [])
        self.event = event
        self.http = http or httpx.Client(timeout=2.0, trust_env=False)
        self.components: dict[str, dict[str, Any]] = {}  # the page as users see it now
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._polled = 0.0

    def _get(self, path: str) -> Any:
        try:
            response = self.http.get(f"{self.gateway_url}{path}")
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def poll(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._polled < POLL_EVERY_S:
            return
        self._polled = time.monotonic()
        page = self._get("/status.json")
        if not isinstance(page, dict) or "components" not in page:
            return
        now = time.time()
        self.components = page["components"]
        for key, component in page["components"].items():
            self._change(
                now,
                f"status:{key}",
                (component["state"],),
                {
                    "what": "status",
                    "component": key,
                    "state": component["state"],
                    "reason": component.get("reason", ""),
                },
                f"status page: {component.get('name', key)} {component['state']}"
                + (f" ({component['reason']})" if component.get("reason") else ""),
            )
        for rollout in page.get("rollouts", []):
            self._change(
                now,
                f"rollout:{rollout['id']}",
                (rollout["state"], rollout["weight"]),
                {
                    "what": "rollout",
                    "rollout": f"{rollout['service']}@{rollout['build']}",
                    "state": rollout["state"],
                    "weight": rollout["weight"],
                    "reason": rollout.get("reason", ""),
                },
                f"rollout {rollout['service']}@{rollout['build']}: {rollout['state']},"
                f" {rollout['weight']}% of traffic"
                + (f" ({rollout['reason']})" if rollout.get("reason") else ""),
            )
        if page.get("feed_region"):
            region = page["feed_region"]
            self._change(
                now,
                "region",
                (region,),
                {"what": "region", "region": region},
                f"feed served from region {region}",
            )

    def _change(
        self, now: float, key: str, state: tuple[Any, ...], record: dict[str, Any], text: str
    ) -> None:
        first = key not in self._seen
        if self._seen.get(key) == state:
            return
        self._seen[key] = state
        self.journal["observed"].append({"t": now, **record})
        # the first reading is the starting point, not news (a rollout starting is)
        if not first or record["what"] == "rollout":
            self.event("observed", text)

    def finish(self) -> None:
        """Failover moments, exactly, from the gateway's own record."""
        regions = self._get("/admin/regions")
        started = float(self.journal.get("started_at", 0))
        if isinstance(regions, dict):
            self.journal["failovers"] = [
                e for e in regions.get("events", []) if float(e.get("at", 0)) >= started
            ]
        self.http.close()
