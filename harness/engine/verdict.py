"""The verdict of a run once its timeline is over (faults removed, load stopped).

    record.phases (windows) + record.samples + timed readings
      -> each phase's expectations (metric: samples in its window, relative to the baseline
         phase; observed: the readings taken during it)
      -> steady state: over the first phase, and over the second half of the last one
      -> invariants (only for a run that went to its end)
      -> communication (idem): the status page's words against the measurements
      -> record.status: failed (names each failed check) or passed
A run that stopped early (aborted, errored, interrupted) keeps its status; the phases it
completed are still judged, marked partial, so nothing that was seen is thrown away.
A run stopped by --fail-fast (record.stopped_early) had a phase certainly failed: its phases
are judged as final, and it fails with the same names, without the later phases and the
invariants it did not reach.

judge_phase is the one judgement of a phase: the runner's --fail-fast uses it as soon as the
phase's samples are final, judge_run once the run is over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from harness.checks.communication import judge_communication, timeline_records
from harness.checks.expectations import Observation, judge_metric, judge_observed
from harness.load.result import History, Sample
from harness.record import Judgement, RunRecord, Status
from harness.scenario.model import Communication, Invariant, MetricExpectation, Scenario
from harness.topology import DATA_LOSS_CHECKS, Topology

__all__ = ["judge_ended_phase", "judge_phase", "judge_run"]


class _Invariants(Protocol):
    def judge(
        self, invariants: list[Invariant], history: History, samples: list[Sample]
    ) -> list[Judgement]: ...


def judge_phase(
    scenario: Scenario,
    p_index: int,
    samples: list[Sample],
    observed: dict[tuple[int, int], list[Observation]],
    window: tuple[float, float],
    baseline: tuple[float, float] | None,
) -> list[Judgement]:
    """The phase's own expectations, on its window (metrics) or its readings (observed)."""
    phase = scenario.phases[p_index]
    start, end = window
    results: list[Judgement] = []
    for e_index, expectation in enumerate(phase.expect):
        if isinstance(expectation, MetricExpectation):
            results.append(judge_metric(expectation, phase.name, samples, start, end, baseline))
        else:
            readings = observed.get((p_index, e_index), [])
            results.append(judge_observed(expectation, phase.name, readings))
    return results


def judge_ended_phase(
    scenario: Scenario,
    p_index: int,
    samples: list[Sample],
    observed: dict[tuple[int, int], list[Observation]],
    windows: dict[str, tuple[float, float]],
) -> list[Judgement] | None:
    """A phase judged while the run goes on, as judge_run will judge it (the first phase
    with the steady state before); None while its baseline has not ended yet.

    windows: the phases that ended; samples: final up to the phase's end."""
    name = scenario.phases[p_index].name
    baseline = windows.get(scenario.baseline_phase)  # validation: always one of the phases
    if baseline is None:
        return None
    results = judge_phase(scenario, p_index, samples, observed, windows[name], baseline)
    if p_index == 0:
        label = f"steady state before ({name})"
        results += _steady_state(scenario, label, samples, windows[name], baseline)
    return results


def _steady_state(
    scenario: Scenario,
    label: str,
    samples: list[Sample],
    window: tuple[float, float],
    baseline: tuple[float, float] | None,
) -> list[Judgement]:
    return [judge_metric(e, label, samples, *window, baseline) for e in scenario.steady_state]


def judge_run(
    scenario: Scenario,
    record: RunRecord,
    observed: dict[tuple[int, int], list[Observation]],
    invariants: _Invariants,
    history: Callable[[], History],
    cut_short: str | None = None,
    decided: list[Judgement] | None = None,
    topology: Topology | None = None,
) -> None:
    """cut_short: the phase the run stopped in (its window closed at cleanup): not judged,
    except for what --fail-fast found decided in it (``decided``)."""
    complete = record.status == Status.PASSED and not record.stopped_early
    windows = {p.name: (p.start, p.end or record.ended) for p in record.phases}
    finished = {p.name for p in record.phases if p.end is not None and p.name != cut_short}
    baseline = windows.get(scenario.baseline_phase) if scenario.baseline_phase in finished else None
    results: list[Judgement] = []
    for p_index, phase in enumerate(scenario.phases):
        if phase.name in finished:
            window = windows[phase.name]
            results += judge_phase(scenario, p_index, record.samples, observed, window, baseline)
    first, last = scenario.phases[0].name, scenario.phases[-1].name
    if first in finished:
        label = f"steady state before ({first})"
        results += _steady_state(scenario, label, record.samples, windows[first], baseline)
    if complete:  # after recovery: the second half of the last phase, once healing had time
        last_start, last_end = windows[last]
        label = f"steady state after ({last}, 2nd half)"
        window = ((last_start + last_end) / 2, last_end)
        results += _steady_state(scenario, label, record.samples, window, baseline)
    if record.stopped_early and record.status == Status.PASSED:
        _judge_stopped_early(record, results + (decided or []))
        return
    if not complete:
        record.expectations = [r.model_copy(update={"partial": True}) for r in results]
        return
    record.expectations = results
    if scenario.invariants:
        record.invariants = invariants.judge(scenario.invariants, history(), record.samples)
    if scenario.communication is not None and topology is not None:
        _communication(scenario.communication, record, topology)
    failed = record.failed
    if failed:
        record.status = Status.FAILED
        record.reason = ", ".join(r.name for r in failed)


def _communication(spec: Communication, record: RunRecord, topology: Topology) -> None:
    """The page's words against the measurements, over the whole timeline."""
    window = (record.phases[0].start, record.phases[-1].end or record.ended)
    lossy = {n for n, i in topology.invariants.items() if i.check in DATA_LOSS_CHECKS}
    judged = [j for j in record.invariants if j.name in lossy]
    lost = tuple(j.name for j in judged if not j.passed) if judged else None
    record.communication, timelines = judge_communication(
        spec, topology.slis, record.samples, record.observed, record.incidents, window, lost
    )
    record.sli_timelines = timeline_records(timelines)


def _judge_stopped_early(record: RunRecord, results: list[Judgement]) -> None:
    """--fail-fast stopped the run on a failed phase: final judgements, the run fails."""
    record.expectations = results
    failed = record.failed
    if not failed:  # the full samples did not confirm the early judgement: say so, never PASS
        record.status = Status.ABORTED
        record.reason = f"{record.stopped_early}, but no expectation failed on the full samples"
        return
    record.status = Status.FAILED
    record.reason = ", ".join(r.name for r in failed) + f" ({record.stopped_early})"
