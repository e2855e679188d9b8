"""The platform's topology file, as the harness reads it (it never imports mock_platform).

topology.yaml -> Topology: services (port, health), links (proxy name, port, target)
Topology.at(base_port) -> absolute ports and URLs for one running platform
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError

__all__ = ["DEFAULT_TOPOLOGY", "LinkSpec", "ServiceSpec", "Topology", "load_topology"]

# The reference target; a team points --topology at its own file.
DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[2] / "mock_platform" / "topology.yaml"


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int = Field(ge=0, le=65535)
    component: str | None = None
    health: str = "/healthz"
    canary_of: str | None = None
    autostart: bool = True  # False: a slot the platform itself starts (a canary)


class LinkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str = Field(alias="from")
    to: str
    port: int = Field(ge=0, le=65535)


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    base_port: int = Field(default=18000, ge=1, le=65000)
    proxy_port: int = 474
    entrypoint: str
    auth: dict[str, str] = Field(default_factory=dict)
    services: dict[str, ServiceSpec]
    links: dict[str, LinkSpec]
    components: list[str] = Field(default_factory=list)
    builds: dict[str, dict[str, Any]] = Field(default_factory=dict)
    failover: dict[str, dict[str, Any]] = Field(default_factory=dict)
    command: list[str] = Field(
        default_factory=lambda: ["{python}", "-m", "mock_platform", "{service}"],
        description="How to start one service; {python} and {service} are filled in.",
    )

    @model_validator(mode="after")
    def _links_join_services(self) -> Topology:
        for name, link in self.links.items():
            for end in (link.source, link.to):
                if end not in self.services:
                    raise ValueError(f"link {name} names unknown service {end!r}")
        if self.entrypoint not in self.services:
            raise ValueError(f"entrypoint {self.entrypoint!r} is not a service")
        return self

    @property
    def started_services(self) -> list[str]:
        """The services ``up`` starts (canary slots are started by the platform itself)."""
        return [name for name, spec in self.services.items() if spec.autostart]

    def service_port(self, base_port: int, service: str) -> int:
        return base_port + self.services[service].port

    def link_port(self, base_port: int, link: str) -> int:
        return base_port + self.links[link].port

    def proxy_api_port(self, base_port: int) -> int:
        return base_port + self.proxy_port

    def gateway_url(self, base_port: int) -> str:
        return f"http://127.0.0.1:{self.service_port(base_port, self.entrypoint)}"

    def populate_body(self, base_port: int) -> list[dict[str, Any]]:
        """Toxiproxy's /populate body: one proxy per link, named after it."""
        return [
            {
                "name": name,
                "listen": f"127.0.0.1:{self.link_port(base_port, name)}",
                "upstream": f"127.0.0.1:{self.service_port(base_port, link.to)}",
                "enabled": True,
            }
            for name, link in self.links.items()
        ]


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> Topology:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the topology: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Topology.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'topology'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
