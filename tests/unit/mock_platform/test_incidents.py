"""The mock status page's incidents (Statuspage v2 shape), fed published states by hand."""

from __future__ import annotations

from typing import Any

from harness.checks.communication import data_claim
from mock_platform.incidents import NO_DATA_LOST, IncidentLog, summary
from mock_platform.services.status import misattributed

NAMES = {"search": "Search", "feed": "For You feed"}
OK = ("operational", "")


def states(search: str = "operational", feed: str = "operational") -> dict[str, tuple[str, str]]:
    return {"search": (search, "" if search == "operational" else "failing"), "feed": (feed, "")}


def walk(log: IncidentLog, timeline: list[tuple[float, dict[str, tuple[str, str]]]]) -> None:
    for now, published in timeline:
        log.update(published, now)


def test_an_incident_opens_updates_monitors_and_resolves() -> None:
    log = IncidentLog(NAMES, update_every_s=3.0, resolve_after_s=4.0)
    walk(log, [(0.0, states()), (1.0, states("degraded")), (2.0, states("outage"))])
    walk(log, [(t, states("outage")) for t in (3.0, 4.0, 5.0)])
    walk(log, [(6.0, states()), (7.0, states()), (9.0, states()), (10.0, states())])
    (incident,) = log.incidents
    assert [(u.at, u.status) for u in incident.updates] == [
        (1.0, "investigating"),
        (2.0, "identified"),  # search got worse: said at once
        (5.0, "identified"),  # three seconds without news: where things stand
        (6.0, "monitoring"),
        (9.0, "monitoring"),
        (10.0, "resolved"),
    ]
    assert incident.worst == "outage"
    assert log.open is None
    assert all("Next update within 3 s" in u.body for u in incident.updates[:-1])
    assert data_claim(incident.updates[-1].body) == "none lost"
    assert incident.updates[-1].body.endswith(NO_DATA_LOST)
    assert incident.updates[0].affected == [("search", "operational", "degraded")]
    assert incident.updates[3].affected == [("search", "outage", "operational")]
    # a new fault is a new incident
    walk(log, [(20.0, states(feed="degraded"))])
    assert len(log.incidents) == 2
    assert log.open is not None
    assert log.open.name == "For You feed: degraded performance"


def test_trouble_while_monitoring_reopens_the_investigation() -> None:
    log = IncidentLog(NAMES, update_every_s=3.0, resolve_after_s=4.0)
    walk(log, [(0.0, states("degraded")), (1.0, states()), (2.0, states("degraded"))])
    assert [u.status for u in log.incidents[0].updates] == [
        "investigating",
        "monitoring",
        "identified",
    ]
    assert len(log.incidents) == 1


def test_status_silent_says_nothing_between_the_first_update_and_the_resolution() -> None:
    log = IncidentLog(NAMES, update_every_s=3.0, resolve_after_s=4.0, silent=True)
    walk(log, [(float(t), states("outage")) for t in range(0, 10)])
    walk(log, [(float(t), states()) for t in range(10, 16)])
    assert [(u.at, u.status) for u in log.incidents[0].updates] == [
        (0.0, "investigating"),
        (14.0, "resolved"),
    ]


def test_status_resolves_early_declares_victory_and_stays_quiet() -> None:
    log = IncidentLog(NAMES, resolves_early=True)
    walk(log, [(float(t), states("outage")) for t in range(0, 10)])
    (incident,) = log.incidents
    assert [(u.at, u.status) for u in incident.updates] == [
        (0.0, "investigating"),
        (2.0, "resolved"),
    ]
    walk(log, [(10.0, states()), (11.0, states("degraded"))])
    assert len(log.incidents) == 2  # a new fault after recovery is news again


def test_the_summary_is_statuspage_v2_shaped() -> None:
    log = IncidentLog(NAMES)
    log.update(states("outage"), 100.0)
    components: dict[str, dict[str, Any]] = {
        "search": {"state": "outage", "reason": "failing", "since": 100.0},
        "feed": {"state": "operational", "reason": "", "since": 0.0},
    }
    doc = summary({"id": "p", "name": "P"}, components, log)
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert [(c["id"], c["name"], c["status"]) for c in doc["components"]] == [
        ("search", "Search", "major_outage"),
        ("feed", "For You feed", "operational"),
    ]
    (incident,) = doc["incidents"]
    assert incident["status"] == "investigating"
    assert incident["impact"] == "major"
    assert incident["components"] == [{"id": "search", "name": "Search", "status": "major_outage"}]
    (update,) = incident["incident_updates"]
    assert update["created_at"] == "1970-01-01T00:01:40.000Z"
    assert update["affected_components"] == [
        {
            "code": "search",
            "name": "Search",
            "old_status": "operational",
            "new_status": "major_outage",
        }
    ]


def test_status_wrong_component_shows_search_on_the_feed() -> None:
    shown = misattributed({"search": ("outage", "search down"), "feed": OK, "upload": OK})
    assert shown == {"search": OK, "feed": ("outage", "search down"), "upload": OK}
