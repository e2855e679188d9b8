"""Shared test helpers: where the installed console script lives."""

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis deadlines are timing assertions; on a noisy 2-core machine they only make flakes.
settings.register_profile("harness", deadline=None)
settings.load_profile("harness")


@pytest.fixture(scope="session")
def harness_exe() -> Path:
    """The real ``harness`` console script installed next to this interpreter."""
    exe = Path(sys.executable).parent / "harness"
    assert exe.exists(), f"console script not installed at {exe}"
    return exe


pytest_plugins = ["pytester"]
