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

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("HARNESS_REQUIRE_DOCKER") == "1"


def _engine() -> Any | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:  # no engine: skip or fail below
        return None
    return client


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
