"""Typed settings of one service process: who it is, where it listens, where its links go.

topology.yaml (+ its stack's overlay) + command line -> Settings
    -> link_url("upload-cdn") -> http://127.0.0.1:18111
                                        -> has("gateway-retry-storm"): a catalogued defect on?

The defect catalogue is the topology's ``defects:`` section: each entry one small realistic bug
that ``--defects a,b`` switches on alone; the fragile profile is every one of them at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULT_TOPOLOGY", "Settings", "load_topology", "on_stack"]

DEFAULT_TOPOLOGY = Path(__file__).with_name("topology.yaml")
PROFILES = ("normal", "fragile")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster at each start


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_LOADER)  # a safe loader
    if not isinstance(data, dict) or "services" not in data or "links" not in data:
        raise ValueError(f"{path}: not a platform topology (needs services and links)")
    return data


def on_stack(topology: dict[str, Any], stack: str) -> dict[str, Any]:
    """The topology as a stack sees it: its services, links and probes laid over the base
    ones, name by name (null removes one), as the harness does (harness/topology.py)."""
    overlay = (topology.get("stacks") or {}).get(stack) or {}
    merged = dict(topology)
    for section in ("services", "links", "probes"):
        layer = overlay.get(section) or {}
        if layer:
            base = {**(topology.get(section) or {}), **layer}
            merged[section] = {name: spec for name, spec in base.items() if spec is not None}
    return merged


@dataclasses.dataclass(frozen=True)
class Settings:
    service: str
    base_port: int
    run_dir: Path
    profile: str = "normal"
    build: str = "v1"
    topology_path: Path = DEFAULT_TOPOLOGY
    topology: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    defects_on: frozenset[str] = frozenset()  # catalogued defects switched on (--defects)
    stack: str = "default"  # the topology's stack: default (SQLite) or real (PostgreSQL)

    @classmethod
    def create(
        cls,
        service: str,
        base_port: int,
        run_dir: Path,
        profile: str = "normal",
        build: str = "v1",
        topology_path: Path = DEFAULT_TOPOLOGY,
        defects: str = "",
        stack: str = "default",
    ) -> Settings:
        topology = load_topology(topology_path)
        if stack != "default" and stack not in (topology.get("stacks") or {}):
            known = ", ".join(["default", *sorted(topology.get("stacks") or {})])
            raise ValueError(f"unknown stack {stack!r}; the topology has: {known}")
        topology = on_stack(topology, stack)
        if service not in topology["services"]:
            known = ", ".join(sorted(topology["services"]))
            raise ValueError(f"unknown service {service!r}; the topology has: {known}")
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        role = topology["services"][service].get("canary_of") or service
        builds = topology.get("builds") or {}
        if build != "v1" and f"{role}@{build}" not in builds:
            known = ", ".join(sorted(b for b in builds if b.startswith(f"{role}@"))) or "none"
            raise ValueError(f"unknown build {role}@{build}; the topology declares: {known}")
        catalogue = topology.get("defects") or {}
        chosen = frozenset(name.strip() for name in defects.split(",") if name.strip())
        unknown = sorted(chosen - set(catalogue))
        if unknown:
            known = ", ".join(sorted(catalogue)) or "none"
            raise ValueError(f"unknown defect {', '.join(unknown)}; the catalogue has: {known}")
        return cls(
            service, base_port, run_dir, profile, build, topology_path, topology, chosen, stack
        )

    @property
    def fragile(self) -> bool:
        """The badly built platform: protections off (see README, 'The fragile profile')."""
        return self.profile == "fragile"

    def has(self, defect: str) -> bool:
        """Is this catalogued defect switched on? The fragile profile has every one."""
        if defect not in (self.topology.get("defects") or {}):
            raise ValueError(f"{defect!r} is not in the topology's defect catalogue")
        return self.fragile or defect in self.defects_on

    @property
    def role(self) -> str:
        """What this process is: a canary slot runs its stable service's app and links."""
        return str(self.topology["services"][self.service].get("canary_of") or self.service)

    @property
    def defects(self) -> dict[str, Any]:
        """This build's declared defects (empty for v1 and for builds without any)."""
        builds = self.topology.get("builds") or {}
        return dict(builds.get(f"{self.role}@{self.build}") or {})

    @property
    def port(self) -> int:
        return self.base_port + int(self.topology["services"][self.service]["port"])

    def link_url(self, link: str, *, borrowed: bool = False) -> str:
        """The proxy in front of ``link``: services only ever call each other through it."""
        return f"http://{self.link_address(link, borrowed=borrowed)}"

    def link_address(self, link: str, *, borrowed: bool = False) -> str:
        """host:port of the proxy in front of ``link`` (a database's, say). Only a link that
        starts at this service, unless ``borrowed`` (a defect's miswiring)."""
        spec = self.topology["links"][link]
        if not borrowed and spec["from"] not in (self.service, self.role):
            raise ValueError(f"link {link} starts at {spec['from']}, not at {self.service}")
        return f"127.0.0.1:{self.base_port + int(spec['port'])}"

    @property
    def own(self) -> dict[str, Any]:
        """The topology's x-mock section: what only the mock's services read."""
        return dict(self.topology.get("x-mock") or {})

    @property
    def token_secret(self) -> bytes:
        return str(self.own["auth"]["token_secret"]).encode()

    def database(self, name: str) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir / f"{name}.sqlite3"
