"""The installed ``harness`` console script answers --version and --help."""

import subprocess
import sys
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.integration


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_version_through_console_script(harness_exe: Path) -> None:
    result = _run(str(harness_exe), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"harness, version {harness.__version__}"


def test_help_through_console_script(harness_exe: Path) -> None:
    result = _run(str(harness_exe), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: harness" in result.stdout


def test_python_dash_m_matches_console_script() -> None:
    result = _run(sys.executable, "-m", "harness", "--version")
    assert result.returncode == 0, result.stderr
    assert harness.__version__ in result.stdout


def test_unknown_command_is_usage_error(harness_exe: Path) -> None:
    result = _run(str(harness_exe), "no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
