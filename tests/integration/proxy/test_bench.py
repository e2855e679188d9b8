"""``harness bench proxy`` runs end to end and prints its side-by-side table.

No figure is asserted (speed is the benchmark's business, not a test's); this keeps the
benchmark from rotting.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_bench_prints_every_row() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "bench",
            "proxy",
            "--connections",
            "20",
            "--bulk-mib",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for row in (
        "bulk throughput (MiB/s)",
        "round trip p50 (ms)",
        "latency toxic 100 ms: error (ms)",
        "20 concurrent: served / time",
        "20 concurrent: proxy RSS per connection",
    ):
        assert row in result.stdout
    assert "20 in" in result.stdout
