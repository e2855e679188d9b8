"""Pure logic of the mock platform: protections, status verdicts, ranges, search queries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from mock_platform.common import reject_spoiled
from mock_platform.resilience import CircuitBreaker, RetryBudget, backoff_s
from mock_platform.services.cdn import serve_range
from mock_platform.services.gateway import Upstream, UpstreamFailed, make_token
from mock_platform.services.search import fts_query
from mock_platform.services.status import Hysteresis, judge
from mock_platform.settings import Settings


def test_breaker_opens_on_errors_and_probes_once_after_the_window() -> None:
    breaker = CircuitBreaker(min_calls=4, error_ratio=0.5, open_s=0.05)
    for ok in (True, False, False, True):
        assert breaker.allow()
        breaker.record(ok)
    assert breaker.current() == "open"
    assert not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # no second probe while the first is out
    breaker.record(True)
    assert breaker.current() == "closed"


def test_breaker_needs_enough_calls() -> None:
    breaker = CircuitBreaker(min_calls=20)
    for _ in range(19):
        breaker.record(False)
    assert breaker.current() == "closed"


def test_retry_budget_is_a_fraction_of_requests() -> None:
    budget = RetryBudget(ratio=0.1, floor=3)
    for _ in range(100):
        budget.request()
    granted = sum(budget.try_retry() for _ in range(50))
    assert granted == 10


def test_backoff_is_jittered_and_capped() -> None:
    samples = [backoff_s(10, base_s=0.05, cap_s=1.0) for _ in range(200)]
    assert max(samples) <= 1.0
    assert len(set(samples)) > 100


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        (None, 200, b"0123456789", None),
        ("bytes=0-3", 206, b"0123", "bytes 0-3/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-2", 206, b"89", "bytes 8-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-", 416, b"", "bytes */10"),
        ("bytes=4-2", 416, b"", "bytes */10"),
        ("pages=1", 416, b"", "bytes */10"),
    ],
)
def test_ranges(header: str | None, status: int, body: bytes, content_range: str | None) -> None:
    response = serve_range(b"0123456789", header, {})
    assert response.status_code == status
    assert response.body == body
    assert response.headers.get("content-range") == content_range


def test_search_queries_are_quoted_terms() -> None:
    assert fts_query('cat "dance') == '"cat" AND "dance"'
    assert fts_query("#surf waves") == 'hashtags:"surf" AND "waves"'
    assert fts_query("  ") is None
    assert fts_query("NEAR(a b) OR *") == '"NEAR" AND "a" AND "b" AND "OR"'


def test_tokens_are_bound_to_the_creator() -> None:
    alice = make_token(b"s", "alice")
    assert alice.startswith("alice.")
    assert alice != make_token(b"s", "bob")
    assert alice != make_token(b"other", "alice")


def _signals(**over: object) -> dict[str, object]:
    quiet = {"error_rate": 0.0, "p95_s": 0.1, "count": 10}
    base: dict[str, object] = {
        "gateway": {
            "routes": {
                r: dict(quiet)
                for r in ("/v1/videos", "/v1/feed", "/v1/search", "/v1/videos/{video_id}/play")
            },
            "breakers": {"search": "closed"},
            "search_degraded_ratio": 0.0,
            "outbox_oldest_age_s": 0.0,
        },
        "moderation": {"queue_depth": 0, "oldest_pending_age_s": 0.0},
        "feed": {"served": 10, "degraded_ratio": 0.0},
        "metrics": {"as_of_age_s": 1.0},
        "replica": {"lag_seconds": 0.0},
    }
    base.update(over)
    return base


def test_all_quiet_is_operational() -> None:
    assert {state for state, _ in judge(_signals(), outages_only=False).values()} == {"operational"}


def test_only_the_affected_component_changes() -> None:
    verdict = judge(_signals(moderation={"queue_depth": 5, "oldest_pending_age_s": 30.0}), False)
    assert verdict["moderation"][0] == "degraded"
    assert "30 s" in verdict["moderation"][1]
    assert all(
        state == "operational" for name, (state, _) in verdict.items() if name != "moderation"
    )


def test_search_breaker_open_is_an_outage_and_fragile_hides_degradation() -> None:
    gateway = _signals()["gateway"]
    assert isinstance(gateway, dict)
    cut = _signals(gateway={**gateway, "breakers": {"search": "open"}})
    assert judge(cut, False)["search"][0] == "outage"
    # cut off, but searches asked before still answered (from the cache): degraded
    cached = _signals(
        gateway={**gateway, "breakers": {"search": "open"}, "search_degraded_ratio": 0.4}
    )
    state, reason = judge(cached, False)["search"]
    assert state == "degraded"
    assert "circuit open" in reason
    assert judge(cached, False, mirror_breaker=True)["search"][0] == "outage"  # status-flaps
    lagging = _signals(replica={"lag_seconds": 30.0})
    assert judge(lagging, False)["feed"][0] == "degraded"
    assert judge(lagging, True)["feed"][0] == "operational"


def test_missing_signals_are_never_healthy() -> None:
    verdict = judge(_signals(moderation=None, replica=None, metrics=None), False)
    assert verdict["moderation"][0] == verdict["feed"][0] == verdict["metrics"][0] == "degraded"


def test_events_metrics_cannot_take_make_counts_delayed_before_the_backlog_ages() -> None:
    """The backlog drains when a slow link heals; if the link is then cut, new events wait
    from age 0: the page must not call metrics healthy meanwhile (seen in CI as a false
    'operational' for 9 s between metrics-slow and metrics-cut)."""
    gateway = _signals()["gateway"]
    assert isinstance(gateway, dict)
    failing = _signals(gateway={**gateway, "outbox_oldest_age_s": 1.0, "outbox_failing_s": 2.5})
    state, reason = judge(failing, False)["metrics"]
    assert state == "degraded"
    assert "metrics unreachable" in reason
    briefly = _signals(gateway={**gateway, "outbox_oldest_age_s": 0.5, "outbox_failing_s": 0.5})
    assert judge(briefly, False)["metrics"][0] == "operational"


def test_the_page_confirms_trouble_and_recovers_only_when_it_held() -> None:
    shown = Hysteresis(confirm_s=1.5, recover_s=3.0)
    assert shown.update("degraded", 0.0) == "operational"  # not yet confirmed
    assert shown.update("outage", 1.0) == "operational"
    # confirmed, as the worst it was meanwhile: one change, not degraded then outage
    assert shown.update("degraded", 1.5) == "outage"
    assert shown.update("degraded", 2.0) == "outage"  # never a step down: no flapping
    assert shown.update("operational", 3.0) == "outage"
    assert shown.update("outage", 4.0) == "outage"  # a relapse restarts the wait
    assert shown.update("operational", 5.0) == "outage"
    assert shown.update("operational", 7.9) == "outage"
    assert shown.update("operational", 8.0) == "operational"
    # worse than shown: confirmed the same way
    shown.update("degraded", 10.0)
    assert shown.update("degraded", 11.5) == "degraded"
    assert shown.update("outage", 12.0) == "degraded"
    assert shown.update("degraded", 12.5) == "degraded"  # a spike: never shown
    assert shown.update("outage", 13.0) == "degraded"
    assert shown.update("outage", 14.5) == "outage"
    # a blip shorter than the confirmation never shows
    blip = Hysteresis(confirm_s=1.5, recover_s=3.0)
    assert [blip.update(s, t) for s, t in (("outage", 0.0), ("operational", 1.0))] == [
        "operational",
        "operational",
    ]
    # a flapping signal never flaps the page
    flapping = Hysteresis(confirm_s=1.5, recover_s=3.0)
    states = [
        flapping.update("degraded" if t % 2 else "operational", float(t)) for t in range(1, 12)
    ]
    assert len(set(states)) == 1


def _upstream(answers: list[bytes], defects: frozenset[str] = frozenset()) -> Upstream:
    """An upstream whose answers (JSON 200s with these bodies) come from a mock transport."""
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        body = queue.pop(0)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://t")
    settings = Settings.create("gateway", 0, Path("."), defects=",".join(defects))
    return Upstream("search", client, "", settings)


@pytest.mark.parametrize("spoiled", [b"", b'{"q": "cat", "items": [{"vid'])
def test_a_success_with_a_broken_body_is_retried_and_never_passed_on(spoiled: bytes) -> None:
    good = b'{"q": "cat", "items": []}'
    upstream = _upstream([spoiled, good])
    response = asyncio.run(upstream.call("GET", "/search"))
    assert response.content == good
    assert upstream.attempts == 2
    with pytest.raises(UpstreamFailed) as failed:  # a POST is not retried: a 502
        asyncio.run(_upstream([spoiled]).call("POST", "/videos"))
    assert failed.value.status == 502


def test_a_gateway_that_trusts_bodies_passes_an_empty_success_on() -> None:
    upstream = _upstream([b""], frozenset({"gateway-trusts-bodies"}))
    assert asyncio.run(upstream.call("GET", "/search")).content == b""


@pytest.mark.parametrize("body", [b"", b'{"id": "v1", "sta'])
def test_every_service_takes_a_success_with_a_broken_body_for_a_failed_call(body: bytes) -> None:
    """link_client's hook: the feed, upload, search... fall back on it as on a refused call."""

    def answer(request: httpx.Request) -> httpx.Response:
        json_type = {"content-type": "application/json"}
        if request.url.path == "/spoiled":
            return httpx.Response(200, content=body, headers=json_type)
        if request.url.path == "/blob":  # not JSON: the edge checks its blobs itself
            return httpx.Response(200, content=b"", headers={"content-type": "video/mp4"})
        if request.url.path == "/missing":  # an error says what it is, body or not
            return httpx.Response(404, content=b"", headers=json_type)
        return httpx.Response(200, content=b'{"id": "v1"}', headers=json_type)

    async def calls() -> list[int]:
        hooks = {"response": [reject_spoiled]}
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport, event_hooks=hooks) as client:
            with pytest.raises(httpx.HTTPError, match="GET /spoiled: a 200 whose JSON does not"):
                await client.get("http://t/spoiled")
            return [
                (await client.get(f"http://t/{p}")).status_code for p in ("ok", "blob", "missing")
            ]

    assert asyncio.run(calls()) == [200, 200, 404]


def test_a_service_reads_the_topology_as_its_stack_lays_it_out(tmp_path: Path) -> None:
    from mock_platform.settings import Settings

    real = Settings.create("catalog-replica", 30000, tmp_path, stack="real")
    assert real.link_address("catalog-standby-db") == "127.0.0.1:30133"
    standby = Settings.create("catalog-db-standby", 30000, tmp_path, stack="real")
    assert standby.link_url("catalog-replication") == "http://127.0.0.1:30131"
    default = Settings.create("catalog-replica", 30000, tmp_path)
    assert default.link_url("catalog-replication") == "http://127.0.0.1:30131"
    with pytest.raises(ValueError, match="starts at catalog-db-standby"):
        Settings.create("catalog-replica", 30000, tmp_path, stack="real").link_url(
            "catalog-replication"
        )
    with pytest.raises(ValueError, match="unknown stack 'cloud'; the topology has: default, real"):
        Settings.create("catalog-replica", 30000, tmp_path, stack="cloud")


def test_the_nginx_edge_config_carries_the_edge_defects(tmp_path: Path) -> None:
    from mock_platform.nginx import render_config
    from mock_platform.settings import Settings

    def config(**kwargs: str) -> str:
        settings = Settings.create("cdn-edge", 30000, tmp_path, stack="real", **kwargs)
        return render_config(settings, tmp_path / "cdn-edge")

    normal = config()
    assert "listen 127.0.0.1:30089;" in normal
    assert "server 127.0.0.1:30161;" in normal  # through the cdn-origin link
    assert "proxy_read_timeout 1s;" in normal
    assert "proxy_cache_use_stale error timeout updating" in normal
    assert 'proxy_set_header Range "";' in normal
    assert "proxy_read_timeout 10s;" in config(defects="cdn-long-origin-timeout")
    assert "proxy_cache_use_stale" not in config(defects="cdn-no-stale-if-error")
    fragile = config(profile="fragile")
    assert "proxy_cache_use_stale" not in fragile
    assert "proxy_read_timeout 10s;" in fragile
