"""Judging expectations on what a run observed. Pure: samples and probe readings in, results out.

    MetricExpectation + samples + phase window (+ baseline figures) -> ExpectationResult
    Status/Failover/Rollout/Probe expectation + timed observations    -> ExpectationResult
No data is never a pass.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from harness.load.result import Sample, figures
from harness.scenario.model import (
    FailoverExpectation,
    MetricExpectation,
    ProbeExpectation,
    RolloutExpectation,
    StatusExpectation,
    Threshold,
)

__all__ = ["ExpectationResult", "Observation", "judge_metric", "judge_observed"]

ERROR_RATE_FLOOR = 0.01  # "2x baseline" of a 0% error rate still allows 1%


@dataclasses.dataclass(frozen=True)
class Observation:
    """A probe reading during the run: seconds since the phase started, and a value."""

    at_s: float
    value: Any


@dataclasses.dataclass
class ExpectationResult:
    phase: str
    name: str
    passed: bool
    measured: str
    threshold: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _bound(threshold: Threshold, metric: str, baseline: float) -> float:
    if not threshold.relative:
        return threshold.value
    if math.isnan(baseline):
        return math.nan
    bound = threshold.value * baseline + threshold.slack
    return max(bound, ERROR_RATE_FLOOR) if metric == "error_rate" else bound


def _fmt(metric: str, value: float) -> str:
    if math.isnan(value):
        return "no data"
    if metric == "error_rate":
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


def judge_metric(
    expectation: MetricExpectation,
    phase: str,
    samples: list[Sample],
    start: float,
    end: float,
    baseline: tuple[float, float] | None,
    scale: float = 1.0,
) -> ExpectationResult:
    """``within`` skips the first N s of the phase; ``for`` needs N s in a row that hold."""
    metric, endpoint, build = expectation.metric, expectation.endpoint, expectation.build
    base_value = math.nan
    if baseline is not None:
        base_value = figures(samples, baseline[0], baseline[1], endpoint, build).get(metric)
    name = f"{metric} {endpoint}" + (f" @{build}" if build else "")
    if expectation.within is not None:
        start = start + expectation.within * scale
        name += f" within {expectation.within:g}s"
    if expectation.for_ is not None:
        need = max(int(expectation.for_ * scale), 1)
        run = best = 0
        for second in range(int(start), int(end)):
            value = figures(samples, second, second + 1, endpoint, build).get(metric)
            ok, shown = _holds(expectation, value, base_value)
            run = run + 1 if ok else 0
            best = max(best, run)
        _, shown = _holds(expectation, math.nan, base_value)
        return ExpectationResult(
            phase,
            f"{name} for {expectation.for_:g}s",
            best >= need,
            f"held {best} s in a row",
            f"{shown} for {need} s",
        )
    value = figures(samples, start, end, endpoint, build).get(metric)
    ok, shown = _holds(expectation, value, base_value)
    return ExpectationResult(phase, name, ok, _fmt(metric, value), shown)


def judge_observed(
    expectation: StatusExpectation | ProbeExpectation | RolloutExpectation | FailoverExpectation,
    phase: str,
    observations: list[Observation],
    scale: float = 1.0,
) -> ExpectationResult:
    """Timed readings taken during the phase (status states, probes, rollouts, regions)."""
    if isinstance(expectation, StatusExpectation):
        within = expectation.within * scale
        hit = next(
            (o for o in observations if o.value in expectation.state and o.at_s <= within), None
        )
        last = observations[-1].value if observations else "no data"
        return ExpectationResult(
            phase,
            f"status {expectation.status} in {'/'.join(expectation.state)}",
            hit is not None,
            f"{hit.value} after {hit.at_s:.1f} s" if hit else f"{last} (never in time)",
            f"within {within:g} s",
        )
    if isinstance(expectation, FailoverExpectation):
        within = expectation.within * scale
        hit = next((o for o in observations if o.value == expectation.to), None)
        ok = hit is not None and hit.at_s <= within
        return ExpectationResult(
            phase,
            f"failover {expectation.failover} to {expectation.to}",
            ok,
            f"after {hit.at_s:.1f} s" if hit else "never",
            f"within {within:g} s",
        )
    if isinstance(expectation, RolloutExpectation):
        within = expectation.within * scale
        hit = next((o for o in observations if o.value == expectation.outcome), None)
        final = observations[-1].value if observations else "no data"
        ok = hit is not None and hit.at_s <= within
        return ExpectationResult(
            phase,
            f"rollout {expectation.rollout} {expectation.outcome}",
            ok,
            f"{hit.value} after {hit.at_s:.1f} s" if hit else str(final),
            f"within {within:g} s",
        )
    return _judge_probe(expectation, phase, observations, scale)


def _judge_probe(
    expectation: ProbeExpectation, phase: str, observations: list[Observation], scale: float
) -> ExpectationResult:
    start = (expectation.within or 0) * scale
    considered = [o for o in observations if o.at_s >= start and o.value is not None]
    if expectation.within is None:
        considered = considered[-1:]  # the reading at the end of the phase
    name = f"probe {expectation.probe}" + (f" {expectation.target}" if expectation.target else "")
    if not considered:
        return ExpectationResult(phase, name, False, "no data", "")
    if expectation.equals is not None:
        ok = all(str(o.value) == expectation.equals for o in considered)
        return ExpectationResult(
            phase, name, ok, str(considered[-1].value), f"= {expectation.equals}"
        )
    values = [float(o.value) for o in considered]
    ok = True
    shown = []
    if expectation.max is not None:
        ok = ok and max(values) <= expectation.max.value
        shown.append(f"max {expectation.max.value:g}")
    if expectation.min is not None:
        ok = ok and min(values) >= expectation.min.value
        shown.append(f"min {expectation.min.value:g}")
    return ExpectationResult(phase, name, ok, f"{max(values):g} (worst)", ", ".join(shown))
