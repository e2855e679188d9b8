"""A chaos test in Python with the harness's pytest fixtures (see README, "pytest").

Run it with:  pytest examples/pytest            (add --chaos-profile fragile to see it fail)
The fixtures come from the harness plugin: ``platform`` starts the mock platform once per
session, ``load`` starts Locust, ``fault`` applies a fault as written in a scenario and undoes
it when the test ends, whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.faults.active import ActiveFault
from harness.pytest_plugin import Traffic


def test_the_feed_keeps_its_latency_while_search_hangs(
    load: Callable[..., Traffic], fault: Callable[[dict[str, Any]], ActiveFault]
) -> None:
    traffic = load(users=20, spawn_rate=20, mix={"viewer": 6, "searcher": 12, "creator": 2})
    traffic.settle(8)
    before = traffic.figures("feed", last=5)

    fault({"type": "timeout", "link": "gateway-search", "attributes": {"timeout": 0}})
    traffic.settle(12)
    during = traffic.figures("feed", last=8)

    assert during.requests > 0, "no feed traffic while search hung"
    assert during.error_rate <= 0.01, f"feed error rate {during.error_rate:.1%} while search hung"
    assert during.p95_s <= 3 * before.p95_s + 0.05, (
        f"feed p95 {during.p95_s * 1000:.0f} ms while search hung,"
        f" {before.p95_s * 1000:.0f} ms before: search starved the feed"
    )
