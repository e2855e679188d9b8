"""The console views: what a person sees on a terminal and what a CI log gets."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from harness.engine import console
from harness.engine.console import LiveFigures, PlainView, RichView, choose_view

LIVE = [LiveFigures("feed", 12.0, 0.0, 0.031), LiveFigures("search", 5.0, 0.25, 8.5)]


def _plain() -> tuple[PlainView, io.StringIO]:
    stream = io.StringIO()
    return PlainView(stream), stream


def test_plain_view_prints_the_phase_with_its_expectations_once() -> None:
    view, stream = _plain()
    view.event("s", "phase", "phase blackholed (10 s)")
    view.phase("s", (2, 3), "blackholed", 10, ["timeout"], ["p95 search: max 1500 ms"])
    lines = stream.getvalue().splitlines()
    assert lines == ["==> [s] phase 2/3 blackholed (10 s); expecting: p95 search: max 1500 ms"]


def test_plain_view_prints_live_figures_at_most_every_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: clock[0])
    view, stream = _plain()
    view.phase("s", (1, 1), "p", 30, [], [])
    view.tick(1, LIVE, [])
    assert "err" not in stream.getvalue()
    clock[0] += console.LIVE_EVERY_S
    view.tick(10, LIVE, [])
    view.tick(11, LIVE, [])
    live = [line for line in stream.getvalue().splitlines() if "err" in line]
    assert live == ["==> [s] 10 s: feed 12/s err 0.0% p95 31 ms | search 5/s err 25.0% p95 8500 ms"]


def _rich() -> tuple[RichView, io.StringIO]:
    stream = io.StringIO()
    return RichView(Console(file=stream, force_terminal=True, width=100)), stream


def test_rich_view_marks_each_expectation_and_shows_live_figures() -> None:
    view, _ = _rich()
    view.phase("s", (2, 3), "blackholed", 10, ["timeout on gateway-search"], ["a", "b", "c"])
    view.tick(4.0, LIVE, [(False, "8500 ms"), (True, "0.00%"), (None, "no data")])
    capture = Console(width=100, record=True, file=io.StringIO())
    capture.print(view._render())
    text = capture.export_text()
    view.close()
    assert "phase 2/3 blackholed" in text
    assert "4/10 s" in text
    assert "faults: timeout on gateway-search" in text
    assert "✗ a  8500 ms" in text
    assert "✓ b  0.00%" in text
    assert "… c  no data" in text
    assert "search" in text
    assert "25.0%" in text
    assert "8500 ms" in text


def test_rich_view_drops_a_removed_fault_from_the_panel() -> None:
    view, stream = _rich()
    view.phase("s", (1, 1), "p", 10, ["latency on x (downstream)"], [])
    view.event("s", "fault_removed", "p: latency on x (downstream) removed")
    view.close()
    assert view.panel.faults == []
    assert "latency on x (downstream) removed" in stream.getvalue()


def test_no_data_renders_as_a_dash() -> None:
    view, _ = _rich()
    view.phase("s", (1, 1), "p", 10, [], [])
    view.tick(1, [LiveFigures("feed", 0.0, math.nan, math.nan)], [])
    capture = Console(width=100, record=True, file=io.StringIO())
    capture.print(view._render())
    view.close()
    assert "feed" in capture.export_text()
    assert "nan" not in capture.export_text()


def test_a_pipe_gets_plain_lines_and_a_terminal_the_live_view() -> None:
    assert isinstance(choose_view(io.StringIO()), PlainView)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(choose_view(Terminal()), RichView)
    assert isinstance(choose_view(Terminal(), plain=True), PlainView)


def test_both_views_show_the_status_page_as_users_see_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: clock[0])
    page = {"upload": "operational", "search": "outage", "feed": "degraded"}
    plain, stream = _plain()
    plain.phase("s", (1, 1), "p", 30, [], [])
    clock[0] += console.LIVE_EVERY_S
    plain.tick(10, LIVE, [], page)
    assert stream.getvalue().rstrip().endswith("| status page: search outage, feed degraded")
    rich, _ = _rich()
    rich.phase("s", (1, 1), "p", 30, [], [])
    rich.tick(1, LIVE, [], page)
    capture = Console(width=120, record=True, file=io.StringIO())
    capture.print(rich._render())
    rich.close()
    assert "status page: upload operational  search outage  feed degraded" in capture.export_text()


def test_a_note_is_labelled_as_one() -> None:
    view, stream = _plain()
    view.event("drill", "note", "search looks slow")
    assert stream.getvalue() == "==> [drill] note: search looks slow\n"
