"""``harness platform up|status|down`` through the real CLI."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.platform.conftest import TOPOLOGY, free_base_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _harness(*argv: str) -> list[str]:
    return [sys.executable, "-m", "harness", *argv]


def _call(*argv: str) -> subprocess.CompletedProcess[str]:
    """One harness command to completion, its output captured."""
    return subprocess.run(_harness(*argv), capture_output=True, text=True, timeout=60, check=False)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_status_down(tmp_path: Path) -> None:
    base = free_base_port()
    run_dir = tmp_path / "run"
    up = subprocess.Popen(
        _harness("platform", "up", "--base-port", str(base), "--run-dir", str(run_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stdout is not None
        line = up.stdout.readline()
        assert line.strip() == f"entrypoint (gateway): http://127.0.0.1:{base + 80}", line
        status = _call("platform", "status", "--base-port", str(base), "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert set(report) == set(TOPOLOGY.started_services)
        assert all(item["healthy"] for item in report.values())
        table = _call("platform", "status", "--base-port", str(base))
        assert "gateway" in table.stdout
        assert "healthy" in table.stdout
        assert httpx.get(f"http://127.0.0.1:{base + 80}/openapi.json", timeout=5).status_code == 200
        down = _call("platform", "down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr
        assert up.wait(30) == 0
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(30)
        for stream in (up.stdout, up.stderr):
            if stream is not None:
                stream.close()
    wait_until(lambda: not _listening(base + 80), 5, "gateway port released")
    ports = [base + spec.port for spec in TOPOLOGY.services.values()]
    ports += [base + link.port for link in TOPOLOGY.links.values()]
    assert not [port for port in ports if _listening(port)]
    unhealthy = _call("platform", "status", "--base-port", str(base))
    assert unhealthy.returncode == 3
    assert "unhealthy" in unhealthy.stderr


def test_a_port_in_use_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    base = free_base_port()
    busy_port = base + TOPOLOGY.services["search"].port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", busy_port))
        busy.listen(1)
        start = time.monotonic()
        result = _call("platform", "up", "--base-port", str(base), "--run-dir", str(tmp_path))
    assert result.returncode == 3
    assert f"service search needs 127.0.0.1:{busy_port}, which is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - start < 10
    assert not _listening(base + TOPOLOGY.proxy_port)
    assert not _listening(base + 80)


@pytest.mark.parametrize("reader", ["kept", "gone"])
def test_sigterm_stops_everything(tmp_path: Path, reader: str) -> None:
    """Also when whoever read its output went away first (a closed pipe, a killed terminal):
    a progress line that cannot be written never skips the cleanup."""
    base = free_base_port()
    up = subprocess.Popen(
        _harness("platform", "up", "--base-port", str(base), "--run-dir", str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if reader == "gone" else subprocess.DEVNULL,
        text=True,
    )
    assert up.stdout is not None
    for line in up.stdout:
        if line.startswith("entrypoint (gateway): "):
            break
    state = json.loads((tmp_path / "platform.json").read_text())
    if reader == "gone":
        up.stdout.close()
    up.send_signal(signal.SIGTERM)
    code = up.wait(30)
    if reader == "kept":
        assert code == 0
    up.stdout.close()
    for name, pid in state["children"].items():
        wait_until(
            lambda pid=pid: (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            ),
            5,
            f"{name} gone",
        )
    assert not _listening(TOPOLOGY.proxy_api_port(base))  # the proxy went with it
    assert not (tmp_path / "platform.json").exists()  # the cleanup ran to its end
