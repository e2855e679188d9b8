"""harness explore: the loop that discovers, plans, runs, judges, searches and shrinks.

Explorer.run():
  platform up once (reused: faults removed and health re-checked between experiments;
  started again only when an experiment left it unhealthy or not steady)
  -> discover: a fault-free run; the proxy's byte counters say which links carried traffic
  -> singles (space.singles), then with --depth 2 the pairs the singles point at
  -> each experiment: a scenario file (oracle.experiment_scenario) run by the engine,
     judged by oracle.judge -> Outcome; explore.json and the matrix rewritten after each
  -> each distinct broken property set: shrink (shrink.py) and confirm by seeded re-runs
     (at the end; with --stop-after N, once N sets broke: a finding that did not reproduce
     does not count, and the search goes on)
The budget bounds the whole: no experiment starts that cannot end within it. Ctrl-C (or
SIGTERM) ends the running experiment's faults, stops the platform, and writes what was
found; the caller exits 3.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.engine.console import PlainView
from harness.engine.parts import RunContext, run_scenario
from harness.engine.session import SessionOptions, open_platform
from harness.engine.shield import deferred_interrupts
from harness.errors import ConfigError, HarnessError
from harness.explore import oracle
from harness.explore.oracle import Experiment, Judged, Verdict
from harness.explore.output import link_faults, write_outputs
from harness.explore.results import Exploration, FaultRecord, Finding, Outcome, PutOff
from harness.explore.shrink import needed_failures, shrink
from harness.explore.space import (
    Discovery,
    FaultChoice,
    LinkTraffic,
    implied,
    pairs,
    singles,
)
from harness.load import LoadOptions
from harness.load.result import Sample
from harness.platform import Platform
from harness.record import RunRecord
from harness.scenario import Scenario, TopologyCache, load_scenario
from harness.topology import DEFAULT_STACK, Topology

__all__ = ["ExploreOptions", "Explorer"]

DISCOVER_S = 8.0
RUN_OVERHEAD_S = 6.0  # a run's start, invariants read back and cleanup, beyond its phases
TRIES_PER_PROPERTIES = 2  # experiments shrunk per set of broken properties, while none reproduces


@dataclasses.dataclass
class ExploreOptions:
    topology: Topology  # on its stack already
    out: Path
    budget_s: float = 1200.0
    depth: int = 1
    seed: int = 1
    profile: str | None = None
    defects: tuple[str, ...] = ()
    backend: str = "local"
    base_port: int | None = None
    users: int | None = None  # default: the topology's load
    reruns: int = 10  # seeded re-runs a minimal scenario must fail (at least 90% of them)
    fault_s: float = 8.0  # a critical endpoint judged from 5 s in needs 3 s more (shrink.py)
    stop_after: int | None = None  # distinct broken property sets, then the search ends
    kinds: tuple[str, ...] = ()  # the fault kinds to try (empty: every kind)
    toxiproxy_url: str | None = None  # a Toxiproxy server instead of the embedded proxy
    # a build without the bug: each minimal scenario is run once on it, and must pass there
    reference_profile: str | None = None


class _QuietView(PlainView):
    """The engine's lines go to the exploration's log, not the terminal."""

    def __init__(self, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self._file = log.open("a", encoding="utf-8")
        super().__init__(self._file)

    def close(self) -> None:
        self._file.close()


class Explorer:
    def __init__(self, options: ExploreOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say
        self.topology = options.topology
        self.clock: Callable[[], float] = time.monotonic  # a fake one in unit tests
        self.started = self.clock()
        self.cache = TopologyCache()
        self.view = _QuietView(options.out / "explore.log")
        self.platform: Platform | None = None
        self.counter = itertools.count(1)  # runs (their directories)
        self.names = itertools.count(1)  # experiment files
        self.last_run_dir = options.out / "runs"
        self.result = Exploration(
            topology=str(self.topology.path),
            stack=self.topology.stack,
            profile=options.profile or self.topology.profiles[0],
            defects=list(options.defects),
            seed=options.seed,
            depth=options.depth,
            budget_s=options.budget_s,
        )
        self.found: Discovery | None = None
        self.overhead_s = RUN_OVERHEAD_S  # the last run's time beyond its phases (run_cost)
        # the build the platform is started as: the one explored, or the reference for a moment
        self.build: tuple[str | None, tuple[str, ...]] = (options.profile, options.defects)

    # -- time -------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        return self.options.budget_s - self.elapsed()

    def run_cost(self, experiment: Experiment) -> float:
        """What one run of it will take: its phases plus the last run's overhead (at least
        RUN_OVERHEAD_S). The overhead is the invariants' read-back, mostly, and a platform
        that lost uploads makes it wait up to 60 s for them on every run."""
        return experiment.duration_s + self.overhead_s

    # -- the platform -------------------------------------------------------------------------

    def _session(self, seed: int) -> SessionOptions:
        profile, defects = self.build
        return SessionOptions(
            profile=profile,
            defects=defects,
            base_port=self.options.base_port,
            backend=self.options.backend,
            stack=self.topology.stack,
            toxiproxy_url=self.options.toxiproxy_url,
            load=LoadOptions(seed=seed),
        )

    def _up(self) -> Platform:
        if self.platform is None:
            self.platform = open_platform(
                self._session(self.options.seed),
                self.options.out / "platform",
                self.topology,
                echo=lambda line: self.say(f"platform: {line}"),
            )
        return self.platform

    def _down(self) -> None:
        if self.platform is not None:
            plat, self.platform = self.platform, None
            plat.down()

    def _healthy(self) -> bool:
        plat = self.platform
        if plat is None:
            return False
        return all(plat.healthy(service) for service in self.topology.checked_services)

    def _steady(self) -> None:
        """Between experiments: every service healthy, else the platform starts again."""
        if self.platform is not None and not self._healthy():
            self.say("the platform is not healthy after the last experiment: starting it again")
            self._down()
        self._up()

    # -- one run ------------------------------------------------------------------------------

    def _scenario(self, data: dict[str, Any], path: Path) -> Scenario:
        """Written, then read back through the loader every scenario goes through."""
        if self.topology.stack != DEFAULT_STACK:  # what it names may live on that stack only
            data["stack"] = self.topology.stack
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_yaml(data), encoding="utf-8")
        scenario, problems = load_scenario(path, self.topology.path, self.cache)
        if scenario is None:  # a bug of ours: what we write must be valid
            raise HarnessError(
                "explore wrote an invalid scenario: " + "; ".join(map(str, problems))
            )
        return scenario

    def _run(self, scenario: Scenario, seed: int) -> RunRecord:
        self._steady()
        plat = self._up()
        number = next(self.counter)
        context = RunContext(
            f"explore{number:04d}",
            self.options.out / "runs" / f"{number:04d}-{scenario.name}",
            plat,
            Path(".chaos/faults").resolve(),
            1.0,
            LoadOptions(seed=seed),
            self.view,
        )
        began = self.clock()
        record = run_scenario(scenario, context)
        self.overhead_s = max(RUN_OVERHEAD_S, self.clock() - began - scenario.duration_s)
        self.last_run_dir = context.run_dir
        context.run_dir.mkdir(parents=True, exist_ok=True)  # what was judged, to look into
        (context.run_dir / "record.json").write_text(record.model_dump_json(indent=1), "utf-8")
        return record

    def _ref(self, where: Path) -> str:
        return oracle.relative_ref(self.topology, where)

    def experiment_scenario(
        self,
        experiment: Experiment,
        name: str,
        where: Path,
        keep: set[str] | None = None,
        description: str = "",
    ) -> Scenario:
        assert self.found is not None
        data = oracle.experiment_scenario(
            experiment, self.found, self.topology, name, keep, self._ref(where), description
        )
        return self._scenario(data, where / f"{name}.yaml")

    def _thin(self) -> set[str]:
        return self.found.thin() if self.found is not None else set()

    def judge(
        self, experiment: Experiment, seed: int, keep: set[str] | None = None
    ) -> tuple[Judged, float, str]:
        """Run the experiment (all checks, or only ``keep``) once; its verdict."""
        where = self.options.out / ("experiments" if keep is None else "shrinking")
        name = f"x{next(self.names):04d}-{experiment.slug}"
        scenario = self.experiment_scenario(experiment, name, where, keep)
        began = self.clock()
        record = self._run(scenario, seed)
        judged = oracle.judge(record, set(self.topology.critical), self._thin())
        if judged.verdict is Verdict.INCONCLUSIVE:  # not steady before the fault: once more
            self.say(
                f"  not steady before the fault ({judged.broken[0]}): platform restarted, again"
            )
            self._down()
            record = self._run(scenario, seed)
            judged = oracle.judge(record, set(self.topology.critical), self._thin())
        return judged, self.clock() - began, str(self.last_run_dir)

    # -- the phases ---------------------------------------------------------------------------

    def discover(self) -> Discovery:
        users = self.options.users or (self.topology.load.users if self.topology.load else 10)
        self.say(f"discover: {DISCOVER_S:g} s fault-free under {users} users")
        before = self._bytes()
        data = oracle.discovery_scenario(self.topology, users, DISCOVER_S)
        data["topology"] = self._ref(self.options.out / "experiments")
        scenario = self._scenario(data, self.options.out / "experiments" / "discover.yaml")
        record = self._run(scenario, self.options.seed)
        after = self._bytes()
        found = _discovery(self.topology, record.samples, before, after)
        self.found = found
        r = self.result
        r.links_used = [link.link for link in found.links]
        r.links_unused = found.unused_links
        r.endpoints = found.endpoints
        r.baseline_p95_ms = found.baseline_p95_ms
        if not found.endpoints:
            raise ConfigError("explore: the load called no endpoint in the fault-free run")
        self.say(
            f"discover: {len(found.links)} links carried traffic"
            + (f" ({len(found.unused_links)} did not: left out)" if found.unused_links else "")
            + f"; endpoints {', '.join(found.endpoints)}; baseline p95 "
            + ", ".join(f"{e} {v:.0f} ms" for e, v in found.baseline_p95_ms.items())
        )
        return found

    def _bytes(self) -> dict[str, float] | None:
        """Per link: bytes its proxy has carried on closed connections (counted when one
        ends), plus its open connections as 1 each (a pool keeps its connections open)."""
        plat = self._up()
        try:
            text = httpx.get(f"{plat.proxy_url}/metrics", timeout=5, trust_env=False).text
            families = list(text_string_to_metric_families(text))
        except (httpx.HTTPError, ValueError):
            return None  # no metrics (a Toxiproxy server without them): every link counts
        carried: dict[str, float] = {}
        for family in families:
            if family.name in ("toxiproxy_proxy_received_bytes", "toxiproxy_proxy_sent_bytes"):
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        proxy = sample.labels.get("proxy", "")
                        carried[proxy] = carried.get(proxy, 0.0) + sample.value
            elif family.name == "toxiproxy_proxy_open_connections":
                for sample in family.samples:
                    proxy = sample.labels.get("proxy", "")
                    carried[f"open:{proxy}"] = sample.value
        return carried or None

    def experiment(self, faults: tuple[FaultChoice, ...]) -> Experiment:
        users = self.options.users or (self.topology.load.users if self.topology.load else 10)
        fault_s = self.options.fault_s
        return Experiment(faults, users, fault_s=fault_s, after_s=max(8.0, round(1.5 * fault_s)))

    def rate_per_user(self) -> dict[str, float]:
        """Requests per second per user of each endpoint, in the fault-free discovery."""
        if self.found is None:
            return {}
        users = self.experiment(()).users
        return {e: rate / users for e, rate in self.found.rate_per_s.items()}

    def reserve(self) -> float:
        """Budget kept for shrinking and confirming what was found so far: the search stops
        early rather than leave a finding without its minimal scenario."""
        runs = (
            needed_failures(self.options.reruns) + 2 + (self.options.reference_profile is not None)
        )
        per = runs * self.run_cost(self.experiment(()))
        return len(self._pending()) * per

    def _pending(self) -> list[Outcome]:
        """The broken experiments still to shrink: the first of each set of broken
        properties with no finding yet, or whose findings did not reproduce (up to
        TRIES_PER_PROPERTIES experiments shrunk per set)."""
        findings = self.result.findings
        shrunk = {f.label for f in findings}
        settled = {frozenset(f.broken) for f in findings if not f.refuted}
        tries = collections.Counter(frozenset(f.broken) for f in findings)
        todo: dict[frozenset[str], Outcome] = {}
        for outcome in self.result.outcomes:
            key = frozenset(outcome.broken)
            if (
                outcome.verdict == "broken"
                and outcome.label not in shrunk
                and key not in settled
                and tries[key] < TRIES_PER_PROPERTIES
            ):
                todo.setdefault(key, outcome)
        return list(todo.values())

    def _counted(self) -> int:
        """What --stop-after counts: the sets of broken properties still to shrink, or
        shrunk to a finding that reproduced (one that did not, or that fails on the
        reference build too, does not count: the search goes on)."""
        pending = {frozenset(o.broken) for o in self._pending()}
        return len(pending | {frozenset(f.broken) for f in self.result.findings if not f.refuted})

    def _gate_reached(self) -> bool:
        stop_after = self.options.stop_after
        return stop_after is not None and self._counted() >= stop_after

    def run(self) -> Exploration:
        out = self.options.out
        try:
            self._up()
            found = self.discover()
            plan = singles(found, _http_faults(self._up()), self.options.kinds)
            self.result.planned = len(plan)
            self.say(
                f"plan: {len(plan)} single faults ({_kinds(plan, on_link=True)} on"
                f" {len(found.links)} links, {_kinds(plan, on_link=False)} on"
                f" {len(found.services) - 1} services), budget {_clock(self.left())} left"
            )
            left = self._explore([(c,) for c in plan])
            if self.options.depth >= 2 and not left and not self._gate_reached():
                held, degraded, broke = self._singles_by_verdict()
                chosen = [p for p in pairs(found, held, degraded) if not (set(p) & broke)]
                self.result.planned += len(chosen)
                every = len(plan) * (len(plan) - 1) // 2
                self.say(f"pairs: {len(chosen)} chosen by the singles (of {every} possible)")
                self._explore(chosen)
            self.result.complete = self.result.planned == len(self.result.outcomes)
            self._shrink_all()
        except KeyboardInterrupt:
            self.result.interrupted = True
            self.say(
                "interrupted: faults removed; stopping the platform and writing what was found"
            )
        finally:
            try:
                with deferred_interrupts(self.say, raise_after=False):  # Ctrl-C again: still stop
                    self._down()
            finally:
                self.result.elapsed_s = round(self.elapsed(), 1)
                self.view.close()
                write_outputs(out, self.result)
        return self.result

    def _singles_by_verdict(
        self,
    ) -> tuple[list[FaultChoice], list[FaultChoice], set[FaultChoice]]:
        """The single faults that held, that degraded within bounds, and that broke."""
        singles_run = [o for o in self.result.outcomes if len(o.faults) == 1]

        def having(verdict: Verdict) -> list[FaultChoice]:
            return [_choice(o.faults[0]) for o in singles_run if o.verdict == verdict.value]

        return having(Verdict.HELD), having(Verdict.DEGRADED), set(having(Verdict.BROKEN))

    def _explore(self, plan: Sequence[tuple[FaultChoice, ...]]) -> list[tuple[FaultChoice, ...]]:
        """Search the plan. With --stop-after, what broke is shrunk when the count is
        reached; a finding that did not reproduce (or fails on the reference build too)
        does not count, and the search goes on. The experiments not run."""
        left, gated = self._search(plan)
        while gated:
            self._shrink_all()
            if self._gate_reached():
                break
            refuted = [
                f"{f.label} ({f.confirmation}{f.on_reference})"
                for f in self.result.findings
                if f.refuted
            ]
            self.say(
                f"--stop-after {self.options.stop_after}: not counted, {'; '.join(refuted)}:"
                f" the search goes on ({len(left)} experiments left)"
            )
            left, gated = self._search(left)
        return left

    def _search(
        self, plan: Sequence[tuple[FaultChoice, ...]]
    ) -> tuple[list[tuple[FaultChoice, ...]], bool]:
        """Run the plan in order, until its end, the budget's, or --stop-after: the
        experiments not run, and whether --stop-after ended it."""
        plan = list(plan)
        index = 0
        while index < len(plan):
            if self._gate_reached():
                self.say(
                    f"--stop-after {self.options.stop_after}: reached with"
                    f" {len(plan) - index} experiments not run; shrinking what broke"
                )
                return plan[index:], True
            faults = plan[index]
            experiment = self.experiment(faults)
            reserve = self.reserve()
            if self.left() - reserve < self.run_cost(experiment):
                why = "kept for shrinking what was found" if reserve else "too short for one more"
                self.say(
                    f"budget: {len(plan) - index} experiments not run (the time left is {why})"
                )
                return plan[index:], False
            index += 1
            judged, seconds, runs = self.judge(experiment, self.options.seed)
            self.result.put_off = [p for p in self.result.put_off if p.label != experiment.label]
            self.result.outcomes.append(
                Outcome(
                    faults=[_record(f) for f in faults],
                    label=experiment.label,
                    verdict=judged.verdict.value,
                    broken=judged.broken,
                    degraded=judged.degraded,
                    seconds=round(seconds, 1),
                    run_dir=runs,
                )
            )
            put_off = self._put_off(plan, index, faults, judged)
            broken = sum(1 for o in self.result.outcomes if o.verdict == "broken")
            detail = ", ".join(judged.broken or judged.degraded)[:140]
            self.say(
                f"[{len(self.result.outcomes)}/{self.result.planned} · {_clock(self.left())} left"
                f" · {broken} broken] {experiment.label}: {judged.verdict.value}"
                + (f" ({detail})" if detail else "")
                + (f"; put off to the end: {link_faults(put_off)} it implies" if put_off else "")
            )
            write_outputs(self.options.out, self.result)
        return [], False

    def _put_off(
        self,
        plan: list[tuple[FaultChoice, ...]],
        index: int,
        faults: tuple[FaultChoice, ...],
        judged: Judged,
    ) -> int:
        """A service lost whole and absorbed: the link faults it implies (space.implied) move
        from the rest of the plan (from ``index``) to its end. How many moved."""
        absorbed = judged.verdict in (Verdict.HELD, Verdict.DEGRADED)
        if not absorbed or len(faults) != 1 or self.found is None:
            return 0
        later = implied(plan[index:], faults[0], self.found)
        plan[index:] = [e for e in plan[index:] if e not in later] + later
        by = self.result.outcomes[-1].label
        self.result.put_off += [
            PutOff(fault=_record(e[0]), label=self.experiment(e).label, implied_by=by)
            for e in later
        ]
        return len(later)

    def _shrink_all(self) -> None:
        """One minimal scenario per distinct set of broken properties: from the first
        experiment that broke them (the likeliest, as the plan is ordered); when that one
        did not reproduce, from the next experiment that broke the same set."""
        while todo := self._pending():
            outcome = todo[0]
            faults = tuple(_choice(f) for f in outcome.faults)
            finding = shrink(self, self.experiment(faults), set(outcome.broken), outcome.label)
            self.result.findings.append(finding)
            write_outputs(self.options.out, self.result)

    def on_reference(self, experiment: Experiment, keep: set[str]) -> bool | None:
        """Run the minimal experiment once on the reference build (--reference-profile, no
        defect): True it passes there, so it isolates this build's bug; False it fails there
        too; None not run (no reference, or no time left)."""
        profile = self.options.reference_profile
        if profile is None or self.left() < self.run_cost(experiment) + RUN_OVERHEAD_S:
            return None
        self._down()
        self.build = (profile, ())
        try:
            judged, _, _ = self.judge(experiment, self.options.seed, keep=keep)
        finally:
            self._down()  # the explored build starts again when the next run needs it
            self.build = (self.options.profile, self.options.defects)
        passed = judged.verdict is not Verdict.BROKEN
        self.say(
            f"  on the reference ({profile}, no defect): "
            + ("passes: the scenario isolates this build's bug" if passed else "FAILS too")
        )
        return passed

    def emit(
        self,
        experiment: Experiment,
        keep: set[str],
        label: str,
        counts: tuple[int, int, int],
        reproduced_at_90: bool,
        reference: bool | None,
    ) -> Finding:
        """The finding and its minimal scenario. ``counts``: re-runs failed, re-runs done,
        runs spent shrinking and confirming it; ``reference``: it passed on the reference
        build (None: not run there)."""
        reproduced, reruns, runs_used = counts
        where = self.options.out / "scenarios"
        name = f"explore-{experiment.slug}"
        description = (
            f"Found by harness explore on {self.topology.name} ({self.result.profile}"
            + (f", --defect {','.join(self.options.defects)}" if self.options.defects else "")
            + f"): {experiment.label} for {experiment.fault_s:g} s under {experiment.users}"
            f" users breaks {', '.join(sorted(keep))}. It failed {reproduced} of {reruns}"
            f" seeded re-runs (shrunk from: {label})."
            + (
                f" It passes on {self.options.reference_profile} (no defect)."
                if reference
                else f" It FAILS on {self.options.reference_profile} (no defect) too."
                if reference is False
                else ""
            )
        )
        self.experiment_scenario(experiment, name, where, keep, description)
        return Finding(
            label=label,
            broken=sorted(keep),
            minimal=f"{experiment.label}, {experiment.fault_s:g} s, {experiment.users} users",
            scenario=str(where / f"{name}.yaml"),
            faults=len(experiment.faults),
            fault_seconds=experiment.fault_s,
            users=experiment.users,
            reproduced=reproduced,
            reruns=reruns,
            runs_used=runs_used,
            reference=self.options.reference_profile if reproduced_at_90 else None,
            reference_passed=reference,
        )


def _yaml(data: dict[str, Any]) -> str:
    head = "# written by harness explore (a generic oracle's checks; edit freely)\n"
    return head + yaml.safe_dump(data, sort_keys=False, width=100)


def _kinds(plan: list[FaultChoice], on_link: bool) -> str:
    """``down/blackhole/latency``: the kinds the plan has on links (or on services)."""
    kinds = dict.fromkeys(c.kind for c in plan if c.on_link == on_link)
    return "/".join(kinds) or "nothing"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _record(choice: FaultChoice) -> FaultRecord:
    return FaultRecord(
        kind=choice.kind,
        target=choice.target,
        latency_ms=choice.latency_ms,
        toxicity=choice.toxicity,
        label=choice.label,
    )


def _choice(record: FaultRecord) -> FaultChoice:
    return FaultChoice(record.kind, record.target, record.latency_ms, record.toxicity)


def _http_faults(plat: Platform) -> bool:
    """HTTP faults are the embedded proxy's own: a real Toxiproxy server has none."""
    try:
        return "+shortvideo-chaos" in plat.toxiproxy().version()
    except HarnessError:
        return False


def _discovery(
    topology: Topology,
    samples: list[Sample],
    before: dict[str, float] | None,
    after: dict[str, float] | None,
) -> Discovery:
    endpoints: dict[str, list[Sample]] = {}
    for sample in samples:
        endpoints.setdefault(sample.endpoint, []).append(sample)
    p95: dict[str, float] = {}
    errors: dict[str, float] = {}
    rate: dict[str, float] = {}
    span = (max(s.t for s in samples) - min(s.t for s in samples) + 1) if samples else 1
    for endpoint, rows in sorted(endpoints.items()):
        latencies = sorted(x for row in rows for x in row.latencies_ms)
        total = sum(row.n for row in rows)
        rate[endpoint] = total / span
        p95[endpoint] = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
        errors[endpoint] = sum(row.errors for row in rows) / total if total else 0.0
    links: list[LinkTraffic] = []
    unused: list[str] = []
    for name, spec in topology.links.items():
        carried = (after or {}).get(name, 0.0) - (before or {}).get(name, 0.0)
        carried += (after or {}).get(f"open:{name}", 0.0)
        if after is not None and carried <= 0:
            unused.append(name)
            continue
        target = spec.to
        http = bool(
            target and target in topology.services and not topology.services[target].health_command
        )
        links.append(LinkTraffic(name, spec.source, target, int(carried), http, spec.replication))
    links.sort(key=lambda link: -link.bytes)
    return Discovery(
        links=links,
        services=list(topology.started_services),
        endpoints=sorted(endpoints),
        baseline_p95_ms=p95,
        baseline_error_rate=errors,
        rate_per_s=rate,
        entrypoint=topology.entrypoint,
        unused_links=unused,
        fallback_groups={
            region: f"failover {name}"
            for name, failover in topology.capabilities.failover.items()
            for region in failover.regions
        },
    )
