"""The scenario library, each scenario through the real CLI: PASS on the normal platform; and
FAIL on the fragile one, in full, for the scenarios whose point is an invariant (the defect
matrix in tests/e2e/test_defects.py shows each scenario failing on a named defect).

Each runs at its declared floor, ``min_time_scale``: the smallest time scale its platform
reaction times allow (a status page needs about 11 s to call a queue delayed, whatever the
scale). Above the floor bounds only get longer; below it the run is refused (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_run import REPO, _harness_run, status_swings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Every scenario of the library but search-outage (tests/e2e/test_run.py runs it) and those
# that need another stack than the default one (tests/e2e/test_real_stack.py runs them).
LIBRARY = sorted(
    p.stem
    for p in (REPO / "scenarios").glob("*.yaml")
    if p.stem != "search-outage" and "stack" not in yaml.safe_load(p.read_text())
)
# How each scenario fails for its reason is shown one named defect at a time by the defect
# matrix (tests/e2e/test_defects.py, --fail-fast). The fragile profile (every defect at once)
# runs in full here where what the scenario is about is an invariant or what the status page
# told users (communication checks), judged only at the end: it must fail on all of these.
FULL_RUN = {
    "moderation-frozen": ["nothing_published_unmoderated", "status moderation"],
    "metrics-delayed": ["no_lost_events", "p95 feed", "status metrics"],
    # search's trouble shown on the feed, never named; upload's slowness never shown
    "weekend-outage": ["status feed", "time to acknowledge search", "false green search"],
}


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
    results = journal["expectations"] + journal["invariants"] + journal["communication"]  # type: ignore[operator]
    return [f"{r['name']}: {r['measured']} vs {r['threshold']}" for r in results if not r["passed"]]


@pytest.mark.parametrize("name", LIBRARY)
def test_the_scenario_passes_on_the_normal_platform(tmp_path: Path, name: str) -> None:
    code, stderr, journal = _run(tmp_path, name, "normal")
    assert code == 0, (_failed(journal), journal["reason"], stderr[-2000:])
    assert "Traceback" not in stderr
    if "default" in journal["scenario"]["tags"]:  # type: ignore[index]
        # the page does not flap: one fault, it worsens at its onset (degraded, then outage
        # as the failures build up, is one onset) and recovers once
        swings = status_swings(journal)
        assert max(swings.values()) <= 1, swings


@pytest.mark.parametrize("name", sorted(FULL_RUN))
def test_the_scenario_fails_on_the_fragile_platform_for_its_reason(
    tmp_path: Path, name: str
) -> None:
    code, stderr, journal = _run(tmp_path, name, "fragile")
    failed = _failed(journal)
    assert code == 1, (failed, journal["reason"], stderr[-2000:])
    for reason in FULL_RUN[name]:
        assert any(f.startswith(reason) for f in failed), (reason, failed)


def test_http_faults_fail_the_fragile_platform_with_wrong_answers(tmp_path: Path) -> None:
    """The proxy's HTTP faults (per request, on the gateway's pooled keep-alive connections):
    the fragile gateway passes empty and cut answers on as successes."""
    code, stderr, journal = _run(tmp_path, "search-answers-spoiled", "fragile", "--fail-fast")
    failed = _failed(journal)
    assert code == 1, (failed, journal["reason"], stderr[-2000:])
    assert any(f.startswith("wrong_answers search") for f in failed), failed
    injected = {h["kind"]: h["injected"] for h in journal["http_faults"]}  # type: ignore[attr-defined]
    assert injected["empty_success"] > 0, journal["http_faults"]
