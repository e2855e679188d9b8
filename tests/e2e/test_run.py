"""Real scenarios through the real CLI: PASS on the normal platform, FAIL (for the reason the
scenario is about) on the fragile one; an interrupted run leaves nothing behind."""

from __future__ import annotations

import itertools
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from tests.e2e.browser import ARTIFACTS, open_in_chromium
from tests.e2e.procs import alive, descendants
from tests.integration.platform.conftest import TOPOLOGY, free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCALE = "0.4"


def _harness_run(
    scenario: str, reports: Path, *extra: str, base: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``harness run`` on a free block of ports (or ``base``), to completion."""
    argv = [
        sys.executable,
        "-m",
        "harness",
        "run",
        scenario,
        "--report-dir",
        str(reports),
        "--base-port",
        str(base or free_base_port()),
        *extra,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=REPO)


SEVERITY = {"operational": 0, "degraded": 1, "outage": 2}


def status_swings(journal: dict[str, object]) -> dict[str, int]:
    """How many times each status-page component turned back during the run: worsening
    then improving is one swing (a fault's onset, possibly escalating, then its recovery);
    a page that flaps swings again and again."""
    states: dict[str, list[int]] = {}
    for seen in journal["observed"]:  # type: ignore[attr-defined]
        if seen["what"] == "status":
            states.setdefault(seen["component"], []).append(SEVERITY.get(seen["state"], 1))
    swings: dict[str, int] = {}
    for component, levels in states.items():
        steps = [b - a for a, b in itertools.pairwise(levels) if b != a]
        swings[component] = sum(1 for x, y in itertools.pairwise(steps) if x * y < 0)
    return swings


def _run(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    result = _harness_run("scenarios/search-outage.yaml", tmp_path, "--time-scale", SCALE, *extra)
    journal = json.loads((tmp_path / "latest" / "journal.json").read_text())["runs"][0]
    return result, journal


@pytest.fixture(scope="module")
def fragile_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, object]]:
    """One real fragile run, judged by one test and read in a browser by another."""
    reports = tmp_path_factory.mktemp("fragile")
    result, journal = _run(reports, "--profile", "fragile")
    return reports, result, journal


def test_search_outage_passes_on_the_normal_platform(tmp_path: Path) -> None:
    result, journal = _run(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert journal["status"] == "passed"
    # the page told the truth: every communication check judged, and held
    told = {j["name"]: j["passed"] for j in journal["communication"]}  # type: ignore[attr-defined]
    assert {"time to acknowledge search", "no flapping search"} <= set(told), told
    assert all(told.values()), told
    # one fault: each component worsens at its onset (maybe in steps) and recovers once
    swings = status_swings(journal)
    assert max(swings.values()) <= 1, swings
    assert (tmp_path / "latest" / "junit.xml").exists()
    assert "search-outage" in (tmp_path / "latest" / "summary.md").read_text()


def test_search_outage_fails_on_the_fragile_platform_for_its_reason(
    fragile_run: tuple[Path, subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    reports, result, journal = fragile_run
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [e["name"] for e in journal["expectations"] if not e["passed"]]  # type: ignore[index]
    # hung searches: the phase's p95, or (--fail-fast stops at the first certain failure) the
    # breaker's deadline, whichever is certain first
    assert any(name.startswith("p95 search") for name in failed), failed
    # and what its status page told users: search's trouble shown on the feed, never named
    told = [j["name"] for j in journal["communication"] if not j["passed"]]  # type: ignore[attr-defined]
    assert {"time to acknowledge search", "false green search"} <= set(told), told
    assert "false green search" in str(journal["reason"])
    junit = (reports / "latest" / "junit.xml").read_text()
    assert "<failure" in junit
    assert "measured" in junit


def test_the_report_of_a_real_run_reads_in_a_browser(
    fragile_run: tuple[Path, subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    """Headless Chromium opens report.html from disk: no console error, no request beyond the
    file itself, the charts drawn; a screenshot is kept in .test-artifacts/."""
    reports, _, _ = fragile_run
    report = (reports / "latest" / "report.html").resolve()
    seen = open_in_chromium(report, ARTIFACTS / "report-search-outage-fragile.png")
    assert seen.errors == [], seen.errors
    assert seen.requests == [report.as_uri()], seen.requests  # self-contained
    assert seen.charts == {"traffic": 1, "status": 1, "communication": 1}, seen.charts
    assert "p95 search" in seen.failed_rows
    index = open_in_chromium(reports / "index.html", ARTIFACTS / "index.png")
    assert index.errors == [], index.errors
    assert "search-outage" in index.text


# Ten moments spread over a run at time scale 0.5 (about 47 s): platform start-up, warm-up,
# each phase with its fault applied, and the judgement; seeded so a failure can be replayed.
# The run is a fixed copy of search-outage, so tuning the library cannot move the moments.
INTERRUPTED = """\
name: interrupted
description: search blackholed with every kind of cleanup to do; interrupted at some moment
load: {users: 12, spawn_rate: 12, mix: {viewer: 6, searcher: 4, creator: 2}}
phases:
  - {name: baseline, duration: 20s}
  - name: search-blackholed
    duration: 30s
    faults:
      - {type: timeout, link: gateway-search, attributes: {timeout: 0}}
      - {type: pause, service: moderation-worker}
  - {name: recovery, duration: 20s}
invariants: [no_lost_uploads, {name: all_uploads_terminal, within: 20s}]
"""
_RNG = random.Random(20261127)
MOMENTS = sorted(_RNG.uniform(lo, lo + 5) for lo in range(1, 41, 8)) * 2
SIGNALS = [signal.SIGINT] * 5 + [signal.SIGTERM] * 5


def start_interrupted(tmp_path: Path, base: int, *extra: str) -> subprocess.Popen[str]:
    """``harness run`` of INTERRUPTED at time scale 0.5, its stderr a pipe to read events."""
    scenario = tmp_path / "interrupted.yaml"
    scenario.write_text(INTERRUPTED)
    argv = [sys.executable, "-m", "harness", "run", str(scenario), "--time-scale", "0.5"]
    return subprocess.Popen(
        [*argv, "--report-dir", str(tmp_path), "--base-port", str(base), *extra],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("moment", "sig"), list(zip(MOMENTS, SIGNALS, strict=True)))
def test_an_interrupted_run_leaves_no_fault_and_no_process(
    tmp_path: Path, sig: signal.Signals, moment: float
) -> None:
    base = free_base_port()
    run = start_interrupted(tmp_path, base)
    # The clock starts once the harness has announced the run: an interrupt while the Python
    # interpreter is still importing is the interpreter's, not the harness's, to handle.
    assert run.stderr is not None
    announced = run.stderr.readline()
    assert "==> run " in announced, announced
    time.sleep(moment)
    children = descendants(run.pid)
    run.send_signal(sig)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 3, stderr[-2000:]
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [p for p in children if alive(p)]:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)], "processes left behind"
    assert not ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}", 1).is_running()
    for report in tmp_path.glob("*/journal.json"):
        json.loads(report.read_text())  # whole, never half-written
    assert not list(tmp_path.glob("*/.*.tmp"))


ABORTING = """\
name: upload-cut-abort
description: Uploads are cut off; the abort condition stops the run early.
load: {users: 10, spawn_rate: 10, mix: {creator: 1, viewer: 1}}
phases:
  - {name: baseline, duration: 6s}
  - name: uploads-cut
    duration: 60s
    faults: [{type: down, link: gateway-upload}]
abort:
  - {metric: error_rate, endpoint: upload, max: 0.5, for: 3s}
"""


def test_an_abort_condition_stops_the_run_and_cleans_up(tmp_path: Path) -> None:
    scenario = tmp_path / "abort.yaml"
    scenario.write_text(ABORTING)
    base = free_base_port()
    start = time.monotonic()
    result = _harness_run(str(scenario), tmp_path / "reports", base=base)
    assert result.returncode == 3, result.stderr[-3000:]
    assert time.monotonic() - start < 60, "the run was not stopped early"
    journal = json.loads((tmp_path / "reports" / "latest" / "journal.json").read_text())["runs"][0]
    assert journal["status"] == "aborted"
    assert "abort condition: error_rate upload" in journal["reason"]
    assert [e for e in journal["events"] if e["kind"] == "fault_applied"]
    assert not (REPO / ".chaos" / "faults" / f"{journal['run_id']}.json").exists()  # all undone
    assert not ToxiproxyClient(f"http://127.0.0.1:{base + TOPOLOGY.proxy_port}", 1).is_running()
