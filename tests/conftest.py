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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The defect matrix (tests/e2e/test_defects.py), when those tests ran: read from the
    reports' properties, so it is whole when pytest-xdist ran the cases in workers."""
    rows: dict[str, tuple[str, str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if name == "matrix":
                    defect, scenario, failed = value
                    rows[defect] = (scenario, failed)
    if not rows:
        return
    terminalreporter.section("defect matrix: defect -> scenario: what failed")
    for defect, (scenario, failed) in sorted(rows.items()):
        terminalreporter.write_line(f"{defect:30} {scenario:22} {failed[:160]}")
