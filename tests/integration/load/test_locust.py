"""Real Locust against a real platform: per-second samples per endpoint and build, the upload
history, a clean stop; and distributed mode (a master and two workers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.load import LoadOptions, LoadPlan, LoadRunner, figures
from harness.load.runner import _free_port
from tests.integration.platform.conftest import TOPOLOGY, Api, running_api


def _plan(users: int, mix: dict[str, int] | None = None) -> LoadPlan:
    assert TOPOLOGY.load is not None
    return LoadPlan(
        locustfile=TOPOLOGY.locustfile() or Path(),
        users=users,
        spawn_rate=users,
        mix=mix or TOPOLOGY.load.default_mix,
        env=dict(TOPOLOGY.load.env),
    )


pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api("normal", Path(tmp_path_factory.mktemp("load")))


@pytest.mark.parametrize("workers", [0, 2])
def test_load_samples_and_history(normal: Api, tmp_path: Path, workers: int) -> None:
    runner = LoadRunner(
        normal.platform.gateway_url,
        tmp_path,
        8,
        _plan(12, {"viewer": 1, "creator": 1, "searcher": 1}),
        LoadOptions(workers=workers),
    )
    runner.start()
    runner.wait(40)
    assert not runner.alive(), runner.log_tail()
    runner.stop()
    samples = runner.samples()
    endpoints = {s.endpoint for s in samples}
    assert {"feed", "search", "upload"} <= endpoints, (endpoints, runner.log_tail())
    assert {s.build for s in samples if s.endpoint == "search"} == {"v1"}
    start, end = samples[0].t, samples[-1].t + 1
    total = figures(samples, start, end)
    assert total.requests > 20
    assert total.error_rate == 0, runner.log_tail()
    history = runner.history()
    assert history.acknowledged
    assert not history.keys_with_many_ids
    if workers:
        assert len(list(tmp_path.glob("metrics.jsonl.*"))) == workers  # one file per worker
    some = next(iter(history.acknowledged.values()))
    assert normal.status_of(some) in ("pending_review", "published", "rejected")


def test_a_worker_started_elsewhere_joins_the_master(normal: Api, tmp_path: Path) -> None:
    """What README tells a person to do on another machine, done here on loopback."""
    runner = LoadRunner(
        normal.platform.gateway_url,
        tmp_path,
        8,
        _plan(6),
        LoadOptions(remote_workers=1, master_bind=f"127.0.0.1:{_free_port()}"),
    )
    runner.start()
    remote = subprocess.Popen(
        runner.worker_command("127.0.0.1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **runner.worker_env()},
    )
    try:
        runner.wait(40)
        assert not runner.alive(), runner.log_tail()
        remote.wait(20)
    finally:
        remote.kill()
        runner.stop()
    assert len(list(tmp_path.glob("metrics.jsonl.*"))) == 1
    assert figures(runner.samples(), 0, 2**31).requests > 10, runner.log_tail()


def test_the_mix_is_the_whole_mix(normal: Api, tmp_path: Path) -> None:
    """mix: {viewer: 1} runs viewers only: the other classes do not keep a default weight."""
    runner = LoadRunner(normal.platform.gateway_url, tmp_path, 6, _plan(6, {"viewer": 1}))
    runner.start()
    runner.wait(30)
    runner.stop()
    endpoints = {s.endpoint for s in runner.samples()}
    assert "feed" in endpoints, runner.log_tail()
    assert not endpoints & {"search", "upload", "my_videos"}, endpoints
    assert "Traceback" not in runner.log_tail()
