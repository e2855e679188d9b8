"""The verdict of a run once its timeline is over (faults removed, load stopped).

    record.phases (windows) + record.samples + timed readings
      -> each phase's expectations (metric: samples in its window, relative to the baseline
         phase; observed: the readings taken during it)
      -> steady state: over the first phase, and over the second half of the last one
      -> invariants (only for a run that went to its end)
      -> record.status: failed (names each failed check) or passed
A run that stopped early (aborted, errored, interrupted) keeps its status; the phases it
completed are still judged, marked partial, so nothing that was seen is thrown away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from harness.checks.expectations import Observation, judge_metric, judge_observed
from harness.load.result import History, Sample
from harness.record import Judgement, RunRecord, Status
from harness.scenario.model import Invariant, MetricExpectation, Scenario

__all__ = ["judge_run"]


class _Invariants(Protocol):
    def judge(
        self, invariants: list[Invariant], history: History, samples: list[Sample]
    ) -> list[Judgement]: ...


def judge_run(
    scenario: Scenario,
    record: RunRecord,
    observed: dict[tuple[int, int], list[Observation]],
    invariants: _Invariants,
    history: Callable[[], History],
    cut_short: str | None = None,
) -> None:
    """cut_short: the phase the run stopped in (its window closed at cleanup): not judged."""
    complete = record.status == Status.PASSED
    windows = {p.name: (p.start, p.end or record.ended) for p in record.phases}
    finished = {p.name for p in record.phases if p.end is not None and p.name != cut_short}
    baseline = windows.get(scenario.baseline_phase) if scenario.baseline_phase in finished else None
    results: list[Judgement] = []
    for p_index, phase in enumerate(scenario.phases):
        if phase.name not in finished:
            continue
        start, end = windows[phase.name]
        for e_index, expectation in enumerate(phase.expect):
            if isinstance(expectation, MetricExpectation):
                results.append(
                    judge_metric(expectation, phase.name, record.samples, start, end, baseline)
                )
            else:
                readings = observed.get((p_index, e_index), [])
                results.append(judge_observed(expectation, phase.name, readings))
    first, last = scenario.phases[0].name, scenario.phases[-1].name
    checks: list[tuple[str, tuple[float, float]]] = []
    if first in finished:
        checks.append((f"steady state before ({first})", windows[first]))
    if complete:  # after recovery: the second half of the last phase, once healing had time
        last_start, last_end = windows[last]
        checks.append(
            (f"steady state after ({last}, 2nd half)", ((last_start + last_end) / 2, last_end))
        )
    for label, window in checks:
        for expectation in scenario.steady_state:
            results.append(judge_metric(expectation, label, record.samples, *window, baseline))
    if not complete:
        record.expectations = [r.model_copy(update={"partial": True}) for r in results]
        return
    record.expectations = results
    if scenario.invariants:
        record.invariants = invariants.judge(scenario.invariants, history(), record.samples)
    failed = record.failed
    if failed:
        record.status = Status.FAILED
        record.reason = ", ".join(r.name for r in failed)
