"""A status page as the topology declares it, read onto our three states and our names.

    GET page -> components (a mapping, or a list named by ``key``) -> per component of the
    topology: ComponentState(state: operational | degraded | outage, raw, reason)
    GET incidents (Statuspage v2 shape) -> PageIncident(id, status, components named by
    ours, updates: PageUpdate(id, status, body, published, components))
A page that cannot be read, or a component it does not show, is absent (never "operational").
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import httpx

from harness.checks.paths import at
from harness.topology import StatusPageSpec, Topology

__all__ = [
    "ComponentState",
    "PageIncident",
    "PageUpdate",
    "StatusPageReader",
    "components_of",
    "incidents_of",
]


@dataclasses.dataclass(frozen=True)
class ComponentState:
    state: str  # operational | degraded | outage, or the page's own word if unmapped
    raw: str
    reason: str = ""
    name: str = ""


def _entries(spec: StatusPageSpec, document: Any) -> dict[str, dict[str, Any]]:
    found = at(document, spec.components)
    if isinstance(found, dict):
        return {str(k): v for k, v in found.items() if isinstance(v, dict)}
    if isinstance(found, list):
        entries: dict[str, dict[str, Any]] = {}
        for item in found:
            if isinstance(item, dict):
                for key in (spec.key, "id", "name"):
                    if item.get(key) is not None:
                        entries.setdefault(str(item[key]), item)
        return entries
    return {}


def components_of(topology: Topology, document: Any) -> dict[str, ComponentState]:
    """Each of the topology's components the page shows, in our three states."""
    spec = topology.status_page
    if spec is None:
        return {}
    entries = _entries(spec, document)
    result: dict[str, ComponentState] = {}
    for component, page_key in topology.components.items():
        entry = entries.get(page_key)
        if entry is None:
            continue
        raw = str(at(entry, spec.state))
        result[component] = ComponentState(
            state=spec.states.get(raw, raw),
            raw=raw,
            reason=str(entry.get("reason") or entry.get("description") or ""),
            name=str(entry.get("name") or component),
        )
    return result


@dataclasses.dataclass(frozen=True)
class PageUpdate:
    id: str
    status: str
    body: str
    published: float | None
    components: tuple[str, ...]  # ours


@dataclasses.dataclass(frozen=True)
class PageIncident:
    id: str
    name: str
    status: str
    impact: str
    components: tuple[str, ...]  # ours, that the incident names
    updates: tuple[PageUpdate, ...]  # oldest first


def unix_time(value: Any) -> float | None:
    """An ISO 8601 time (``...Z`` or with an offset) or a Unix time, as a Unix time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def _ours(topology: Topology, entries: Any, *keys: str) -> tuple[str, ...]:
    """Our components that a list of the page's component entries names (by any key)."""
    by_page_key = {str(v): k for k, v in topology.components.items()}
    found: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        for key in keys:
            component = by_page_key.get(str(entry.get(key)))
            if component is not None and component not in found:
                found.append(component)
                break
    return tuple(found)


def incidents_of(topology: Topology, document: Any) -> list[PageIncident]:
    """The incidents of a Statuspage-shaped document, components in our names."""
    spec = topology.status_page
    if spec is None or spec.incidents is None:
        return []
    listed = at(document, spec.incidents.list_path)
    incidents: list[PageIncident] = []
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict) or item.get("id") is None:
            continue
        updates = [
            PageUpdate(
                id=str(u.get("id") or f"{item['id']}#{index}"),
                status=str(u.get("status") or ""),
                body=str(u.get("body") or ""),
                published=unix_time(u.get("created_at") or u.get("display_at")),
                components=_ours(topology, u.get("affected_components"), "code", "id", "name"),
            )
            for index, u in enumerate(item.get("incident_updates") or [])
            if isinstance(u, dict)
        ]
        updates.sort(key=lambda u: u.published or 0.0)  # the v2 shape lists newest first
        named = _ours(topology, item.get("components"), spec.key, "id", "name")
        for update in updates:
            named += tuple(c for c in update.components if c not in named)
        incidents.append(
            PageIncident(
                id=str(item["id"]),
                name=str(item.get("name") or ""),
                status=str(item.get("status") or ""),
                impact=str(item.get("impact") or ""),
                components=named,
                updates=tuple(updates),
            )
        )
    return incidents


class StatusPageReader:
    """Reads the page of one running platform (None when it cannot be read)."""

    def __init__(self, topology: Topology, base_port: int, http: httpx.Client) -> None:
        self.topology = topology
        self.http = http
        spec = topology.status_page
        self.url = None if spec is None else topology.url_of(spec, base_port)
        self.incidents_url = (
            None
            if spec is None or spec.incidents is None
            else topology.url_of(spec.incidents, base_port)
        )
        self.document: Any = None

    def read(self) -> dict[str, ComponentState] | None:
        if self.url is None:
            return None
        try:
            response = self.http.get(self.url)
            response.raise_for_status()
            self.document = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return components_of(self.topology, self.document)

    def read_incidents(self) -> list[PageIncident] | None:
        """The page's incidents (None: it declares none, or they cannot be read now)."""
        if self.incidents_url is None:
            return None
        try:
            response = self.http.get(self.incidents_url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return incidents_of(self.topology, document)
