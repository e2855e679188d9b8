"""The timeline on a fake clock with fake parts (no sockets, no processes, no sleeping):
phases in order, fault windows, lifetimes, users per phase, abort conditions, interrupts,
cleanup always, and a verdict from what the fakes served."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.engine.console import PlainView
from harness.engine.runner import FINAL_AFTER_S, Aborted, Interrupted, RunParts, run_timeline
from harness.errors import FaultError
from harness.faults.active import ActiveFault
from harness.load.result import History, Sample
from harness.record import Judgement, RunRecord, ScenarioInfo, Status
from harness.scenario.model import Scenario
from tests.unit.fakes import FakeClock

SCENARIO = {
    "name": "cut",
    "load": {"users": 4, "spawn_rate": 4},
    "steady_state": [{"metric": "error_rate", "endpoint": "feed", "max": 0.01}],
    "phases": [
        {"name": "baseline", "duration": "10s"},
        {
            "name": "broken",
            "duration": "10s",
            "users": 8,
            "faults": [
                {"type": "down", "link": "a-b"},
                {"type": "latency", "link": "b-c", "attributes": {"latency": 5}, "until": "after"},
            ],
            "expect": [
                {"metric": "error_rate", "endpoint": "feed", "max": 0.5},
                {"status": "feed", "state": ["degraded"], "within": "5s"},
            ],
        },
        {"name": "after", "duration": "10s"},
    ],
    "invariants": ["nothing_lost"],
}


class FakeLoad:
    """Serves one sample per second per endpoint, failing while ``failing(t)`` says so."""

    def __init__(self, clock: FakeClock, failing: Any = lambda t: False) -> None:
        self.clock = clock
        self.users = 0
        self.failing = failing
        self.started_at: float | None = None
        self.stopped = False
        self.user_changes: list[tuple[float, int]] = []
        self.dead_at: float | None = None

    def start(self) -> None:
        self.started_at = self.clock.time()
        self.users = 4

    def stop(self) -> None:
        self.stopped = True

    def set_users(self, users: int) -> None:
        self.users = users
        self.user_changes.append((self.clock.time(), users))

    def alive(self) -> bool:
        return self.dead_at is None or self.clock.time() < self.dead_at

    def log_tail(self) -> str:
        return "locust: crashed"

    def samples(self) -> list[Sample]:
        assert self.started_at is not None
        out = []
        for t in range(int(self.started_at), int(self.clock.time())):
            errors = 10 if self.failing(t) else 0
            out.append(Sample(t, "feed", "-", 10, errors, (20.0,) * 10, {"200": 10 - errors}))
        return out

    def history(self) -> History:
        return History()


class FakeProbes:
    def __init__(self, clock: FakeClock, page: Any) -> None:
        self.clock = clock
        self.page = page
        self.phases = 0
        self.closed = False

    def read(self, expectation: object) -> object:
        return self.page(self.clock.time())

    def new_phase(self) -> None:
        self.phases += 1

    def close(self) -> None:
        self.closed = True


class FakeObserver:
    def __init__(self) -> None:
        self.components: dict[str, str] = {}
        self.polls = 0
        self.finished = False

    def poll(self, force: bool = False) -> None:
        self.polls += 1

    def finish(self) -> None:
        self.finished = True


class FakeFaults:
    def __init__(self, clock: FakeClock, refuse: str | None = None) -> None:
        self.clock = clock
        self.refuse = refuse
        self.applied: list[tuple[float, str]] = []
        self.removed: list[tuple[float, str]] = []
        self.active: list[ActiveFault] = []

    def apply(self, spec: Any, index: int) -> ActiveFault:
        if spec.type == self.refuse:
            raise FaultError(f"{spec.type} refused")
        fault = ActiveFault(f"{spec.type} {spec.link}", [], applied_at=self.clock.monotonic())
        self.applied.append((self.clock.time(), fault.label))
        self.active.append(fault)
        return fault

    def remove(self, fault: ActiveFault) -> None:
        if not fault.removed:
            fault.removed = True
            self.removed.append((self.clock.time(), fault.label))

    def remove_expired(self) -> list[ActiveFault]:
        return []

    def remove_all(self) -> list[str]:
        for fault in self.active:
            self.remove(fault)
        return []

    def http_counts(self) -> list[tuple[int, Any]]:
        return []


class FakeInvariants:
    def __init__(self) -> None:
        self.judged: list[str] = []

    def before_run(self) -> None:
        pass

    def judge(self, invariants: Any, history: History, samples: list[Sample]) -> list[Judgement]:
        self.judged = [i.name for i in invariants]
        return [
            Judgement(phase="invariants", name=i.name, passed=True, measured="0", threshold="0")
            for i in invariants
        ]


class Rig:
    def __init__(self, failing: Any = lambda t: False, page: Any = lambda t: "degraded") -> None:
        self.clock = FakeClock()
        self.load = FakeLoad(self.clock, failing)
        self.probes = FakeProbes(self.clock, page)
        self.observer = FakeObserver()
        self.faults = FakeFaults(self.clock)
        self.invariants = FakeInvariants()
        self.record = RunRecord(
            run_id="r1", scenario=ScenarioInfo(name="cut"), started_at=self.clock.time()
        )

    def parts(self) -> RunParts:
        return RunParts(
            self.load, self.probes, self.observer, self.faults, self.invariants, self.clock
        )

    def run(
        self, scenario: dict[str, Any] = SCENARIO, gate: Any = None, fail_fast: bool = False
    ) -> RunRecord:
        model = Scenario.model_validate(scenario)
        return run_timeline(model, self.record, self.parts(), PlainView(), gate, fail_fast)


def test_phases_faults_and_windows_follow_the_timeline() -> None:
    rig = Rig()
    record = rig.run()
    assert record.status == Status.PASSED, record.reason
    assert [p.name for p in record.phases] == ["baseline", "broken", "after"]
    start = rig.load.started_at
    assert start is not None
    baseline, broken, after = record.phases
    # warm-up: users/rate + 1 s, then the next whole second
    assert start + 2 <= baseline.start < start + 3
    assert broken.start == pytest.approx(baseline.end, abs=0.01)
    assert [label for _, label in rig.faults.applied] == ["down a-b", "latency b-c"]
    # the down fault ends with its phase, the latency one lasts through "after"
    windows = {w.label: w for w in record.faults}
    assert windows["down a-b"].end == pytest.approx(broken.end, abs=0.01)
    assert windows["latency b-c"].end == pytest.approx(after.end, abs=0.01)
    assert rig.probes.phases == 3
    assert rig.load.stopped
    assert rig.probes.closed
    assert rig.observer.finished
    assert rig.invariants.judged == ["nothing_lost"]
    names = [j.name for j in record.expectations]
    assert names == [
        "error_rate feed",
        "status feed in degraded",
        "error_rate feed",
        "error_rate feed",
    ]
    assert record.expectations[2].phase.startswith("steady state before")
    assert record.expectations[3].phase.startswith("steady state after")


def test_phases_start_on_whole_seconds_so_a_faults_first_second_is_judged() -> None:
    """Samples are whole seconds; a phase starting mid-second used to count its first second
    in neither phase: errors only in that second (a canary taking traffic before it is ready)
    were never seen. Aligned, the phase owns that second."""
    first_second: list[int] = []
    rig = Rig(failing=lambda t: bool(first_second) and t == first_second[0])
    rig.clock.now += 0.37  # the run starts mid-second, as real ones do

    class Noting:
        def before_phase(self, index: int, *_: Any) -> set[int]:
            if index == 1:  # the fault's phase starts at the next whole second
                first_second.append(math.ceil(rig.clock.time()))
            return set()

        def during_phase(self, event: Any) -> None:
            pass

    broken = {
        **SCENARIO["phases"][1],
        "expect": [{"metric": "error_rate", "endpoint": "feed", "max": 0.05}],
    }
    scenario = {**SCENARIO, "phases": [SCENARIO["phases"][0], broken, SCENARIO["phases"][2]]}
    record = rig.run(scenario, gate=Noting())
    assert all(p.start == int(p.start) for p in record.phases)
    assert record.phases[1].start == first_second[0]
    applied_at, label = rig.faults.applied[0]
    assert label == "down a-b"
    assert applied_at >= first_second[0]  # applied once the second began
    assert record.status == Status.FAILED, record.expectations
    assert record.reason == "error_rate feed"


def test_phases_last_whole_seconds_and_follow_each_other_without_a_gap() -> None:
    """Scaled durations are rounded up to whole seconds, and each phase starts where the last
    ended: a gap would leave the platform without the faults of either phase (a status page
    that recovers in it would then have to notice the next fault from scratch)."""
    rig = Rig()
    rig.clock.now += 0.81
    first = {**SCENARIO["phases"][0], "duration": "4.4s"}
    scenario = {**SCENARIO, "phases": [first, *SCENARIO["phases"][1:]]}
    record = rig.run(scenario)
    baseline, broken, after = record.phases
    assert baseline.end is not None
    assert baseline.end - baseline.start == 5  # 4.4 s, rounded up
    assert broken.start == baseline.end
    assert after.start == broken.end
    assert all(p.start == int(p.start) for p in record.phases)
    removed_at = {label: t for t, label in rig.faults.removed}
    applied_at = {label: t for t, label in rig.faults.applied}
    assert applied_at["down a-b"] - baseline.end < 0.1
    assert removed_at["down a-b"] - broken.start == pytest.approx(10, abs=0.1)


def test_a_phase_sets_its_users_and_the_next_one_goes_back() -> None:
    rig = Rig()
    rig.run()
    assert [users for _, users in rig.load.user_changes] == [8, 4]


def test_a_failing_expectation_fails_the_run_and_names_itself() -> None:
    rig = Rig(page=lambda t: "operational")
    record = rig.run()
    assert record.status == Status.FAILED
    assert record.reason == "status feed in degraded"


def test_an_abort_condition_stops_the_run_and_cleans_up() -> None:
    scenario = {
        **SCENARIO,
        "abort": [{"metric": "error_rate", "endpoint": "feed", "max": 0.5, "for": "2s"}],
    }
    rig = Rig(failing=lambda t: True)
    record = rig.run(scenario)
    assert record.status == Status.ABORTED
    assert record.reason.startswith("abort condition: error_rate feed")
    assert all(w.end is not None for w in record.faults)  # closed at cleanup
    assert all(p.end is not None for p in record.phases)
    assert rig.load.stopped
    assert rig.invariants.judged == []  # not judged on a run that stopped early


def test_an_interrupt_keeps_what_was_judged_and_closes_every_window() -> None:
    rig = Rig()

    class Interrupting:
        def before_phase(self, index: int, *_: Any) -> set[int]:
            if index == 2:
                raise KeyboardInterrupt
            return set()

        def during_phase(self, event: Any) -> None:
            pass

    with pytest.raises(Interrupted) as caught:
        rig.run(gate=Interrupting())
    record = caught.value.record
    assert record.status == Status.ABORTED
    assert [p.name for p in record.phases] == ["baseline", "broken"]
    assert all(w.end is not None for w in record.faults)
    judged = {(j.phase, j.name) for j in record.expectations}
    assert ("broken", "status feed in degraded") in judged  # the phase that ended is kept
    assert all(j.partial for j in record.expectations)
    assert rig.faults.removed  # everything undone


def test_a_fault_that_cannot_be_applied_errors_the_run() -> None:
    rig = Rig()
    rig.faults.refuse = "latency"
    record = rig.run()
    assert record.status == Status.ERRORED
    assert "latency refused" in record.reason
    assert [label for _, label in rig.faults.removed] == ["down a-b"]


def test_the_load_dying_errors_the_run() -> None:
    rig = Rig()
    rig.load.dead_at = rig.clock.time() + 15
    record = rig.run()
    assert record.status == Status.ERRORED
    assert "the load generator stopped early" in record.reason


def test_an_operator_skip_and_abort() -> None:
    rig = Rig()

    class Operator:
        def before_phase(self, index: int, *_: Any) -> set[int]:
            if index == 2:
                raise Aborted("aborted by the operator")
            return {0} if index == 1 else set()

        def during_phase(self, event: Any) -> None:
            pass

    record = rig.run(gate=Operator())
    assert record.status == Status.ABORTED
    assert [label for _, label in rig.faults.applied] == ["latency b-c"]
    assert any(e.kind == "fault_skipped" for e in record.events)
    assert any(j.phase == "broken" for j in record.expectations)


def _failed(record: RunRecord) -> list[tuple[str, str]]:
    return [(j.phase, j.name) for j in record.failed]


class FailingInBroken:
    """Every request fails while the phase "broken" runs (and only then)."""

    def __init__(self) -> None:
        self.record: RunRecord | None = None

    def __call__(self, t: int) -> bool:
        assert self.record is not None
        phases = {p.name: p for p in self.record.phases}
        broken = phases.get("broken")
        return broken is not None and broken.start <= t < (broken.end or math.inf)


def _failing_in_broken() -> Rig:
    failing = FailingInBroken()
    rig = Rig(failing=failing)
    failing.record = rig.record
    return rig


def test_fail_fast_judges_an_ended_phase_once_its_samples_are_final() -> None:
    full_record = _failing_in_broken().run()
    fast = _failing_in_broken()
    record = fast.run(fail_fast=True)
    assert record.status == Status.FAILED
    assert _failed(record) == _failed(full_record) == [("broken", "error_rate feed")]
    assert record.reason.startswith("error_rate feed (--fail-fast: phase broken failed")
    assert "stopped in phase after" in record.stopped_early
    broken, after = record.phases[1], record.phases[2]
    assert broken.end is not None
    assert after.end is not None
    # judged once its samples are final, not a moment later; "after" is not judged
    assert after.end - broken.end == pytest.approx(FINAL_AFTER_S, abs=1.1)
    assert all(j.phase != "after" and "after" not in j.phase for j in record.expectations)
    assert not any(j.partial for j in record.expectations)
    assert fast.invariants.judged == []  # not reached
    assert all(w.end is not None for w in record.faults)  # the latency lasting to "after" too
    assert [label for _, label in fast.faults.removed] == ["down a-b", "latency b-c"]
    assert fast.load.stopped
    assert any(e.kind == "fail_fast" for e in record.events)


def test_fail_fast_stops_once_a_within_deadline_has_passed_unmet() -> None:
    full = Rig(page=lambda t: "operational")
    full_record = full.run()
    fast = Rig(page=lambda t: "operational")
    record = fast.run(fail_fast=True)
    assert record.status == Status.FAILED
    assert _failed(record) == _failed(full_record) == [("broken", "status feed in degraded")]
    assert "can no longer pass, stopped 6 s into phase broken" in record.reason
    broken = record.phases[1]
    assert broken.end is not None
    assert broken.end - broken.start == pytest.approx(5.5, abs=0.6)  # within 5 s, read at 5.5
    # only what was decided is judged in the phase it stopped in
    assert [(j.phase, j.name) for j in record.expectations if j.phase == "broken"] == [
        ("broken", "status feed in degraded")
    ]
    assert [p.name for p in record.phases] == ["baseline", "broken"]
    assert full.clock.time() - fast.clock.time() > 10  # the rest of the run was not waited for


def test_fail_fast_on_a_failed_steady_state_stops_in_the_next_phase() -> None:
    rig = Rig(failing=lambda t: True)  # every request fails, from the baseline on
    record = rig.run(fail_fast=True)
    assert record.status == Status.FAILED
    assert [p.name for p in record.phases] == ["baseline", "broken"]
    assert ("steady state before (baseline)", "error_rate feed") in _failed(record)
    assert "phase baseline failed, stopped in phase broken" in record.reason


def test_fail_fast_changes_nothing_on_a_run_that_holds() -> None:
    full, fast = Rig().run(), Rig().run(fail_fast=True)
    assert fast.status == full.status == Status.PASSED
    assert fast.stopped_early == ""
    assert [(j.phase, j.name, j.passed) for j in fast.judgements] == [
        (j.phase, j.name, j.passed) for j in full.judgements
    ]
