"""The exit-code contract at the CLI's edge: 1 only for a finding, 2 for bad input, 3 for the
environment and for harness bugs (with the traceback saved, one line on stderr)."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from harness import cli


def _main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr("sys.argv", ["harness", *argv])
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as done:
            cli.main()
    finally:  # main() installs its own handlers: the test process keeps pytest's
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    return int(done.value.code or 0)


def test_an_unexpected_error_exits_3_with_its_traceback_saved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("harness.scenario.schema.scenario_schema_text", broken)
    assert _main(monkeypatch, "schema", "-o", "-") == 3
    err = capsys.readouterr().err
    assert "harness error (a bug, not a finding): ZeroDivisionError: a bug" in err
    assert "Traceback" not in err
    saved = list((tmp_path / ".chaos" / "tracebacks").glob("*.txt"))
    assert len(saved) == 1
    assert "ZeroDivisionError" in saved[0].read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ("run", "scenarios/search-outage.yaml", "--gateway", "notaurl"),
        ("run", "scenarios/search-outage.yaml", "--gateway", "http://127.0.0.1"),
        ("run", "nowhere.yaml"),
        ("validate", "nowhere.yaml"),
        ("explore", "--reference-profile", "nromal", "--out", "/nonexistent/explore"),
    ],
)
def test_bad_usage_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert _main(monkeypatch, *argv) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_schema_output_under_a_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert _main(monkeypatch, "schema", "-o", str(tmp_path / "file" / "s.json")) == 2
    assert "cannot write it" in capsys.readouterr().err


def test_a_report_dir_that_cannot_be_written_exits_2_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    (tmp_path / "file").write_text("x")
    code = _main(
        monkeypatch,
        "run",
        "scenarios/search-outage.yaml",
        "--report-dir",
        str(tmp_path / "file" / "reports"),
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write reports there" in err
    assert "bringing the platform up" not in err


def test_a_time_scale_below_a_scenarios_floor_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A scale must never manufacture a failure: below the floor the run is refused, exit 2."""
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    reports = tmp_path / "reports"
    argv = ["run", "scenarios/region-failover.yaml", "scenarios/search-outage.yaml"]
    assert _main(monkeypatch, *argv, "--time-scale", "0.5", "--report-dir", str(reports)) == 2
    err = capsys.readouterr().err
    assert "region-failover: --time-scale 0.5 is below its floor 0.8" in err
    assert "search-outage" not in err  # its floor is 0.4: accepted
    assert "bringing the platform up" not in err
    assert not reports.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "scenarios/search-outage.yaml", "--defect", "gateway-shared-pol"],
        ["gameday", "scenarios/search-outage.yaml", "--auto", "--defect", "gateway-shared-pol"],
        ["platform", "up", "--defect", "gateway-retry-storm,gateway-shared-pol"],
    ],
)
def test_an_unknown_defect_is_refused_with_a_suggestion_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert _main(monkeypatch, *argv, "--base-port", "29000") == 2
    err = capsys.readouterr().err
    assert "--defect gateway-shared-pol: unknown defect 'gateway-shared-pol'; did you mean" in err
    assert "gateway-retry-storm" not in err.split("unknown")[0]  # the known one is fine
    assert "bringing the platform up" not in err


def test_harness_defects_lists_the_catalogue_with_what_catches_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(monkeypatch, "defects") == 0
    out = capsys.readouterr().out
    assert re.match(r"\d+ defects of shortvideo \(run with --defect NAME\[,NAME\]\):", out)
    assert re.search(r"gateway-retry-storm +partial-faults +three tries", out)
    # one column for every name, the longest one included
    assert re.search(r"\nfeed-standby-shares-primary-link blast-radius +the standby", out)
    assert re.search(r"\ngateway-retry-storm {14}partial-faults", out)
    assert "caught by search-outage: p95 search" in out


def test_time_scale_floor_runs_each_scenario_at_its_own_floor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    seen: dict[str, float] = {}

    def execute(scenarios: list[Any], options: Any, view: Any) -> tuple[Path, list[Any]]:
        seen.update({s.name: s.scale_for(options.time_scale) for s in scenarios})
        return tmp_path, []

    monkeypatch.setattr("harness.engine.session.execute", execute)
    argv = ["run", "scenarios/region-failover.yaml", "scenarios/search-outage.yaml"]
    assert _main(monkeypatch, *argv, "--time-scale", "floor") == 0
    assert seen == {"region-failover": 0.8, "search-outage": 0.4}
    assert _main(monkeypatch, *argv, "--time-scale", "1.5") == 0
    assert seen == {"region-failover": 1.5, "search-outage": 1.5}
    assert _main(monkeypatch, *argv, "--time-scale", "fast") == 2
