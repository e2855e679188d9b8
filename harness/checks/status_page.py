"""A status page as the topology declares it, read onto our three states.

    GET page -> components (a mapping, or a list named by ``key``) -> per component of the
    topology: ComponentState(state: operational | degraded | outage, raw, reason)
A page that cannot be read, or a component it does not show, is absent (never "operational").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from harness.checks.paths import at
from harness.topology import StatusPageSpec, Topology

__all__ = ["ComponentState", "StatusPageReader", "components_of"]


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


class StatusPageReader:
    """Reads the page of one running platform (None when it cannot be read)."""

    def __init__(self, topology: Topology, base_port: int, http: httpx.Client) -> None:
        self.topology = topology
        self.http = http
        spec = topology.status_page
        self.url = None if spec is None else topology.url_of(spec, base_port)
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
