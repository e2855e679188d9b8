"""A scenario that cannot run is still a record: its reason, and for a harness bug the
traceback beside it (no platform is started for this: nothing here opens a socket)."""

from __future__ import annotations

from pathlib import Path

from harness.engine.session import SessionOptions, _errored_by
from harness.errors import EnvironmentFailure
from harness.record import RunRecord, Status
from harness.scenario import load_scenario
from harness.topology import DEFAULT_TOPOLOGY, load_topology

REPO = Path(__file__).resolve().parents[3]


def _record_of(exc: Exception, tmp_path: Path) -> tuple[RunRecord, list[str]]:
    scenario, problems = load_scenario(REPO / "scenarios" / "search-outage.yaml", DEFAULT_TOPOLOGY)
    assert scenario is not None, problems
    said: list[str] = []
    options = SessionOptions(report_dir=tmp_path)
    try:
        raise exc
    except Exception as raised:  # as session._one meets it: inside an except block
        record = _errored_by(
            raised,
            scenario,
            load_topology(DEFAULT_TOPOLOGY),
            "run1",
            tmp_path / "search-outage",
            None,
            options,
            said.append,
        )
    return record, said


def test_an_environment_failure_is_the_reason(tmp_path: Path) -> None:
    record, said = _record_of(EnvironmentFailure("port 18080 is taken"), tmp_path)
    assert record.status == Status.ERRORED
    assert record.reason == "port 18080 is taken"
    assert not said
    assert not (tmp_path / "search-outage" / "traceback.txt").exists()


def test_a_harness_bug_keeps_its_traceback(tmp_path: Path) -> None:
    record, said = _record_of(ZeroDivisionError("a bug"), tmp_path)
    assert record.reason == "harness error: ZeroDivisionError: a bug"
    saved = tmp_path / "search-outage" / "traceback.txt"
    assert record.error_log == str(saved)
    assert "ZeroDivisionError" in saved.read_text()
    assert said == [f"a harness error (a bug, not a finding); traceback: {saved}"]
