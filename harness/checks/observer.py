"""What users and operators saw during a run: the status page, deployments, failovers, as
the topology declares where each is.

    timeline (about twice a second) -> StateObserver.poll()
        status_page          -> a component's state changed  \\
        capabilities.rollouts -> a rollout's state or weight   > record.observed + an event
        capabilities.failover -> a failover's active region    /  (console, game-day timeline)
        status_page.incidents -> each incident and update, when first seen -> record.incidents
    end of the run -> StateObserver.finish() -> each failover record's events -> record.failovers

Reports chart these over time; the post-mortem takes time to detect from them. A page that
cannot be read is skipped: observing never fails a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from harness.checks.paths import at
from harness.checks.status_page import StatusPageReader
from harness.clock import SYSTEM_CLOCK, Clock
from harness.record import FailoverRecord, IncidentRecord, IncidentUpdate, Observed, RunRecord
from harness.topology import Topology

__all__ = ["StateObserver"]

POLL_EVERY_S = 0.5  # the mock's page refreshes every 0.5 s


class StateObserver:
    def __init__(
        self,
        topology: Topology,
        base_port: int,
        record: RunRecord,
        event: Callable[[str, str], None],
        http: httpx.Client | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.topology = topology
        self.base_port = base_port
        self.record = record
        self.event = event
        self.http = http or httpx.Client(timeout=2.0, trust_env=False)
        self.clock = clock
        self.page = StatusPageReader(topology, base_port, self.http)
        self.components: dict[str, str] = {}  # the page as users see it now
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._incidents: dict[str, IncidentRecord] = {}
        self._polled = -POLL_EVERY_S

    def _get(self, template: str) -> Any:
        try:
            response = self.http.get(self.topology.render(template, self.base_port))
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def poll(self, force: bool = False) -> None:
        if not force and self.clock.monotonic() - self._polled < POLL_EVERY_S:
            return
        self._polled = self.clock.monotonic()
        now = self.clock.time()
        self._poll_page(now)
        self._poll_incidents(now)
        self._poll_rollouts(now)
        for name, spec in self.topology.capabilities.failover.items():
            region = at(self._get(spec.url), spec.active)
            if region is not None:
                self._change(
                    now,
                    f"region:{name}",
                    (region,),
                    Observed(t=now, what="region", region=str(region), failover=name),
                    f"{name} served from region {region}",
                )

    def _poll_page(self, now: float) -> None:
        components = self.page.read()
        if components is None:
            return
        self.components = {name: c.state for name, c in components.items()}
        for key, component in components.items():
            self._change(
                now,
                f"status:{key}",
                (component.state,),
                Observed(
                    t=now,
                    what="status",
                    component=key,
                    state=component.state,
                    reason=component.reason,
                ),
                f"status page: {component.name} {component.state}"
                + (f" ({component.reason})" if component.reason else ""),
            )

    def _poll_incidents(self, now: float) -> None:
        incidents = self.page.read_incidents()
        for incident in incidents or []:
            kept = self._incidents.get(incident.id)
            if kept is None:
                kept = IncidentRecord(id=incident.id, first_seen=now)
                self._incidents[incident.id] = kept
                self.record.incidents.append(kept)
                self.event("observed", f"status page: incident {incident.name!r} opened")
            kept.name, kept.status, kept.impact = incident.name, incident.status, incident.impact
            for component in incident.components:
                kept.named.setdefault(component, now)
            if incident.status == "resolved" and kept.resolved_seen is None:
                kept.resolved_seen = now
                self.event("observed", f"status page: incident {incident.name!r} resolved")
            seen = {u.id: u for u in kept.updates}
            for update in incident.updates:
                first = seen.get(update.id)
                kept_update = IncidentUpdate(
                    id=update.id,
                    status=update.status,
                    body=update.body,
                    published=update.published,
                    seen=now if first is None else first.seen,
                    components=list(update.components),
                )
                if first is None:
                    kept.updates.append(kept_update)
                else:
                    kept.updates[kept.updates.index(first)] = kept_update

    def _poll_rollouts(self, now: float) -> None:
        spec = self.topology.capabilities.rollouts
        rollouts = self._get(spec.url) if spec is not None else None
        for rollout in rollouts if isinstance(rollouts, list) else []:
            if not isinstance(rollout, dict) or "id" not in rollout:
                continue
            label = f"{rollout.get('service')}@{rollout.get('build')}"
            weight = int(rollout.get("weight") or 0)
            reason = str(rollout.get("reason") or "")
            self._change(
                now,
                f"rollout:{rollout['id']}",
                (rollout.get("state"), weight),
                Observed(
                    t=now,
                    what="rollout",
                    rollout=label,
                    state=str(rollout.get("state")),
                    weight=weight,
                    reason=reason,
                ),
                f"rollout {label}: {rollout.get('state')}, {weight}% of traffic"
                + (f" ({reason})" if reason else ""),
            )

    def _change(
        self, now: float, key: str, state: tuple[Any, ...], observed: Observed, text: str
    ) -> None:
        first = key not in self._seen
        if self._seen.get(key) == state:
            return
        self._seen[key] = state
        self.record.observed.append(observed)
        # the first reading is the starting point, not news (a rollout starting is)
        if not first or observed.what == "rollout":
            self.event("observed", text)

    def finish(self) -> None:
        """Failover moments, exactly, from the platform's own record."""
        started = self.record.started_at
        for spec in self.topology.capabilities.failover.values():
            events = at(self._get(spec.url), spec.events)
            for item in events if isinstance(events, list) else []:
                if isinstance(item, dict) and float(item.get("at", 0)) >= started:
                    self.record.failovers.append(FailoverRecord.model_validate(item))
        self.http.close()
