"""The status page's incidents, in the Atlassian Statuspage v2 shape. Pure: fed the published
component states once a refresh, it keeps the incidents; unit-tested without sockets.

    published states {component: (state, reason)} + now -> IncidentLog.update
      first component not operational -> an incident opens (investigating), naming it
      components change                -> an update (identified) naming the change
      nothing new for UPDATE_EVERY_S   -> an update repeating where things stand
      every component operational      -> an update (monitoring)
      operational for RESOLVE_AFTER_S  -> resolved, saying whether data was lost
    every update but the resolving one says when the next one is due
    -> summary(...) / incidents_document(...): /api/v2/summary.json, /api/v2/incidents.json

Defects (catalogued in the topology, on in the fragile profile) make it lie the ways real
pages did: status-silent (no update after the first until it resolves), status-resolves-early
(resolved two seconds after it opened, whatever the signals say).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

__all__ = [
    "RESOLVE_AFTER_S",
    "STATUSPAGE",
    "UPDATE_EVERY_S",
    "Incident",
    "IncidentLog",
    "Update",
    "summary",
]

UPDATE_EVERY_S = 3.0  # the mock's compressed cadence (a real page: every 30-60 min)
RESOLVE_AFTER_S = 4.0  # operational this long after monitoring began: resolved
EARLY_RESOLVE_S = 2.0  # status-resolves-early: "the fix is deployed" this soon
NO_DATA_LOST = "No acknowledged upload, view or like was lost."
# our three states onto Statuspage's component statuses, and an incident's impact
STATUSPAGE = {
    "operational": "operational",
    "degraded": "degraded_performance",
    "outage": "major_outage",
}
_IMPACT = {"operational": "none", "degraded": "minor", "outage": "major"}
_SEVERITY = {"operational": 0, "degraded": 1, "outage": 2}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + " UTC"


@dataclasses.dataclass
class Update:
    id: str
    status: str  # investigating | identified | monitoring | resolved
    body: str
    at: float
    affected: list[tuple[str, str, str]]  # (component, old state, new state)


@dataclasses.dataclass
class Incident:
    id: str
    name: str
    opened: float
    status: str = "investigating"
    states: dict[str, str] = dataclasses.field(default_factory=dict)  # named components now
    updates: list[Update] = dataclasses.field(default_factory=list)
    monitoring_since: float | None = None
    resolved: float | None = None
    worst: str = "degraded"  # the worst any named component was: the incident's impact

    @property
    def last_update(self) -> float:
        return self.updates[-1].at if self.updates else self.opened


class IncidentLog:
    def __init__(
        self,
        names: dict[str, str],
        update_every_s: float = UPDATE_EVERY_S,
        resolve_after_s: float = RESOLVE_AFTER_S,
        silent: bool = False,
        resolves_early: bool = False,
    ) -> None:
        self.names = names  # component -> the name users read
        self.update_every_s = update_every_s
        self.resolve_after_s = resolve_after_s
        self.silent = silent
        self.resolves_early = resolves_early
        self.incidents: list[Incident] = []
        self._count = 0
        self._hushed = False  # status-resolves-early: quiet until all is operational again

    @property
    def open(self) -> Incident | None:
        last = self.incidents[-1] if self.incidents else None
        return last if last is not None and last.resolved is None else None

    def update(self, published: dict[str, tuple[str, str]], now: float) -> None:
        affected = {c: s for c, (s, _) in published.items() if s != "operational"}
        reasons = {c: r for c, (_, r) in published.items()}
        incident = self.open
        if incident is None:
            if not affected:
                self._hushed = False
            elif not self._hushed:
                self._open(affected, reasons, now)
            return
        if self.resolves_early and now - incident.opened >= EARLY_RESOLVE_S:
            self._resolve(incident, now, "A fix has been deployed and the incident is resolved.")
            self._hushed = True
            return
        changed = {c: s for c, s in affected.items() if incident.states.get(c) != s}
        recovered = [
            c for c, s in incident.states.items() if s != "operational" and c not in affected
        ]
        if changed or (recovered and affected):
            incident.monitoring_since = None
            body = self._where(affected, reasons)
            self._post(incident, "identified", body, now, changed, recovered)
        elif not affected:
            if incident.monitoring_since is None:
                incident.monitoring_since = now
                body = "Every affected component is operational again; we are monitoring."
                self._post(incident, "monitoring", body, now, {}, recovered)
            elif now - incident.monitoring_since >= self.resolve_after_s:
                names = ", ".join(self.names[c] for c in incident.states)
                held = now - incident.monitoring_since
                body = f"Resolved: {names} operational for {held:.0f} s. {NO_DATA_LOST}"
                self._resolve(incident, now, body)
            elif now - incident.last_update >= self.update_every_s:
                body = "Every affected component is operational; we are still monitoring."
                self._post(incident, "monitoring", body, now, {}, [])
        elif now - incident.last_update >= self.update_every_s:
            self._post(incident, incident.status, self._where(affected, reasons), now, {}, [])

    def _where(self, affected: dict[str, str], reasons: dict[str, str]) -> str:
        parts = [
            f"{self.names[c]} {'outage' if s == 'outage' else 'degraded'}"
            + (f" ({reasons[c]})" if reasons.get(c) else "")
            for c, s in sorted(affected.items())
        ]
        return "We are working on it: " + "; ".join(parts) + "."

    def _open(self, affected: dict[str, str], reasons: dict[str, str], now: float) -> None:
        self._count += 1
        names = ", ".join(self.names[c] for c in sorted(affected))
        worst = "outage" if "outage" in affected.values() else "degraded"
        incident = Incident(
            id=f"inc{self._count:04d}",
            name=f"{names}: {'outage' if worst == 'outage' else 'degraded performance'}",
            opened=now,
        )
        self.incidents.append(incident)
        del self.incidents[:-20]
        body = "We are investigating. " + self._where(affected, reasons)
        self._post(incident, "investigating", body, now, affected, [])

    def _post(
        self,
        incident: Incident,
        status: str,
        body: str,
        now: float,
        changed: dict[str, str],
        recovered: list[str],
    ) -> None:
        affected = [(c, incident.states.get(c, "operational"), s) for c, s in changed.items()]
        affected += [(c, incident.states[c], "operational") for c in recovered]
        for component, _, state in affected:
            incident.states[component] = state
            if state == "outage":
                incident.worst = "outage"
        incident.status = status
        if self.silent and incident.updates:
            return  # status-silent: the page says nothing more until it resolves
        due = now + self.update_every_s
        body += f" Next update within {self.update_every_s:.0f} s (by {clock(due)})."
        self._add(incident, Update(self._next_id(incident), status, body, now, affected))

    def _resolve(self, incident: Incident, now: float, body: str) -> None:
        affected = [(c, s, "operational") for c, s in incident.states.items() if s != "operational"]
        for component in incident.states:
            incident.states[component] = "operational"
        incident.status, incident.resolved = "resolved", now
        if not body.endswith(NO_DATA_LOST):
            body += f" {NO_DATA_LOST}"
        self._add(incident, Update(self._next_id(incident), "resolved", body, now, affected))

    @staticmethod
    def _next_id(incident: Incident) -> str:
        return f"{incident.id}-u{len(incident.updates) + 1}"

    @staticmethod
    def _add(incident: Incident, update: Update) -> None:
        incident.updates.append(update)
        del incident.updates[:-100]

    # -- the Statuspage v2 documents ----------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        """Every kept incident, newest first, as /api/v2/incidents.json lists them."""
        return [_incident_json(i, self.names) for i in reversed(self.incidents)]


def _incident_json(incident: Incident, names: dict[str, str]) -> dict[str, Any]:
    def component(c: str) -> dict[str, Any]:
        return {"id": c, "name": names[c], "status": STATUSPAGE[incident.states[c]]}

    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "impact": _IMPACT[incident.worst],
        "created_at": iso(incident.opened),
        "started_at": iso(incident.opened),
        "updated_at": iso(incident.last_update),
        "monitoring_at": None
        if incident.monitoring_since is None
        else iso(incident.monitoring_since),
        "resolved_at": None if incident.resolved is None else iso(incident.resolved),
        "shortlink": f"/incidents/{incident.id}",
        "components": [component(c) for c in incident.states],
        "incident_updates": [
            {
                "id": u.id,
                "incident_id": incident.id,
                "status": u.status,
                "body": u.body,
                "created_at": iso(u.at),
                "display_at": iso(u.at),
                "updated_at": iso(u.at),
                "affected_components": [
                    {
                        "code": c,
                        "name": names[c],
                        "old_status": STATUSPAGE[old],
                        "new_status": STATUSPAGE[new],
                    }
                    for c, old, new in u.affected
                ],
            }
            for u in reversed(incident.updates)
        ],
    }


def summary(
    page: dict[str, Any], components: dict[str, dict[str, Any]], log: IncidentLog
) -> dict[str, Any]:
    """/api/v2/summary.json: the page, its components, the incidents not yet resolved."""
    names = log.names
    worst = max((_SEVERITY[c["state"]] for c in components.values()), default=0)
    indicator, description = [
        ("none", "All Systems Operational"),
        ("minor", "Partially Degraded Service"),
        ("major", "Partial System Outage"),
    ][worst]
    return {
        "page": page,
        "status": {"indicator": indicator, "description": description},
        "components": [
            {
                "id": c,
                "name": names[c],
                "status": STATUSPAGE[v["state"]],
                "description": v["reason"] or None,
                "updated_at": iso(v["since"]),
                "position": position,
                "group": False,
                "group_id": None,
                "only_show_if_degraded": False,
                "showcase": True,
            }
            for position, (c, v) in enumerate(components.items(), start=1)
        ],
        "incidents": [
            _incident_json(i, names) for i in reversed(log.incidents) if i.resolved is None
        ],
        "scheduled_maintenances": [],
    }
