"""Reading the platform during a run: the status page, regions, rollouts, lag, queue, breakers.

A reading that cannot be taken is None (it never counts as a pass)."""

from __future__ import annotations

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


class Prober:
    def __init__(self, gateway_url: str, service_url: Callable[[str], str]) -> None:
        self.gateway_url = gateway_url
        self.service_url = service_url
        self.http = httpx.Client(timeout=2.0, trust_env=False)

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
        signals = self._get(f"{self.gateway_url}/signals")
        return signals["breakers"].get(expectation.target or "") if signals else None
