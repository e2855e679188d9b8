from __future__ import annotations

from harness.gameday import postmortem_md, time_to_detect, time_to_recover
from tests.unit.report.journal import record


def test_time_to_detect_is_first_fault_to_first_status_change() -> None:
    assert time_to_detect(record()) == 3.0


def test_undetected_and_fault_free_drills_have_no_detection() -> None:
    quiet = record()
    quiet.observed = [o for o in quiet.observed if o.state == "operational"]
    assert time_to_detect(quiet) is None
    assert time_to_detect(record(faults=[])) is None


def test_time_to_recover_from_the_last_fault_removal() -> None:
    recover = time_to_recover(record())
    assert recover["status page"] == 5.0  # removed at 25 s, all operational at 30 s
    assert recover["errors"] == 2.0  # errors stop at 27 s


def test_a_fault_never_removed_means_no_recovery() -> None:
    open_fault = record()
    open_fault.faults[0].end = None
    assert time_to_recover(open_fault) == {"status page": None, "errors": None}


def test_the_postmortem_has_its_sections_and_the_operator_notes() -> None:
    text = postmortem_md(record())
    for part in (
        "# Post-mortem: game day 'feed-cut'",
        "## Timeline",
        "## What held",
        "## What broke",
        "## Contributing factors",
        "## Action items",
        "**note:** we see it",
        "injected: cut: down on gateway-feed",
        "Time to detect (first fault to the status page leaving operational): 3.0 s",
        "no_lost_uploads: measured 2 lost of 9 acknowledged, expected 0 lost; vid-aaa, vid-bbb",
    ):
        assert part in text, part


def test_an_aborted_drill_says_why_it_ended() -> None:
    text = postmortem_md(
        record(status="aborted", reason="aborted by the operator", expectations=[], invariants=[])
    )
    assert "the drill ended early: aborted by the operator" in text
    assert "(nothing was judged: no phase ended)" in text
