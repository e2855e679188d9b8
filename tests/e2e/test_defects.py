"""The defect matrix: each catalogued defect, switched on alone on the normal platform, makes
the scenario its catalogue entry names fail with the expectation it names, run as a CI gate
runs it: --fail-fast, at the scenario's floor (in full when what catches it is an invariant).
With tests/e2e/test_scenarios.py (the normal platform passes every scenario) this shows the
library catches wrong behaviour one bug at a time, not only the fragile profile's dozens at
once. The matrix is printed at the end of the test run (tests/conftest.py) and kept in README.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.checks.communication import CHECKS as COMMUNICATION_CHECKS
from harness.topology import DEFAULT_TOPOLOGY, DefectCatch, load_topology
from tests.e2e.test_run import REPO
from tests.e2e.test_scenarios import _failed, _run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CATALOGUE = load_topology(DEFAULT_TOPOLOGY).defects
CAUGHT: dict[str, DefectCatch] = {
    name: defect.caught_by for name, defect in CATALOGUE.items() if defect.caught_by
}
# Each case records (defect, scenario, what failed) as the report's "matrix" property: the
# terminal summary (tests/conftest.py) prints them, also from pytest-xdist's workers.
MATRIX_PROPERTY = "matrix"


def _invariants(scenario: str) -> set[str]:
    text = (REPO / "scenarios" / f"{scenario}.yaml").read_text(encoding="utf-8")
    declared = yaml.safe_load(text).get("invariants") or []
    return {item if isinstance(item, str) else item["name"] for item in declared}


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_the_defect_fails_the_scenario_its_catalogue_names(
    tmp_path: Path, defect: str, record_property: Callable[[str, object], None]
) -> None:
    catch = CAUGHT[defect]
    # An invariant or a communication check is judged only when the run goes to its end (a
    # lost write is certain only at its deadline; what the page said, over the whole
    # timeline): a defect caught by one runs in full.
    full = set(catch.expectations) & _invariants(catch.scenario) or any(
        e.startswith(COMMUNICATION_CHECKS) for e in catch.expectations
    )
    fast = [] if full else ["--fail-fast"]
    code, stderr, journal = _run(tmp_path, catch.scenario, "normal", "--defect", defect, *fast)
    failed = _failed(journal)
    shown = "; ".join(failed) or f"nothing failed (exit {code})"
    record_property(MATRIX_PROPERTY, (defect, catch.scenario, shown))
    assert code == 1, (failed, journal["reason"], stderr[-2000:])
    assert journal["defects"] == [defect]
    judged = journal["expectations"] + journal["invariants"] + journal["communication"]  # type: ignore[operator]
    caught = [j for j in judged if not j["passed"] and catch.matches(j["phase"], j["name"])]
    assert caught, (str(catch), failed)


def test_every_scenario_catches_at_least_one_defect() -> None:
    # (a scenario for another stack shows its defect there: tests/e2e/test_real_stack.py)
    shipped = {
        p.stem
        for p in (REPO / "scenarios").glob("*.yaml")
        if "stack" not in yaml.safe_load(p.read_text(encoding="utf-8"))
    }
    catching = {catch.scenario for catch in CAUGHT.values()}
    assert catching == shipped, sorted(shipped - catching)
