"""``harness bench proxy`` runs end to end and prints its side-by-side table.

No figure is asserted (speed is the benchmark's business, not a test's); this keeps the
benchmark from rotting. A second embedded proxy stands in for the real Toxiproxy reference
(the product never needs the real one); the bars are then set against it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.faults import ToxiproxyClient

pytestmark = pytest.mark.integration

SMALL = ["--held", "20", "--bulk-mib", "2", "--rounds", "2", "--burst", "20"]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness", "bench", "proxy", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def reference_url() -> Iterator[str]:
    argv = [sys.executable, "-m", "harness", "proxy", "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().split()[4]
    yield url
    process.terminate()
    process.wait(10)
    process.stdout.close()


def test_bench_prints_every_row() -> None:
    result = _bench(*SMALL[:-4], "--rounds", "1", "--burst", "20")
    assert result.returncode == 0, result.stderr
    for row in (
        "bulk throughput (MiB/s)",
        "round trip p50 (ms)",
        "round trip p99 (ms)",
        "20 new connections at once (ms)",
        "latency toxic 100 ms: median error (ms)",
        "20 held: served in",
        "20 held: proxy RSS per connection",
    ):
        assert row in result.stdout
    assert "20 in" in result.stdout
    assert "round 1/1" in result.stdout
    assert "toxiproxy" not in result.stdout.splitlines()[-9]  # no reference column


def test_bench_measures_a_reference_in_the_same_rounds_and_removes_its_proxies(
    reference_url: str,
) -> None:
    result = _bench(*SMALL, "--reference-url", reference_url)
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("metric"))
    assert header.split()[1:5] == ["direct", "proxy", "(uvloop)", "toxiproxy"]
    assert "round 2/2" in result.stdout
    assert ">= 1.5x toxiproxy" in result.stdout
    assert "<= toxiproxy + 0.02 ms" in result.stdout
    assert ToxiproxyClient(reference_url).proxies() == {}  # its server left as found


def test_an_unreachable_reference_is_a_clear_error() -> None:
    result = _bench(*SMALL, "--reference-url", "http://127.0.0.1:9")
    assert result.returncode == 3, result.stderr
    assert "--reference-url: cannot reach Toxiproxy at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
