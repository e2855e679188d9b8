"""Game-day drills driven through a pseudo-terminal, as an operator would drive them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pexpect
import pytest

from harness.faults import ToxiproxyClient
from tests.e2e.procs import alive, descendants
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROMPT = "Enter: start the phase"

DRILL = """\
name: drill
description: Search is blackholed while moderation's worker is frozen; search must degrade.
load: {users: 10, spawn_rate: 10, mix: {viewer: 4, searcher: 4, creator: 2}}
phases:
  - {name: baseline, duration: 8s}
  - name: search-blackholed
    duration: 14s
    faults:
      - {type: timeout, link: gateway-search, attributes: {timeout: 0}}
      - {type: pause, service: moderation-worker}
    expect:
      - {status: search, state: [degraded, outage], within: 12s}
  - {name: recovery, duration: 10s}
"""


def _spawn(tmp_path: Path, *extra: str) -> tuple[pexpect.spawn, int]:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(DRILL)
    base = free_base_port()
    args = ["-m", "harness", "gameday", str(scenario), "--report-dir", str(tmp_path / "reports")]
    child = pexpect.spawn(
        sys.executable,
        [*args, "--base-port", str(base), "--time-scale", "0.6", *extra],
        cwd=str(REPO),
        encoding="utf-8",
        timeout=90,
        dimensions=(50, 160),
    )
    child.logfile_read = (tmp_path / "terminal.log").open("w")
    return child, base


def _finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    child.logfile_read.close()
    assert child.exitstatus is not None, child.signalstatus
    return int(child.exitstatus)


def test_an_operator_drives_a_drill_with_notes_and_a_skipped_fault(tmp_path: Path) -> None:
    child, _ = _spawn(tmp_path)
    child.expect("phase 1/3 'baseline'")
    child.expect(PROMPT)
    child.sendline("n starting the drill")
    child.expect(PROMPT)
    child.sendline("")  # baseline starts
    child.expect("phase 2/3 'search-blackholed'")
    child.expect(r"\[2\] pause moderation-worker")
    child.expect(PROMPT)
    child.sendline("s 2")
    child.expect("fault 2 will be skipped")
    child.expect(PROMPT)
    child.sendline("")
    child.expect("status page: Search (degraded|outage)")
    child.sendline("n search shows degraded")
    child.expect("phase 3/3 'recovery'")
    child.expect(PROMPT)
    child.sendline("")
    assert _finish(child) == 0, (tmp_path / "terminal.log").read_text()[-3000:]

    run_dir = (tmp_path / "reports" / "latest").resolve()
    journal = json.loads((run_dir / "journal.json").read_text())["runs"][0]
    applied = [e["message"] for e in journal["events"] if e["kind"] == "fault_applied"]
    assert len(applied) == 1, applied
    assert "gateway-search" in applied[0]
    postmortem = (run_dir / "postmortem.md").read_text()
    assert "**note:** starting the drill" in postmortem
    assert "**note:** search shows degraded" in postmortem
    assert "search-blackholed: pause not injected (skipped by the operator)" in postmortem
    assert "injected: search-blackholed: timeout on gateway-search" in postmortem
    detect = next(line for line in postmortem.splitlines() if "Time to detect" in line)
    assert detect.rstrip().endswith(" s"), detect  # a number of seconds, not "not detected"
    for section in (
        "## Timeline",
        "## What held",
        "## What broke",
        "## Contributing factors",
        "## Action items",
    ):
        assert section in postmortem
    assert "status search in degraded/outage" in postmortem
    assert (run_dir / "report.html").exists()


def test_aborting_mid_phase_removes_every_fault_and_stops_every_process(tmp_path: Path) -> None:
    child, base = _spawn(tmp_path)
    for _ in range(2):
        child.expect(PROMPT)
        child.sendline("")
    child.expect("moderation-worker paused")  # the second phase's faults are in
    processes = descendants(child.pid)
    proxy = ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}", 1)
    toxics = [t for p in proxy.proxies().values() for t in p.toxics]
    assert toxics, "the blackhole is not in place"
    time.sleep(2)
    child.sendline("a")
    child.expect("aborted by the operator during the phase")
    assert _finish(child) == 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in processes if alive(p)]:
        time.sleep(0.1)
    assert not [p for p in processes if alive(p)], "processes left behind"
    assert not proxy.is_running()
    run_dir = (tmp_path / "reports" / "latest").resolve()
    journal = json.loads((run_dir / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert not (REPO / ".chaos" / "faults" / f"{journal['run_id']}.json").exists()  # all undone
    postmortem = (run_dir / "postmortem.md").read_text()
    assert "aborted by the operator during the phase" in postmortem
    assert not list(run_dir.glob(".*.tmp"))


def test_auto_runs_the_same_drill_unattended(tmp_path: Path) -> None:
    child, _ = _spawn(tmp_path, "--auto")
    child.expect("phase 2/3 'search-blackholed'")
    child.expect("auto: starting the phase")
    assert _finish(child) == 0, (tmp_path / "terminal.log").read_text()[-3000:]
    assert PROMPT not in (tmp_path / "terminal.log").read_text()
    assert ((tmp_path / "reports" / "latest") / "postmortem.md").exists()
