"""The communication checks on synthetic timelines: no sockets, no clock.

The run's window is seconds 0-60; search fails (all errors) from 10 to 30 unless a test says
otherwise, the feed never does."""

from __future__ import annotations

import pytest

from harness.checks.communication import (
    component_timelines,
    data_claim,
    judge_communication,
    timeline_records,
)
from harness.load.result import Sample
from harness.record import IncidentRecord, IncidentUpdate, Judgement, Observed
from harness.scenario.model import Communication

SLIS = {"search": ["search"], "feed": ["feed"]}
WINDOW = (0.0, 60.0)
SPEC = Communication(
    acknowledge_within=10,
    max_false_green=5,
    max_false_alarm=8,
    max_changes_per_minute=2,
    update_every=10,
    resolve_after=5,
)
NEXT = " Next update within 5 s."


def load(failing: range = range(10, 30), slow: range = range(0)) -> list[Sample]:
    samples = []
    for t in range(0, 60):
        errors = 10 if t in failing else 0
        latency = 3000.0 if t in slow else 50.0
        samples.append(Sample(t, "search", "-", 10, errors, (latency,) * 10, {}))
        samples.append(Sample(t, "feed", "-", 10, 0, (40.0,) * 10, {}))
    return samples


def page(*changes: tuple[float, str, str]) -> list[Observed]:
    start = [
        Observed(t=-1.0, what="status", component=c, state="operational")
        for c in ("search", "feed")
    ]
    return start + [Observed(t=t, what="status", component=c, state=s) for t, c, s in changes]


def update(t: float, status: str, body: str, *components: str) -> IncidentUpdate:
    return IncidentUpdate(
        id=f"u{t}", status=status, body=body, published=t, seen=t, components=list(components)
    )


def incident(named: dict[str, float], *updates: IncidentUpdate) -> IncidentRecord:
    resolved = [u.seen for u in updates if u.status == "resolved"]
    return IncidentRecord(
        id="inc1",
        name="Search outage",
        status=updates[-1].status,
        first_seen=updates[0].seen,
        resolved_seen=resolved[0] if resolved else None,
        named=named,
        updates=list(updates),
    )


HONEST = incident(
    {"search": 13.0},
    update(13.0, "investigating", "Search is failing." + NEXT, "search"),
    update(20.0, "identified", "Still failing." + NEXT),
    update(29.0, "identified", "Recovering." + NEXT),
    update(34.0, "monitoring", "Operational again." + NEXT, "search"),
    update(40.0, "resolved", "Resolved. No acknowledged upload was lost."),
)
HONEST_PAGE = page((13.0, "search", "outage"), (36.0, "search", "operational"))


def judge(
    observed: list[Observed],
    incidents: list[IncidentRecord],
    samples: list[Sample] | None = None,
    lost: tuple[str, ...] | None = (),
    spec: Communication = SPEC,
) -> dict[str, Judgement]:
    samples = samples or load()
    results, _ = judge_communication(spec, SLIS, samples, observed, incidents, WINDOW, lost)
    return {j.name.replace(" Search outage", ""): j for j in results}


def failed(results: dict[str, Judgement]) -> set[str]:
    return {name for name, j in results.items() if not j.passed}


def test_an_honest_page_passes_every_check() -> None:
    results = judge(HONEST_PAGE, [HONEST])
    assert failed(results) == set()
    assert results["time to acknowledge search"].measured == "3.0 s"
    # the page turned red at 13.0, the end of second 12: green during seconds 10 and 11
    assert results["false green search"].measured == "2 s"
    assert results["false green search"].detail == "+10-12 s"
    # the SLI (3 s window: errors of second 29 stay in it to 31) is healthy from second 32;
    # the page is red until 36.0, the end of second 35
    assert results["false alarm search"].measured == "3 s"
    assert results["no flapping search"].measured == "2 changes in 60 s"
    assert results["update cadence"].measured == "longest silence 9.0 s"
    assert results["honest resolution"].passed
    # the feed, never breached and never named: judged green, not acknowledged
    assert "time to acknowledge feed" not in results
    assert "right component feed" not in results
    assert results["false green feed"].passed
    assert results["false alarm feed"].passed


def test_a_page_that_stays_green_is_never_acknowledged_and_false_green() -> None:
    results = judge(page(), [])
    assert failed(results) == {"time to acknowledge search", "false green search"}
    assert results["time to acknowledge search"].measured == "never"
    assert results["false green search"].measured == "22 s"  # 10-31: the 3 s window


@pytest.mark.parametrize(("named_at", "passed"), [(20.0, True), (20.1, False)])
def test_acknowledgement_boundary(named_at: float, passed: bool) -> None:
    late = incident({"search": named_at}, update(named_at, "investigating", "Down." + NEXT))
    results = judge(page((named_at, "search", "outage")), [late])
    assert results["time to acknowledge search"].passed is passed


def test_a_one_second_blip_is_not_a_breach_users_saw() -> None:
    results = judge(page(), [], samples=load(failing=range(10, 11)))
    assert "time to acknowledge search" not in results
    # the blip stays in the 3 s window: 3 seconds over the 5% bound, under max_false_green
    assert results["false green search"].measured == "3 s"
    two = judge(page(), [], samples=load(failing=range(10, 12)))
    assert two["time to acknowledge search"].measured == "never"


def test_slowness_breaches_like_errors() -> None:
    results = judge(page(), [], samples=load(failing=range(0), slow=range(10, 30)))
    assert "time to acknowledge search" in failed(results)


def test_naming_the_wrong_component() -> None:
    wrong = incident(
        {"feed": 13.0},
        update(13.0, "investigating", "The feed is slow." + NEXT, "feed"),
        update(22.0, "identified", "Still slow." + NEXT),
    )
    results = judge(page((13.0, "feed", "degraded")), [wrong])
    assert {
        "right component feed",
        "time to acknowledge search",
        "false green search",
        "false alarm feed",
    } <= failed(results)
    assert "whose SLI held" in results["right component feed"].detail


def test_an_incident_open_before_the_run_is_not_the_runs_news() -> None:
    earlier = incident(
        {"feed": -5.0},
        update(-20.0, "investigating", "Feed." + NEXT, "feed"),
        update(-12.0, "identified", "Feed." + NEXT),
        update(-4.0, "identified", "Feed." + NEXT),
        update(4.0, "monitoring", "Feed operational." + NEXT),
        update(9.0, "resolved", "Resolved: nothing was lost."),
    )
    results = judge(HONEST_PAGE, [earlier, HONEST])
    assert "right component feed" not in results


def test_an_incident_resolved_before_the_run_is_not_judged() -> None:
    old = incident(
        {"feed": -50.0},
        update(-50.0, "investigating", "Feed." + NEXT),
        update(-40.0, "resolved", "Resolved; no data lost."),
    )
    old = old.model_copy(update={"id": "old", "name": "Old"})
    results = judge(HONEST_PAGE, [old, HONEST])
    assert not any(name.endswith(" Old") for name in results)


def test_flapping() -> None:
    flapping = page(
        (13.0, "search", "degraded"),
        (15.0, "search", "outage"),
        (17.0, "search", "degraded"),
        (19.0, "search", "outage"),
    )
    results = judge(flapping, [HONEST])
    assert "no flapping search" in failed(results)
    assert results["no flapping search"].measured == "4 changes in 60 s"


def test_changes_more_than_a_minute_apart_are_not_flapping() -> None:
    spaced = page((13.0, "search", "outage"), (36.0, "search", "operational"))
    spaced += [
        Observed(t=74.0, what="status", component="search", state="outage"),
        Observed(t=97.0, what="status", component="search", state="operational"),
    ]
    results = judge(spaced, [HONEST])
    assert results["no flapping search"].measured == "2 changes in 60 s"


def test_a_silent_incident_and_an_update_that_promises_nothing() -> None:
    silent = incident(
        {"search": 13.0},
        update(13.0, "investigating", "Search is failing." + NEXT),
        update(40.0, "resolved", "Resolved; no data was lost."),
    )
    results = judge(HONEST_PAGE, [silent])
    assert failed(results) == {"update cadence"}
    assert results["update cadence"].measured == "longest silence 27.0 s"
    vague = incident(
        {"search": 13.0},
        update(13.0, "investigating", "Search is failing."),
        update(20.0, "identified", "Working on it." + NEXT),
        update(29.0, "resolved", "Resolved; no data was lost."),
    )
    measured = judge(HONEST_PAGE, [vague])["update cadence"].measured
    assert measured.endswith("1 of 2 updates do not say when the next is due")


def test_an_open_incident_is_silent_until_the_run_ends() -> None:
    still_open = incident({"search": 13.0}, update(13.0, "investigating", "Failing." + NEXT))
    results = judge(HONEST_PAGE, [still_open])
    assert results["update cadence"].measured == "longest silence 47.0 s"
    assert "honest resolution" not in results  # nothing resolved: nothing to judge


@pytest.mark.parametrize(("resolved_at", "passed"), [(37.0, True), (36.9, False), (25.0, False)])
def test_resolution_waits_for_the_sli(resolved_at: float, passed: bool) -> None:
    # search's SLI last breached in second 31 (the errors of 29 in its 3 s window): until 32
    early = incident(
        {"search": 13.0},
        update(13.0, "investigating", "Failing." + NEXT),
        update(20.0, "identified", "Failing." + NEXT),
        update(resolved_at, "resolved", "A fix was deployed. No data was lost."),
    )
    result = judge(HONEST_PAGE, [early])["honest resolution"]
    assert result.passed is passed, result
    if resolved_at < 30:
        assert "still breached" in result.detail


def test_the_resolution_must_say_truly_whether_data_was_lost() -> None:
    results = judge(HONEST_PAGE, [HONEST], lost=("no_lost_uploads",))
    assert failed(results) == {"honest resolution"}
    assert "no_lost_uploads failed" in results["honest resolution"].detail
    mute = HONEST.model_copy(
        update={"updates": [*HONEST.updates[:-1], update(40.0, "resolved", "Resolved.")]}
    )
    assert (
        "does not say whether data was lost"
        in judge(HONEST_PAGE, [mute])["honest resolution"].detail
    )
    # admitting a loss is honest; not knowing (no data-loss invariant judged) is no proof
    admitted = HONEST.model_copy(
        update={"updates": [*HONEST.updates[:-1], update(40.0, "resolved", "3 uploads were lost.")]}
    )
    assert judge(HONEST_PAGE, [admitted], lost=("no_lost_uploads",))["honest resolution"].passed
    assert judge(HONEST_PAGE, [HONEST], lost=None)["honest resolution"].passed


@pytest.mark.parametrize(
    ("body", "claim"),
    [
        ("Resolved. No acknowledged upload, view or like was lost.", "none lost"),
        ("Nothing was lost.", "none lost"),
        ("There was no data loss.", "none lost"),
        ("Some uploads were lost; we are sorry.", "lost"),
        ("Resolved.", "silent"),
    ],
)
def test_data_claims(body: str, claim: str) -> None:
    assert data_claim(body) == claim


def test_too_few_samples_are_neither_breach_nor_healthy() -> None:
    sparse = [Sample(t, "search", "-", 1, 1, (10.0,), {}) for t in range(0, 60, 5)]
    timeline = component_timelines(SPEC, SLIS, sparse, page(), WINDOW)[0]
    assert {s.sli for s in timeline.seconds} == {"unknown"}
    assert timeline.false_green_s == 0
    assert timeline.first_breach() is None


def test_only_the_components_asked_for_are_judged() -> None:
    spec = SPEC.model_copy(update={"components": ["feed"]})
    results = judge(page(), [], spec=spec)
    assert all(name.endswith("feed") for name in results)


def test_the_timelines_are_kept_one_character_a_second() -> None:
    _, timelines = judge_communication(SPEC, SLIS, load(), HONEST_PAGE, [HONEST], WINDOW, ())
    (search, _) = timeline_records(timelines)
    assert search.start == 0.0
    assert len(search.sli) == len(search.shown) == 60
    assert search.sli[8:12] == "hhbb"
    assert search.shown[11:14] == "oxx"


def test_hung_requests_breach_while_users_wait_not_when_they_end() -> None:
    # every search from 10 on hangs until 30, then all end at once (20 s late)
    samples = [s for s in load(failing=range(0)) if s.endpoint == "feed" or s.t < 10]
    samples.append(Sample(30, "search", "-", 10, 0, (20_500.0,) * 10, {}))
    (search,) = component_timelines(
        SPEC.model_copy(update={"components": ["search"]}), SLIS, samples, page(), WINDOW
    )
    states = {s.t: s.sli for s in search.seconds}
    # waiting 2.5 s by the end of second 12: over the 2 s bound
    assert states[11] == "healthy"
    assert states[12] == "breach"
    assert states[29] == "breach"
    results = judge(page(), [], samples=samples)
    assert results["time to acknowledge search"].measured == "never"
