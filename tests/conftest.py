"""Shared test helpers: where the installed console script lives."""

import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def harness_exe() -> Path:
    """The real ``harness`` console script installed next to this interpreter."""
    exe = Path(sys.executable).parent / "harness"
    assert exe.exists(), f"console script not installed at {exe}"
    return exe
