"""One scenario, start to verdict (chaostoolkit's steady state -> method -> rollback, for chaos).

sweep leftovers of dead runs -> load.start() -> warm-up
for each phase: apply its faults -> observe (probes, abort conditions, fault lifetimes)
                -> remove its faults
always (finally): every fault undone, load stopped
then: expectations (phase windows, baseline-relative), steady state (baseline phase and
      last phase), invariants (upload history vs the platform) -> journal (dict)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.engine.console import LiveFigures, PlainView, RunView
from harness.engine.expectations import ExpectationResult, Observation, judge_metric, judge_observed
from harness.engine.observer import StateObserver
from harness.engine.probes import Prober
from harness.errors import HarnessError
from harness.faults import FaultLedger, create_fault, sweep_dead_runs
from harness.faults.active import ActiveFault
from harness.load import LOCUSTFILE, LoadRunner, figures, read_samples
from harness.load.result import History, Sample
from harness.platform import Platform
from harness.scenario.model import Fault, MetricExpectation, Phase, RolloutFault, Scenario

__all__ = ["Aborted", "Interrupted", "PhaseGate", "RunContext", "run_scenario"]

OBSERVE_EVERY_S = 0.5
GATE_WAIT_BUDGET_S = 3600.0  # a game day's load may wait this long in all at the prompts
LIVE_WINDOW_S = 5  # live figures cover the last few complete seconds


@dataclasses.dataclass
class RunContext:
    run_id: str
    run_dir: Path
    platform: Platform
    ledger_dir: Path
    time_scale: float = 1.0
    workers: int = 0
    view: RunView = dataclasses.field(default_factory=PlainView)
    seed: int | None = None
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    gate: PhaseGate | None = None


class Aborted(Exception):
    """The run stops early on purpose (an abort condition, an operator): cleaned up, reported."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a scenario, after its cleanup: carries what was recorded."""

    def __init__(self, journal: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.journal = journal


class PhaseGate(Protocol):
    """A person between the phases (a game day): may skip faults, add notes, or abort."""

    def before_phase(
        self,
        index: int,
        phase: Phase,
        expectations: list[str],
        event: Callable[[str, str], None],
        idle: Callable[[], None],
    ) -> set[int]:
        """Indices of the phase's faults to skip; call idle() while waiting; may raise Aborted.

        expectations: what should hold, as the run will judge it (thresholds resolved)."""
        ...

    def during_phase(self, event: Callable[[str, str], None]) -> None:
        """Called about twice a second while a phase runs; may raise Aborted."""
        ...


def _new_journal(scenario: Scenario, ctx: RunContext) -> dict[str, Any]:
    return {
        "run_id": ctx.run_id,
        "scenario": scenario.model_dump(mode="json", by_alias=True),
        "profile": ctx.platform.profile,
        "time_scale": ctx.time_scale,
        "started_at": time.time(),
        "events": [],
        "phases": [],
        "faults": [],
        "expectations": [],
        "invariants": [],
        "status": "passed",
        "reason": "",
    }


def run_scenario(scenario: Scenario, ctx: RunContext) -> dict[str, Any]:
    scale, plat = ctx.time_scale, ctx.platform
    toxiproxy = plat.toxiproxy()
    journal = _new_journal(scenario, ctx)

    def event(kind: str, message: str) -> None:
        journal["events"].append({"t": time.time(), "kind": kind, "message": message})
        ctx.view.event(scenario.name, kind, message)

    swept = sweep_dead_runs(ctx.ledger_dir, toxiproxy, plat, echo=lambda m: event("sweep", m))
    ledger = FaultLedger(ctx.ledger_dir / f"{ctx.run_id}.json", ctx.run_id, toxiproxy, plat)
    warmup = min(scenario.load.users / scenario.load.spawn_rate + 2, 10)
    load = LoadRunner(
        plat.gateway_url,
        ctx.run_dir / "load",
        scenario.duration_s * scale + warmup + 5 + (GATE_WAIT_BUDGET_S if ctx.gate else 0),
        users=scenario.load.users,
        spawn_rate=scenario.load.spawn_rate,
        mix={str(k): v for k, v in scenario.load.mix.items()},
        token_secret=plat.topology.auth.get("token_secret", ""),
        workers=ctx.workers,
        seed=ctx.seed,
        locustfile=Path(scenario.load.locustfile) if scenario.load.locustfile else LOCUSTFILE,
        remote_workers=ctx.remote_workers,
        master_bind=ctx.master_bind,
    )
    prober = Prober(
        plat.gateway_url,
        lambda s: f"http://127.0.0.1:{plat.topology.service_port(plat.base_port, s)}",
        plat.topology.auth.get("token_secret", ""),
    )
    metrics_url = prober.service_url("metrics")
    events_before = _event_count(metrics_url) or 0
    observer = StateObserver(plat.gateway_url, journal, event)
    walker = _PhaseWalker(scenario, ctx, ledger, load, prober, journal, event, observer)
    try:
        if swept:
            event("sweep", f"undid {swept} leftover fault steps of dead runs")
        _start_load(load, walker, ctx, event, warmup)
        walker.walk()
    except Aborted as exc:
        journal["status"], journal["reason"] = "aborted", str(exc)
        event("aborted", str(exc))
    except HarnessError as exc:
        journal["status"], journal["reason"] = "errored", str(exc)
        event("errored", str(exc))
    except KeyboardInterrupt:
        journal["status"], journal["reason"] = "aborted", "interrupted (SIGINT/SIGTERM)"
        event("aborted", "interrupted")
        raise Interrupted(journal) from None  # after the cleanup below: reported, not judged
    finally:
        leftovers = ledger.remove_all()
        load.stop()
        prober.close()
        observer.finish()
        if leftovers:
            journal["status"], journal["reason"] = (
                "errored",
                "cleanup failed: " + "; ".join(leftovers),
            )
        journal["finished_at"] = time.time()
        samples = read_samples(load.metrics_prefix)
        journal["samples"] = [dataclasses.asdict(s) for s in samples]
    if journal["status"] == "passed":
        _judge(scenario, journal, samples, walker.observed, scale)
        journal["invariants"] = _invariants(
            scenario, load.history(), plat.gateway_url, scale
        ) + _event_invariant(scenario, samples, metrics_url, events_before, scale)
        _verdict(journal)
    return journal


def _start_load(
    load: LoadRunner,
    walker: _PhaseWalker,
    ctx: RunContext,
    event: Callable[[str, str], None],
    warmup: float,
) -> None:
    load.start()
    walker.load_started = time.time()
    if ctx.remote_workers:
        command = " ".join(load.worker_command(load.master_host))
        event("load", f"waiting for {ctx.remote_workers} remote worker(s); run: {command}")
    event("load", f"{load.users} users, warming up {warmup:.0f} s")
    time.sleep(warmup)


def _verdict(journal: dict[str, Any]) -> None:
    results = journal["expectations"] + journal["invariants"]
    if any(not r["passed"] for r in results):
        journal["status"] = "failed"
        journal["reason"] = ", ".join(r["name"] for r in results if not r["passed"])


def _scaled(spec: Fault, scale: float) -> Fault:
    """A rollout's judging interval is part of the timeline: it shrinks with the run."""
    if isinstance(spec, RolloutFault):
        return spec.model_copy(update={"interval": max(spec.interval * scale, 0.2)})
    return spec


class _PhaseWalker:
    """Walks the timeline: each phase applies its faults, is observed, removes its faults."""

    def __init__(
        self,
        scenario: Scenario,
        ctx: RunContext,
        ledger: FaultLedger,
        load: LoadRunner,
        prober: Prober,
        journal: dict[str, Any],
        event: Callable[[str, str], None],
        observer: StateObserver,
    ) -> None:
        self.scenario = scenario
        self.observer = observer
        self.ctx = ctx
        self.ledger = ledger
        self.load = load
        self.prober = prober
        self.journal = journal
        self.event = event
        self.observed: dict[tuple[int, int], list[Observation]] = {}
        self._samples: list[Sample] = []
        self._samples_read = 0.0
        self.load_started = time.time()

    def _steer(self, p_index: int) -> None:
        """The users this moment wants: the phase's own, else the stage's, else the load's."""
        wanted = self.scenario.phases[p_index].users
        if wanted is None:
            elapsed = (time.time() - self.load_started) / self.ctx.time_scale
            wanted = self.scenario.load.users_at(elapsed)
        if wanted != self.load.users:
            self.load.set_users(wanted)
            self.event("load", f"{wanted} users")

    def walk(self) -> None:
        scale, plat = self.ctx.time_scale, self.ctx.platform
        names = [phase.name for phase in self.scenario.phases]
        # phase index -> the faults it ends, each with its window in the journal
        ending: dict[int, list[tuple[ActiveFault, dict[str, Any]]]] = {}
        self.observer.poll(force=True)
        for p_index, phase in enumerate(self.scenario.phases):
            record: dict[str, Any] = {"name": phase.name, "start": time.time(), "faults": []}
            labels = [f"{r.name}: {r.threshold}" for r in self._so_far(p_index, record)]
            gate = self.ctx.gate
            skipped = (
                gate.before_phase(p_index, phase, labels, self.event, self._keep_watch)
                if gate
                else set()
            )
            record["start"] = time.time()
            self.journal["phases"].append(record)
            for f_index, written in enumerate(phase.faults):
                if f_index in skipped:
                    self.event(
                        "fault_skipped",
                        f"{phase.name}: {written.type} not injected (skipped by the operator)",
                    )
                    continue
                spec = _scaled(written, scale)
                fault = create_fault(
                    spec,
                    self.ctx.run_id,
                    p_index * 100 + f_index,
                    self.ledger.toxiproxy,
                    plat,
                    plat.gateway_url,
                )
                last = names.index(spec.until) if spec.until else p_index
                active = self.ledger.add(fault)
                window = {"label": fault.label, "phase": phase.name, "start": time.time()}
                self.journal["faults"].append(window)  # its "end" is set when it is removed
                ending.setdefault(last, []).append((active, window))
                self.event("fault_applied", f"{phase.name}: {fault.label}")
            record["faults"] = [f.label for faults in ending.values() for f, _ in faults]
            self.prober.new_phase()
            self.event("phase", f"phase {phase.name} ({phase.duration * scale:g} s)")
            self.ctx.view.phase(
                self.scenario.name,
                (p_index + 1, len(self.scenario.phases)),
                phase.name,
                phase.duration * scale,
                record["faults"],
                labels,
            )
            self._observe(p_index, phase.duration * scale, record)
            record["end"] = time.time()
            for fault, window in ending.pop(p_index, []):
                self.ledger.remove(fault)
                window["end"] = time.time()
                self.event("fault_removed", f"{window['phase']}: {fault.label} removed")

    def _keep_watch(self) -> None:
        """During a phase and between phases (a game day's prompt): the platform's state,
        faults past their lifetime, and the load still running."""
        self.observer.poll()
        self.ledger.remove_expired()
        if not self.load.alive():
            raise HarnessError(f"the load generator stopped early:\n{self.load.log_tail()}")

    def _observe(self, p_index: int, seconds: float, record: dict[str, Any]) -> None:
        phase = self.scenario.phases[p_index]
        start = time.time()
        while (elapsed := time.time() - start) < seconds:
            self._steer(p_index)
            self._keep_watch()
            if self.ctx.gate:
                self.ctx.gate.during_phase(self.event)
            for e_index, expectation in enumerate(phase.expect):
                if not isinstance(expectation, MetricExpectation):
                    reading = Observation(elapsed, self.prober.read(expectation))
                    self.observed.setdefault((p_index, e_index), []).append(reading)
            if time.monotonic() - self._samples_read >= 1.0:
                self._samples = read_samples(self.load.metrics_prefix)
                self._samples_read = time.monotonic()
                self._check_abort(record)
                self._show(p_index, elapsed, record)
            time.sleep(min(OBSERVE_EVERY_S, max(seconds - elapsed, 0.01)))

    def _so_far(self, p_index: int, record: dict[str, Any]) -> list[ExpectationResult]:
        """Each expectation of the phase judged on what has been seen until now."""
        phase = self.scenario.phases[p_index]
        windows = {p["name"]: (p["start"], p["end"]) for p in self.journal["phases"] if "end" in p}
        baseline = windows.get(self.scenario.baseline_phase)
        scale, now = self.ctx.time_scale, time.time()
        return [
            judge_metric(e, phase.name, self._samples, record["start"], now, baseline, scale)
            if isinstance(e, MetricExpectation)
            else judge_observed(e, phase.name, self.observed.get((p_index, i), []), scale)
            for i, e in enumerate(phase.expect)
        ]

    def _show(self, p_index: int, elapsed: float, record: dict[str, Any]) -> None:
        now = int(time.time())
        endpoints = sorted({s.endpoint for s in self._samples if s.t >= now - LIVE_WINDOW_S})
        live = []
        for endpoint in endpoints:
            got = figures(self._samples, now - LIVE_WINDOW_S, now, endpoint)
            live.append(LiveFigures(endpoint, got.throughput, got.error_rate, got.p95_s))
        states: list[tuple[bool | None, str]] = [
            (None if r.measured == "no data" else r.passed, r.measured)
            for r in self._so_far(p_index, record)
        ]
        page = {key: str(c.get("state")) for key, c in self.observer.components.items()}
        self.ctx.view.tick(elapsed, live, states, page)

    def _check_abort(self, record: dict[str, Any]) -> None:
        if not self.scenario.abort:
            return
        samples = self._samples
        now = int(time.time())
        for rule in self.scenario.abort:
            span = rule.for_ or 10.0
            value = figures(samples, now - span - 1, now - 1, rule.endpoint, rule.build).get(
                rule.metric
            )
            bound = rule.max.value if rule.max else math.inf
            if not math.isnan(value) and value > bound:
                raise Aborted(
                    f"abort condition: {rule.metric} {rule.endpoint} {value:.3g} > {bound:g}"
                    f" over {span:g} s in phase {record['name']}"
                )


def _judge(
    scenario: Scenario,
    journal: dict[str, Any],
    samples: list[Any],
    observed: dict[tuple[int, int], list[Observation]],
    scale: float,
) -> None:
    windows = {p["name"]: (p["start"], p["end"]) for p in journal["phases"]}
    baseline = windows.get(scenario.baseline_phase)
    results: list[ExpectationResult] = []
    for p_index, phase in enumerate(scenario.phases):
        start, end = windows[phase.name]
        for e_index, expectation in enumerate(phase.expect):
            if isinstance(expectation, MetricExpectation):
                results.append(
                    judge_metric(expectation, phase.name, samples, start, end, baseline, scale)
                )
            else:
                results.append(
                    judge_observed(
                        expectation, phase.name, observed.get((p_index, e_index), []), scale
                    )
                )
    first, last = scenario.phases[0].name, scenario.phases[-1].name
    last_start, last_end = windows[last]
    checks = (
        (f"steady state before ({first})", windows[first]),
        # after recovery: the second half of the last phase, once healing has had its time
        (f"steady state after ({last}, 2nd half)", ((last_start + last_end) / 2, last_end)),
    )
    for label, window in checks:
        for expectation in scenario.steady_state:
            results.append(judge_metric(expectation, label, samples, *window, baseline, scale))
    journal["expectations"] = [r.to_json() for r in results]


def _invariants(
    scenario: Scenario, history: History, gateway: str, scale: float
) -> list[dict[str, Any]]:
    """Jepsen-style checks of the upload history against the platform, after healing."""
    results: list[ExpectationResult] = []
    acked = history.acknowledged
    statuses: dict[str, str] = {}
    with httpx.Client(base_url=gateway, timeout=5, trust_env=False) as client:

        def status_of(video_id: str) -> str:
            try:
                response = client.get(f"/v1/videos/{video_id}")
            except httpx.HTTPError:
                return "unreachable"
            return (
                str(response.json().get("status"))
                if response.status_code == 200
                else f"http {response.status_code}"
            )

        wanted = {i.name: i for i in scenario.invariants if i.name != "no_lost_events"}
        deadline = time.time() + (
            wanted["all_uploads_terminal"].within * scale if "all_uploads_terminal" in wanted else 0
        )
        while True:
            statuses = {key: status_of(video_id) for key, video_id in acked.items()}
            pending = [k for k, s in statuses.items() if s not in ("published", "rejected")]
            if not pending or time.time() >= deadline:
                break
            time.sleep(1)
    for name, invariant in wanted.items():
        if name == "no_lost_uploads":
            lost = sorted(acked[k] for k, s in statuses.items() if s.startswith("http 404"))
            results.append(
                ExpectationResult(
                    "invariants",
                    name,
                    not lost,
                    f"{len(lost)} lost of {len(acked)} acknowledged",
                    "0 lost",
                    ", ".join(lost[:20]),
                )
            )
        elif name == "no_duplicates":
            dups = history.keys_with_many_ids
            results.append(
                ExpectationResult(
                    "invariants",
                    name,
                    not dups,
                    f"{len(dups)} keys with several ids",
                    "0",
                    ", ".join(sorted(dups)[:20]),
                )
            )
        elif name == "nothing_published_unmoderated":
            bad = sorted(
                acked[k] for k in history.violating & set(acked) if statuses.get(k) == "published"
            )
            results.append(
                ExpectationResult(
                    "invariants",
                    name,
                    not bad,
                    f"{len(bad)} violating uploads published",
                    "0",
                    ", ".join(bad[:20]),
                )
            )
        else:
            stuck = sorted(
                acked[k] for k, s in statuses.items() if s not in ("published", "rejected")
            )
            results.append(
                ExpectationResult(
                    "invariants",
                    name,
                    not stuck,
                    f"{len(stuck)} of {len(acked)} not terminal",
                    f"all within {invariant.within * scale:g} s",
                    ", ".join(stuck[:20]),
                )
            )
    return [r.to_json() for r in results]


def _event_count(metrics_url: str) -> int | None:
    try:
        response = httpx.get(f"{metrics_url}/signals", timeout=5, trust_env=False)
        return int(response.json()["events"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _event_invariant(
    scenario: Scenario, samples: list[Sample], metrics_url: str, before: int, scale: float
) -> list[dict[str, Any]]:
    """Every view and like the gateway acknowledged (202) reaches the counters, after healing."""
    wanted = [i for i in scenario.invariants if i.name == "no_lost_events"]
    if not wanted:
        return []
    acked = sum(s.status.get("202", 0) for s in samples if s.endpoint in ("view", "like"))
    deadline = time.time() + wanted[0].within * scale
    counted = None
    while True:
        total = _event_count(metrics_url)
        counted = None if total is None else total - before
        if (counted is not None and counted >= acked) or time.time() >= deadline:
            break
        time.sleep(1)
    lost = acked if counted is None else max(acked - counted, 0)
    result = ExpectationResult(
        "invariants",
        "no_lost_events",
        lost == 0,
        f"{lost} lost of {acked} acknowledged views/likes"
        + ("" if counted is not None else " (metrics unreachable)"),
        f"0 lost within {wanted[0].within * scale:g} s",
    )
    return [result.to_json()]
