"""Judging metric and observed expectations: pure functions over synthetic samples."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.expectations import Observation, judge_metric, judge_observed
from harness.load.result import Sample
from harness.scenario.model import MetricExpectation, StatusExpectation

BASELINE = (0.0, 10.0)


def _seconds(start: int, end: int, latency_ms: float, errors: int = 0) -> list[Sample]:
    return [Sample(t, "feed", "-", 10, errors, (latency_ms,) * 10, {}) for t in range(start, end)]


def _metric(**fields: Any) -> MetricExpectation:
    return MetricExpectation.model_validate({"metric": "p95", "endpoint": "feed", **fields})


SAMPLES = _seconds(0, 10, 20) + _seconds(10, 20, 90)


@pytest.mark.parametrize(
    ("bound", "passed"),
    [
        ("100ms", True),
        ("80ms", False),
        ("3x baseline", False),  # 90 ms > 60 ms
        ("3x baseline + 50ms", True),  # 90 ms <= 110 ms
        ("4x baseline + 5ms", False),  # 90 ms > 85 ms
    ],
)
def test_a_latency_bound_absolute_relative_and_with_slack(bound: str, passed: bool) -> None:
    result = judge_metric(_metric(max=bound), "p", SAMPLES, 10, 20, BASELINE)
    assert result.passed is passed, result
    assert result.measured == "90 ms"


def test_the_threshold_shows_ratio_and_slack() -> None:
    result = judge_metric(_metric(max="3x baseline + 50ms"), "p", SAMPLES, 10, 20, BASELINE)
    assert result.threshold == "max 110 ms (3x baseline + 50 ms)"


def test_within_ignores_the_first_seconds_of_the_phase() -> None:
    samples = _seconds(0, 10, 20) + _seconds(10, 13, 900) + _seconds(13, 20, 20)
    assert not judge_metric(_metric(max="100ms"), "p", samples, 10, 20, BASELINE).passed
    assert judge_metric(_metric(max="100ms", within="3s"), "p", samples, 10, 20, BASELINE).passed


def test_within_comes_scaled_with_the_scenario() -> None:
    """The engine scales the scenario once (Scenario.scaled); judging takes it as given."""
    samples = _seconds(10, 13, 900) + _seconds(13, 20, 20)
    expectation = _metric(max="100ms", within="6s")
    assert judge_metric(
        expectation.model_copy(update={"within": 3.0}), "p", samples, 10, 20, None
    ).passed
    assert not judge_metric(
        expectation.model_copy(update={"within": 1.5}), "p", samples, 10, 20, None
    ).passed


def test_for_needs_that_many_seconds_in_a_row() -> None:
    samples = _seconds(10, 13, 20) + _seconds(13, 14, 900) + _seconds(14, 18, 20)
    assert judge_metric(_metric(max="100ms", **{"for": "4s"}), "p", samples, 10, 18, None).passed
    failed = judge_metric(_metric(max="100ms", **{"for": "5s"}), "p", samples, 10, 18, None)
    assert not failed.passed
    assert failed.measured == "held 4 s in a row"


def test_no_data_is_never_a_pass() -> None:
    result = judge_metric(_metric(max="10s"), "p", SAMPLES, 30, 40, BASELINE)
    assert not result.passed
    assert result.measured == "no request finished in the window"


def test_a_relative_bound_without_a_baseline_fails() -> None:
    assert not judge_metric(_metric(max="2x baseline"), "p", SAMPLES, 10, 20, None).passed


def test_an_error_rate_relative_to_a_clean_baseline_still_allows_one_percent() -> None:
    samples = _seconds(0, 10, 20) + _seconds(10, 20, 20, errors=0)
    samples[-1] = Sample(19, "feed", "-", 100, 1, (20.0,), {})  # 1 error in 190 requests
    expectation = MetricExpectation.model_validate(
        {"metric": "error_rate", "endpoint": "feed", "max": "2x baseline"}
    )
    assert judge_metric(expectation, "p", samples, 10, 20, BASELINE).passed


def test_a_status_state_must_be_reached_within_its_time() -> None:
    expectation = StatusExpectation.model_validate(
        {"status": "search", "state": ["degraded", "outage"], "within": "10s"}
    )
    readings = [Observation(1.0, "operational"), Observation(4.0, "degraded")]
    assert judge_observed(expectation, "p", readings).passed
    assert not judge_observed(expectation.model_copy(update={"within": 3.0}), "p", readings).passed
    assert not judge_observed(expectation, "p", []).passed


def test_share_is_the_fraction_of_the_endpoints_requests_a_build_served() -> None:
    stable = [Sample(t, "search", "v1", 9, 0, (5.0,) * 9, {}) for t in range(10, 20)]
    canary = [Sample(t, "search", "v2", 3, 0, (300.0,) * 3, {}) for t in range(10, 14)]
    reach = _metric(metric="share", endpoint="search", build="v2", max=0.15)
    judged = judge_metric(reach, "rollout", stable + canary, 10, 20, None)
    assert judged.measured == "11.76%"  # 12 of 102: four seconds at a quarter
    assert judged.passed
    big_bang = [Sample(t, "search", "v2", 12, 0, (300.0,) * 12, {}) for t in range(10, 14)]
    judged = judge_metric(reach, "rollout", stable[4:] + big_bang, 10, 20, None)
    assert judged.measured == "47.06%"
    assert not judged.passed
    nothing = judge_metric(reach, "rollout", [], 10, 20, None)
    assert not nothing.passed  # no data is never a pass


def test_share_names_its_build() -> None:
    with pytest.raises(ValueError, match="share needs build"):
        _metric(metric="share", endpoint="search", max=0.15)
