"""The real stack's servers, one platform shared by the module. PostgreSQL under process
faults, as the harness applies them: a kill -9 of the standby (the whole server, every backend)
and its restart catching up from its replication slot; a paused primary refusing writes fast
while the standby keeps serving reads; nothing of either left once the platform is down. The
nginx edge: cache misses then hits, byte ranges from the cached copy, a stale copy while the
origin is gone, and only published videos.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from harness.platform import Platform
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = pytest.mark.slow

REAL = TOPOLOGY.on_stack("real")


def _server_pids(data_dir: Path) -> list[int]:
    """Every live process of the PostgreSQL server on ``data_dir``: the postmaster (its pid
    file says which) and the backends it started."""
    try:
        leader = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
        tree = [leader, *leader.children(recursive=True)]
        return [p.pid for p in tree if p.status() != psutil.STATUS_ZOMBIE]
    except (OSError, ValueError, IndexError, psutil.Error):
        return []


def _eventually(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within_s} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def real_platform() -> Iterator[Platform]:
    run_dir = Path(tempfile.mkdtemp(prefix="real-stack-", dir="/tmp"))
    run_dir.chmod(0o755)  # the postgres user reaches its data directories
    plat = Platform(REAL, free_base_port(), run_dir, "normal")
    try:
        plat.up()
        yield plat
    finally:
        plat.down()
        data = run_dir / "data"
        leftovers = _server_pids(data / "catalog-db") + _server_pids(data / "catalog-db-standby")
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not leftovers, f"PostgreSQL processes left running: {leftovers}"


def _url(plat: Platform, service: str) -> str:
    return REAL.service_url(plat.base_port, service)


def _write(http: httpx.Client, plat: Platform) -> str:
    video = f"v{uuid.uuid4().hex[:12]}"
    body = {"creator": "c1", "title": "t", "hashtags": [], "size": 1}
    answer = http.put(f"{_url(plat, 'catalog-primary')}/videos/{video}", json=body)
    assert answer.status_code == 201, answer.text
    return video


def _on_standby(http: httpx.Client, plat: Platform, video: str) -> bool:
    return http.get(f"{_url(plat, 'catalog-replica')}/videos/{video}").status_code == 200


def _lag(http: httpx.Client, plat: Platform) -> float:
    return float(http.get(f"{_url(plat, 'catalog-replica')}/lag").json()["lag_seconds"])


def test_a_killed_standby_restarts_and_catches_up_on_what_it_missed(
    real_platform: Platform,
) -> None:
    plat = real_platform
    standby_data = plat.run_dir / "data" / "catalog-db-standby"
    with httpx.Client(timeout=5, trust_env=False) as http:
        assert len(_server_pids(standby_data)) >= 4  # postmaster, startup, walreceiver, ...
        plat.signal("catalog-db-standby", signal.SIGKILL)
        try:
            _eventually(lambda: not _server_pids(standby_data), 5, "every backend gone with it")
            missed = [_write(http, plat) for _ in range(5)]  # the primary keeps taking writes
            assert not any(_on_standby_safe(http, plat, v) for v in missed)
        finally:
            plat.restart("catalog-db-standby")  # the other tests need it, whatever happened
        _eventually(lambda: all(_on_standby(http, plat, v) for v in missed), 15, "caught up")
        _eventually(lambda: _lag(http, plat) < 1.0, 10, "lag back under a second")


def _on_standby_safe(http: httpx.Client, plat: Platform, video: str) -> bool:
    try:
        return _on_standby(http, plat, video)
    except httpx.HTTPError:
        return False


def test_a_paused_primary_refuses_writes_fast_while_the_standby_serves_reads(
    real_platform: Platform,
) -> None:
    plat = real_platform
    with httpx.Client(timeout=10, trust_env=False) as http:
        before = _write(http, plat)
        _eventually(lambda: _on_standby(http, plat, before), 10, "replicated")
        plat.signal("catalog-db", signal.SIGSTOP)
        try:
            started = time.monotonic()
            refused = http.put(
                f"{_url(plat, 'catalog-primary')}/videos/v{uuid.uuid4().hex[:12]}",
                json={"creator": "c1", "title": "t", "hashtags": [], "size": 1},
            )
            took = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert took < 6.0, took  # the pool's wait and the statement timeout, not a hang
            assert _on_standby(http, plat, before)  # reads go on from the standby
        finally:
            plat.signal("catalog-db", signal.SIGCONT)
        after = _eventually_written(http, plat)
        _eventually(lambda: _on_standby(http, plat, after), 20, "the standby streams again")


def _eventually_written(http: httpx.Client, plat: Platform) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            return _write(http, plat)
        except AssertionError:
            assert time.monotonic() < deadline, "the primary never took writes again"
            time.sleep(0.3)


def _publish(http: httpx.Client, plat: Platform, data: bytes) -> str:
    """A video as an upload leaves it: its bytes on the origin, published in the catalog."""
    video = _write(http, plat)
    stored = http.put(f"{_url(plat, 'cdn-origin')}/blobs/{video}", content=data)
    assert stored.status_code == 201, stored.text
    decided = http.post(
        f"{_url(plat, 'catalog-primary')}/videos/{video}/decision", json={"decision": "approved"}
    )
    assert decided.json()["status"] == "published", decided.text
    _eventually(
        lambda: (
            http.get(f"{_url(plat, 'catalog-replica')}/videos/{video}").json()["status"]
            == "published"
        ),
        10,
        "published on the standby",
    )
    return video


def test_the_nginx_edge_caches_serves_ranges_and_stays_up_on_stale_copies(
    real_platform: Platform,
) -> None:
    plat = real_platform
    data = bytes(range(256)) * 64
    with httpx.Client(timeout=5, trust_env=False) as http:
        assert http.get(f"{_url(plat, 'cdn-edge')}/healthz").json()["server"] == "nginx"
        video = _publish(http, plat, data)
        play = f"{_url(plat, 'cdn-edge')}/play/{video}"
        first = http.get(play)
        assert (first.status_code, first.headers["x-cache"], first.content) == (200, "MISS", data)
        part = http.get(play, headers={"Range": "bytes=10-19"})
        assert (part.status_code, part.headers["x-cache"]) == (206, "HIT")
        assert part.content == data[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
        plat.toxiproxy().set_enabled("cdn-origin", False)  # the origin is gone
        try:
            time.sleep(6.5)  # past the copy's 5 s of freshness (nginx counts whole seconds)
            stale = http.get(play)
            assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
            assert stale.headers["x-cache-status"] == "STALE"
            assert stale.content == data
            never_cached = http.get(f"{_url(plat, 'cdn-edge')}/play/{_write(http, plat)}")
            assert never_cached.status_code == 502
            assert never_cached.headers["retry-after"] == "2"
        finally:
            plat.toxiproxy().set_enabled("cdn-origin", True)
        unpublished = http.get(f"{_url(plat, 'cdn-edge')}/play/{_write(http, plat)}")
        assert unpublished.status_code == 404, unpublished.text
