"""harness explore end to end on the tiny example target (two services, one link): with its
planted bug (the weak profile acknowledges a note before the store has it) a 3-minute budget
finds the lost notes, stops searching there (--stop-after 1), shrinks the experiment, runs it
once on the build without the bug (--reference-profile normal), and the emitted scenario fails
when re-run on the bug and passes once it is off. Ctrl-C keeps what
was found and leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from harness.topology import load_topology
from tests.e2e.procs import alive, descendants
from tests.e2e.test_reuse import _harness
from tests.integration.platform.conftest import free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny-target" / "topology.yaml"


def test_explore_finds_the_planted_bug_and_emits_a_scenario_that_reproduces_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "explore"
    base = free_base_port()
    result = _harness(
        *("explore", "--topology", str(TINY), "--profile", "weak", "--budget", "3m"),
        # 2 re-runs: in 3 minutes, shrinking keeps the time to confirm a smaller candidate
        # and the one before it (2 x 3 re-runs would leave no time to try one)
        *("--fault-duration", "5s", "--reruns", "2", "--out", str(out)),
        *("--base-port", str(base), "--stop-after", "1", "--reference-profile", "normal"),
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    found = json.loads((out / "explore.json").read_text())
    assert found["elapsed_s"] <= 180, found["elapsed_s"]
    # the search ended at the first broken property, and shrank it
    assert "--stop-after 1: " in result.stderr, result.stderr[-3000:]
    assert len(found["outcomes"]) < found["planned"]
    assert found["links_used"] == ["api-store"]
    findings = found["findings"]
    assert findings, result.stderr[-3000:]
    lost = next(f for f in findings if "invariant: no_lost_notes" in f["broken"])
    assert lost["reproduced"] == lost["reruns"] == 2
    assert lost["users"] < 6  # shrunk: fewer users than the topology's load still lose notes
    # run once on the build without the bug, and it passed there (checked by hand below too)
    assert lost["reference"] == "normal"
    assert lost["reference_passed"] is True
    assert "on the reference (normal, no defect): passes" in result.stderr
    scenario = Path(lost["scenario"])
    assert scenario.parent == out / "scenarios"
    matrix = (out / "matrix.md").read_text()
    assert "| store |" in matrix  # the store killed: a service lost whole comes first
    assert "broken: " in matrix
    assert (out / "matrix.html").read_text().startswith("<!doctype html>")

    reports = tmp_path / "reports"
    weak = _harness(
        "run",
        str(scenario),
        "--profile",
        "weak",
        "--plain",
        "--report-dir",
        str(reports),
        "--base-port",
        str(base),
    )
    assert weak.returncode == 1, weak.stderr[-3000:]
    assert "no_lost_notes" in weak.stderr.splitlines()[-3]
    normal = _harness(
        "run",
        str(scenario),
        "--profile",
        "normal",
        "--plain",
        "--report-dir",
        str(reports),
        "--base-port",
        str(base),
    )
    assert normal.returncode == 0, normal.stderr[-3000:]


def test_an_interrupted_exploration_keeps_what_it_found_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "explore"
    base = free_base_port()
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "explore",
            "--topology",
            str(TINY),
            "--budget",
            "5m",
            "--fault-duration",
            "5s",
            "--out",
            str(out),
            "--base-port",
            str(base),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:
        seen.append(line)
        if "[1/" in line:  # one experiment judged; the second one's fault goes in next
            break
    time.sleep(5)  # within the second experiment: its fault is in
    children = descendants(run.pid)
    run.send_signal(signal.SIGINT)
    _, rest = run.communicate(timeout=90)
    assert run.returncode == 3, "".join(seen) + rest[-2000:]
    assert "Traceback" not in rest
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in children if alive(p)]:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)], "processes left behind"
    proxy = f"http://127.0.0.1:{base + load_topology(TINY).proxy_port}"
    assert not ToxiproxyClient(proxy, 1).is_running()
    found = json.loads((out / "explore.json").read_text())  # whole: written atomically
    assert found["interrupted"] is True
    assert len(found["outcomes"]) >= 1
    assert not list(out.glob(".*.tmp"))


def test_a_baseline_that_is_not_an_exploration_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text('{"runs": []}')
    result = _harness(
        "explore",
        "--topology",
        str(TINY),
        "--baseline",
        str(bad),
        "--out",
        str(tmp_path / "o"),
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "not an explore.json" in result.stderr
    assert "Traceback" not in result.stderr
