"""Runs against platforms and proxies the run did not start: ``--gateway`` and TOXIPROXY_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.faults import ToxiproxyClient
from tests.e2e.test_run import REPO, SCALE
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _harness(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _background(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "harness", *argv], stdout=out, stderr=out, cwd=REPO
        )


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture
def running_platform(tmp_path: Path) -> Iterator[int]:
    """``harness platform up`` in the background, as a person would in another terminal."""
    base = free_base_port()
    log = tmp_path / "platform.log"
    process = _background(
        ["platform", "up", "--base-port", str(base), "--run-dir", str(tmp_path / "plat")], log
    )
    try:
        _wait_for(f"{TOPOLOGY.gateway_url(base)}/status.json", process, log)
        while "platform up" not in log.read_text():  # every service healthy
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        yield base
    finally:
        _stop(process)


def _journal(reports: Path) -> dict[str, object]:
    run: dict[str, object] = json.loads((reports / "latest" / "journal.json").read_text())["runs"][
        0
    ]
    return run


def test_a_run_reuses_a_running_platform_and_leaves_it_up(
    running_platform: int, tmp_path: Path
) -> None:
    base = running_platform
    gateway = TOPOLOGY.gateway_url(base)
    reports = tmp_path / "reports"
    result = _harness(
        "run",
        "scenarios/search-outage.yaml",
        "--gateway",
        gateway,
        "--time-scale",
        SCALE,
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "attached to the normal platform" in result.stderr
    assert _journal(reports)["profile"] == "normal"
    # Still up, and nothing of the run is left in its proxy.
    assert httpx.get(f"{gateway}/status.json", timeout=5, trust_env=False).status_code == 200
    proxies = ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}").proxies()
    assert set(proxies) == set(TOPOLOGY.links)
    assert all(not p.toxics and p.enabled for p in proxies.values())


def test_process_faults_are_refused_on_a_reused_platform(tmp_path: Path) -> None:
    scenario = tmp_path / "kill.yaml"
    scenario.write_text(
        "name: kill-upload\ndescription: d\nload: {users: 1, spawn_rate: 1}\n"
        "phases: [{name: p, duration: 5s, faults: [{type: kill, service: upload}]}]\n"
    )
    result = _harness("run", str(scenario), "--gateway", "http://127.0.0.1:1080", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "a kill fault needs a platform this run starts" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_gateway_that_does_not_answer_is_an_environment_error(tmp_path: Path) -> None:
    base = free_base_port()
    result = _harness(
        "run",
        "scenarios/search-outage.yaml",
        "--gateway",
        TOPOLOGY.gateway_url(base),
        "--report-dir",
        str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "is not healthy" in result.stderr
    assert "harness platform up" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_uses_the_toxiproxy_server_named_by_toxiproxy_url(tmp_path: Path) -> None:
    base = free_base_port()
    api_port = base + TOPOLOGY.proxy_port
    log = tmp_path / "proxy.log"
    server = _background(["proxy", "--port", str(api_port + 1)], log)  # not where ours would be
    url = f"http://127.0.0.1:{api_port + 1}"
    try:
        _wait_for(f"{url}/version", server, log)
        result = _harness(
            "run",
            "scenarios/search-outage.yaml",
            "--base-port",
            str(base),
            "--time-scale",
            SCALE,
            "--report-dir",
            str(tmp_path / "reports"),
            env={"TOXIPROXY_URL": url},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"using the Toxiproxy server at {url}" in result.stderr
        events = _journal(tmp_path / "reports")["events"]
        assert isinstance(events, list)
        assert [e for e in events if e["kind"] == "fault_applied"]
        assert ToxiproxyClient(url).proxies() == {}  # the run removed the links it created
        assert server.poll() is None
    finally:
        _stop(server)
