"""The harness drives platforms that are not its mock, through their topology alone:
the tiny example target (started by the harness) passes its scenarios and fails them in its
weak mode; the same system run by someone else (external services) is attacked through its
links and left running and unharmed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import alive
from tests.e2e.test_run import REPO
from tests.integration.platform.conftest import free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = REPO / "examples" / "tiny-target"


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness", "run", "--plain", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=cwd)


def _results(reports: Path) -> dict[str, dict[str, object]]:
    runs = json.loads((reports / "latest" / "journal.json").read_text())["runs"]
    return {run["scenario"]["name"]: run for run in runs}


def _failed(run: dict[str, object]) -> list[str]:
    results = [*run["expectations"], *run["invariants"]]  # type: ignore[misc]
    return [r["name"] for r in results if not r["passed"]]


@pytest.mark.parametrize("profile", ["normal", "weak"])
def test_the_tiny_target_through_its_topology_alone(tmp_path: Path, profile: str) -> None:
    """Run from another directory: every path comes from the topology and the scenarios."""
    result = _run(
        str(TINY / "scenarios"),
        "--topology",
        str(TINY / "topology.yaml"),
        "--profile",
        profile,
        "--time-scale",
        "0.5",  # the scenarios' floor
        "--base-port",
        str(free_base_port()),
        "--report-dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    runs = _results(tmp_path)
    assert set(runs) == {"store-slow", "store-down"}
    assert "Traceback" not in result.stderr
    if profile == "normal":
        assert result.returncode == 0, ({n: _failed(r) for n, r in runs.items()}, result.stderr)
        return
    assert result.returncode == 1, result.stderr[-3000:]
    assert set(_failed(runs["store-slow"])) == {"p95 read", "status notes in degraded/outage"}
    assert _failed(runs["store-down"]) == ["no_lost_notes"]


def _external_topology(tmp_path: Path, base: int) -> Path:
    """The tiny target as a team's own running stack: both services external."""
    text = (TINY / "topology.yaml").read_text()
    text = text.replace("base_port: 19600", f"base_port: {base}")
    text = text.replace(
        "  api: {port: 1}\n  store: {port: 2}",
        f'  api: {{address: "127.0.0.1:{base + 1}", external: true}}\n'
        f'  store: {{address: "127.0.0.1:{base + 2}", external: true}}',
    )
    text = text.replace("locustfile: locustfile.py", f"locustfile: {TINY / 'locustfile.py'}")
    path = tmp_path / "external.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """The notes system started by the test, not by the harness (as a compose stack would)."""
    base = free_base_port()
    notes = [sys.executable, str(TINY / "notes.py")]
    processes = [
        subprocess.Popen([*notes, "store", "--port", str(base + 2), "--data", str(tmp_path)]),
        subprocess.Popen(
            [*notes, "api", "--port", str(base + 1), "--store", f"127.0.0.1:{base + 11}"]
        ),
    ]
    try:
        deadline = time.monotonic() + 30
        for port in (base + 1, base + 2):
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the notes system did not start"
                time.sleep(0.1)
        yield base, processes
    finally:
        for process in processes:
            process.kill()
            process.wait()


def test_an_external_stack_is_attacked_through_its_links_and_left_unharmed(
    tmp_path: Path, running_stack: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    base, processes = running_stack
    topology = _external_topology(tmp_path, base)
    result = _run(
        str(TINY / "scenarios" / "store-slow.yaml"),
        "--topology",
        str(topology),
        "--report-dir",
        str(tmp_path / "reports"),
    )
    # store-slow names ../topology.yaml itself; --topology points elsewhere: refused, exit 2
    assert result.returncode == 2, result.stderr
    assert "names topology" in result.stderr
    scenario = tmp_path / "store-slow.yaml"
    own = (TINY / "scenarios" / "store-slow.yaml").read_text()
    scenario.write_text(own.replace("topology: ../topology.yaml\n", ""))
    result = _run(
        str(scenario), "--topology", str(topology), "--report-dir", str(tmp_path / "reports")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 external services answering" in result.stderr
    run = _results(tmp_path / "reports")["store-slow"]
    assert run["status"] == "passed"
    # never started, stopped or signalled: the same processes, still answering
    assert all(alive(p.pid) and p.poll() is None for p in processes)
    for port in (base + 1, base + 2):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    # and a process fault on them is refused before anything starts
    killing = TINY / "scenarios" / "store-down.yaml"
    scenario.write_text(killing.read_text().replace("topology: ../topology.yaml\n", ""))
    result = _run(str(scenario), "--topology", str(topology))
    assert result.returncode == 2, result.stderr
    assert "store is external" in result.stderr
