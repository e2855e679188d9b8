"""The topology: everything the harness knows of a platform. This file is the contract.

    topology.yaml -> load_topology (every problem at once, file:line) -> Topology
      services      started (a command the harness runs and may signal) or external
                    (already running: only health-checked, never started or signalled)
      links         proxy listen port -> a service or any host:port (what faults attack)
      entrypoint    the service clients talk to
      load          locustfile, user classes, endpoints, default mix, read-back of writes
      probes        name -> http (JSON path) | prometheus (metric + labels) | command
                    (stdout) | ratio (of two other probes)
      status_page   where the page is and how its components and states read (and where its
                    incidents are); components; slis: component -> the load endpoints that
                    measure it (what the communication checks hold the page to)
      capabilities  rollouts, failover records (with their URLs)
      invariants    name -> a built-in checker of the operation history
      stacks        name -> services, links and probes laid over these (--stack NAME), and
                    the programs it requires (checked first: exit 3 naming the install)
    Topology.service_url / link_listen / render(template) -> one running platform's addresses

Scenarios are validated against it; the engine, checks and backends read it. It imports
nothing of the harness but units, the YAML edge and problem formatting.
"""

from __future__ import annotations

import string
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from harness.errors import ConfigError
from harness.placeholders import WRITE_EXAMPLE, fill_write
from harness.problems import Problem, unknown, validation_problems
from harness.units import Duration
from harness.yamlfile import Loaded, YamlProblem, load_yaml

T = TypeVar("T")

__all__ = [
    "COMMAND_PLACEHOLDERS",
    "DATA_LOSS_CHECKS",
    "DEFAULT_STACK",
    "DEFAULT_TOPOLOGY",
    "PAGE_STATES",
    "STATUSPAGE_STATES",
    "CommandSource",
    "FailoverSpec",
    "HttpSource",
    "IncidentsSpec",
    "InvariantSpec",
    "LinkSpec",
    "LoadSpec",
    "ProbeSpec",
    "PrometheusSource",
    "RatioSource",
    "ReadBackSpec",
    "ReaderSpec",
    "RolloutsSpec",
    "ServiceSpec",
    "StatusPageSpec",
    "Topology",
    "load_topology",
    "topology_problems",
]

# The reference target; a team points --topology at its own file.
DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[1] / "mock_platform" / "topology.yaml"

PageState = Literal["operational", "degraded", "outage"]
PAGE_STATES: tuple[str, ...] = ("operational", "degraded", "outage")
# Atlassian Statuspage v2 component states, and ours, onto the three a scenario names.
STATUSPAGE_STATES: dict[str, PageState] = {
    "operational": "operational",
    "degraded_performance": "degraded",
    "partial_outage": "degraded",
    "major_outage": "outage",
    "under_maintenance": "degraded",
    "degraded": "degraded",
    "outage": "outage",
}
_LOCAL = "127.0.0.1"
# What a service's command may use; the backend fills them in (values here are examples).
DEFAULT_STACK = "default"  # the topology's own services, links and probes
COMMAND_PLACEHOLDERS = {
    "python": sys.executable,
    "stack": DEFAULT_STACK,
    "service": "name",
    "port": 18080,
    "base_port": 18000,
    "run_dir": "/run",
    "data_dir": "/run/data",
    "profile": "normal",
    "defects": "",
    "topology": "/run/topology.yaml",
    "here": "/path/of/the/topology",
    "link": {},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _exactly_one(model: BaseModel, fields: tuple[str, ...], what: str) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) != 1:
        raise ValueError(f"{what} needs exactly one of: {', '.join(fields)}")


# -- services and links ------------------------------------------------------------------


class ServiceSpec(_Strict):
    """A service of the platform: started by the harness (``command``) or ``external``."""

    port: int | None = Field(
        default=None, ge=0, le=65535, description="Offset from base_port (127.0.0.1)"
    )
    address: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:\[\]-]+:\d{1,5}$",
        description="host:port of an external service elsewhere (instead of port)",
    )
    external: bool = Field(
        default=False, description="Already running: health-checked only, never started"
    )
    command: list[str] | None = Field(
        default=None, description="argv with placeholders; default: the topology's command"
    )
    env: dict[str, str] = Field(default_factory=dict)
    health: str = Field(default="/healthz", description="A path on the service, or a URL")
    health_command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Instead of health: argv with placeholders whose exit 0 means healthy"
        " (a database's own readiness check, say)",
    )
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT"] = Field(
        default="SIGTERM", description="What asks it to stop (PostgreSQL: SIGINT, fast)"
    )
    component: str | None = Field(default=None, description="The status component it serves")
    canary_of: str | None = Field(default=None, description="A canary slot of this service")
    autostart: bool = Field(default=True, description="False: the platform starts it itself")

    @model_validator(mode="after")
    def _where(self) -> ServiceSpec:
        _exactly_one(self, ("port", "address"), "a service")
        if self.address is not None and not self.external:
            raise ValueError("address is for external services (add external: true)")
        if self.external and self.command is not None:
            raise ValueError("an external service has no command: the harness never starts it")
        return self


class LinkSpec(_Strict):
    """A proxy named after the link: listens on base_port + port, forwards to the target."""

    source: str | None = Field(default=None, alias="from", description="The calling service")
    to: str | None = Field(default=None, description="The service it forwards to")
    upstream: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.\[\]:-]+:\d{1,5}$", description="Or any host:port"
    )
    port: int = Field(ge=0, le=65535, description="Listen port, offset from base_port")
    replication: bool = Field(
        default=False, description="The replication stream (replication_lag's default link)"
    )

    @model_validator(mode="after")
    def _target(self) -> LinkSpec:
        _exactly_one(self, ("to", "upstream"), "a link")
        return self


class CriticalEndpoint(_Strict):
    """An endpoint that must hold under any single fault (harness explore: out of these
    bounds it is broken, not degraded)."""

    error_rate: float | None = Field(
        default=0.01, ge=0, le=1, description="Max error rate (null: may fail, as fast as p95 says)"
    )
    p95: str | None = Field(
        default="3x baseline + 250ms",
        description="Max p95: absolute (800ms) or relative to the baseline (3x baseline + 250ms);"
        " null: no bound",
    )
    within: Duration = Field(default=5.0, description="From N s after the fault (reaction time)")
    unless: list[str] = Field(
        default_factory=list,
        description="Links and services whose own fault excuses it: its single points of failure"
        " (a CDN edge that is the only way to play), declared as such",
    )


# -- stacks ------------------------------------------------------------------------------


class RequirementSpec(_Strict):
    """A program a stack needs on the machine: checked before anything starts."""

    what: str = Field(min_length=1, description="What it is, e.g. the PostgreSQL server")
    check: list[str] = Field(
        min_length=1, description="argv (placeholders: {python}, {here}): exit 0 = present"
    )
    install: str = Field(min_length=1, description="The command that installs it")


class StackSpec(_Strict):
    """The same platform on other infrastructure (--stack NAME): its services, links and
    probes laid over the topology's, name by name; null removes one."""

    description: str = ""
    requires: list[RequirementSpec] = Field(default_factory=list)
    services: dict[str, ServiceSpec | None] = Field(default_factory=dict)
    links: dict[str, LinkSpec | None] = Field(default_factory=dict)
    probes: dict[str, ProbeSpec | None] = Field(default_factory=dict)


def _overlaid(base: dict[str, T], layer: dict[str, T | None]) -> dict[str, T]:
    merged: dict[str, T | None] = {**base, **layer}
    return {name: spec for name, spec in merged.items() if spec is not None}


# -- load --------------------------------------------------------------------------------


class ReadBackSpec(_Strict):
    """How to read an acknowledged write back (the invariants' view of the platform)."""

    url: str = Field(description="A template with {ref}: the id the write was acknowledged with")
    json_path: str = Field(
        default="status", alias="json", description="Where the write's state is in the answer"
    )
    missing: list[int] = Field(default_factory=lambda: [404], description="Statuses: not there")
    terminal: list[str] = Field(default_factory=list, description="States that end a write")


class ReaderSpec(_Strict):
    """A place an acknowledged write must be served from once the platform healed, and what it
    must look like there. Templates take the topology's placeholders and the write's own:
    {ref} (its id), {state} (its state read back) and {value[KEY]} (what the load recorded
    when it invoked it). Exactly one check: json + equals, contains, or sha256."""

    description: str = ""
    url: str = Field(description="A template: what to GET")
    when: list[str] = Field(
        default_factory=list, description="Only writes read back in one of these states"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers")
    json_path: str | None = Field(default=None, alias="json", description="With equals")
    equals: str | None = Field(default=None, description="The value at json, a template")
    contains: str | None = Field(default=None, description="A template the body must contain")
    sha256: str | None = Field(default=None, description="The body's digest, a template")

    @model_validator(mode="after")
    def _one_check(self) -> ReaderSpec:
        checks = [c for c in (self.equals, self.contains, self.sha256) if c is not None]
        if len(checks) != 1:
            raise ValueError("needs exactly one of equals (with json), contains, sha256")
        if (self.equals is None) != (self.json_path is None):
            raise ValueError("equals and json go together")
        return self

    def templates(self) -> list[str]:
        found = [self.url, *self.headers.values()]
        return found + [t for t in (self.equals, self.contains, self.sha256) if t is not None]


class LoadSpec(_Strict):
    locustfile: str = Field(description="The platform's locustfile, relative to this file")
    user_classes: list[str] = Field(min_length=1, description="As scenarios name them in mix")
    mix: dict[str, int] = Field(default_factory=dict, description="Default weights")
    endpoints: list[str] = Field(
        default_factory=list, description="Request names the locustfile reports"
    )
    users: int = Field(default=20, ge=1, le=10_000)
    spawn_rate: float = Field(default=10, gt=0)
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment of the Locust processes (secrets)"
    )
    read_back: ReadBackSpec | None = None
    readers: dict[str, ReaderSpec] = Field(
        default_factory=dict,
        description="Every place an acknowledged write must be served from (readers_agree)",
    )

    @model_validator(mode="after")
    def _mix_of_classes(self) -> LoadSpec:
        for name, weight in self.mix.items():
            if name not in self.user_classes:
                raise ValueError(unknown("user class", name, self.user_classes))
            if weight < 0:
                raise ValueError(f"mix weight of {name} must not be negative")
        return self

    @property
    def default_mix(self) -> dict[str, int]:
        return dict(self.mix) or dict.fromkeys(self.user_classes, 1)


# -- probes ------------------------------------------------------------------------------


class _Located(_Strict):
    service: str | None = Field(default=None, description="Default: the entrypoint")
    path: str = "/"
    url: str | None = Field(default=None, description="An absolute URL template instead")


class HttpSource(_Located):
    """GET a URL; the value is at ``json`` (a dotted path; the whole answer without one)."""

    json_path: str | None = Field(default=None, alias="json")


class PrometheusSource(_Located):
    """A metric in Prometheus text format: the sum of the samples with these labels."""

    path: str = "/metrics"
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)


class CommandSource(_Strict):
    """A command whose standard output (stripped) is the value."""

    argv: list[str] = Field(min_length=1)
    timeout: Duration = 5.0
    env: dict[str, str] = Field(default_factory=dict)


class RatioSource(_Strict):
    """One probe's reading divided by another's (e.g. attempts per call)."""

    of: str
    per: str


class ProbeSpec(_Strict):
    description: str = ""
    http: HttpSource | None = None
    prometheus: PrometheusSource | None = None
    command: CommandSource | None = None
    ratio: RatioSource | None = None
    delta: Literal["phase"] | None = Field(
        default=None, description="The change since the phase began (counters)"
    )
    age: bool = Field(default=False, description="The value is a Unix time: read its age")
    every: Duration | None = Field(default=None, description="Read at most this often")
    on_error: str | None = Field(default=None, description="The value when unreadable")
    targets: list[str] | None = Field(
        default=None, description="Allowed {target} values (a scenario's target:)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ProbeSpec:
        _exactly_one(self, ("http", "prometheus", "command", "ratio"), "a probe")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "prometheus", "command", "ratio") if getattr(self, k))

    def templates(self) -> list[str]:
        if self.http is not None:
            return [self.http.url or self.http.path]
        if self.prometheus is not None:
            source = self.prometheus
            return [source.url or source.path, *source.labels.values()]
        return list(self.command.argv) if self.command else []

    @property
    def needs_target(self) -> bool:
        """Does a reading need a scenario's ``target:`` (its templates use {target})?"""
        json_path = self.http.json_path if self.http else None
        return self.targets is not None or any(
            "{target}" in t for t in [*self.templates(), json_path or ""]
        )


# -- status page, capabilities, invariants -----------------------------------------------


class IncidentsSpec(_Located):
    """Where the page's incidents are, in the Atlassian Statuspage v2 shape: a list at
    ``list`` of {id, name, status, impact, components, incident_updates: [{status, body,
    created_at, affected_components}]} (/api/v2/incidents.json; summary.json lists only the
    unresolved ones)."""

    list_path: str = Field(default="incidents", alias="list", description="Path to the list")


class StatusPageSpec(_Located):
    """Where the public status page is, and how its components and their states read."""

    incidents: IncidentsSpec | None = Field(
        default=None, description="Where its incidents are (the communication checks read them)"
    )

    components: str = Field(
        default="components", description="Path to the components: a mapping or a list"
    )
    key: str = Field(default="name", description="In a list: the field that names a component")
    state: str = Field(default="status", description="The field of a component's state")
    states: dict[str, PageState] = Field(
        default_factory=lambda: dict(STATUSPAGE_STATES),
        description="The page's state names onto operational, degraded, outage",
    )


class RolloutsSpec(_Strict):
    """POST url {service, build, steps, interval_s, analysis} -> 201 {id};
    GET url -> [{id, service, build, state, weight, reason}]; DELETE url/{id} aborts."""

    url: str


class FailoverSpec(_Strict):
    """GET url -> {active: region, events: [{at, from, to, reason}]}."""

    url: str
    regions: list[str] = Field(min_length=2)
    active: str = "active"
    events: str = "events"


class Capabilities(_Strict):
    rollouts: RolloutsSpec | None = None
    failover: dict[str, FailoverSpec] = Field(default_factory=dict)


InvariantCheck = Literal[
    "no_lost_writes",
    "no_duplicates",
    "all_terminal",
    "never_in_state",
    "acknowledged_counted",
    "readers_agree",
]
# The checkers that find acknowledged data lost (what a resolving status update must admit).
DATA_LOSS_CHECKS: frozenset[str] = frozenset({"no_lost_writes", "acknowledged_counted"})


class InvariantSpec(_Strict):
    """A named invariant and the built-in checker it uses (see README, invariants)."""

    check: InvariantCheck
    description: str = ""
    kind: str | None = Field(default=None, description="Only operations of this kind")
    flag: str | None = Field(default=None, description="never_in_state: the invoke's flag")
    state: str | None = Field(default=None, description="never_in_state: the forbidden state")
    endpoints: list[str] = Field(default_factory=list, description="acknowledged_counted")
    status: str = Field(default="202", description="acknowledged_counted: the status counted")
    probe: str | None = Field(default=None, description="acknowledged_counted: the counter")
    readers: list[str] = Field(default_factory=list, description="readers_agree: load.readers")

    @model_validator(mode="after")
    def _complete(self) -> InvariantSpec:
        if self.check == "never_in_state" and not (self.flag and self.state):
            raise ValueError("never_in_state needs flag and state")
        if self.check == "acknowledged_counted" and not (self.endpoints and self.probe):
            raise ValueError("acknowledged_counted needs endpoints and probe")
        if self.check == "readers_agree" and not self.readers:
            raise ValueError("readers_agree needs readers (names in load.readers)")
        return self


DefectClass = Literal[
    "correctness",  # what is served is wrong or missing
    "recovery",  # the way back to normal
    "partial-faults",  # a fraction failing, flapping, below thresholds
    "data-loss",  # acknowledged, then lost
    "blast-radius",  # one fault spreading to what it should not touch
    "degradation",  # no fallback where one was promised
    "overload",  # waits and queues instead of failing fast
    "communication",  # users and operators not told the truth
    "deployment",  # a release reaching users unchecked
]


class DefectCatch(_Strict):
    """Where the scenario library is expected to catch a defect."""

    scenario: str = Field(description="A scenario's name")
    phase: str | None = Field(
        default=None, description="The phase the expectation belongs to (omitted: any phase)"
    )
    expectation: str | list[str] = Field(
        description=(
            "The start of the failed expectation's name; a list: any one of them (a defect"
            " with two symptoms, either of which may show first)"
        )
    )

    @property
    def expectations(self) -> list[str]:
        return [self.expectation] if isinstance(self.expectation, str) else self.expectation

    def matches(self, phase: str, name: str) -> bool:
        """A failed judgement (its phase and name) is one this catch names."""
        if self.phase is not None and phase != self.phase:
            return False
        return any(name.startswith(expected) for expected in self.expectations)

    def __str__(self) -> str:
        where = f" in {self.phase}" if self.phase else ""
        return f"{self.scenario}: {' or '.join(self.expectations)}{where}"


class DefectSpec(_Strict):
    """One catalogued bug the platform can be started with (``--defect NAME``)."""

    breaks: DefectClass = Field(description="The class of property it breaks")
    description: str = Field(min_length=1, description="One line: what is wrong")
    caught_by: DefectCatch | None = Field(
        default=None, description="The expectation expected to fail on it (none known: omit)"
    )


def defect_names(values: Iterable[str]) -> tuple[str, ...]:
    """--defect a,b --defect c -> ("a", "b", "c")."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


# -- the topology ------------------------------------------------------------------------

ModuleName = Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")]


class Topology(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    base_port: int = Field(default=18000, ge=1, le=65000)
    proxy_port: int = Field(default=474, ge=0, le=65535, description="Offset of the proxy API")
    entrypoint: str
    profiles: list[str] = Field(default_factory=lambda: ["normal"], min_length=1)
    command: list[str] | None = Field(default=None, description="Default argv of a service")
    preload: list[ModuleName] = Field(
        default_factory=list,
        description=(
            "Python modules one process imports once; started services whose command is"
            " {python} -m MODULE ... are forked from it (local backend)"
        ),
    )
    services: dict[str, ServiceSpec] = Field(min_length=1)
    links: dict[str, LinkSpec] = Field(default_factory=dict)
    load: LoadSpec | None = None
    probes: dict[str, ProbeSpec] = Field(default_factory=dict)
    status_page: StatusPageSpec | None = None
    components: dict[str, str] = Field(
        default_factory=dict, description="Component -> its key on the status page"
    )
    slis: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Component -> the load endpoints whose samples measure it (its SLI: what"
        " the communication checks hold the status page to)",
    )
    capabilities: Capabilities = Field(default_factory=Capabilities)
    critical: dict[str, CriticalEndpoint] = Field(
        default_factory=dict,
        description="Load endpoints that must hold under any single fault (harness explore)",
    )
    invariants: dict[str, InvariantSpec] = Field(default_factory=dict)
    builds: dict[str, Any] = Field(
        default_factory=dict, description="service@build names a rollout may deploy"
    )
    defects: dict[str, DefectSpec] = Field(
        default_factory=dict,
        description="Catalogued bugs the platform starts with on --defect (its {defects})",
    )
    stacks: dict[str, StackSpec] = Field(
        default_factory=dict,
        description="Other infrastructure the platform runs on (--stack NAME); the topology"
        " itself is the stack named default",
    )
    extensions: dict[str, Any] = Field(default_factory=dict, description="x-... keys")
    # the stack laid over the file's services, links and probes: set by on_stack
    stack: SkipJsonSchema[str] = Field(default=DEFAULT_STACK, exclude=True)
    # where the file was read from: set by the loader, never written in a file
    path: SkipJsonSchema[Path] = Field(default=DEFAULT_TOPOLOGY, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _extensions_and_lists(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        extensions = {k: data.pop(k) for k in list(data) if isinstance(k, str) and k[:2] == "x-"}
        if extensions:
            data["extensions"] = extensions
        if isinstance(data.get("components"), list):  # a list names them as the page does
            data["components"] = {str(c): str(c) for c in data["components"]}
        return data

    def on_stack(self, name: str) -> Topology:
        """The topology as stack ``name`` runs it (ConfigError, exit 2, for an unknown one)."""
        if name == DEFAULT_STACK:
            return self
        stack = self.stacks.get(name)
        if stack is None:
            known = ", ".join([DEFAULT_STACK, *self.stacks])
            raise ConfigError(f"--stack {name}: the topology {self.name} has: {known}")
        return self.model_copy(
            update={
                "services": _overlaid(self.services, stack.services),
                "links": _overlaid(self.links, stack.links),
                "probes": _overlaid(self.probes, stack.probes),
                "stack": name,
            }
        )

    def command_values(
        self,
        base_port: int,
        service: str,
        python: str,
        run_dir: Path,
        profile: str,
        defects: tuple[str, ...],
    ) -> dict[str, object]:
        """What a service's command, environment and health command may use (see
        COMMAND_PLACEHOLDERS), for one platform: the local backends' and compose's alike."""
        return {
            "python": python,
            "service": service,
            "port": self.service_port(base_port, service),
            "base_port": base_port,
            "run_dir": run_dir,
            "data_dir": run_dir / "data",
            "profile": profile,
            "defects": ",".join(defects),
            "stack": self.stack,
            "topology": run_dir / "topology.yaml",
            "here": self.path.parent,
            "link": {name: f"127.0.0.1:{self.link_port(base_port, name)}" for name in self.links},
        }

    def unmet_requirements(
        self, present: Callable[[list[str]], bool] | None = None, python: str = sys.executable
    ) -> list[RequirementSpec]:
        """What this stack needs and ``present`` (an argv, True = exit 0) does not find: by
        default each check runs on this machine; the docker backend runs them in its image."""
        if self.stack == DEFAULT_STACK:
            return []
        values = {"python": python, "here": self.path.parent}
        return [
            need
            for need in self.stacks[self.stack].requires
            if not (present or _runs_here)([part.format(**values) for part in need.check])
        ]

    def missing_requirements(self) -> list[str]:
        """What this stack needs and the machine lacks, each with its install command."""
        return [
            f"{need.what} (install it with: {need.install})" for need in self.unmet_requirements()
        ]

    def require_defects(self, chosen: tuple[str, ...]) -> None:
        """Raise ConfigError (exit 2) unless the topology declares every --defect name."""
        if chosen and not self.defects:
            raise ConfigError(
                f"--defect: the topology {self.name} declares no defects (its `defects:`)"
            )
        problems = [
            f"--defect {name}: {unknown('defect', name, self.defects)}"
            for name in chosen
            if name not in self.defects
        ]
        if problems:
            raise ConfigError("; ".join(problems))

    # -- addresses of one running platform -----------------------------------------------

    @property
    def started_services(self) -> list[str]:
        """The services the harness starts (not external, not a platform-started slot)."""
        return [n for n, s in self.services.items() if s.autostart and not s.external]

    @property
    def external_services(self) -> list[str]:
        return [n for n, s in self.services.items() if s.external]

    @property
    def checked_services(self) -> list[str]:
        """Every service whose health a platform waits for."""
        return [n for n, s in self.services.items() if s.autostart or s.external]

    def service_address(self, base_port: int, service: str) -> tuple[str, int]:
        spec = self.services[service]
        if spec.address is not None:
            host, _, port = spec.address.rpartition(":")
            return host.strip("[]"), int(port)
        assert spec.port is not None
        return _LOCAL, base_port + spec.port

    def service_port(self, base_port: int, service: str) -> int:
        return self.service_address(base_port, service)[1]

    def service_url(self, base_port: int, service: str) -> str:
        host, port = self.service_address(base_port, service)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def health_url(self, base_port: int, service: str) -> str:
        health = self.services[service].health
        if "://" in health:
            return self.render(health, base_port)
        return self.service_url(base_port, service) + health

    def gateway_url(self, base_port: int) -> str:
        return self.service_url(base_port, self.entrypoint)

    def link_port(self, base_port: int, link: str) -> int:
        return base_port + self.links[link].port

    def link_upstream(self, base_port: int, link: str) -> str:
        spec = self.links[link]
        if spec.upstream is not None:
            return spec.upstream
        assert spec.to is not None
        host, port = self.service_address(base_port, spec.to)
        return f"{host}:{port}"

    def proxy_api_port(self, base_port: int) -> int:
        return base_port + self.proxy_port

    def populate_body(self, base_port: int) -> list[dict[str, Any]]:
        """Toxiproxy's /populate body: one proxy per link, named after it."""
        return [
            {
                "name": name,
                "listen": f"{_LOCAL}:{self.link_port(base_port, name)}",
                "upstream": self.link_upstream(base_port, name),
                "enabled": True,
            }
            for name in self.links
        ]

    def local_ports(self, base_port: int) -> list[tuple[str, int]]:
        """Every (what, port) a platform of this topology listens on here."""
        owners = [
            (f"service {name}", self.service_port(base_port, name))
            for name, spec in self.services.items()
            if not spec.external and spec.port is not None
        ]
        return owners + [(f"link proxy {n}", self.link_port(base_port, n)) for n in self.links]

    @property
    def replication_link(self) -> str | None:
        marked = [name for name, link in self.links.items() if link.replication]
        return marked[0] if len(marked) == 1 else None

    @property
    def canary_slots(self) -> dict[str, str]:
        """service -> its canary slot."""
        return {s.canary_of: n for n, s in self.services.items() if s.canary_of}

    def locustfile(self) -> Path | None:
        return None if self.load is None else (self.path.parent / self.load.locustfile).resolve()

    def render(self, template: str, base_port: int, target: str | None = None) -> str:
        """Fill {entrypoint}, {url[NAME]}, {target}, {python}, {base_port} in a template."""
        return _FORMATTER.vformat(template, (), self._context(base_port, target))

    def _context(self, base_port: int, target: str | None) -> dict[str, Any]:
        return {
            "entrypoint": self.gateway_url(base_port),
            "url": {name: self.service_url(base_port, name) for name in self.services},
            "target": target or "",
            "python": sys.executable,
            "base_port": base_port,
        }

    def url_of(
        self,
        source: HttpSource | PrometheusSource | StatusPageSpec | IncidentsSpec,
        base_port: int,
        target: str | None = None,
    ) -> str:
        if source.url is not None:
            return self.render(source.url, base_port, target)
        service = source.service or self.entrypoint
        return self.service_url(base_port, service) + self.render(source.path, base_port, target)


class _StrictFormatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int) or key not in kwargs:
            known = "entrypoint, url[NAME], target, python, base_port"
            raise KeyError(f"unknown placeholder {{{key}}}; placeholders: {known}")
        return kwargs[key]


_FORMATTER = _StrictFormatter()


# -- cross-references: every name a part uses is declared --------------------------------


def _references(topology: Topology) -> list[tuple[tuple[str | int, ...], str]]:
    """(path in the file, message) for each name used but not declared."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    services = set(topology.services)

    def service(path: tuple[str | int, ...], name: str | None) -> None:
        if name is not None and name not in services:
            found.append((path, unknown("service", name, services)))

    service(("entrypoint",), topology.entrypoint)
    for name, link in topology.links.items():
        service(("links", name, "from"), link.source)
        service(("links", name, "to"), link.to)
    for name, spec in topology.services.items():
        service(("services", name, "canary_of"), spec.canary_of)
        if spec.autostart and not spec.external and spec.command is None and not topology.command:
            found.append((("services", name), "needs a command (or a topology-wide command)"))
    for name, probe in topology.probes.items():
        source = probe.http or probe.prometheus
        if source is not None:
            service(("probes", name, probe.kind, "service"), source.service)
        if probe.ratio is not None:
            for end in ("of", "per"):
                ref = getattr(probe.ratio, end)
                if ref not in topology.probes or ref == name:
                    found.append(
                        (("probes", name, "ratio", end), unknown("probe", ref, topology.probes))
                    )
    if topology.status_page is not None:
        service(("status_page", "service"), topology.status_page.service)
    for name, invariant in topology.invariants.items():
        if invariant.probe is not None and invariant.probe not in topology.probes:
            found.append(
                (("invariants", name, "probe"), unknown("probe", invariant.probe, topology.probes))
            )
        endpoints = topology.load.endpoints if topology.load else []
        for index, endpoint in enumerate(invariant.endpoints):
            if endpoint not in endpoints:
                found.append(
                    (
                        ("invariants", name, "endpoints", index),
                        unknown("endpoint", endpoint, endpoints),
                    )
                )
        reads_back = invariant.check not in ("acknowledged_counted", "no_duplicates")
        if reads_back and (topology.load is None or topology.load.read_back is None):
            found.append((("invariants", name), "needs load.read_back (how to read a write)"))
        readers = topology.load.readers if topology.load else {}
        for index, reader in enumerate(invariant.readers):
            if reader not in readers:
                found.append(
                    (("invariants", name, "readers", index), unknown("reader", reader, readers))
                )
    if topology.components and topology.status_page is None:
        found.append((("components",), "components need a status_page to read them from"))
    if topology.status_page is not None and topology.status_page.incidents is not None:
        service(("status_page", "incidents", "service"), topology.status_page.incidents.service)
    endpoints = topology.load.endpoints if topology.load else []
    for component, measured_by in topology.slis.items():
        if component not in topology.components:
            found.append(
                (("slis", component), unknown("component", component, topology.components))
            )
        for index, endpoint in enumerate(measured_by):
            if endpoint not in endpoints:
                found.append((("slis", component, index), unknown("endpoint", endpoint, endpoints)))
    found += _critical_problems(topology, endpoints)
    if topology.load is not None and not topology.locustfile().is_file():  # type: ignore[union-attr]
        found.append((("load", "locustfile"), f"no such file {topology.load.locustfile!r}"))
    found += _template_problems(topology)
    return found


def _critical_problems(
    topology: Topology, endpoints: list[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    from harness.scenario.model import Threshold  # the scenario's own bound syntax

    found: list[tuple[tuple[str | int, ...], str]] = []
    for endpoint, bounds in topology.critical.items():
        if endpoint not in endpoints:
            found.append((("critical", endpoint), unknown("endpoint", endpoint, endpoints)))
        if bounds.error_rate is None and bounds.p95 is None:
            found.append((("critical", endpoint), "no bound: give error_rate, p95 or both"))
        try:
            if bounds.p95 is not None:
                Threshold.model_validate(bounds.p95)
        except ValueError as exc:
            found.append((("critical", endpoint, "p95"), str(exc).splitlines()[-1].strip()))
        targets = [*topology.links, *topology.services]
        for index, name in enumerate(bounds.unless):
            if name not in targets:
                where = ("critical", endpoint, "unless", index)
                found.append((where, unknown("link or service", name, targets)))
    return found


def _template_problems(topology: Topology) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    templates: list[tuple[tuple[str | int, ...], str]] = []
    for name, probe in topology.probes.items():
        templates += [(("probes", name, probe.kind), t) for t in probe.templates()]
    if topology.status_page is not None:
        page = topology.status_page
        templates.append((("status_page",), page.url or page.path))
        if page.incidents is not None:
            templates.append(
                (("status_page", "incidents"), page.incidents.url or page.incidents.path)
            )
    if topology.load is not None and topology.load.read_back is not None:
        templates.append((("load", "read_back", "url"), topology.load.read_back.url))
    for name, reader in (topology.load.readers if topology.load else {}).items():
        templates += [(("load", "readers", name), t) for t in reader.templates()]
    rollouts = topology.capabilities.rollouts
    if rollouts is not None:
        templates.append((("capabilities", "rollouts", "url"), rollouts.url))
    for name, failover in topology.capabilities.failover.items():
        templates.append((("capabilities", "failover", name, "url"), failover.url))
    for name, spec in topology.services.items():
        argv = spec.command or topology.command or []
        example = {**COMMAND_PLACEHOLDERS, "link": dict.fromkeys(topology.links, "127.0.0.1:1")}
        for index, part in enumerate([*argv, *spec.env.values(), *(spec.health_command or [])]):
            try:
                part.format(**example)
            except (KeyError, ValueError, IndexError, AttributeError) as exc:
                where = "command" if spec.command else "topology command"
                found.append(
                    (
                        ("services", name, "command", index)
                        if spec.command
                        else ("command", index),
                        f"bad {where} part {part!r}: unknown placeholder {exc}; placeholders: "
                        + ", ".join(COMMAND_PLACEHOLDERS),
                    )
                )
    for path, template in templates:
        try:
            topology.render(fill_write(template, WRITE_EXAMPLE), topology.base_port, "target")
        except (KeyError, ValueError, IndexError, AttributeError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            found.append((path, f"bad template {template!r}: {message}"))
    return found


def topology_problems(path: Path) -> tuple[Topology | None, list[Problem]]:
    """The topology in ``path`` and every problem in it (None when there are any)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, [Problem(name, 1, "", f"cannot read the topology: {reason}")]
    try:
        loaded: Loaded = load_yaml(text)
    except YamlProblem as exc:
        return None, [Problem(name, exc.line, "", exc.message)]
    if not isinstance(loaded.data, dict):
        return None, [Problem(name, 1, "", "a topology is a mapping with name, services, ...")]
    try:
        topology = Topology.model_validate({**loaded.data, "path": path.resolve()})
    except ValidationError as exc:
        return None, sorted(validation_problems(exc, loaded, name), key=lambda p: (p.line, p.field))
    found = _references(topology)
    for stack_name, stack in topology.stacks.items():  # each stack must hold together too
        for where, message in _references(topology.on_stack(stack_name)):
            laid = where[:1] in (("services",), ("links",), ("probes",)) and where[1] in getattr(
                stack, str(where[0])
            )
            found.append((("stacks", stack_name, *where) if laid else where, message))
    problems = [
        Problem(name, loaded.line_of(where), ".".join(map(str, where)), message)
        for where, message in dict.fromkeys(found)
    ]
    return (None if problems else topology), sorted(problems, key=lambda p: (p.line, p.field))


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> Topology:
    """The topology, or ConfigError listing every problem (exit 2)."""
    topology, problems = topology_problems(path)
    if topology is None:
        raise ConfigError("invalid topology:\n" + "\n".join(str(p) for p in problems))
    return topology


def _runs_here(argv: list[str]) -> bool:
    """A stack requirement's check on this machine: exit 0 within 30 s."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
