"""The docker backend: containers, container faults, data, cleanup, errors; and a whole
scenario in containers, which gets the local backend's verdict (moderation-frozen, a container
paused mid-run, PASSES on the normal platform and FAILS on the fragile one for its reasons,
exactly as tests/e2e/test_scenarios.py asserts for local processes).

One module: pytest-xdist (--dist loadfile) runs a file on one worker, and these tests share
the images and check that no container is left, so they must never run two at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.errors import EnvironmentFailure
from harness.platform import Platform, containers
from tests.docker.conftest import REPO, platform_containers
from tests.e2e.test_run import _harness_run, start_interrupted
from tests.e2e.test_scenarios import FULL_RUN, floor
from tests.integration.platform.conftest import TOPOLOGY, Api, free_base_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.slow]


def _state(plat: Platform, service: str) -> str:
    child = plat.supervisor.children[service]
    child.container.reload()  # type: ignore[union-attr]
    return str(child.container.attrs["State"]["Status"])  # type: ignore[union-attr]


def test_the_platform_runs_in_containers_and_takes_container_faults(
    docker_client: Any, tmp_path: Path
) -> None:
    plat = Platform(TOPOLOGY, free_base_port(), tmp_path / "plat", "normal", backend="docker")
    try:
        plat.up()
        platform_id = plat.supervisor.platform_id  # type: ignore[union-attr]
        names = {
            c.labels["io.shortvideo-chaos.service"]
            for c in platform_containers(docker_client, platform_id)
        }
        assert names == {*TOPOLOGY.started_services, "proxy"}
        api = Api(plat)
        video = api.upload(key="before-kill")
        assert video.status_code == 202, video.text
        video_id = video.json()["video_id"]

        plat.signal("search", signal.SIGSTOP)  # pause: frozen, not gone
        assert _state(plat, "search") == "paused"
        assert not plat.healthy("search")
        plat.signal("search", signal.SIGCONT)
        wait_until(lambda: plat.healthy("search"), 30, "search answers after unpause")

        plat.signal("catalog-primary", signal.SIGKILL)  # kill, then start again: data kept
        wait_until(lambda: _state(plat, "catalog-primary") == "exited", 30, "the kill")
        plat.restart("catalog-primary")
        wait_until(
            lambda: api.http.get(f"/v1/videos/{video_id}").status_code == 200, 30, "the video"
        )

        plat.signal("metrics", signal.SIGTERM)  # stop (graceful), then start
        assert _state(plat, "metrics") == "exited"
        plat.restart("metrics")
        assert plat.healthy("metrics")
        api.http.close()
    finally:
        plat.down()
    assert platform_containers(docker_client, platform_id) == []
    saved = {p.stem for p in (tmp_path / "plat" / "logs").glob("*.log")}  # kept after removal
    assert saved >= set(TOPOLOGY.started_services)


def test_containers_of_a_killed_harness_are_swept_at_the_next_start(
    docker_client: Any, tmp_path: Path
) -> None:
    base = free_base_port()
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "platform",
            "up",
            "--backend",
            "docker",
            "--base-port",
            str(base),
            "--run-dir",
            str(tmp_path / "first"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert up.stdout is not None
    for line in up.stdout:
        if line.startswith("entrypoint (gateway): "):
            break
    owned = [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(up.pid)
    ]
    assert len(owned) == len(TOPOLOGY.started_services) + 1
    up.send_signal(signal.SIGKILL)  # no cleanup runs: the containers stay
    up.wait()
    up.stdout.close()
    said: list[str] = []
    second = Platform(TOPOLOGY, base, tmp_path / "second", backend="docker", echo=said.append)
    try:
        second.up()  # same ports: only possible once the leftovers are gone
    finally:
        second.down()
    assert any("removed 14 containers of dead runs" in line for line in said), said
    assert not [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(up.pid)
    ]


def test_without_an_engine_the_backend_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "scenarios/search-outage.yaml",
            "--backend",
            "docker",
            "--report-dir",
            str(tmp_path),
            "--base-port",
            str(free_base_port()),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "no Docker engine answers" in result.stderr
    assert "dockerd --bridge=none --iptables=false" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("DOCKER_HOST", env["DOCKER_HOST"])
    with pytest.raises(EnvironmentFailure, match="no Docker engine"):
        Platform(TOPOLOGY, free_base_port(), tmp_path / "p", backend="docker")


def test_the_compose_file_runs_the_same_platform(docker_client: Any, tmp_path: Path) -> None:
    base = free_base_port()
    compose = tmp_path / "docker-compose.yml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "platform",
            "compose",
            "-o",
            str(compose),
            "--base-port",
            str(base),
            "--run-dir",
            str(tmp_path / "run"),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )
    project = ["docker-compose", "-p", f"svtest{base}", "-f", str(compose)]
    gateway = httpx.Client(base_url=f"http://127.0.0.1:{base + 80}", trust_env=False)
    try:
        subprocess.run([*project, "up", "-d"], check=True, capture_output=True, timeout=180)
        wait_until(lambda: _answers(gateway), 60, "the gateway behind compose")
        # compose starts every container at once and waits for none (up -d): the gateway may
        # answer while the feed or the replica behind it still starts (a 503 until then)
        wait_until(lambda: _answers(gateway, "/v1/feed?user=u1"), 60, "the feed behind compose")
    finally:
        gateway.close()
        subprocess.run([*project, "down", "-t", "5"], capture_output=True, timeout=180, check=False)


def _answers(client: httpx.Client, path: str = "/healthz") -> bool:
    try:
        return client.get(path, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


NAME = "moderation-frozen"


@pytest.mark.e2e
@pytest.mark.parametrize(("profile", "code"), [("normal", 0), ("fragile", 1)])
def test_moderation_frozen_in_containers_gets_the_local_verdict(
    docker_client: Any, tmp_path: Path, profile: str, code: int
) -> None:
    scale, reasons = floor(NAME), FULL_RUN[NAME]
    result = _harness_run(
        f"scenarios/{NAME}.yaml",
        tmp_path,
        "--backend",
        "docker",
        "--time-scale",
        scale,
        "--profile",
        profile,
    )
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    failed = [r["name"] for r in journal["expectations"] + journal["invariants"] if not r["passed"]]
    assert result.returncode == code, (failed, journal["reason"], result.stderr[-2000:])
    assert "moderation-worker paused" in result.stderr  # docker pause, not a signal
    if profile == "fragile":
        for reason in reasons:
            assert any(f.startswith(reason) for f in failed), (reason, failed)
    left = [(c.name, c.status) for c in platform_containers(docker_client)]
    assert not [c for c in left if c[1] != "removing"], (left, result.stderr[-2000:])


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_docker_run_removes_its_containers(
    docker_client: Any, tmp_path: Path, sig: signal.Signals
) -> None:
    """Interrupted while a container is paused and a toxic is in: everything goes."""
    run = start_interrupted(tmp_path, free_base_port(), "--backend", "docker", "--plain")
    assert run.stderr is not None
    for line in run.stderr:
        if "moderation-worker paused" in line:
            break
    mine = [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(run.pid)
    ]
    assert any(c.status == "paused" for c in mine), [(c.name, c.status) for c in mine]
    run.send_signal(sig)
    _, rest = run.communicate(timeout=60)
    assert run.returncode == 3, rest[-2000:]
    assert "Traceback" not in rest
    assert not [
        c
        for c in platform_containers(docker_client)
        if c.labels.get("io.shortvideo-chaos.owner-pid") == str(run.pid)
    ]
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert journal["reason"] == "interrupted (SIGINT/SIGTERM)"
    assert not (REPO / ".chaos" / "faults" / f"{journal['run_id']}.json").exists()
    assert (tmp_path / "latest" / "report.html").exists()


@pytest.mark.e2e
def test_the_real_stack_runs_in_containers(docker_client: Any, tmp_path: Path) -> None:
    """--stack real on the docker backend: PostgreSQL, its standby, nginx and Redis from the
    image, each in its own container; WAL lag through the replication link, and the Redis
    container killed and started again, give the local backend's verdicts (both PASS)."""
    result = _harness_run(
        "scenarios/replica-wal-lag.yaml",
        tmp_path,
        "scenarios/feed-cache-lost.yaml",
        "--backend",
        "docker",
        "--stack",
        "real",
        "--time-scale",
        "floor",
        "--plain",
    )
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"]
    verdicts = {run["scenario"]["name"]: run["status"] for run in journal}
    assert result.returncode == 0, (verdicts, result.stderr[-3000:])
    assert verdicts == {"replica-wal-lag": "passed", "feed-cache-lost": "passed"}
    assert "feed-cache killed (SIGKILL)" in result.stderr  # docker kill of the Redis container
    logs = tmp_path / "latest" / "replica-wal-lag" / "platform" / "logs"
    assert "started streaming WAL" in (logs / "catalog-db-standby.log").read_text()
    left = [(c.name, c.status) for c in platform_containers(docker_client)]
    assert not [c for c in left if c[1] != "removing"], (left, result.stderr[-2000:])


def test_an_image_without_the_real_stacks_servers_is_refused_naming_them(
    docker_client: Any, tmp_path: Path
) -> None:
    """The stack's requirements are checked in the image (not on the host): exit 3, naming
    what it lacks and how to rebuild it, and no container left from the checks."""
    tag = "shortvideo-chaos/test-without-servers:latest"
    dockerfile = f"FROM {containers.IMAGE}\nRUN rm /usr/sbin/nginx /usr/bin/redis-server\n"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile,
        text=True,
        capture_output=True,
        timeout=120,
        check=True,
    )
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "harness", "platform", "up", "--backend", "docker"),
                *("--stack", "real", "--run-dir", str(tmp_path / "p")),
                *("--base-port", str(free_base_port())),
            ],
            cwd=REPO,
            env={**os.environ, "HARNESS_PLATFORM_IMAGE": tag},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        docker_client.images.remove(tag, force=True)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert f"the image {tag} lacks nginx" in result.stderr
    assert "Redis" in result.stderr
    assert "PostgreSQL" not in result.stderr  # that one the image has
    assert "make images" in result.stderr
    checks = docker_client.containers.list(all=True)
    assert [c.name for c in checks if c.attrs["Config"]["Image"] == tag] == []
