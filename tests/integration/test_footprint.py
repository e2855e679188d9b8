"""``harness bench run``'s sampler on a real process tree: groups, CPU, zombies."""

from __future__ import annotations

import sys

import pytest

from harness.bench.footprint import measure, render

pytestmark = pytest.mark.integration

BURN = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
PARENT = (
    "import subprocess, sys, time\n"
    f"child = subprocess.Popen([sys.executable, '-c', {BURN!r}, 'mock_platform'])\n"
    "child.wait()\n"
    "time.sleep(0.6)  # the finished child stays a zombie for a while: still counted\n"
)


def test_cpu_is_counted_per_group_even_after_a_child_ends() -> None:
    result = measure([sys.executable, "-c", PARENT])
    assert result.exit_code == 0
    assert result.cpu_s["platform services"] >= 0.4, result
    assert result.cpu_s.get("harness", 0) < result.cpu_s["platform services"], result
    assert result.peak_rss_bytes > 0
    assert "platform services" in render(result)
