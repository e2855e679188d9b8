"""The operator's keys, fed as lines (the e2e test drives a real pseudo-terminal)."""

from __future__ import annotations

import io
import time

import pytest

from harness.engine.console import PlainView
from harness.engine.runner import Aborted
from harness.gameday import AutoOperator, Operator, phase_plan
from harness.scenario.model import Phase

PHASE = Phase.model_validate(
    {
        "name": "cut",
        "duration": "10s",
        "faults": [
            {"type": "down", "link": "gateway-feed"},
            {"type": "pause", "service": "moderation-worker"},
        ],
    }
)


def _operator(keys: str) -> tuple[Operator, io.StringIO]:
    out = io.StringIO()
    return Operator(PlainView(out), 3, io.StringIO(keys), out), out


def _before(operator: Operator) -> tuple[set[int], list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []
    skipped = operator.before_phase(
        1, PHASE, ["error_rate feed: max 1%"], lambda k, m: events.append((k, m)), lambda: None
    )
    return skipped, events


def test_the_plan_says_what_will_be_injected_and_what_should_hold() -> None:
    scaled = PHASE.model_copy(update={"duration": PHASE.duration * 0.5})  # as the run gives it
    plan = "\n".join(phase_plan(1, 3, scaled, ["error_rate feed: max 1%"]))
    assert "phase 2/3 'cut' (5 s)" in plan
    assert "[1] down gateway-feed" in plan
    assert "[2] pause moderation-worker" in plan
    assert "- error_rate feed: max 1%" in plan


def test_notes_and_skips_then_enter_starts_the_phase() -> None:
    operator, out = _operator("n first note\nn\nsecond note\ns\n2\ns 9\nwhat\n\n")
    skipped, events = _before(operator)
    assert skipped == {1}
    assert events == [("note", "first note"), ("note", "second note")]
    assert "no fault '9'" in out.getvalue()
    assert "'what'? Enter, s, n or a" in out.getvalue()


def test_a_aborts_before_the_phase() -> None:
    operator, _ = _operator("a\n")
    with pytest.raises(Aborted, match="before phase cut"):
        _before(operator)


def test_closed_input_aborts_rather_than_running_unattended() -> None:
    operator, _ = _operator("")
    with pytest.raises(Aborted, match="input closed"):
        _before(operator)


def test_during_a_phase_notes_are_recorded_and_a_aborts() -> None:
    operator, _ = _operator("n looks bad\nn\nstill bad\na\n")
    events: list[tuple[str, str]] = []

    def run_phase() -> None:
        deadline = time.monotonic() + 5  # the reader thread needs a moment to queue the lines
        while time.monotonic() < deadline:
            operator.during_phase(lambda k, m: events.append((k, m)))
            time.sleep(0.01)

    with pytest.raises(Aborted, match="during the phase"):
        run_phase()
    assert events == [("note", "looks bad"), ("note", "still bad")]


def test_auto_prints_the_plan_and_never_waits() -> None:
    out = io.StringIO()
    auto = AutoOperator(PlainView(out), 3)
    assert auto.before_phase(1, PHASE, [], lambda k, m: None, lambda: None) == set()
    assert "auto: starting the phase" in out.getvalue()
    assert "[2] pause moderation-worker" in out.getvalue()
