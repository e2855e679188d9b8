"""The pytest plugin as a team uses it: ``pytest scenarios/`` and chaos tests with fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_run import REPO, SCALE
from tests.integration.platform.conftest import free_base_port
from tests.unit.hostile.test_yaml_limits import ALIAS_BOMB

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INVALID = """\
name: broken
description: a typo in a link name
phases:
  - name: p
    duration: 10s
    faults: [{type: latency, link: gateway-serch, attributes: {latency: 100}}]
"""


EXPECTED = "expected max"


def _chaos_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "-p",
        "no:cacheprovider",
        "--chaos-base-port",
        str(free_base_port()),
        "--chaos-report-dir",
        str(tmp_path / "reports"),
        *extra,
    ]


def test_scenarios_are_collected_and_an_invalid_one_fails_alone(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "search-outage.yaml").write_text(
        (REPO / "scenarios" / "search-outage.yaml").read_text()
    )
    (pytester.path / "scenarios" / "broken.yaml").write_text(INVALID)
    (pytester.path / "scenarios" / "not-a-scenario.yaml").write_text("just: data\n")
    (pytester.path / "scenarios" / "bomb.yaml").write_text("name: x\nphases: []\n" + ALIAS_BOMB)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "scenarios", timeout=60)
    result.stdout.fnmatch_lines(["*search-outage.yaml::search-outage*"])
    result.stdout.fnmatch_lines(["*broken.yaml::broken*"])
    result.stdout.fnmatch_lines(["*bomb.yaml::bomb*"])  # an alias bomb is one failing test
    assert "not-a-scenario" not in result.stdout.str()
    assert result.ret == 0  # one bad file never breaks the collection of its neighbours
    broken = pytester.runpytest_subprocess("-q", "scenarios", "-k", "broken")
    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(["*broken.yaml:6: phases[[]0[]].faults[[]0[]].link: unknown link*"])
    assert "Traceback" not in broken.stdout.str()


@pytest.mark.parametrize(("profile", "outcome"), [("normal", "passed"), ("fragile", "failed")])
def test_a_scenario_runs_as_a_test(
    pytester: pytest.Pytester, tmp_path: Path, profile: str, outcome: str
) -> None:
    # as a CI gate runs it: a failure stops the scenario as soon as it is certain
    result = pytester.runpytest_subprocess(
        str(REPO / "scenarios" / "search-outage.yaml"),
        *_chaos_args(
            tmp_path, "--chaos-profile", profile, "--chaos-time-scale", SCALE, "--chaos-fail-fast"
        ),
        timeout=300,
    )
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":  # the failure names the expectation and what was measured
        # (--chaos-fail-fast stops at whichever is certain first: a p95 showing the hang, or
        # the status page never naming search in time)
        result.stdout.fnmatch_lines(["*search-blackholed: *: measured *, expected *"])
    assert list((tmp_path / "reports").glob("*/journal.json"))


@pytest.mark.parametrize(("profile", "outcome"), [("normal", "passed"), ("fragile", "failed")])
def test_a_chaos_test_written_with_the_fixtures(
    pytester: pytest.Pytester, tmp_path: Path, profile: str, outcome: str
) -> None:
    result = pytester.runpytest_subprocess(
        str(REPO / "examples" / "pytest" / "test_feed_bulkhead.py"),
        *_chaos_args(tmp_path, "--chaos-profile", profile),
        timeout=300,
    )
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*search starved the feed*"])
