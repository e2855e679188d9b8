"""A whole scenario in containers gets the local backend's verdict: moderation-frozen (a
container paused mid-run) PASSES on the normal platform and FAILS on the fragile one for its
reasons, exactly as tests/e2e/test_scenarios.py asserts for local processes."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import REPO, platform_containers
from tests.e2e.test_run import _harness_run, start_interrupted
from tests.e2e.test_scenarios import FULL_RUN, floor
from tests.integration.platform.conftest import free_base_port

pytestmark = [
    pytest.mark.docker,
    pytest.mark.e2e,
    pytest.mark.slow,
    # one worker runs them all: they share the images and check that no container is left
    pytest.mark.xdist_group("docker"),
]

NAME = "moderation-frozen"


@pytest.mark.parametrize(("profile", "code"), [("normal", 0), ("fragile", 1)])
def test_moderation_frozen_in_containers_gets_the_local_verdict(
    docker_client: Any, tmp_path: Path, profile: str, code: int
) -> None:
    scale, reasons = floor(NAME), FULL_RUN[NAME]
    result = _harness_run(
        f"scenarios/{NAME}.yaml",
        tmp_path,
        "--backend",
        "docker",
        "--time-scale",
        scale,
        "--profile",
        profile,
    )
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    failed = [r["name"] for r in journal["expectations"] + journal["invariants"] if not r["passed"]]
    assert result.returncode == code, (failed, journal["reason"], result.stderr[-2000:])
    assert "moderation-worker paused" in result.stderr  # docker pause, not a signal
    if profile == "fragile":
        for reason in reasons:
            assert any(f.startswith(reason) for f in failed), (reason, failed)
    left = [(c.name, c.status) for c in platform_containers(docker_client)]
    assert not [c for c in left if c[1] != "removing"], (left, result.stderr[-2000:])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_docker_run_removes_its_containers(
    docker_client: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    """Interrupted while a container is paused and a toxic is in: everything goes."""
    run = start_interrupted(tmp_path, free_base_port(), "--backend", "docker", "--plain")
    assert run.stderr is not None
    for line in run.stderr:
        if "moderation-worker paused" in line:
            break
    mine = [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(run.pid)
    ]
    assert any(c.status == "paused" for c in mine), [(c.name, c.status) for c in mine]
    run.send_signal(sig)
    _, rest = run.communicate(timeout=60)
    assert run.returncode == 3, rest[-2000:]
    assert "Traceback" not in rest
    assert not [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(run.pid)
    ]
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert journal["reason"] == "interrupted (SIGINT/SIGTERM)"
    assert not (REPO / ".chaos" / "faults" / f"{journal['run_id']}.json").exists()
    assert (tmp_path / "latest" / "report.html").exists()
