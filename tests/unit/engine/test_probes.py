"""The prober's readings, against a fake platform (httpx.MockTransport: no sockets)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from harness.engine.probes import Prober
from harness.scenario.model import ProbeExpectation


class FakePlatform:
    def __init__(self) -> None:
        self.feed: dict[str, Any] = {"degraded": False, "stale": False, "counters_as_of": None}
        self.signals: dict[str, Any] = {"attempts": {"feed-a": 10}, "calls": {"feed-a": 10}}
        self.regions: dict[str, Any] = {"active": "feed-a", "events": []}
        self.listed = True
        self.uploads = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/feed":
            return httpx.Response(200, json=self.feed)
        if path == "/signals":
            return httpx.Response(200, json=self.signals)
        if path == "/admin/regions":
            return httpx.Response(200, json=self.regions)
        if path == "/v1/videos":
            self.uploads += 1
            assert request.headers["Authorization"].startswith("Bearer prober.")
            return httpx.Response(202, json={"video_id": f"v{self.uploads}"})
        if path == "/v1/creators/prober/videos":
            videos = [{"video_id": f"v{self.uploads}"}] if self.listed else []
            return httpx.Response(200, json={"videos": videos})
        return httpx.Response(404, content=json.dumps({"error": "no"}))


@pytest.fixture
def fake() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def prober(fake: FakePlatform) -> Prober:
    prober = Prober("http://gw", lambda s: f"http://{s}", "secret")
    prober.http = httpx.Client(transport=httpx.MockTransport(fake.handle))
    return prober


def _probe(**fields: Any) -> ProbeExpectation:
    return ProbeExpectation.model_validate(fields)


def test_the_feed_state_is_what_the_feed_says_of_itself(prober: Prober, fake: FakePlatform) -> None:
    state = _probe(probe="feed_state", equals="stale")
    assert prober.read(state) == "fresh"
    fake.feed["stale"] = True
    assert prober.read(state) == "stale"
    fake.feed["degraded"] = True
    assert prober.read(state) == "degraded"


def test_counters_age_comes_from_their_as_of(prober: Prober, fake: FakePlatform) -> None:
    age = _probe(probe="counters_age", max=5)
    assert prober.read(age) is None
    fake.feed["counters_as_of"] = time.time() - 12
    assert 11.5 < prober.read(age) < 13


def test_retry_ratio_counts_from_the_phase_start(prober: Prober, fake: FakePlatform) -> None:
    ratio = _probe(probe="retry_ratio", target="feed-a", max=1.2)
    prober.new_phase()
    assert prober.read(ratio) is None  # no calls yet in this phase
    fake.signals = {"attempts": {"feed-a": 40}, "calls": {"feed-a": 20}}
    assert prober.read(ratio) == 3.0


def test_region_switches_count_only_this_phase(prober: Prober, fake: FakePlatform) -> None:
    switches = _probe(probe="region_switches", max=1)
    fake.regions["events"] = [{"at": time.time() - 60}]
    prober.new_phase()
    assert prober.read(switches) == 0
    fake.regions["events"].append({"at": time.time() + 1})
    assert prober.read(switches) == 1


def test_own_upload_visible_uploads_then_lists_and_is_throttled(
    prober: Prober, fake: FakePlatform
) -> None:
    visible = _probe(probe="own_upload_visible", equals="visible")
    assert prober.read(visible) == "visible"
    fake.listed = False
    assert prober.read(visible) == "visible"  # the last reading, within COSTLY_EVERY_S
    assert fake.uploads == 1
    prober._costly.clear()
    assert prober.read(visible) == "missing"


def test_an_unreachable_platform_reads_as_none_or_error(fake: FakePlatform) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    prober = Prober("http://gw", lambda s: f"http://{s}")
    prober.http = httpx.Client(transport=httpx.MockTransport(refuse))
    assert prober.read(_probe(probe="counters_age", max=1)) is None
    assert prober.read(_probe(probe="feed_state", equals="fresh")) == "error"
    assert prober.read(_probe(probe="retry_ratio", target="feed-a", max=1)) is None
    assert prober.read(_probe(probe="own_upload_visible", equals="visible")) == "unreachable"
