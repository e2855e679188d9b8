"""One scenario on the timeline (chaostoolkit's steady state -> method -> rollback, for chaos).

    run_timeline(scenario (already scaled), record, parts, view, gate, clock):
      load.start() -> warm-up
      for each phase: [gate] -> start on a whole second (the load's samples are whole
                      seconds: a phase that starts and lasts whole seconds is judged on all
                      of them; the next phase starts where it ended, with no gap between)
                      -> apply its faults -> observe (probes, status page, abort
                      conditions, fault lifetimes, live view) -> remove the faults it ends
      --fail-fast: an observed expectation that can no longer pass (certainly_failed), or
                   an ended phase judged failed once its samples are final (FINAL_AFTER_S),
                   stops the walk there (record.stopped_early, walker.decided)
      always (finally): every fault undone, windows closed at that moment, load stopped
      then verdict.judge_run (expectations, steady state, invariants) -> record.status
The parts (load, prober, observer, faults, invariants) are protocols: parts.py builds the
real ones from a platform; unit tests pass fakes and a fake clock.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from typing import Protocol

from harness.checks.expectations import (
    NO_REQUESTS,
    Observation,
    certainly_failed,
    judge_metric,
    judge_observed,
    measure_metric,
)
from harness.checks.probes import Observable
from harness.clock import Clock
from harness.engine.console import LiveFigures, RunView
from harness.engine.shield import deferred_interrupts
from harness.engine.verdict import judge_ended_phase, judge_run
from harness.errors import HarnessError
from harness.faults.active import ActiveFault
from harness.faults.toxiproxy import HttpToxicCount
from harness.load.result import History, Sample, figures
from harness.record import (
    FaultWindow,
    HttpFaultCount,
    Judgement,
    PhaseRecord,
    RunRecord,
    Status,
)
from harness.scenario.model import Fault, Invariant, MetricExpectation, Phase, Scenario
from harness.topology import Topology

__all__ = [
    "Aborted",
    "Faults",
    "Interrupted",
    "Invariants",
    "Load",
    "Observer",
    "PhaseGate",
    "Probes",
    "RunParts",
    "run_timeline",
]

OBSERVE_EVERY_S = 0.5
LIVE_WINDOW_S = 5  # live figures cover the last few complete seconds
WARMUP_MAX_S = 10.0
WARMUP_AFTER_SPAWN_S = 1.0
# Locust writes each second's bucket once the second is over, every second: a phase's
# samples are final this long after its end (what --fail-fast waits for before judging it).
FINAL_AFTER_S = 3.0
# A phase whose predecessor's faults took this long to remove still starts where it ended.
LATE_START_S = 0.5
PHASE_STRIDE = 100  # a fault's index: its phase's index x PHASE_STRIDE + its own in the phase


def whole_seconds(duration_s: float) -> int:
    """A phase lasts whole seconds (the load's samples do): its duration rounded up, at least
    one. Rounded up, never down: a time scale must not cut a phase shorter than its own
    ``within`` bounds."""
    return max(math.ceil(duration_s - 1e-6), 1)


class Aborted(Exception):
    """The run stops early on purpose (an abort condition, an operator): cleaned up, reported."""


class _FailedFast(Exception):
    """--fail-fast: an expectation has certainly failed (in the running phase, or in one that
    ended); the walk stops here."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a scenario, after its cleanup: carries what was recorded."""

    def __init__(self, record: RunRecord) -> None:
        super().__init__("interrupted")
        self.record = record


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


class Load(Protocol):
    users: int

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def set_users(self, users: int) -> None: ...
    def alive(self) -> bool: ...
    def log_tail(self) -> str: ...
    def samples(self) -> list[Sample]: ...
    def history(self) -> History: ...


class Probes(Protocol):
    def read(self, expectation: Observable) -> object: ...
    def new_phase(self) -> None: ...
    def close(self) -> None: ...


class Observer(Protocol):
    components: dict[str, str]

    def poll(self, force: bool = False) -> None: ...
    def finish(self) -> None: ...


class Faults(Protocol):
    def apply(self, spec: Fault, index: int) -> ActiveFault: ...
    def remove(self, fault: ActiveFault) -> None: ...
    def remove_expired(self) -> list[ActiveFault]: ...
    def remove_all(self) -> list[str]: ...
    def http_counts(self) -> list[tuple[int, HttpToxicCount]]: ...


class Invariants(Protocol):
    def before_run(self) -> None:
        """Readings the invariants compare with later (counters at the start)."""
        ...

    def judge(
        self, invariants: list[Invariant], history: History, samples: list[Sample]
    ) -> list[Judgement]: ...


class RunParts:
    """What a run drives. Real ones come from engine/parts.py; unit tests bring fakes."""

    def __init__(
        self,
        load: Load,
        probes: Probes,
        observer: Observer,
        faults: Faults,
        invariants: Invariants,
        clock: Clock,
        topology: Topology | None = None,
    ) -> None:
        self.load = load
        self.topology = topology  # what communication checks need (None: none judged)
        self.probes = probes
        self.observer = observer
        self.faults = faults
        self.invariants = invariants
        self.clock = clock


def run_timeline(
    scenario: Scenario,
    record: RunRecord,
    parts: RunParts,
    view: RunView,
    gate: PhaseGate | None = None,
    fail_fast: bool = False,
) -> RunRecord:
    """Walk ``scenario`` (already scaled), always clean up, then judge. Raises Interrupted
    (carrying the record) on Ctrl-C/SIGTERM, after cleanup and a partial judgement.
    fail_fast: stop as soon as a phase that ended has certainly failed (same verdict)."""
    clock = parts.clock

    def event(kind: str, message: str) -> None:
        record.event(clock.time(), kind, message)
        view.event(scenario.name, kind, message)

    walker = _PhaseWalker(scenario, record, parts, view, gate, event, fail_fast)
    interrupted = False
    try:
        parts.invariants.before_run()
        _start_load(scenario, parts, event)
        walker.load_started = clock.time()
        walker.walk()
    except _FailedFast as exc:
        record.stopped_early = str(exc)
        event("fail_fast", str(exc))
    except Aborted as exc:
        record.status, record.reason = Status.ABORTED, str(exc)
        event("aborted", str(exc))
    except HarnessError as exc:
        record.status, record.reason = Status.ERRORED, str(exc)
        event("errored", str(exc))
    except KeyboardInterrupt:
        record.status, record.reason = Status.ABORTED, "interrupted (SIGINT/SIGTERM)"
        event("aborted", "interrupted")
        interrupted = True
    except Exception as exc:  # a harness bug: cleaned up and reported like any error
        record.status = Status.ERRORED
        record.reason = f"harness error: {type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
        event("errored", record.reason)
    finally:
        with deferred_interrupts(view.say, raise_after=False) as again:
            _clean_up(record, parts, walker, event)
        if again and not interrupted:
            record.status, record.reason = Status.ABORTED, "interrupted (SIGINT/SIGTERM)"
            interrupted = True
    try:
        judge_run(
            scenario,
            record,
            walker.observed,
            parts.invariants,
            parts.load.history,
            walker.cut_short,
            walker.decided,
            parts.topology,
        )
    except KeyboardInterrupt:
        record.status, record.reason = Status.ABORTED, "interrupted while judging"
        event("aborted", "interrupted while judging: what was judged so far is kept")
        interrupted = True
    if interrupted:
        raise Interrupted(record) from None
    return record


def _start_load(scenario: Scenario, parts: RunParts, event: Callable[[str, str], None]) -> None:
    parts.load.start()
    # Every user spawned, then one second for each to make its first requests (the burst of
    # first requests is over after it: samples show a steady rate from the next second on);
    # the first phase then starts on the next whole second.
    warmup = min(
        scenario.load.users / scenario.load.spawn_rate + WARMUP_AFTER_SPAWN_S, WARMUP_MAX_S
    )
    event("load", f"{parts.load.users} users, warming up {warmup:.0f} s")
    deadline = parts.clock.monotonic() + warmup
    while (left := deadline - parts.clock.monotonic()) > 0:
        parts.clock.sleep(min(left, 0.5))
        if not parts.load.alive():
            raise HarnessError(f"the load generator stopped early:\n{parts.load.log_tail()}")


def _clean_up(
    record: RunRecord,
    parts: RunParts,
    walker: _PhaseWalker,
    event: Callable[[str, str], None],
) -> None:
    """Every fault undone, the load stopped; what is still open closes now, in the record."""
    leftovers = parts.faults.remove_all()
    now = parts.clock.time()
    for window in record.faults:
        if window.end is None:
            window.end = now
            event("fault_removed", f"{window.phase}: {window.label} removed (cleanup)")
    for phase in record.phases:
        if phase.end is None:
            phase.end = now
            walker.cut_short = phase.name
    record.http_faults = [
        HttpFaultCount(
            phase=_phase_name(record, index // PHASE_STRIDE),
            link=count.proxy,
            toxic=count.toxic,
            kind=count.kind,
            matched=count.matched,
            injected=count.injected,
        )
        for index, count in parts.faults.http_counts()
    ]
    parts.load.stop()
    parts.probes.close()
    parts.observer.finish()
    if leftovers:
        record.status, record.reason = Status.ERRORED, "cleanup failed: " + "; ".join(leftovers)
    record.finished_at = parts.clock.time()
    record.samples = parts.load.samples()


def _phase_name(record: RunRecord, index: int) -> str:
    return record.phases[index].name if 0 <= index < len(record.phases) else "?"


class _PhaseWalker:
    """Walks the timeline: each phase applies its faults, is observed, removes its faults."""

    def __init__(
        self,
        scenario: Scenario,
        record: RunRecord,
        parts: RunParts,
        view: RunView,
        gate: PhaseGate | None,
        event: Callable[[str, str], None],
        fail_fast: bool = False,
    ) -> None:
        self.scenario = scenario
        self.record = record
        self.parts = parts
        self.clock = parts.clock
        self.view = view
        self.gate = gate
        self.event = event
        self.observed: dict[tuple[int, int], list[Observation]] = {}
        self.cut_short: str | None = None  # the phase the run stopped in, if any
        self._samples: list[Sample] = []
        self._samples_read = -math.inf
        self.load_started = 0.0
        self.fail_fast = fail_fast
        self._unjudged: list[int] = []  # --fail-fast: ended phases not judged yet
        self.decided: list[Judgement] = []  # --fail-fast: failed for good in the cut phase

    def _steer(self, p_index: int) -> None:
        """The users this moment wants: the phase's own, else the stage's, else the load's."""
        wanted = self.scenario.phases[p_index].users
        if wanted is None:
            wanted = self.scenario.load.users_at(self.clock.time() - self.load_started)
        if wanted != self.parts.load.users:
            self.parts.load.set_users(wanted)
            self.event("load", f"{wanted} users")

    def walk(self) -> None:
        names = [phase.name for phase in self.scenario.phases]
        # phase index -> the faults it ends, each with its window in the record
        ending: dict[int, list[tuple[ActiveFault, FaultWindow]]] = {}
        self.parts.observer.poll(force=True)
        boundary: float | None = None  # where the last phase ended: the next one starts there
        for p_index, phase in enumerate(self.scenario.phases):
            record = PhaseRecord(name=phase.name, start=self.clock.time())
            labels = [f"{r.name}: {r.threshold}" for r in self._so_far(p_index, record)]
            skipped = (
                self.gate.before_phase(p_index, phase, labels, self.event, self._keep_watch)
                if self.gate
                else set()
            )
            record.start = self._phase_start(boundary)
            self.record.phases.append(record)
            for f_index, spec in enumerate(phase.faults):
                if f_index in skipped:
                    self.event(
                        "fault_skipped",
                        f"{phase.name}: {spec.type} not injected (skipped by the operator)",
                    )
                    continue
                active = self.parts.faults.apply(spec, p_index * PHASE_STRIDE + f_index)
                last = names.index(spec.until) if spec.until else p_index
                window = FaultWindow(label=active.label, phase=phase.name, start=self.clock.time())
                self.record.faults.append(window)  # its end is set when it is removed
                ending.setdefault(last, []).append((active, window))
                self.event("fault_applied", f"{phase.name}: {active.label}")
            record.faults = [f.label for faults in ending.values() for f, _ in faults]
            self.parts.probes.new_phase()
            seconds = whole_seconds(phase.duration)
            self.event("phase", f"phase {phase.name} ({seconds} s)")
            self.view.phase(
                self.scenario.name,
                (p_index + 1, len(self.scenario.phases)),
                phase.name,
                seconds,
                record.faults,
                labels,
            )
            boundary = record.start + seconds
            self._observe(p_index, boundary, record)
            record.end = boundary
            for fault, window in ending.pop(p_index, []):
                self.parts.faults.remove(fault)
                window.end = self.clock.time()
                self.event("fault_removed", f"{window.phase}: {fault.label} removed")
            if self.fail_fast:
                self._unjudged.append(p_index)

    def _phase_start(self, boundary: float | None) -> float:
        """The whole second a phase starts on: where the last one ended when that is now (its
        faults were just removed), else the next one (the first phase, or after a game day's
        prompt), waited for.

        The load's samples cover whole seconds [t, t + 1), and one that straddles a window's
        edge is counted in neither window. A phase that began mid-second would lose its first
        second, the one in which a fault bites first and often hardest (a canary taking
        traffic before it is ready fails for a fraction of a second, and nothing else)."""
        now = self.clock.time()
        if boundary is not None and now - boundary < LATE_START_S:
            return boundary
        start = math.ceil(now)
        self.clock.sleep(start - now)
        return float(start)

    def _keep_watch(self) -> None:
        """During a phase and between phases (a game day's prompt): the platform's state,
        faults past their lifetime, and the load still running."""
        self.parts.observer.poll()
        for fault in self.parts.faults.remove_expired():
            now = self.clock.time()
            for window in self.record.faults:
                if window.label == fault.label and window.end is None:
                    window.end = now
            self.event("fault_removed", f"{fault.label} removed (its max_lifetime passed)")
        if not self.parts.load.alive():
            raise HarnessError(f"the load generator stopped early:\n{self.parts.load.log_tail()}")

    def _observe(self, p_index: int, until: float, record: PhaseRecord) -> None:
        """Watch the phase until the wall-clock second ``until`` (samples are wall-clock)."""
        phase = self.scenario.phases[p_index]
        seconds = until - record.start
        while (elapsed := self.clock.time() - record.start) < seconds:
            self._steer(p_index)
            self._keep_watch()
            if self.gate:
                self.gate.during_phase(self.event)
            for e_index, expectation in enumerate(phase.expect):
                if not isinstance(expectation, MetricExpectation):
                    reading = Observation(elapsed, self.parts.probes.read(expectation))
                    self.observed.setdefault((p_index, e_index), []).append(reading)
            if self.fail_fast:
                self._stop_if_decided(p_index, elapsed)
            if self.clock.monotonic() - self._samples_read >= 1.0:
                self._samples = self.parts.load.samples()
                self._samples_read = self.clock.monotonic()
                self._check_abort(record)
                self._judge_ended()
                self._show(p_index, elapsed, record)
            self.clock.sleep(min(OBSERVE_EVERY_S, max(seconds - elapsed, 0.01)))

    def _stop_if_decided(self, p_index: int, elapsed: float) -> None:
        """--fail-fast: an observed expectation of the running phase that no later reading
        can turn into a pass stops the walk; only those are judged in this cut phase."""
        phase = self.scenario.phases[p_index]
        for e_index, expectation in enumerate(phase.expect):
            if isinstance(expectation, MetricExpectation):
                continue  # decided with its phase's samples (_judge_ended)
            readings = self.observed.get((p_index, e_index), [])
            judged = judge_observed(expectation, phase.name, readings)
            if certainly_failed(expectation, judged, elapsed):
                self.decided.append(judged)
        if self.decided:
            names = ", ".join(j.name for j in self.decided)
            raise _FailedFast(
                f"--fail-fast: {names} can no longer pass, stopped {elapsed:.0f} s into phase"
                f" {phase.name}; the later phases and the invariants were not run"
            )

    def _judge_ended(self) -> None:
        """--fail-fast: each ended phase, once its samples are final, judged as the verdict
        will judge it; a failed expectation stops the walk (the phase now running is cut)."""
        windows = {p.name: (p.start, p.end) for p in self.record.phases if p.end is not None}
        while self._unjudged:
            p_index = self._unjudged[0]
            name = self.scenario.phases[p_index].name
            if self.clock.time() < windows[name][1] + FINAL_AFTER_S:
                return
            judged = judge_ended_phase(
                self.scenario, p_index, self._samples, self.observed, windows
            )
            if judged is None:  # its baseline is a later phase: the full run judges it
                return
            self._unjudged.pop(0)
            failed = [j.name for j in judged if not j.passed]
            if failed:
                raise _FailedFast(
                    f"--fail-fast: phase {name} failed, stopped in phase "
                    f"{self.record.phases[-1].name}; the later phases and the invariants"
                    " were not run"
                )

    def _so_far(self, p_index: int, record: PhaseRecord) -> list[Judgement]:
        """Each expectation of the phase judged on what has been seen until now."""
        phase = self.scenario.phases[p_index]
        windows = {p.name: (p.start, p.end) for p in self.record.phases if p.end is not None}
        baseline = windows.get(self.scenario.baseline_phase)
        now = self.clock.time()
        return [
            judge_metric(e, phase.name, self._samples, record.start, now, baseline)
            if isinstance(e, MetricExpectation)
            else judge_observed(e, phase.name, self.observed.get((p_index, i), []))
            for i, e in enumerate(phase.expect)
        ]

    def _show(self, p_index: int, elapsed: float, record: PhaseRecord) -> None:
        now = int(self.clock.time())
        endpoints = sorted({s.endpoint for s in self._samples if s.t >= now - LIVE_WINDOW_S})
        live = []
        for endpoint in endpoints:
            got = figures(self._samples, now - LIVE_WINDOW_S, now, endpoint)
            live.append(LiveFigures(endpoint, got.throughput, got.error_rate, got.p95_s))
        states: list[tuple[bool | None, str]] = [
            (None if r.measured in ("no data", NO_REQUESTS) else r.passed, r.measured)
            for r in self._so_far(p_index, record)
        ]
        self.view.tick(elapsed, live, states, dict(self.parts.observer.components))

    def _check_abort(self, record: PhaseRecord) -> None:
        now = int(self.clock.time())
        for rule in self.scenario.abort:
            span = rule.for_ or 10.0
            value = measure_metric(rule, self._samples, now - span - 1, now - 1)
            bound = rule.max.value if rule.max else math.inf
            if not math.isnan(value) and value > bound:
                raise Aborted(
                    f"abort condition: {rule.metric} {rule.endpoint} {value:.3g} > {bound:g}"
                    f" over {span:g} s in phase {record.name}"
                )
