"""The real parts of a run, made from a running platform and its topology.

RunContext (run id, platform, options) + Scenario
  -> new_record()      the RunRecord the timeline fills
  -> create_parts()    sweep what dead runs left, then:
                       load      LoadRunner (the topology's locustfile, mix, secrets)
                       probes    Prober (the topology's probes, status page, capabilities)
                       observer  StateObserver (what users saw)
                       faults    FaultInjector (ledger on disk, Toxiproxy API, processes)
                       invariants TopologyInvariants (history read back, counters)
run_scenario() = create_parts + runner.run_timeline
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import httpx

from harness.checks.invariants import InvariantInputs, ReadBack, judge_invariants
from harness.checks.observer import StateObserver
from harness.checks.probes import Prober
from harness.checks.readers import ReaderClient
from harness.clock import SYSTEM_CLOCK, Clock
from harness.engine.console import PlainView, RunView
from harness.engine.runner import PhaseGate, RunParts, run_timeline
from harness.faults import FaultInjector, FaultLedger, sweep_dead_runs
from harness.load import LoadOptions, LoadPlan, LoadRunner
from harness.load.result import History, Sample
from harness.platform import Platform
from harness.record import Judgement, RunRecord, ScenarioInfo
from harness.scenario.model import Invariant, Scenario

__all__ = ["GATE_WAIT_BUDGET_S", "RunContext", "create_parts", "new_record", "run_scenario"]

GATE_WAIT_BUDGET_S = 3600.0  # a game day's load may wait this long in all at the prompts


@dataclasses.dataclass
class RunContext:
    run_id: str
    run_dir: Path
    platform: Platform
    ledger_dir: Path
    time_scale: float = 1.0
    load: LoadOptions = dataclasses.field(default_factory=LoadOptions)
    view: RunView = dataclasses.field(default_factory=PlainView)
    gate: PhaseGate | None = None
    clock: Clock = SYSTEM_CLOCK
    fail_fast: bool = False  # stop once a phase has certainly failed


def new_record(scenario: Scenario, ctx: RunContext) -> RunRecord:
    return RunRecord(
        run_id=ctx.run_id,
        scenario=ScenarioInfo(
            name=scenario.name,
            description=scenario.description,
            tags=list(scenario.tags),
            source=str(scenario.source) if scenario.source else None,
        ),
        definition=scenario.model_dump(mode="json", by_alias=True, exclude_none=True),
        topology=ctx.platform.topology.name,
        profile=ctx.platform.profile,
        defects=list(ctx.platform.defects),
        time_scale=ctx.time_scale,
        started_at=ctx.clock.time(),
    )


class TopologyInvariants:
    """The topology's invariants over the history, read back through its template."""

    def __init__(
        self,
        platform: Platform,
        prober: Prober,
        clock: Clock,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.platform = platform
        self.prober = prober
        self.clock = clock
        self.progress = progress
        self.before: dict[str, float | None] = {}

    def _counter(self, probe: str) -> float | None:
        value = self.prober.probe(probe)
        return float(value) if isinstance(value, int | float) else None

    def before_run(self) -> None:
        for spec in self.platform.topology.invariants.values():
            if spec.probe is not None:
                self.before[spec.probe] = self._counter(spec.probe)

    def judge(
        self, invariants: list[Invariant], history: History, samples: list[Sample]
    ) -> list[Judgement]:
        with httpx.Client(timeout=5, trust_env=False) as http:
            topology, base_port = self.platform.topology, self.platform.base_port
            reader = ReadBack(topology, base_port, http)
            inputs = InvariantInputs(
                history,
                samples,
                reader.state,
                ReaderClient(topology, base_port, http).check,
                self._counter,
                self.before,
                self.clock,
                self.progress,
            )
            return judge_invariants(invariants, self.platform.topology, inputs)


def create_parts(scenario: Scenario, ctx: RunContext, record: RunRecord) -> RunParts:
    """``scenario`` is the scaled one: its durations are the run's."""
    plat, topology = ctx.platform, ctx.platform.topology
    toxiproxy = plat.toxiproxy()

    def sweep_note(message: str) -> None:
        record.event(ctx.clock.time(), "sweep", message)
        ctx.view.event(scenario.name, "sweep", message)

    sweep_dead_runs(ctx.ledger_dir, toxiproxy, plat, echo=sweep_note)
    ledger = FaultLedger(ctx.ledger_dir / f"{ctx.run_id}.json", ctx.run_id, toxiproxy, plat)
    rollouts = topology.capabilities.rollouts
    rollouts_url = None if rollouts is None else topology.render(rollouts.url, plat.base_port)
    assert topology.load is not None or scenario.load.locustfile, "validated: a load exists"
    spec = topology.load
    locustfile = Path(scenario.load.locustfile) if scenario.load.locustfile else None
    plan = LoadPlan(
        locustfile=locustfile or topology.locustfile() or Path(),
        users=scenario.load.users,
        spawn_rate=scenario.load.spawn_rate,
        mix=scenario.load.mix or (spec.default_mix if spec else {}),
        env=dict(spec.env) if spec else {},
    )
    # phases last whole seconds from a whole second: up to a second more each (runner.py)
    whole = scenario.duration_s + len(scenario.phases) + 1
    budget = whole + 15 + (GATE_WAIT_BUDGET_S if ctx.gate else 0)
    load = LoadRunner(plat.gateway_url, ctx.run_dir / "load", budget, plan, ctx.load)
    prober = Prober(topology, plat.base_port, clock=ctx.clock)

    def observed_event(kind: str, message: str) -> None:
        record.event(ctx.clock.time(), kind, message)
        ctx.view.event(scenario.name, kind, message)

    observer = StateObserver(topology, plat.base_port, record, observed_event, clock=ctx.clock)
    return RunParts(
        load=load,
        probes=prober,
        observer=observer,
        faults=FaultInjector(ledger, plat, rollouts_url),
        invariants=TopologyInvariants(
            plat, prober, ctx.clock, lambda line: observed_event("judging", line)
        ),
        clock=ctx.clock,
        topology=topology,
    )


def run_scenario(scenario: Scenario, ctx: RunContext) -> RunRecord:
    """One scenario on a running platform: scaled once, walked, cleaned up, judged."""
    scaled = scenario.scaled(ctx.time_scale)
    record = new_record(scenario, ctx)
    parts = create_parts(scaled, ctx, record)
    return run_timeline(scaled, record, parts, ctx.view, ctx.gate, ctx.fail_fast)
