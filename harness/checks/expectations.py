"""Judging expectations on what a run observed. Pure: samples and probe readings in, results out.

    MetricExpectation + samples + phase window (+ baseline figures) -> Judgement
    Status/Failover/Rollout/Probe expectation + timed observations    -> Judgement
                                                  (_OBSERVED: one small function per kind)
    + seconds into the phase -> certainly_failed: no later reading can change it (--fail-fast)
Durations arrive already scaled (Scenario.scaled). No data is never a pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from harness.load.result import Sample, figures, share
from harness.record import Judgement
from harness.scenario.model import (
    FailoverExpectation,
    MetricExpectation,
    ProbeExpectation,
    RolloutExpectation,
    StatusExpectation,
    Threshold,
)

__all__ = [
    "Observation",
    "certainly_failed",
    "judge_metric",
    "judge_observed",
    "measure_metric",
]


ERROR_RATE_FLOOR = 0.01  # "2x baseline" of a 0% error rate still allows 1%


@dataclasses.dataclass(frozen=True)
class Observation:
    """A probe reading during the run: seconds since the phase started, and a value."""

    at_s: float
    value: Any


def _bound(threshold: Threshold, metric: str, baseline: float) -> float:
    if not threshold.relative:
        return threshold.value
    if math.isnan(baseline):
        return math.nan
    bound = threshold.value * baseline + threshold.slack
    return max(bound, ERROR_RATE_FLOOR) if metric == "error_rate" else bound


# what a metric measured when nothing finished in its window (live views show it as pending)
NO_REQUESTS = "no request finished in the window"


def _fmt(metric: str, value: float) -> str:
    if math.isnan(value):
        return NO_REQUESTS
    if metric in ("error_rate", "wrong_answers", "share"):
        return f"{value:.2%}"
    if metric == "throughput":
        return f"{value:.1f}/s"
    return f"{value * 1000:.0f} ms"


def _holds(expectation: MetricExpectation, value: float, baseline: float) -> tuple[bool, str]:
    shown = []
    ok = not math.isnan(value)
    for word, threshold in (("max", expectation.max), ("min", expectation.min)):
        if threshold is None:
            continue
        bound = _bound(threshold, expectation.metric, baseline)
        shown.append(
            f"{word} {_fmt(expectation.metric, bound)}"
            + (f" ({threshold.value:g}x baseline" if threshold.relative else "")
            + (f" + {_fmt(expectation.metric, threshold.slack)}" if threshold.slack else "")
            + (")" if threshold.relative else "")
        )
        if math.isnan(bound):
            ok = False
        elif word == "max":
            ok = ok and value <= bound
        else:
            ok = ok and value >= bound
    return ok, ", ".join(shown)


def measure_metric(
    expectation: MetricExpectation, samples: list[Sample], start: float, end: float
) -> float:
    """The expectation's metric of its endpoint (and build) over [start, end); NaN if none."""
    endpoint, build = expectation.endpoint, expectation.build
    if expectation.metric == "share":
        assert build is not None  # validated: share names its build
        return share(samples, start, end, endpoint, build)
    return figures(samples, start, end, endpoint, build).get(expectation.metric)


def judge_metric(
    expectation: MetricExpectation,
    phase: str,
    samples: list[Sample],
    start: float,
    end: float,
    baseline: tuple[float, float] | None,
) -> Judgement:
    """``within`` skips the first N s of the phase; ``for`` needs N s in a row that hold."""
    metric, endpoint, build = expectation.metric, expectation.endpoint, expectation.build

    def measure(start: float, end: float) -> float:
        return measure_metric(expectation, samples, start, end)

    base_value = math.nan
    if baseline is not None:
        base_value = measure(*baseline)
    name = f"{metric} {endpoint}" + (f" @{build}" if build else "")
    if expectation.within is not None:
        start = start + expectation.within
        name += f" within {expectation.within:g}s"
    if expectation.for_ is not None:
        need = max(round(expectation.for_), 1)
        run = best = 0
        for second in range(math.ceil(start), int(end)):
            value = measure(second, second + 1)
            ok, shown = _holds(expectation, value, base_value)
            run = run + 1 if ok else 0
            best = max(best, run)
        _, shown = _holds(expectation, math.nan, base_value)
        return Judgement(
            phase=phase,
            name=f"{name} for {expectation.for_:g}s",
            passed=best >= need,
            measured=f"held {best} s in a row",
            threshold=f"{shown} for {need} s",
        )
    value = measure(start, end)
    ok, shown = _holds(expectation, value, base_value)
    return Judgement(
        phase=phase, name=name, passed=ok, measured=_fmt(metric, value), threshold=shown
    )


def judge_observed(
    expectation: StatusExpectation | ProbeExpectation | RolloutExpectation | FailoverExpectation,
    phase: str,
    observations: list[Observation],
) -> Judgement:
    """Timed readings taken during the phase (status states, probes, rollouts, regions)."""
    return _OBSERVED[type(expectation)](expectation, phase, observations)


def certainly_failed(
    expectation: StatusExpectation | ProbeExpectation | RolloutExpectation | FailoverExpectation,
    judgement: Judgement,
    elapsed_s: float,
) -> bool:
    """A failed judgement of the readings so far, ``elapsed_s`` into the phase, that no
    later reading can turn into a pass: a status, failover or rollout whose ``within`` has
    passed unmet; a probe with ``within`` that already read a value out of bounds (its
    worst value only gets worse). Anything else is only decided at the phase's end."""
    if judgement.passed:
        return False
    if isinstance(expectation, ProbeExpectation):
        return (
            expectation.within is not None
            and elapsed_s >= expectation.within
            and judgement.measured != "no data"
        )
    return elapsed_s > expectation.within


def _first_in_time(
    observations: list[Observation], wanted: Callable[[Any], bool], within: float
) -> Observation | None:
    return next((o for o in observations if wanted(o.value) and o.at_s <= within), None)


def _judge_status(expectation: Any, phase: str, observations: list[Observation]) -> Judgement:
    within = expectation.within
    hit = _first_in_time(observations, lambda v: v in expectation.state, within)
    last = observations[-1].value if observations else "no data"
    return Judgement(
        phase=phase,
        name=f"status {expectation.status} in {'/'.join(expectation.state)}",
        passed=hit is not None,
        measured=f"{hit.value} after {hit.at_s:.1f} s" if hit else f"{last} (never in time)",
        threshold=f"within {within:g} s",
    )


def _judge_failover(expectation: Any, phase: str, observations: list[Observation]) -> Judgement:
    within = expectation.within
    hit = next((o for o in observations if o.value == expectation.to), None)
    return Judgement(
        phase=phase,
        name=f"failover {expectation.failover} to {expectation.to}",
        passed=hit is not None and hit.at_s <= within,
        measured=f"after {hit.at_s:.2f} s" if hit else "never",
        threshold=f"within {within:g} s",
    )


def _judge_rollout(expectation: Any, phase: str, observations: list[Observation]) -> Judgement:
    within = expectation.within
    hit = next((o for o in observations if o.value == expectation.outcome), None)
    final = observations[-1].value if observations else "no data"
    return Judgement(
        phase=phase,
        name=f"rollout {expectation.rollout} {expectation.outcome}",
        passed=hit is not None and hit.at_s <= within,
        measured=f"{hit.value} after {hit.at_s:.1f} s" if hit else str(final),
        threshold=f"within {within:g} s",
    )


def _same(value: Any, wanted: str) -> bool:
    if str(value) == wanted:
        return True
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return False


def _judge_probe(
    expectation: ProbeExpectation, phase: str, observations: list[Observation]
) -> Judgement:
    start = expectation.within or 0
    considered = [o for o in observations if o.at_s >= start and o.value is not None]
    if expectation.within is None:
        considered = considered[-1:]  # the reading at the end of the phase
    name = f"probe {expectation.probe}" + (f" {expectation.target}" if expectation.target else "")
    shown = [
        f"{word} {bound.value:g}"
        for word, bound in (("max", expectation.max), ("min", expectation.min))
        if bound is not None
    ]
    wanted = f"= {expectation.equals}" if expectation.equals is not None else ", ".join(shown)
    if expectation.within is not None:  # every reading from then on
        wanted += f" from {expectation.within:g} s"
    if not considered:  # (and before the phase: what its plan says)
        return Judgement(phase=phase, name=name, passed=False, measured="no data", threshold=wanted)
    if expectation.equals is not None:
        ok = all(_same(o.value, expectation.equals) for o in considered)
        return Judgement(
            phase=phase, name=name, passed=ok, measured=str(considered[-1].value), threshold=wanted
        )
    texts = [o.value for o in considered if not isinstance(o.value, int | float)]
    if texts:
        return Judgement(
            phase=phase,
            name=name,
            passed=False,
            measured=f"{texts[-1]} (not a number)",
            threshold=wanted,
        )
    values = [float(o.value) for o in considered]
    ok = True
    if expectation.max is not None:
        ok = ok and max(values) <= expectation.max.value
    if expectation.min is not None:
        ok = ok and min(values) >= expectation.min.value
    worst = max(values) if expectation.max is not None else min(values)
    return Judgement(
        phase=phase, name=name, passed=ok, measured=f"{worst:g} (worst)", threshold=wanted
    )


_OBSERVED: dict[type, Callable[[Any, str, list[Observation]], Judgement]] = {
    StatusExpectation: _judge_status,
    FailoverExpectation: _judge_failover,
    RolloutExpectation: _judge_rollout,
    ProbeExpectation: _judge_probe,
}
