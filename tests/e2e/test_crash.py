"""A run killed at any moment leaves nothing behind: SIGKILL of the harness (no cleanup code
runs at all), and Ctrl-C at the stages where it used to lose the run (judgement, twice)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from tests.e2e.procs import alive, descendants
from tests.e2e.test_run import REPO
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Every kind of state a kill can catch: a paused process, a killed one, a blackholed link,
# a canary rollout (a process the gateway started), and Locust distributed (master + 2).
KILLED = """\
name: killed
load: {users: 8, spawn_rate: 8, mix: {viewer: 4, searcher: 2, creator: 2}}
phases:
  - {name: baseline, duration: 4s}
  - name: paused
    duration: 6s
    faults:
      - {type: pause, service: moderation-worker}
      - {type: timeout, link: gateway-search, attributes: {timeout: 0}}
  - name: killed
    duration: 6s
    faults: [{type: kill, service: cdn-origin}]
  - name: rollout
    duration: 8s
    faults:
      - {type: rollout, service: search, build: v2-identical, steps: [50, 100], interval: 3s}
"""
NEXT = """\
name: next
load: {users: 4, spawn_rate: 4, mix: {viewer: 1}}
steady_state: [{metric: error_rate, endpoint: feed, max: 0.01}]
phases:
  - {name: only, duration: 4s}
"""
_RNG = random.Random(20261202)
_STARTS = [1 + 3.6 * i for i in range(10)]
# seconds after the run is announced (seeded, replayable), one in each 3.6 s of the run: the
# platform's start (about 4 s), Locust's (2.5 s), warm-up, each phase, the judgement and the
# reports (the whole run takes about 38 s here)
KILL_MOMENTS = sorted(round(_RNG.uniform(lo, lo + 3.6), 2) for lo in _STARTS)


def _harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", "--plain", *args]


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_sigkill_of_the_harness_leaves_no_process_and_no_fault(
    tmp_path: Path, moment: float
) -> None:
    base = free_base_port()
    scenario = tmp_path / "killed.yaml"
    scenario.write_text(KILLED)
    run = subprocess.Popen(
        [
            *_harness(str(scenario), "--workers", "2"),
            "--base-port",
            str(base),
            "--report-dir",
            str(tmp_path / "dead"),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    assert "==> run " in run.stderr.readline()
    time.sleep(moment)
    children = descendants(run.pid)
    run.kill()
    run.wait()
    run.stderr.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [p for p in children if alive(p)]:
        time.sleep(0.1)
    survivors = [p for p in children if alive(p)]
    assert not survivors, f"alive 5 s after SIGKILL at {moment} s: {survivors}"
    assert not ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}", 1).is_running()
    # an immediate next run on the same ports passes, counting only its own traffic
    following = tmp_path / "next.yaml"
    following.write_text(NEXT)
    result = subprocess.run(
        [*_harness(str(following)), "--base-port", str(base), "--report-dir", str(tmp_path / "r")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    journal = json.loads((tmp_path / "r" / "latest" / "journal.json").read_text())["runs"][0]
    counted = sum(s["n"] for s in journal["samples"])
    load_dir = tmp_path / "r" / "latest" / "next" / "load"
    own = json.loads((load_dir / "locust.json").read_text())
    sent = sum(entry["num_requests"] for entry in own)
    assert counted == sent, (counted, sent)
    assert {s["endpoint"] for s in journal["samples"]} <= {"feed", "play", "view", "like"}


def _start(tmp_path: Path, text: str, *extra: str) -> tuple[subprocess.Popen[str], int]:
    base = free_base_port()
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    run = subprocess.Popen(
        [*_harness(str(scenario), *extra), "--base-port", str(base), "--report-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return run, base


def _read_until(run: subprocess.Popen[str], text: str) -> str:
    assert run.stderr is not None
    seen = ""
    for line in run.stderr:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never printed {text!r}:\n{seen[-3000:]}")


JUDGED_LONG = """\
name: judged-long
load: {users: 8, spawn_rate: 8, mix: {viewer: 6, creator: 2}}
phases:
  - {name: baseline, duration: 4s}
  - name: metrics-cut
    duration: 5s
    faults: [{type: down, link: gateway-metrics}]
    expect: [{metric: error_rate, endpoint: feed, max: 0.5}]
  - {name: after, duration: 3s}
invariants: [{name: no_lost_events, within: 60s}]
"""


def test_ctrl_c_while_judging_keeps_what_was_judged(tmp_path: Path) -> None:
    """The fragile gateway loses events, so the invariant waits its full minute: Ctrl-C then."""
    run, _ = _start(tmp_path, JUDGED_LONG, "--profile", "fragile")
    _read_until(run, "no_lost_events: waiting up to 60 s")
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 3, stderr[-2000:]
    assert "Traceback" not in stderr
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert journal["reason"] == "interrupted while judging"
    judged = {e["name"] for e in journal["expectations"]}
    assert "error_rate feed" in judged  # judged before the interrupt: kept
    assert (tmp_path / "latest" / "report.html").exists()


def test_ctrl_c_twice_still_cleans_up_and_reports(tmp_path: Path) -> None:
    run, base = _start(tmp_path, JUDGED_LONG)
    _read_until(run, "gateway-metrics down (partition)")
    children = descendants(run.pid)
    run.send_signal(signal.SIGINT)
    time.sleep(0.3)
    run.send_signal(signal.SIGINT)  # again, while it cleans up
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 3, stderr[-2000:]
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in children if alive(p)]:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)]
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert all(f["end"] is not None for f in journal["faults"])  # closed at cleanup
    assert not list(tmp_path.glob("*/.*.tmp"))
    assert not ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}", 1).is_running()
