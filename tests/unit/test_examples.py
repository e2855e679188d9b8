"""The CI workflow a team copies (examples/ci/github-chaos.yml) runs a suite the harness
accepts: its make chaos line names no time scale below a default scenario's floor (it did, and
would have failed every pull request with exit 2)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from harness.scenario import load_scenario
from harness.topology import DEFAULT_TOPOLOGY

REPO = Path(__file__).resolve().parents[2]


def _make_chaos_args() -> dict[str, str]:
    workflow = yaml.safe_load((REPO / "examples" / "ci" / "github-chaos.yml").read_text())
    runs = [step["run"] for step in workflow["jobs"]["chaos"]["steps"] if "run" in step]
    line = next(run for run in runs if run.startswith("make chaos"))
    return dict(arg.split("=", 1) for arg in shlex.split(line)[2:])


def test_the_example_workflow_runs_the_default_suite_at_accepted_scales() -> None:
    args = _make_chaos_args()
    makefile = (REPO / "Makefile").read_text()
    default = re.search(r"^TIME_SCALE \?= (\S+)", makefile, re.MULTILINE)
    assert default is not None
    scale = args.get("TIME_SCALE", default.group(1))
    tags = set(args.get("TAGS", "default").split(","))
    chosen = []
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scenario, problems = load_scenario(path, DEFAULT_TOPOLOGY)
        assert scenario is not None, problems
        if tags & set(scenario.tags):
            chosen.append(scenario)
    assert chosen
    factor = None if scale == "floor" else float(scale)
    refused = [r for s in chosen if (r := s.refuses_time_scale(s.scale_for(factor)))]
    assert not refused
