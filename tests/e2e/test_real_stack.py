"""The real stack (``--stack real``): the catalog on a PostgreSQL primary and a hot standby
whose WAL stream is the catalog-replication link. A latency there is real WAL lag: the
platform measures it (the heartbeat probe), the feed says it is stale, the standby catches up.
The feed's Redis cache killed, then slow: the feed answers from the replica, in time.

PostgreSQL runs as the `postgres` user, which must reach the run directory: these runs write
under a directory others may traverse (pytest's own tmp is private to root).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_run import _harness_run
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCENARIO = "scenarios/replica-wal-lag.yaml"
SCALE = "0.7"  # its floor
LAGGING = "replication-5s-behind"
SETTLED_S = 7.0  # the lag has built up: the scenario's `within` at this scale


@pytest.fixture
def reports() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="real-stack-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class LagSampler(threading.Thread):
    """Reads the replica's reported lag (the heartbeat's age on the standby) twice a second."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while not self.done.wait(0.5):
                try:
                    lag = client.get(self.url).json()["lag_seconds"]
                except (httpx.HTTPError, ValueError, KeyError):
                    continue  # the platform is not up yet, or already down
                self.samples.append((time.time(), float(lag)))


def test_a_5s_wal_latency_is_measured_as_5s_of_lag_and_the_standby_catches_up(
    reports: Path,
) -> None:
    base = free_base_port()
    sampler = LagSampler(f"{TOPOLOGY.service_url(base, 'catalog-replica')}/lag")
    sampler.start()
    try:
        result = _harness_run(
            SCENARIO, reports, "--time-scale", SCALE, "--stack", "real", base=base
        )
    finally:
        sampler.done.set()
        sampler.join()
    journal = json.loads((reports / "latest" / "journal.json").read_text())["runs"][0]
    assert result.returncode == 0, (journal["reason"], result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    phase = next(p for p in journal["phases"] if p["name"] == LAGGING)
    lagging = [lag for t, lag in sampler.samples if phase["start"] + SETTLED_S <= t < phase["end"]]
    assert len(lagging) >= 8, sampler.samples
    assert 4.0 <= statistics.median(lagging) <= 6.0, lagging
    assert all(4.0 <= lag <= 6.5 for lag in lagging), lagging
    healed = [lag for t, lag in sampler.samples if t >= phase["end"] + 5.0]
    assert healed, sampler.samples
    assert max(healed) < 1.5, healed  # caught up, and stays
    # the servers were PostgreSQL, and nothing of them is left
    logs = reports / "latest" / "replica-wal-lag" / "platform" / "logs"
    assert "started streaming WAL from primary" in (logs / "catalog-db-standby.log").read_text()
    assert not _processes_using(reports)


def _processes_using(directory: Path) -> list[str]:
    """Command lines of live processes that name ``directory`` (a server left running)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if entry.name.isdigit() and str(directory) in command:
            found.append(command)
    return found


def test_a_feed_that_ignores_replica_lag_fails_on_the_real_stack_too(reports: Path) -> None:
    result = _harness_run(
        SCENARIO,
        reports,
        "--time-scale",
        SCALE,
        "--stack",
        "real",
        "--defect",
        "feed-ignores-replica-lag",
        "--fail-fast",
    )
    journal = json.loads((reports / "latest" / "journal.json").read_text())["runs"][0]
    failed = [r["name"] for r in journal["expectations"] if not r["passed"]]
    assert result.returncode == 1, (journal["reason"], result.stderr[-3000:])
    assert failed == ["probe feed_state"], failed


def test_the_feed_outlives_its_cache_and_a_feed_that_waits_on_it_does_not(reports: Path) -> None:
    scenario = "scenarios/feed-cache-lost.yaml"
    normal = _harness_run(scenario, reports / "normal", "--time-scale", SCALE, "--stack", "real")
    journal = json.loads((reports / "normal" / "latest" / "journal.json").read_text())["runs"][0]
    assert normal.returncode == 0, (journal["reason"], normal.stderr[-3000:])
    patient = _harness_run(
        scenario,
        reports / "patient",
        "--time-scale",
        SCALE,
        "--stack",
        "real",
        "--defect",
        "feed-long-timeouts",
        "--fail-fast",
    )
    journal = json.loads((reports / "patient" / "latest" / "journal.json").read_text())["runs"][0]
    failed = [(r["phase"], r["name"]) for r in journal["expectations"] if not r["passed"]]
    assert patient.returncode == 1, (journal["reason"], patient.stderr[-3000:])
    # the feed waits on its slow cache: slow answers, or errors once the gateway gives up on
    # them (both seen in CI rehearsals), in the phase the cache is slow
    hung = {("cache-slow", "p95 feed"), ("cache-slow", "error_rate feed")}
    assert hung & set(failed), failed
