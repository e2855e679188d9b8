"""What a SIGKILLed harness leaves is found by the next one, named and removed; a port held
by anything else is an error naming its holder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import pids
from harness.errors import EnvironmentFailure
from harness.platform import Platform
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = pytest.mark.integration


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that would live a minute; killed and reaped whatever the test did to it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_stopped_survivor_of_a_dead_harness_is_resumed_killed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]
) -> None:
    monkeypatch.setattr(pids, "REGISTRY", tmp_path)
    survivor = sleeper
    os.kill(survivor.pid, signal.SIGSTOP)  # as a pause fault leaves it
    owner = _dead_pid()
    (tmp_path / f"{owner}.json").write_text(
        json.dumps(
            {
                "owner_start": 1,
                "children": {
                    str(survivor.pid): {
                        "name": "moderation-worker",
                        "start": pids.process_start_time(survivor.pid),
                    }
                },
            }
        )
    )
    said: list[str] = []
    assert pids.sweep_dead_children(said.append) == [survivor.pid]
    assert survivor.wait(5) == -signal.SIGKILL
    assert said == [
        f"killed pid {survivor.pid} (moderation-worker) left running by dead harness"
        f" process {owner}"
    ]
    assert not list(tmp_path.glob("*.json"))


def test_a_reused_pid_is_never_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]
) -> None:
    monkeypatch.setattr(pids, "REGISTRY", tmp_path)
    (tmp_path / f"{_dead_pid()}.json").write_text(
        json.dumps({"children": {str(sleeper.pid): {"name": "x", "start": 1}}})
    )
    assert pids.sweep_dead_children() == []
    assert sleeper.poll() is None


def test_a_live_harness_keeps_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeper: subprocess.Popen[bytes]
) -> None:
    monkeypatch.setattr(pids, "REGISTRY", tmp_path)
    pids.register_child("worker", sleeper.pid, ["python"])
    assert pids.sweep_dead_children() == []
    assert sleeper.poll() is None


def test_a_port_held_by_another_process_names_its_pid_and_command(tmp_path: Path) -> None:
    base = free_base_port()
    port = TOPOLOGY.service_port(base, "moderation-worker")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time; s = socket.socket(); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('127.0.0.1', {port})); s.listen(); print('ok', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        os.kill(holder.pid, signal.SIGSTOP)
        plat = Platform(TOPOLOGY, base, tmp_path)
        with pytest.raises(EnvironmentFailure) as caught:
            plat.up()
        message = str(caught.value)
        assert f"service moderation-worker needs 127.0.0.1:{port}" in message
        assert f"by pid {holder.pid} ({sys.executable} -c" in message
        assert "(stopped: SIGSTOPped)" in message
        with socket.socket() as probe:  # nothing of ours was started
            assert probe.connect_ex(("127.0.0.1", TOPOLOGY.proxy_api_port(base))) != 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
