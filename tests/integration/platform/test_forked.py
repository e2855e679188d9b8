"""Services forked from the topology's preload behave as processes of their own: exit codes,
signals (pause, kill), logs, environment, names, and death with the harness (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.pids import pid_alive
from harness.platform.forked import ForkServer, ForkServerError
from harness.platform.supervisor import Supervisor

pytestmark = pytest.mark.integration

FORKEE = "tests.integration.platform.forkee"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", FORKEE, *args]


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "logs", preload=[FORKEE, "json"])
    yield sup
    sup.stop_all(grace_s=2)


def test_a_forked_service_is_a_child_of_the_server_with_its_own_log_env_and_name(
    supervisor: Supervisor,
) -> None:
    child = supervisor.start("svc-a", _argv("sleep"), {"FORKEE": "hello"})
    assert supervisor.forkserver is not None
    assert supervisor.forkserver.process is not None
    server = supervisor.forkserver.process.pid
    stat = Path(f"/proc/{child.pid}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == server  # forked, not a new interpreter
    assert Path(f"/proc/{child.pid}/comm").read_text().strip() == "svc-a"
    _wait_for(lambda: "forkee hello up" in child.log_tail())
    assert child.alive()
    assert child.returncode is None


def test_exit_codes_and_crashes_come_back_as_a_subprocess_would_give_them(
    supervisor: Supervisor,
) -> None:
    three = supervisor.start("three", _argv("exit", "3"))
    crash = supervisor.start("crash", _argv("crash"))
    assert three.process.wait(10) == 3
    assert crash.process.wait(10) == 1
    assert "the forkee crashed on purpose" in crash.log_tail()
    argv = supervisor.start("argv", _argv("argv", "--x", "1"))
    assert argv.process.wait(10) == 0
    assert "forkee.py', 'argv', '--x', '1']" in argv.log_tail()


def test_pause_resume_and_kill_reach_the_forked_process(supervisor: Supervisor) -> None:
    child = supervisor.start("paused", _argv("sleep"))
    supervisor.signal("paused", signal.SIGSTOP)
    _wait_for(lambda: _state(child.pid) == "T")
    supervisor.signal("paused", signal.SIGCONT)
    _wait_for(lambda: _state(child.pid) in "SR")
    supervisor.signal("paused", signal.SIGKILL)
    assert child.process.wait(5) == -signal.SIGKILL
    assert not child.alive()
    # a killed service restarts from the same server
    again = supervisor.start("paused", _argv("sleep"))
    assert again.pid != child.pid
    assert again.alive()


def test_stop_all_ends_paused_services_and_the_server(supervisor: Supervisor) -> None:
    children = [supervisor.start(f"s{i}", _argv("sleep")) for i in range(3)]
    supervisor.signal("s1", signal.SIGSTOP)
    assert supervisor.forkserver is not None
    assert supervisor.forkserver.process is not None
    server = supervisor.forkserver.process.pid
    supervisor.stop_all(grace_s=2)
    assert [c.returncode for c in children] == [-signal.SIGTERM] * 3
    assert not pid_alive(server)


def test_a_preload_that_fails_to_import_is_named(tmp_path: Path) -> None:
    server = ForkServer(["json", "no_such_module_here"])
    server.start(tmp_path / "forkserver.log")
    with pytest.raises(ForkServerError, match="no_such_module_here"):
        server.fork("x", FORKEE, ["exit", "0"], {}, tmp_path / "x.log")
    server.stop(2)
    assert "ModuleNotFoundError" in (tmp_path / "forkserver.log").read_text()


def test_commands_that_are_not_python_modules_start_as_processes(supervisor: Supervisor) -> None:
    child = supervisor.start("shell", ["/bin/sh", "-c", "exit 4"])
    assert isinstance(child.process, subprocess.Popen)
    assert child.process.wait(5) == 4
    assert supervisor.forkserver is None  # nothing asked for a fork


def test_sigkill_of_the_owner_kills_the_server_and_every_forked_service(tmp_path: Path) -> None:
    owner = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from harness.platform.supervisor import Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}), preload=[{FORKEE!r}])
        kids = [sup.start(f"k{{i}}", [sys.executable, "-m", {FORKEE!r}, "sleep"]) for i in range(2)]
        sup.signal("k1", __import__("signal").SIGSTOP)  # a paused one dies too
        print(sup.forkserver.process.pid, *[k.pid for k in kids], flush=True)
        time.sleep(600)
        """
    )
    run = subprocess.Popen(
        [sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert run.stdout is not None
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(pids) == 3
    assert all(pid_alive(p) for p in pids)
    run.kill()
    run.wait()
    run.stdout.close()
    _wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=5)
