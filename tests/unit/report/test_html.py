"""report.html and index.html from journals, without a browser (tests/e2e has the browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.report import load_records, write_html, write_index, write_reports
from harness.report.charts import traffic_series
from harness.report.html import report_html
from tests.unit.report.journal import T0, journal, record


def test_the_report_is_self_contained_and_shows_every_part() -> None:
    page = report_html("r1", [record()])
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing fetched
    assert page.count("<svg") == 2  # traffic, status page + rollouts
    for text in (
        "error_rate feed",
        "50.00%",
        "max 1.00%",
        "vid-aaa, vid-bbb",
        "rolled_back",
        "errors higher",
        "east",
        "west",
        "down on gateway-feed",
        "we see it",
    ):
        assert text in page, text
    assert "The feed is &lt;cut&gt; &amp; restored." in page  # escaped, not injected


def test_svg_ids_differ_between_charts_on_one_page() -> None:
    page = report_html("r1", [record(), record()])
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_traffic_series_bins_requests_errors_and_p95() -> None:
    feed = traffic_series(record())["feed"]
    assert feed["throughput"][0] == 10.0  # 20 requests in a 2 s bin
    assert feed["error_rate"][7] == 50.0  # seconds 14-15
    assert feed["error_rate"][0] == 0.0


def test_an_unfinished_run_still_renders() -> None:
    unfinished = record(status="aborted", finished_at=None, expectations=[], invariants=[])
    unfinished.faults[0].end = None
    page = report_html("r1", [unfinished])
    assert "Nothing judged" in page


def test_the_index_lists_runs_and_trends(tmp_path: Path) -> None:
    for day, name, status in (
        (0, "20260101t000000aaaa", "passed"),
        (1, "20260102t000000bbbb", "failed"),
    ):
        write_reports(tmp_path / name, [record(status=status, started_at=T0 + day * 86400)])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "journal.json").write_text("{")
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "leftover.log").write_text("x")
    write_index(tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert index.count('class="passed"') == 1
    assert index.count('class="failed"') == 1
    assert 'href="20260102t000000bbbb/report.html"' in index
    runs = index.split("<h2>Runs</h2>")[1]
    assert runs.index("20260102t000000bbbb") < runs.index("20260101t000000aaaa")  # newest first
    # a run whose journal cannot be read, or that never wrote one, is listed, never hidden
    assert "broken" in runs
    assert "not a run journal" in runs
    assert "killed" in runs
    assert "no journal" in runs


def test_write_html_re_renders_from_the_journal(tmp_path: Path) -> None:
    run_dir = tmp_path / "r1"
    write_reports(run_dir, [record()])
    (run_dir / "report.html").unlink()
    write_html(run_dir, load_records(run_dir))
    assert "feed-cut" in (run_dir / "report.html").read_text()


def test_a_missing_or_broken_journal_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no journal\.json"):
        load_records(tmp_path)
    (tmp_path / "journal.json").write_text(json.dumps({"runs": {}}))
    with pytest.raises(ConfigError, match="not a run journal"):
        load_records(tmp_path)


def test_a_chart_that_cannot_be_drawn_never_costs_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> str:
        raise ValueError("cannot draw")

    monkeypatch.setattr("harness.report.html.traffic_svg", broken)
    problem = write_reports(tmp_path / "r1", [record()])
    assert problem is not None
    assert "harness report" in problem.message
    assert load_records(tmp_path / "r1")[0].run_id == "r1"
    assert not (tmp_path / "r1" / "report.html").exists()


def test_ctrl_c_while_drawing_is_named_and_the_journal_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.report.html.traffic_svg", interrupted)
    problem = write_reports(tmp_path / "r1", [record()])
    assert problem is not None
    assert problem.interrupted
    assert "harness report" in problem.message
    assert load_records(tmp_path / "r1")[0].status == "failed"
    assert not list((tmp_path / "r1").glob(".*.tmp"))


def test_an_older_journal_still_loads(tmp_path: Path) -> None:
    """Journals outlive the code: the old dict shape (full scenario, no definition) reads."""
    old = journal()
    old["scenario"] = {"name": "feed-cut", "phases": [{"name": "x"}], "load": {"users": 3}}
    (tmp_path / "journal.json").write_text(json.dumps({"runs": [old]}))
    assert load_records(tmp_path)[0].scenario.name == "feed-cut"
