"""A whole scenario in containers gets the local backend's verdict: moderation-frozen (a
container paused mid-run) PASSES on the normal platform and FAILS on the fragile one for its
reasons, exactly as tests/e2e/test_scenarios.py asserts for local processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import platform_containers
from tests.e2e.test_run import _harness_run
from tests.e2e.test_scenarios import LIBRARY

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.slow]

NAME = "moderation-frozen"


@pytest.mark.parametrize(("profile", "code"), [("normal", 0), ("fragile", 1)])
def test_moderation_frozen_in_containers_gets_the_local_verdict(
    docker_client: Any, tmp_path: Path, profile: str, code: int
) -> None:
    scale, reasons = LIBRARY[NAME]
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
    assert not [c for c in platform_containers(docker_client) if c.status != "removing"]
