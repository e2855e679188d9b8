"""The canary judge: canary samples against baseline samples -> pass or fail, with reasons.

samples (ok, latency) per build
  -> "no data is never a pass": fewer than min_samples canary samples is inconclusive
  -> threshold gate (Argo/Flagger): success rate >= min_success, p99 <= max_p99_ms
  -> Mann-Whitney (Kayenta), one-sided at 98%: is the canary's latency higher, by more
     than the tolerance (Hodges-Lehmann shift)? are its errors higher? (errors: critical)
  -> score = 100 x metrics passed / metrics; a critical failure vetoes (score 0)
  -> pass when the gate holds and score >= pass_score
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import random
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Analysis", "Sample", "Verdict", "hodges_lehmann", "judge", "warm_up"]


@dataclasses.dataclass(frozen=True)
class Sample:
    ok: bool
    latency_s: float


@dataclasses.dataclass(frozen=True)
class Analysis:
    min_samples: int = 20
    min_success: float = 0.99  # threshold gate: success rate
    max_p99_ms: float = 1000.0  # threshold gate: p99
    confidence: float = 0.98
    latency_tolerance: float = 0.25  # relative: a shift under 25% of the baseline median passes
    latency_floor_ms: float = 5.0  # and so does any shift under this (noise on a laptop)
    error_tolerance: float = 0.01  # an error-rate increase under 1 point passes
    pass_score: float = 95.0

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> Analysis:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data or {}) - fields)
        if unknown:
            raise ValueError(f"unknown analysis settings: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number, got {value!r}")
            values[key] = int(value) if key == "min_samples" else float(value)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Verdict:
    outcome: str  # "pass" | "fail" | "inconclusive"
    score: float
    reasons: tuple[str, ...]
    figures: dict[str, float]

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


def hodges_lehmann(canary: Sequence[float], baseline: Sequence[float]) -> float:
    """Median of all pairwise differences canary - baseline (the location shift)."""
    diffs = np.subtract.outer(np.asarray(canary), np.asarray(baseline))
    return float(np.median(diffs))


def _cap(samples: Sequence[Sample], limit: int = 1500) -> list[Sample]:
    """Keep pairwise work bounded; a fixed seed keeps the judge deterministic."""
    if len(samples) <= limit:
        return list(samples)
    return random.Random(0).sample(list(samples), limit)


def warm_up() -> None:
    """Import scipy.stats now, on a thread of its own, not at the first judgement: it takes
    1.5-2.5 s here, and inside the event loop it stalled every request. Started with the
    gateway, it is done long before a rollout judges (a judgement that came first would wait
    for it: imports hold a lock), and the gateway answers its health check meanwhile, so the
    platform's start does not wait for it. Only the gateway judges, so the other services
    (which import this module too) never pay for it."""
    threading.Thread(target=_import_statistics, name="warm-up", daemon=True).start()


def _import_statistics() -> None:
    with contextlib.suppress(OSError):  # niced: the other services' starts go first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    importlib.import_module("scipy.stats")


def judge(canary: Sequence[Sample], baseline: Sequence[Sample], analysis: Analysis) -> Verdict:
    if len(canary) < analysis.min_samples or len(baseline) < analysis.min_samples:
        return Verdict(
            "inconclusive",
            0.0,
            (
                f"not enough data: {len(canary)} canary and {len(baseline)} baseline samples, "
                f"{analysis.min_samples} needed",
            ),
            {"canary_samples": len(canary), "baseline_samples": len(baseline)},
        )
    # Imported here: scipy costs seconds of start-up, and only the gateway judges (its
    # rollout controller called warm_up() when it started, so this finds it loaded).
    from scipy.stats import mannwhitneyu

    canary, baseline = _cap(canary), _cap(baseline)
    alpha = 1.0 - analysis.confidence
    c_lat = [s.latency_s * 1000 for s in canary if s.ok]
    b_lat = [s.latency_s * 1000 for s in baseline if s.ok]
    c_err = [0.0 if s.ok else 1.0 for s in canary]
    b_err = [0.0 if s.ok else 1.0 for s in baseline]
    success = 1.0 - sum(c_err) / len(c_err)
    p99 = float(np.percentile(c_lat, 99)) if c_lat else float("inf")
    figures = {
        "canary_samples": len(canary),
        "baseline_samples": len(baseline),
        "canary_success": round(success, 4),
        "baseline_success": round(1.0 - sum(b_err) / len(b_err), 4),
        "canary_p99_ms": round(p99, 2),
        "baseline_p99_ms": round(float(np.percentile(b_lat, 99)), 2) if b_lat else 0.0,
    }
    reasons: list[str] = []
    gate = success >= analysis.min_success and p99 <= analysis.max_p99_ms
    if success < analysis.min_success:
        reasons.append(f"success rate {success:.2%} below {analysis.min_success:.0%}")
    if p99 > analysis.max_p99_ms:
        reasons.append(f"p99 {p99:.0f} ms above {analysis.max_p99_ms:.0f} ms")

    error_increase = sum(c_err) / len(c_err) - sum(b_err) / len(b_err)
    errors_high = False
    if any(c_err) and error_increase > analysis.error_tolerance:
        p_err = float(mannwhitneyu(c_err, b_err, alternative="greater").pvalue)
        errors_high = p_err < alpha
        figures["errors_p"] = round(p_err, 5)
        if errors_high:
            reasons.append(f"errors higher than baseline by {error_increase:.1%} (p={p_err:.4f})")

    latency_high = False
    if c_lat and b_lat:
        shift = hodges_lehmann(c_lat, b_lat)
        p_lat = float(mannwhitneyu(c_lat, b_lat, alternative="greater").pvalue)
        allowed = max(
            analysis.latency_tolerance * float(np.median(b_lat)), analysis.latency_floor_ms
        )
        latency_high = p_lat < alpha and shift > allowed
        figures.update(latency_shift_ms=round(shift, 2), latency_p=round(p_lat, 5))
        if latency_high:
            reasons.append(
                f"latency higher by {shift:.0f} ms (p={p_lat:.4f}, allowed {allowed:.0f} ms)"
            )

    score = 0.0 if errors_high else 100.0 * (2 - int(latency_high)) / 2
    figures["score"] = score
    passed = gate and score >= analysis.pass_score
    return Verdict("pass" if passed else "fail", score, tuple(reasons), figures)
