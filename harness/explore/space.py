"""The fault space: what can go wrong on a platform, as typed choices an experiment combines.

    Discovery (links that carried traffic, services, endpoints, baseline)
      -> singles(): each used link x {down, blackhole, latency, reset_peer, partial, and the
         HTTP faults on links to HTTP services} + each started service x {kill, pause};
         kind by kind (every dependency lost before any slowed), the busiest link first
      -> implied(): as results come in, a link fault whose whole service's loss the platform
         absorbed (its kill for a down, its pause for a blackhole) goes to the end of the plan
      -> pairs(): two faults together, chosen by what the singles showed (a fault absorbed by a
         fallback is paired with what the path or the fallback depends on: a shared
         dependency fails both); pairs implied by a single are skipped
A FaultChoice renders itself as a scenario's fault (the same YAML an engineer writes).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Literal

__all__ = [
    "LINK_FAULTS",
    "SERVICE_FAULTS",
    "Discovery",
    "FaultChoice",
    "LinkTraffic",
    "implied",
    "pairs",
    "singles",
]

LinkFault = Literal[
    "down", "blackhole", "latency", "reset_peer", "partial", "http_abort", "http_corrupt"
]
ServiceFault = Literal["kill", "pause"]
LINK_FAULTS: tuple[LinkFault, ...] = ("down", "blackhole", "latency", "reset_peer", "partial")
HTTP_FAULTS: tuple[LinkFault, ...] = ("http_abort", "http_corrupt")
SERVICE_FAULTS: tuple[ServiceFault, ...] = ("kill", "pause")
# the order singles are tried in (a budget rarely covers them all; see singles())
SEARCH_ORDER: tuple[str, ...] = (
    "kill",
    "down",
    "pause",
    "blackhole",
    "http_corrupt",
    "latency",
    "http_abort",
    "reset_peer",
    "partial",
)
# a link fault is part of a fault on the service the link leads to (that service lost whole,
# to every caller at once): a refused link of a crash, a hung link of a frozen process
WHOLE_SERVICE: dict[str, str] = {"down": "kill", "blackhole": "pause"}
MIN_LATENCY_MS = 200
MAX_LATENCY_MS = 3000
THIN_WINDOW_S = 3.0  # the shortest window a check is judged on (the before phase)
MIN_REQUESTS = 5.0  # requests a judged window must expect to mean anything


@dataclasses.dataclass(frozen=True)
class FaultChoice:
    """One fault: a kind on a link or a service. ``latency_ms`` for latency; ``toxicity`` for
    the share of connections (or requests, for HTTP faults) it hits."""

    kind: str
    target: str
    latency_ms: int = 0
    toxicity: float = 1.0

    @property
    def on_link(self) -> bool:
        return self.kind not in SERVICE_FAULTS

    @property
    def label(self) -> str:
        """What a matrix column and a scenario's name say: ``latency 600ms``, ``kill``."""
        text = f"latency {self.latency_ms}ms" if self.kind == "latency" else self.kind
        return text + (f" {self.toxicity:.0%}" if self.toxicity < 1 else "")

    @property
    def slug(self) -> str:
        return f"{self.target}-{self.kind}".replace("_", "-")

    def fault(self) -> dict[str, object]:
        """The scenario fault this is (validated with the scenario it goes into)."""
        if self.kind in SERVICE_FAULTS:
            return {"type": self.kind, "service": self.target}
        body: dict[str, object]
        if self.kind == "down":
            return {"type": "down", "link": self.target}
        if self.kind in ("blackhole", "partial"):
            body = {"type": "timeout", "attributes": {"timeout": 0}}
        elif self.kind == "latency":
            body = {"type": "latency", "attributes": {"latency": self.latency_ms}}
        elif self.kind == "reset_peer":
            body = {"type": "reset_peer", "attributes": {"timeout": 0}}
        elif self.kind == "http_abort":
            body = {"type": "http_abort", "attributes": {"status": 503}}
        else:  # http_corrupt: a success with nothing in it, the answer a client must not trust
            body = {"type": "http_corrupt", "attributes": {"mode": "empty_success"}}
        body["link"] = self.target
        if self.toxicity < 1:
            body["toxicity"] = round(self.toxicity, 3)
        return body

    def weaker(self) -> list[FaultChoice]:
        """Smaller versions of this fault, for shrinking: less latency, fewer connections."""
        out: list[FaultChoice] = []
        if self.kind == "latency" and self.latency_ms > MIN_LATENCY_MS:
            out.append(
                dataclasses.replace(self, latency_ms=max(MIN_LATENCY_MS, self.latency_ms // 2))
            )
        if self.on_link and self.kind != "down" and self.toxicity > 0.15:
            out.append(dataclasses.replace(self, toxicity=round(self.toxicity / 2, 3)))
        return out


@dataclasses.dataclass(frozen=True)
class LinkTraffic:
    link: str
    source: str | None
    target: str | None
    bytes: int
    http: bool  # the target answers HTTP (its health is an HTTP check)
    replication: bool = False  # a follower's link to its leader (topology: replication: true)


@dataclasses.dataclass
class Discovery:
    """What one fault-free run showed: the links that carried traffic (busiest first), the
    started services, the endpoints the load called, and their baseline figures."""

    links: list[LinkTraffic]
    services: list[str]
    endpoints: list[str]
    baseline_p95_ms: dict[str, float]
    baseline_error_rate: dict[str, float]
    entrypoint: str
    unused_links: list[str] = dataclasses.field(default_factory=list)
    rate_per_s: dict[str, float] = dataclasses.field(default_factory=dict)
    # service -> the group of services that can stand in for each other (a failover's regions)
    fallback_groups: dict[str, str] = dataclasses.field(default_factory=dict)

    def thin(self, window_s: float = THIN_WINDOW_S) -> set[str]:
        """Endpoints too quiet to judge on a short window: fewer than 5 requests expected in
        ``window_s`` (an empty window there is chance, not a hung endpoint)."""
        return {e for e in self.endpoints if self.rate_per_s.get(e, 0.0) * window_s < MIN_REQUESTS}

    @property
    def latency_ms(self) -> int:
        """The latency fault: five times the slowest endpoint's baseline p95, within bounds."""
        slowest = max(self.baseline_p95_ms.values(), default=0.0)
        return int(min(MAX_LATENCY_MS, max(MIN_LATENCY_MS, 5 * slowest)))


def singles(
    found: Discovery, http_faults: bool = True, kinds: tuple[str, ...] = ()
) -> list[FaultChoice]:
    """Every single fault worth one experiment, the likeliest to matter first: kind by kind
    (SEARCH_ORDER: a service lost whole before one of its links, so that implied() can put
    off what a loss the platform absorbed implies), links by the traffic they carried,
    services by how many used links lead to them. The entrypoint is never killed or paused
    (every request needs it: an outage by construction). ``kinds``: only these (empty: all)."""
    choices: list[FaultChoice] = []
    for link in found.links:
        for kind in (*LINK_FAULTS, *(HTTP_FAULTS if http_faults and link.http else ())):
            choices.append(
                FaultChoice(
                    kind,
                    link.link,
                    latency_ms=found.latency_ms if kind == "latency" else 0,
                    toxicity=0.5 if kind == "partial" else 1.0,
                )
            )
    fan_in = {s: sum(1 for link in found.links if link.target == s) for s in found.services}
    for service in sorted(found.services, key=lambda s: -fan_in[s]):
        if service == found.entrypoint:
            continue
        choices += [FaultChoice(kind, service) for kind in SERVICE_FAULTS]
    # breadth first: every dependency lost (crashed, then refused) before any hangs, hangs
    # before wrong answers (a success with nothing in it: silent, the worst a user gets),
    # those before slowness, errors and partial faults; within a kind, the busiest first
    rank = {kind: i for i, kind in enumerate(SEARCH_ORDER)}
    order = {c: i for i, c in enumerate(choices)}
    chosen = [c for c in choices if not kinds or c.kind in kinds]
    return sorted(chosen, key=lambda c: (rank[c.kind], order[c]))


def implied(
    plan: list[tuple[FaultChoice, ...]], absorbed: FaultChoice, found: Discovery
) -> list[tuple[FaultChoice, ...]]:
    """The experiments of ``plan`` that ``absorbed`` implies (the platform held through it,
    or degraded within bounds): if it is a service lost whole (a kill, a pause), the same
    kind of fault on one link to that service (a down, a blackhole), fewer faults being no
    worse (the monotonicity lineage-driven fault injection assumes). The explorer puts them
    off to the end of its plan rather than drop them: a gray failure (a fallback whose health
    check takes another path, so that a lost link goes unnoticed where a lost service does
    not) breaks the assumption, and a budget that reaches them still runs them. Never a
    replication link: a follower cut off while its leader keeps taking writes is a partial
    partition, which the leader lost whole (no writes at all) does not show; what the
    follower does on coming back (resume from the leader's head, skipping what it missed)
    is then never tried."""
    if absorbed.on_link:
        return []
    to_service = {
        link.link for link in found.links if link.target == absorbed.target and not link.replication
    }
    return [
        experiment
        for experiment in plan
        if len(experiment) == 1
        and experiment[0].target in to_service
        and WHOLE_SERVICE.get(experiment[0].kind) == absorbed.kind
    ]


def pairs(
    found: Discovery, held: list[FaultChoice], degraded: list[FaultChoice]
) -> list[tuple[FaultChoice, FaultChoice]]:
    """Two faults together, only where the singles say a pair can show more than its parts:
    a fault the platform absorbed (held, or degraded within bounds) means something took over
    (another region, a cache, a replica: a sibling link of the same caller; of the same
    failover group where the topology declares any). A fallback that shares a dependency with
    the path it protects fails with it, so the fault is paired with a fault on what the path
    or its fallback depends on. Never with the only fallback itself (the path and every
    fallback out is an outage by construction), nor with a fault that broke alone (implied),
    nor two on one target."""
    absorbed = [c for c in held + degraded if c.kind in ("down", "blackhole", "kill")]
    out: list[tuple[FaultChoice, FaultChoice]] = []
    for first, second in itertools.combinations(absorbed, 2):
        if first.target == second.target:
            continue
        if second.target in _partners(first, found) or first.target in _partners(second, found):
            out.append((first, second))
    return out


def _partners(choice: FaultChoice, found: Discovery) -> set[str]:
    """The links and services whose loss, added to ``choice``, may take out the fallback
    that absorbed it: what the cut path depends on, and what its fallbacks depend on."""
    if choice.on_link:
        cut = [link for link in found.links if link.link == choice.target]
    else:
        cut = [link for link in found.links if link.target == choice.target]
    names: set[str] = set()
    for lost in cut:
        fallbacks = [link for link in _siblings(lost, found) if link.target is not None]
        if lost.target is None or not fallbacks:
            continue  # nothing took over from this path: a second fault shows nothing more
        names |= _dependencies(lost.target, found)
        for fallback in fallbacks:
            assert fallback.target is not None
            names |= _dependencies(fallback.target, found)
            if len(fallbacks) > 1:  # another fallback remains when this one goes too
                names |= {fallback.link, fallback.target}
        names.discard(lost.target)
    return names - {found.entrypoint}


def _siblings(lost: LinkTraffic, found: Discovery) -> list[LinkTraffic]:
    """The caller's other links that can take over from ``lost``: to a service of the same
    fallback group where the topology declares groups (none if its target is in none), else
    to any other service."""
    groups = found.fallback_groups
    group = groups.get(lost.target or "")
    return [
        link
        for link in found.links
        if link.source == lost.source
        and link.link != lost.link
        and link.target not in (None, lost.target)
        and (not groups or (group is not None and groups.get(link.target or "") == group))
    ]


def _dependencies(service: str, found: Discovery) -> set[str]:
    """The links a service calls through, and the services they lead to."""
    out = [link for link in found.links if link.source == service]
    return {link.link for link in out} | {link.target for link in out if link.target}
