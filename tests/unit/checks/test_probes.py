"""The prober reads only what a topology declares, against fake platforms (httpx.MockTransport,
a fake clock, a fake command runner: no sockets, no sleeping)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harness.checks.probes import Prober
from harness.scenario.model import (
    FailoverExpectation,
    ProbeExpectation,
    RolloutExpectation,
    StatusExpectation,
)
from harness.topology import DEFAULT_TOPOLOGY, Topology, load_topology
from tests.unit.fakes import FakeClock

BASE = 20000


def _topology(**fields: Any) -> Topology:
    data: dict[str, Any] = {
        "name": "tiny",
        "entrypoint": "app",
        "services": {"app": {"port": 1, "command": ["run"]}, "db": {"port": 2, "command": ["db"]}},
    }
    return Topology.model_validate({**data, **fields})


class Fake:
    """A platform answering JSON (or text) by path; counts requests per path."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.hits: dict[str, int] = {}
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        key = f"{request.url.port}{request.url.path}"
        self.hits[key] = self.hits.get(key, 0) + 1
        answer = self.answers.get(key)
        if answer is None:
            return httpx.Response(404, content=b'{"error": "no"}')
        if isinstance(answer, str):
            return httpx.Response(200, text=answer)
        return httpx.Response(200, content=json.dumps(answer))


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _prober(topology: Topology, fake: Fake, clock: FakeClock, **kw: Any) -> Prober:
    http = httpx.Client(transport=httpx.MockTransport(fake.handle))
    return Prober(topology, BASE, http=http, clock=clock, **kw)


def _probe(name: str, target: str | None = None) -> ProbeExpectation:
    return ProbeExpectation.model_validate({"probe": name, "target": target, "max": 1})


def test_an_http_probe_reads_a_json_path_with_the_target(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(
        probes={"breaker": {"http": {"path": "/signals", "json": "breakers.{target}"}}}
    )
    fake.answers[f"{BASE + 1}/signals"] = {"breakers": {"db": "open"}}
    prober = _prober(topology, fake, clock)
    assert prober.read(_probe("breaker", "db")) == "open"
    assert prober.read(_probe("breaker", "cache")) is None  # not in the answer: no data


def test_a_probe_on_another_service_and_numbers_in_text(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(probes={"lag": {"http": {"service": "db", "path": "/lag", "json": "s"}}})
    fake.answers[f"{BASE + 2}/lag"] = {"s": "2.5"}
    assert _prober(topology, fake, clock).probe("lag") == 2.5


def test_age_is_read_on_the_clock(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(probes={"age": {"http": {"path": "/f", "json": "as_of"}, "age": True}})
    fake.answers[f"{BASE + 1}/f"] = {"as_of": clock.time() - 12}
    assert _prober(topology, fake, clock).probe("age") == 12


def test_a_delta_starts_again_with_each_phase(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(probes={"n": {"http": {"path": "/c", "json": "count"}, "delta": "phase"}})
    prober = _prober(topology, fake, clock)
    fake.answers[f"{BASE + 1}/c"] = {"count": 10}
    prober.new_phase()
    assert prober.probe("n") == 0
    fake.answers[f"{BASE + 1}/c"] = {"count": 13}
    assert prober.probe("n") == 3
    prober.new_phase()
    assert prober.probe("n") == 0


def test_a_ratio_of_two_deltas_and_no_data_before_any_call(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(
        probes={
            "attempts": {"http": {"path": "/s", "json": "a.{target}"}, "delta": "phase"},
            "calls": {"http": {"path": "/s", "json": "c.{target}"}, "delta": "phase"},
            "ratio": {"ratio": {"of": "attempts", "per": "calls"}, "targets": ["x"]},
        }
    )
    prober = _prober(topology, fake, clock)
    fake.answers[f"{BASE + 1}/s"] = {"a": {"x": 10}, "c": {"x": 10}}
    prober.new_phase()
    assert prober.read(_probe("ratio", "x")) is None  # no calls yet in this phase
    fake.answers[f"{BASE + 1}/s"] = {"a": {"x": 40}, "c": {"x": 20}}
    assert prober.read(_probe("ratio", "x")) == 3.0


def test_a_costly_probe_is_read_at_most_every_n_seconds(fake: Fake, clock: FakeClock) -> None:
    runs: list[list[str]] = []

    def run(argv: list[str], timeout_s: float, env: dict[str, str]) -> str | None:
        runs.append(argv)
        assert env == {"SECRET": "s3"}
        return "visible" if len(runs) == 1 else "missing"

    topology = _topology(
        probes={
            "mine": {
                "command": {"argv": ["probe", "{entrypoint}"], "env": {"SECRET": "s3"}},
                "every": "2s",
            }
        }
    )
    prober = _prober(topology, fake, clock, commands=run)
    assert prober.probe("mine") == "visible"
    clock.advance(1)
    assert prober.probe("mine") == "visible"  # the last reading, within 2 s
    assert runs == [["probe", f"http://127.0.0.1:{BASE + 1}"]]
    clock.advance(1.5)
    assert prober.probe("mine") == "missing"


def test_a_prometheus_metric_sums_the_samples_with_its_labels(fake: Fake, clock: FakeClock) -> None:
    fake.answers[f"{BASE + 1}/metrics"] = (
        "# TYPE http_requests counter\n"
        'http_requests_total{route="/a",status="500"} 3\n'
        'http_requests_total{route="/a",status="200"} 7\n'
        'http_requests_total{route="/b",status="500"} 11\n'
    )
    topology = _topology(
        probes={
            "errors": {
                "prometheus": {
                    "metric": "http_requests_total",
                    "labels": {"route": "/{target}", "status": "500"},
                }
            },
            "all_a": {"prometheus": {"metric": "http_requests_total", "labels": {"route": "/a"}}},
        }
    )
    prober = _prober(topology, fake, clock)
    assert prober.probe("errors", "a") == 3
    assert prober.probe("all_a") == 10
    assert prober.probe("errors", "zzz") is None


def test_an_unreachable_platform_reads_as_none_or_on_error(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(
        probes={
            "state": {"http": {"path": "/f", "json": "state"}, "on_error": "error"},
            "n": {"http": {"path": "/f", "json": "n"}},
        }
    )
    fake.down = True
    prober = _prober(topology, fake, clock)
    assert prober.probe("state") == "error"
    assert prober.probe("n") is None


def test_a_statuspage_v2_page_is_read_onto_three_states(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(
        status_page={"path": "/api/v2/summary.json"},
        components={"search": "Search", "feed": "For You feed"},
    )
    fake.answers[f"{BASE + 1}/api/v2/summary.json"] = {
        "components": [
            {"id": "k1", "name": "Search", "status": "major_outage"},
            {"id": "k2", "name": "For You feed", "status": "degraded_performance"},
        ]
    }
    prober = _prober(topology, fake, clock)

    def status(name: str) -> object:
        return prober.read(StatusExpectation.model_validate({"status": name, "state": ["outage"]}))

    assert status("search") == "outage"
    assert status("feed") == "degraded"


def test_rollouts_and_failover_come_from_their_capabilities(fake: Fake, clock: FakeClock) -> None:
    topology = _topology(
        capabilities={
            "rollouts": {"url": "{entrypoint}/deploys"},
            "failover": {"web": {"url": "{url[db]}/regions", "regions": ["a", "b"]}},
        }
    )
    fake.answers[f"{BASE + 1}/deploys"] = [
        {"id": "1", "service": "api", "state": "rolled_back"},
        {"id": "2", "service": "api", "state": "progressing"},
    ]
    fake.answers[f"{BASE + 2}/regions"] = {"active": "b", "events": []}
    prober = _prober(topology, fake, clock)
    rollout = RolloutExpectation.model_validate({"rollout": "api", "outcome": "promoted"})
    assert prober.read(rollout) == "progressing"  # the latest of that service
    failover = FailoverExpectation.model_validate({"failover": "web", "to": "b"})
    assert prober.read(failover) == "b"


# -- the mock's own declarations, against a fake of its answers --------------------------------


@pytest.fixture(scope="module")
def mock_topology() -> Topology:
    return load_topology(DEFAULT_TOPOLOGY)


def test_the_mock_feed_state_and_counters_age(
    mock_topology: Topology, fake: Fake, clock: FakeClock
) -> None:
    gateway = mock_topology.service_port(BASE, "gateway")
    fake.answers[f"{gateway}/v1/feed"] = {"state": "stale", "counters_as_of": clock.time() - 7}
    prober = _prober(mock_topology, fake, clock)
    assert prober.probe("feed_state") == "stale"
    assert prober.probe("counters_age") == 7
    fake.down = True
    assert prober.probe("feed_state") == "error"


def test_the_mock_retry_ratio_and_region_switches(
    mock_topology: Topology, fake: Fake, clock: FakeClock
) -> None:
    gateway = mock_topology.service_port(BASE, "gateway")
    prober = _prober(mock_topology, fake, clock)
    fake.answers[f"{gateway}/signals"] = {"attempts": {"feed-a": 10}, "calls": {"feed-a": 10}}
    fake.answers[f"{gateway}/admin/regions"] = {"active": "feed-a", "switches": 4}
    prober.new_phase()
    assert prober.probe("retry_ratio", "feed-a") is None
    assert prober.probe("region_switches") == 0
    fake.answers[f"{gateway}/signals"] = {"attempts": {"feed-a": 22}, "calls": {"feed-a": 18}}
    fake.answers[f"{gateway}/admin/regions"] = {"active": "feed-b", "switches": 5}
    assert prober.probe("retry_ratio", "feed-a") == 1.5
    assert prober.probe("region_switches") == 1
