"""The docker backend's tests need an engine and the images of the code under test.

Without an engine they skip, unless HARNESS_REQUIRE_DOCKER=1 (CI sets it): then they fail,
so CI can never pass with them silently skipped. The images are (re)built once per session by
images/build.sh (about 10 s when only the project changed), so they hold the code being tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import EnvironmentFailure
from harness.platform import containers

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("HARNESS_REQUIRE_DOCKER") == "1"


def _engine() -> Any | None:
    """The product's own probe: docker-py leaks the socket of a failed unix connect (seen as
    a ResourceWarning error when dockerd had died and left its socket file)."""
    try:
        return containers.docker_client()
    except EnvironmentFailure:  # no engine: skip or fail below
        return None


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    client = _engine()
    if client is None:
        message = "no Docker engine (start dockerd --bridge=none --iptables=false)"
        if REQUIRED:
            pytest.fail(f"HARNESS_REQUIRE_DOCKER=1 but {message}")
        pytest.skip(message)
    built = subprocess.run(
        ["images/build.sh"],
        cwd=REPO,
        env={**os.environ, "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    yield client
    client.close()


def platform_containers(client: Any, platform_id: str | None = None) -> list[Any]:
    label = "io.shortvideo-chaos.platform" + (f"={platform_id}" if platform_id else "")
    return list(client.containers.list(all=True, filters={"label": label}))
