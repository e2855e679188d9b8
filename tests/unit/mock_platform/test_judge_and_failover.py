"""The canary judge on known distributions, and the failover state machine, without sockets."""

from __future__ import annotations

import random

import pytest

from mock_platform.failover import RegionSelector
from mock_platform.judge import Analysis, Sample, hodges_lehmann, judge


def _samples(rng: random.Random, n: int, mean_ms: float, error_rate: float = 0.0) -> list[Sample]:
    return [
        Sample(rng.random() >= error_rate, max(rng.gauss(mean_ms, mean_ms * 0.2), 0.1) / 1000)
        for _ in range(n)
    ]


ANALYSIS = Analysis(min_samples=30)


def test_known_higher_latency_fails() -> None:
    rng = random.Random(1)
    verdict = judge(_samples(rng, 200, 60), _samples(rng, 400, 20), ANALYSIS)
    assert verdict.outcome == "fail"
    assert "latency higher" in verdict.reasons[0]
    assert verdict.score == 50


def test_known_lower_latency_passes() -> None:
    rng = random.Random(2)
    assert judge(_samples(rng, 200, 10), _samples(rng, 400, 20), ANALYSIS).passed


def test_equal_distributions_pass() -> None:
    rng = random.Random(3)
    assert judge(_samples(rng, 200, 20), _samples(rng, 400, 20), ANALYSIS).passed


def test_errors_are_a_critical_veto() -> None:
    rng = random.Random(4)
    verdict = judge(_samples(rng, 400, 20, 0.06), _samples(rng, 800, 20, 0.0), ANALYSIS)
    assert verdict.outcome == "fail"
    assert verdict.score == 0
    assert any("errors higher" in r for r in verdict.reasons)


def test_no_data_is_never_a_pass() -> None:
    rng = random.Random(5)
    verdict = judge(_samples(rng, 5, 20), _samples(rng, 400, 20), ANALYSIS)
    assert verdict.outcome == "inconclusive"
    assert not verdict.passed


def test_threshold_gate_on_p99() -> None:
    rng = random.Random(6)
    slow = Analysis(min_samples=30, max_p99_ms=10)
    verdict = judge(_samples(rng, 200, 20), _samples(rng, 400, 20), slow)
    assert verdict.outcome == "fail"
    assert "p99" in verdict.reasons[0]


def test_a_a_passes_at_least_19_of_20() -> None:
    rng = random.Random(7)
    passes = sum(
        judge(_samples(rng, 150, 20), _samples(rng, 300, 20), ANALYSIS).passed for _ in range(20)
    )
    assert passes >= 19


def test_hodges_lehmann_is_the_median_shift() -> None:
    assert hodges_lehmann([11, 12, 13], [1, 2, 3]) == 10


def test_analysis_rejects_unknown_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="unknown analysis settings: bogus"):
        Analysis.from_json({"bogus": 1})
    with pytest.raises(ValueError, match="must be a number"):
        Analysis.from_json({"min_samples": "ten"})
    assert Analysis.from_json({"min_samples": 5}).min_samples == 5


def _selector() -> RegionSelector:
    return RegionSelector(["a", "b"], {}, interval_s=1, fall=3, rise=2, hold_s=10)


def test_failover_after_fall_failures_and_single_failback_after_hold() -> None:
    sel = _selector()
    for second in range(2):
        sel.observe("a", False, now=second)
        sel.observe("b", True, now=second)
        assert sel.choose(now=second) == "a"  # two failures: not yet
    sel.observe("a", False, now=2)
    assert sel.choose(now=2) == "b"
    # a recovers: up after `rise` checks, but traffic waits out the hold time
    for second in range(3, 12):
        sel.observe("a", True, now=second)
        assert sel.choose(now=second) == "b"
    for second in range(12, 16):
        sel.observe("a", True, now=second)
        sel.choose(now=second)
    assert sel.active == "a"
    assert [e["to"] for e in sel.events] == ["b", "a"]  # one failover, one failback


def test_a_flapping_region_does_not_win_traffic_back() -> None:
    sel = _selector()
    for second in range(3):
        sel.observe("a", False, now=second)
    sel.choose(now=3)
    for second in range(4, 40):
        sel.observe("a", second % 3 != 0, now=second)  # healthy twice, then one failure
        sel.choose(now=second)
    assert sel.active == "b"
    assert len(sel.events) == 1
