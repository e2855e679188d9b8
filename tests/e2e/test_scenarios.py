"""The scenario library, each scenario through the real CLI against both profiles: PASS on the
normal platform, FAIL on the fragile one with the expectation the scenario is about named.

Each runs at its declared floor, ``min_time_scale``: the smallest time scale its platform
reaction times allow (a status page needs about 11 s to call a queue delayed, whatever the
scale). Above the floor bounds only get longer; below it the run is refused (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_run import REPO, _harness_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The fragile side runs with --fail-fast, as a CI gate would: scenario -> the failures it may
# stop on, one of these at least (substrings of failed names; the first one decided can
# depend on which deadline comes first).
FAIL_FAST = {
    "upload-cdn-degraded": ["p95 upload", "status upload"],
    "feed-replication-lag": ["probe feed_state", "status feed"],
    "cdn-edge-outage": ["error_rate play"],
    "region-failover": ["failover feed to feed-b", "throughput feed"],
    "canary-bad-release": ["rollout search rolled_back", "error_rate search"],
    "canary-good-release": ["error_rate search"],
    "retry-storm": ["probe retry_ratio", "p95 feed"],
    # its status, unreviewed and lost-event failures are each judged by a full run below
    "weekend-outage": ["status feed", "probe feed_state"],
}
# What these are about is an invariant, judged only when a run goes to its end: they run in
# full, and must fail on all of these.
FULL_RUN = {
    "moderation-frozen": ["nothing_published_unmoderated", "status moderation"],
    "metrics-delayed": ["no_lost_events", "p95 feed", "status metrics"],
}
LIBRARY = sorted({**FAIL_FAST, **FULL_RUN})


def floor(name: str) -> str:
    """The scenario's declared min_time_scale: the scale the library is tested at."""
    text = (REPO / "scenarios" / f"{name}.yaml").read_text()
    scale = yaml.safe_load(text)["min_time_scale"]
    assert isinstance(scale, float), name
    return str(scale)


def _run(tmp_path: Path, name: str, profile: str, *more: str) -> tuple[int, str, dict[str, object]]:
    scale = floor(name)
    result = _harness_run(
        f"scenarios/{name}.yaml", tmp_path, "--time-scale", scale, "--profile", profile, *more
    )
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    return result.returncode, result.stderr, journal


def _failed(journal: dict[str, object]) -> list[str]:
    results = journal["expectations"] + journal["invariants"]  # type: ignore[operator]
    return [f"{r['name']}: {r['measured']} vs {r['threshold']}" for r in results if not r["passed"]]


@pytest.mark.parametrize("name", LIBRARY)
def test_the_scenario_passes_on_the_normal_platform(tmp_path: Path, name: str) -> None:
    code, stderr, journal = _run(tmp_path, name, "normal")
    assert code == 0, (_failed(journal), journal["reason"], stderr[-2000:])
    assert "Traceback" not in stderr


@pytest.mark.parametrize("name", sorted(FAIL_FAST))
def test_the_scenario_fails_fast_on_the_fragile_platform_for_its_reason(
    tmp_path: Path, name: str
) -> None:
    code, stderr, journal = _run(tmp_path, name, "fragile", "--fail-fast")
    failed = _failed(journal)
    assert code == 1, (failed, journal["reason"], stderr[-2000:])
    assert str(journal["stopped_early"]).startswith("--fail-fast: "), journal["reason"]
    reasons = FAIL_FAST[name]
    assert any(f.startswith(reason) for f in failed for reason in reasons), (reasons, failed)


@pytest.mark.parametrize("name", sorted(FULL_RUN))
def test_the_scenario_fails_on_the_fragile_platform_for_its_reason(
    tmp_path: Path, name: str
) -> None:
    code, stderr, journal = _run(tmp_path, name, "fragile")
    failed = _failed(journal)
    assert code == 1, (failed, journal["reason"], stderr[-2000:])
    for reason in FULL_RUN[name]:
        assert any(f.startswith(reason) for f in failed), (reason, failed)


def test_every_shipped_scenario_is_in_the_library_tests() -> None:
    shipped = {p.stem for p in (REPO / "scenarios").glob("*.yaml")}
    assert shipped - {"search-outage"} == set(LIBRARY)  # search-outage: tests/e2e/test_run.py
