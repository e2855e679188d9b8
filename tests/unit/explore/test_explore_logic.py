"""harness explore's logic without sockets: the fault space, the oracle's scenario and its
judgement, shrinking's candidates, the comparison with a previous exploration, the matrix."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.explore import ExploreOptions
from harness.explore.explorer import RUN_OVERHEAD_S, Explorer
from harness.explore.oracle import (
    Experiment,
    Judged,
    Verdict,
    discovery_scenario,
    experiment_scenario,
    judge,
    relative_ref,
)
from harness.explore.output import render_html, render_markdown
from harness.explore.results import Exploration, FaultRecord, Finding, Outcome, regressions
from harness.explore.shrink import (
    candidates,
    enough_load,
    needed_failures,
    shortest_fault_s,
    shrink,
    stronger,
)
from harness.explore.space import (
    Discovery,
    FaultChoice,
    LinkTraffic,
    implied,
    pairs,
    singles,
)
from harness.record import Judgement, RunRecord, ScenarioInfo, Status
from harness.scenario.model import Scenario
from harness.topology import load_topology

TINY = Path("examples/tiny-target/topology.yaml")


def _found() -> Discovery:
    return Discovery(
        links=[
            LinkTraffic("gw-feed-a", "gw", "feed-a", 9000, http=True),
            LinkTraffic("gw-feed-b", "gw", "feed-b", 5000, http=True),
            LinkTraffic("feed-a-db", "feed-a", "db", 3000, http=False),
            LinkTraffic("feed-b-db", "feed-b", "db", 2000, http=False),
        ],
        services=["gw", "feed-a", "feed-b", "db"],
        endpoints=["feed"],
        baseline_p95_ms={"feed": 80.0},
        baseline_error_rate={"feed": 0.0},
        entrypoint="gw",
    )


def test_singles_cover_every_link_and_service_worst_faults_first() -> None:
    plan = singles(_found())
    kinds = [(c.target, c.kind) for c in plan]
    # every dependency lost (services by fan-in, then links by traffic) before any hangs
    assert kinds[:8] == [
        ("db", "kill"),
        ("feed-a", "kill"),
        ("feed-b", "kill"),
        ("gw-feed-a", "down"),
        ("gw-feed-b", "down"),
        ("feed-a-db", "down"),
        ("feed-b-db", "down"),
        ("db", "pause"),
    ]
    assert [c.kind for c in plan[-4:]] == ["partial"] * 4  # the mildest last
    assert ("gw-feed-a", "http_corrupt") in kinds
    # a wrong answer before a slow one: every link's, then any latency
    last_corrupt = max(i for i, k in enumerate(kinds) if k[1] == "http_corrupt")
    assert last_corrupt < kinds.index(("gw-feed-a", "latency"))
    assert ("feed-a-db", "http_corrupt") not in kinds  # not an HTTP service
    assert ("gw", "kill") not in kinds  # the entrypoint: an outage by construction
    assert ("db", "kill") in kinds
    assert len(plan) == 4 * 5 + 2 * 2 + 3 * 2
    latency = next(c for c in plan if c.kind == "latency")
    assert latency.latency_ms == 400  # 5x the slowest baseline p95
    assert next(c for c in plan if c.kind == "partial").toxicity == 0.5
    assert len(singles(_found(), http_faults=False)) == 4 * 5 + 3 * 2


def test_a_service_lost_whole_and_absorbed_implies_the_same_fault_on_its_links() -> None:
    found = _found()
    plan = [(c,) for c in singles(found)]
    db_kill, db_pause = FaultChoice("kill", "db"), FaultChoice("pause", "db")
    assert implied(plan, db_kill, found) == [
        (FaultChoice("down", "feed-a-db"),),
        (FaultChoice("down", "feed-b-db"),),
    ]  # a crash implies its links refused, not hung, slowed or half lost
    assert implied(plan, db_pause, found) == [
        (FaultChoice("blackhole", "feed-a-db"),),
        (FaultChoice("blackhole", "feed-b-db"),),
    ]
    assert implied(plan, FaultChoice("down", "gw-feed-a"), found) == []  # a link: no service
    # a follower's link to its leader: cut off while the leader takes writes, it misses them,
    # which the leader lost whole never shows (a partial partition): tried in its turn
    found.links.append(LinkTraffic("db-follow", "db-replica", "db", 500, False, replication=True))
    plan += [(FaultChoice("down", "db-follow"),)]
    assert (FaultChoice("down", "db-follow"),) not in implied(plan, db_kill, found)
    assert len(implied(plan, db_kill, found)) == 2
    pair = (FaultChoice("down", "feed-a-db"), FaultChoice("down", "gw-feed-b"))
    assert implied([pair], db_kill, found) == []  # a pair is more than its parts


class _JudgedExplorer(Explorer):
    """The explorer's search, on no platform: the experiments named in ``broken`` break
    the property given (``invariant: x`` for a set)."""

    def __init__(self, out: Path, broken: set[str] | dict[str, str]) -> None:
        options = ExploreOptions(topology=load_topology(TINY), out=out)
        self.said: list[str] = []
        super().__init__(options, say=self.said.append)
        self.broken = broken if isinstance(broken, dict) else dict.fromkeys(broken, "invariant: x")
        self.found = _found()

    def judge(
        self, experiment: Experiment, seed: int, keep: set[str] | None = None
    ) -> tuple[Judged, float, str]:
        if experiment.label in self.broken:
            return Judged(Verdict.BROKEN, [self.broken[experiment.label]], []), 1.0, ""
        return Judged(Verdict.HELD, [], []), 1.0, ""


def test_the_search_puts_off_what_an_absorbed_service_loss_implies(tmp_path: Path) -> None:
    db_kill, a_db = FaultChoice("kill", "db"), FaultChoice("down", "feed-a-db")
    plan = [(db_kill,), (a_db,), (FaultChoice("pause", "db"),)]
    held = _JudgedExplorer(tmp_path / "held", broken=set())
    held._search(plan)
    held.view.close()
    assert [o.label for o in held.result.outcomes] == ["db kill", "db pause", "feed-a-db down"]
    # a crash that broke something: its links are tried in their turn, to locate it
    broke = _JudgedExplorer(tmp_path / "broke", broken={"db kill"})
    broke._search(plan)
    broke.view.close()
    assert [o.label for o in broke.result.outcomes] == ["db kill", "feed-a-db down", "db pause"]
    # what was put off and never ran is said, with the service loss that implies it
    gate = _JudgedExplorer(tmp_path / "gate", broken={"db pause"})
    gate.options.stop_after = 1
    gate._search(plan)
    gate.view.close()
    assert [o.label for o in gate.result.outcomes] == ["db kill", "db pause"]
    assert [(p.label, p.implied_by) for p in gate.result.put_off] == [("feed-a-db down", "db kill")]
    markdown = render_markdown(gate.result)
    assert "| feed-a-db | not run: implied by db kill |" in markdown
    assert "1 link fault not run: each is implied by a service lost whole" in markdown
    assert "not run: implied by db kill" in render_html(gate.result)


def test_a_finding_that_does_not_reproduce_does_not_count_for_stop_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reproduces = {"db pause", "feed-b-db down"}

    def shrunk(explorer: Explorer, experiment: Experiment, broken: set[str], label: str) -> Finding:
        failed = 9 if label in reproduces else 2
        return Finding(
            label=label, broken=sorted(broken), minimal=label, scenario="s.yaml", faults=1,
            fault_seconds=8, users=20, reproduced=failed, reruns=10, runs_used=10,
        )  # fmt: skip

    monkeypatch.setattr("harness.explore.explorer.shrink", shrunk)
    db_kill, db_pause = FaultChoice("kill", "db"), FaultChoice("pause", "db")
    a_db, b_db = FaultChoice("down", "feed-a-db"), FaultChoice("down", "feed-b-db")
    plan = [(db_kill,), (a_db,), (db_pause,), (b_db,)]
    # db kill broke a borderline property that its re-runs refute: the search goes on
    gate = _JudgedExplorer(tmp_path / "gate", {"db kill": "fault: x", "db pause": "fault: y"})
    gate.options.stop_after = 1
    assert gate._explore(plan) == [(b_db,)]
    gate.view.close()
    assert [o.label for o in gate.result.outcomes] == ["db kill", "feed-a-db down", "db pause"]
    assert [(f.label, f.refuted) for f in gate.result.findings] == [
        ("db kill", True),
        ("db pause", False),
    ]
    said = "not counted, db kill (failed 2 of 10 seeded re-runs: not reproducible): the search"
    assert any(said in line for line in gate.said)
    # the same property broken again by a later experiment: that one is shrunk too, once
    again = _JudgedExplorer(
        tmp_path / "again",
        {"db kill": "fault: x", "feed-a-db down": "fault: x", "db pause": "fault: x"},
    )
    again.options.stop_after = 1
    assert again._explore(plan) == []  # neither reproduced: searched to the end
    again.view.close()
    assert [f.label for f in again.result.findings] == ["db kill", "feed-a-db down"]
    assert again.result.outcomes[2].verdict == "broken"
    assert again._pending() == []  # two tries of one property set: db pause is not shrunk
    # without --stop-after, everything is searched first and shrunk at the end
    full = _JudgedExplorer(tmp_path / "full", {"db kill": "fault: x", "feed-b-db down": "x"})
    assert full._explore(plan) == []
    assert full.result.findings == []
    full._shrink_all()
    full.view.close()
    assert [(f.label, f.refuted) for f in full.result.findings] == [
        ("db kill", True),
        ("feed-b-db down", False),
    ]


def test_the_budget_counts_what_a_run_really_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform that lost uploads makes every run wait up to 60 s for them to end: the
    next run's cost (and so how many re-runs fit) counts that, not the usual 6 s."""
    explorer = _JudgedExplorer(tmp_path, broken=set())
    now = [0.0]
    explorer.clock = lambda: now[0]
    monkeypatch.setattr(explorer, "_steady", lambda: None)
    monkeypatch.setattr(explorer, "_up", lambda: None)

    def waits_for_lost_uploads(scenario: Scenario, context: object) -> RunRecord:
        now[0] += scenario.duration_s + 60
        return _record()

    monkeypatch.setattr("harness.explore.explorer.run_scenario", waits_for_lost_uploads)
    experiment = Experiment((FaultChoice("kill", "store"),), users=5, fault_s=8)
    assert explorer.run_cost(experiment) == 23 + RUN_OVERHEAD_S  # before any run
    data = discovery_scenario(explorer.topology, 5, 8)
    explorer._run(explorer._scenario(data, tmp_path / "d.yaml"), 1)
    explorer.view.close()
    assert explorer.run_cost(experiment) == 23 + 60


def test_pairs_join_absorbed_faults_that_share_a_dependency() -> None:
    found = _found()
    a_down, b_down = FaultChoice("down", "gw-feed-a"), FaultChoice("down", "gw-feed-b")
    db_kill = FaultChoice("kill", "db")
    a_db, b_db = FaultChoice("down", "feed-a-db"), FaultChoice("down", "feed-b-db")
    chosen = pairs(found, held=[a_down, b_down, a_db, b_db], degraded=[db_kill])
    assert (a_down, b_db) in chosen  # region b took over from a: then what b depends on goes
    assert (a_down, a_db) in chosen  # ... or what a depends on (b may share it: a defect)
    assert (a_down, db_kill) in chosen  # db: both regions' dependency
    assert (a_down, b_down) not in chosen  # both regions out: an outage by construction
    assert (a_db, b_db) not in chosen  # nothing takes over from a database link here
    assert all(len({x.target for x in pair}) == 2 for pair in chosen)
    assert len({frozenset(p) for p in chosen}) == len(chosen)  # no pair twice
    every = 30 * 29 // 2
    assert len(chosen) * 10 <= every
    assert pairs(found, held=[], degraded=[]) == []


def test_declared_failover_groups_say_what_can_take_over() -> None:
    found = _found()
    found.links.append(LinkTraffic("gw-search", "gw", "search", 4000, http=True))
    found.services.append("search")
    found.fallback_groups = {"feed-a": "failover feed", "feed-b": "failover feed"}
    search_down, b_db = FaultChoice("down", "gw-search"), FaultChoice("down", "feed-b-db")
    a_down = FaultChoice("down", "gw-feed-a")
    chosen = pairs(found, held=[a_down, search_down, b_db], degraded=[])
    assert chosen == [(a_down, b_db)]  # search is no region of the feed, nor has a fallback


def test_a_fault_renders_as_the_scenario_fault_an_engineer_writes() -> None:
    assert FaultChoice("blackhole", "l").fault() == {
        "type": "timeout",
        "attributes": {"timeout": 0},
        "link": "l",
    }
    assert FaultChoice("partial", "l", toxicity=0.5).fault()["toxicity"] == 0.5
    assert FaultChoice("kill", "db").fault() == {"type": "kill", "service": "db"}
    assert FaultChoice("latency", "l", latency_ms=800).weaker() == [
        FaultChoice("latency", "l", latency_ms=400),
        FaultChoice("latency", "l", latency_ms=800, toxicity=0.5),
    ]
    assert FaultChoice("down", "l").weaker() == []


def test_an_experiment_is_a_valid_scenario_with_the_generic_checks() -> None:
    topology = load_topology(TINY)
    found = Discovery(
        links=[LinkTraffic("api-store", "api", "store", 100, http=True)],
        services=["api", "store"],
        endpoints=["read", "write"],
        baseline_p95_ms={"read": 40.0, "write": 5.0},
        baseline_error_rate={"read": 0.0, "write": 0.02},
        entrypoint="api",
    )
    experiment = Experiment((FaultChoice("down", "api-store"),), users=6, fault_s=5, after_s=6)
    data = experiment_scenario(experiment, found, topology, "x-down")
    scenario = Scenario.model_validate(data)
    assert [p.name for p in scenario.phases] == ["before", "fault", "after"]
    assert scenario.phases[1].faults[0].type == "down"
    assert len(scenario.phases[1].expect) == 6  # error_rate, p95, wrong_answers x 2 endpoints
    assert [i.name for i in scenario.invariants] == ["no_lost_notes"]
    write_after = [e for e in data["phases"][2]["expect"] if e["endpoint"] == "write"]
    assert write_after[0]["max"] == 0.03  # the baseline's own error rate + 1%
    kept = experiment_scenario(
        experiment, found, topology, "x-down", keep={"invariant: no_lost_notes"}
    )
    assert "expect" not in kept["phases"][1]
    assert "expect" not in kept["phases"][2]
    assert kept["invariants"] == ["no_lost_notes"]
    assert "steady_state" not in kept
    Scenario.model_validate(kept)


def test_critical_bounds_hold_unless_the_fault_is_on_a_declared_single_point() -> None:
    topology = load_topology(Path("mock_platform/topology.yaml"))
    found = Discovery(
        links=[LinkTraffic("gateway-upload", "gateway", "upload", 100, http=True)],
        services=["gateway", "upload"],
        endpoints=["feed", "upload"],
        baseline_p95_ms={"feed": 100.0, "upload": 20.0},
        baseline_error_rate={"feed": 0.0, "upload": 0.0},
        entrypoint="gateway",
    )

    def within(fault: FaultChoice) -> list[str]:
        data = experiment_scenario(Experiment((fault,), users=20), found, topology, "x")
        return [
            f"{c['metric']} {c['endpoint']}" for c in data["phases"][1]["expect"] if "within" in c
        ]

    # an upload may fail, never hang (no error bound: error_rate null) unless its own path is
    # what failed (gateway-upload, upload: its declared single points)
    assert within(FaultChoice("down", "upload-cdn")) == [
        "error_rate feed",
        "p95 feed",
        "p95 upload",
    ]
    assert within(FaultChoice("down", "gateway-upload")) == ["error_rate feed", "p95 feed"]
    assert within(FaultChoice("kill", "upload")) == ["error_rate feed", "p95 feed"]

    def hung(fault: FaultChoice) -> list[tuple[str, object]]:
        """The after phase's checks over the whole phase, where a hung request finishes."""
        data = experiment_scenario(Experiment((fault,), users=20), found, topology, "x")
        after = data["phases"][2]["expect"]
        return [(f"{c['metric']} {c['endpoint']}", c["max"]) for c in after if "within" not in c]

    # an upload that hung through a paused catalog finishes once it is healed: judged then
    assert hung(FaultChoice("pause", "catalog-primary")) == [
        ("p95 feed", "1s"),
        ("p95 upload", "3s"),
    ]
    assert hung(FaultChoice("pause", "upload")) == [("p95 feed", "1s")]


def _record(*checks: Judgement, invariants: tuple[Judgement, ...] = ()) -> RunRecord:
    return RunRecord(
        run_id="r",
        scenario=ScenarioInfo(name="x"),
        topology="t",
        profile="normal",
        time_scale=1.0,
        started_at=0.0,
        status=Status.FAILED,
        expectations=list(checks),
        invariants=list(invariants),
    )


def _check(phase: str, name: str, passed: bool = False, measured: str = "9%") -> Judgement:
    return Judgement(phase=phase, name=name, passed=passed, measured=measured, threshold="")


@pytest.mark.parametrize(
    ("checks", "invariants", "verdict", "broken"),
    [
        ([_check("fault", "error_rate feed", True)], [], Verdict.HELD, []),
        ([_check("fault", "error_rate feed")], [], Verdict.DEGRADED, []),
        (
            [_check("fault", "wrong_answers feed")],
            [],
            Verdict.BROKEN,
            ["fault: wrong_answers feed"],
        ),
        (
            [_check("fault", "wrong_answers feed", measured="no request finished in the window")],
            [],
            Verdict.DEGRADED,
            [],
        ),
        (
            [_check("fault", "p95 feed within 5s")],
            [],
            Verdict.BROKEN,
            ["fault: p95 feed within 5s"],
        ),
        ([_check("fault", "p95 play within 5s")], [], Verdict.DEGRADED, []),
        (
            [_check("after", "error_rate feed within 6s")],
            [],
            Verdict.BROKEN,
            ["after: error_rate feed within 6s"],
        ),
        ([_check("steady state after (after, 2nd half)", "error_rate feed")], [], Verdict.HELD, []),
        (
            [_check("steady state before (before)", "error_rate feed")],
            [],
            Verdict.INCONCLUSIVE,
            ["steady state before (before): error_rate feed"],
        ),
        (
            [],
            [_check("invariants", "no_lost_uploads")],
            Verdict.BROKEN,
            ["invariant: no_lost_uploads"],
        ),
        (  # 2 users, none of them a creator: no upload to read, no verdict on uploads
            [],
            [
                _check(
                    "invariants",
                    "served_as_acknowledged",
                    measured="0 wrong of 0 reads (nothing to read: no data is no pass)",
                )
            ],
            Verdict.HELD,
            [],
        ),
    ],
)
def test_the_oracle_names_what_broke(
    checks: list[Judgement], invariants: list[Judgement], verdict: Verdict, broken: list[str]
) -> None:
    judged = judge(_record(*checks, invariants=tuple(invariants)), critical={"feed"})
    assert judged.verdict is verdict
    if verdict is not Verdict.INCONCLUSIVE or broken:
        assert judged.broken == broken


def test_an_errored_run_is_inconclusive_not_a_finding() -> None:
    record = _record()
    record.status, record.reason = Status.ERRORED, "cannot start the platform"
    assert judge(record, set()).verdict is Verdict.INCONCLUSIVE


def test_shrinking_tries_fewer_faults_then_shorter_fewer_users_and_weaker() -> None:
    a = FaultChoice("latency", "l", latency_ms=800)
    b = FaultChoice("kill", "db")
    tried = candidates(Experiment((a, b), users=8, fault_s=10))
    assert [t.faults for t in tried[:2]] == [(a,), (b,)]
    assert tried[2].fault_s == 5
    assert tried[3].users == 4
    assert tried[4].faults[0].latency_ms == 400
    assert candidates(Experiment((b,), users=2, fault_s=4)) == []  # nothing smaller left
    # a critical endpoint judged from 5 s into the fault: a 5 s fault would judge nothing
    # but the reaction (a failure the shrinking made), so 8 s is the shortest
    critical = {"fault: error_rate feed within 5s", "invariant: no_lost_events"}
    assert shortest_fault_s(critical) == 8
    assert shortest_fault_s({"invariant: no_lost_events", "after: p95 feed within 7.5s"}) == 3
    shorter = candidates(Experiment((b,), users=8, fault_s=10), shortest_fault_s(critical))
    assert all(t.fault_s == 10 for t in shorter)
    # a recovery judged with 2 users failed on the platform without the bug (a breaker
    # closes again on traffic): users shrink only while each judged endpoint still expects
    # 5 requests in its window (play: 0.3/s per user, after 15 s judged from 7.5 s)
    recovery = {"after: error_rate play within 7.5s", "invariant: x"}
    rates = {"play": 0.3}
    five = Experiment((b,), users=5, fault_s=5, after_s=15)
    assert enough_load(five, recovery, rates)  # 11 requests expected
    assert not enough_load(dataclasses.replace(five, users=2), recovery, rates)  # 4.5
    assert enough_load(dataclasses.replace(five, users=2), {"invariant: x"}, rates)
    tried = candidates(five, loaded=lambda e: enough_load(e, recovery, rates))
    assert all(t.users == 5 for t in tried)
    assert needed_failures(10) == 9
    assert needed_failures(3) == 3


def _outcome(label: str, verdict: str, broken: list[str] | None = None) -> Outcome:
    target, kind = label.split(" ")
    fault = FaultRecord(kind=kind, target=target, label=kind)
    return Outcome(
        faults=[fault], label=label, verdict=verdict, broken=broken or [], seconds=20, run_dir="r"
    )


def _exploration(*outcomes: Outcome) -> Exploration:
    return Exploration(
        topology="t",
        stack="default",
        profile="normal",
        defects=[],
        seed=1,
        depth=1,
        budget_s=60,
        outcomes=list(outcomes),
        planned=len(outcomes),
    )


def test_a_comparison_lists_what_broke_that_did_not_before() -> None:
    before = _exploration(
        _outcome("db kill", "degraded"),
        _outcome("l down", "broken", ["invariant: a"]),
        _outcome("m down", "broken", ["invariant: a"]),
    )
    now = _exploration(
        _outcome("db kill", "broken", ["after: p95 feed within 6s"]),
        _outcome("l down", "broken", ["invariant: a"]),  # the same: not a regression
        _outcome("m down", "broken", ["invariant: a", "invariant: b"]),
        _outcome("n kill", "broken", ["invariant: c"]),
        _outcome("o kill", "held"),
    )
    assert regressions(before, now) == [
        "db kill: broken (after: p95 feed within 6s); degraded before",
        "m down: newly broken invariant: b",
        "n kill: broken (invariant: c); not run before",
    ]
    assert regressions(now, now) == []


def test_the_matrix_has_a_row_per_dependency_and_names_each_property() -> None:
    result = _exploration(
        _outcome("l down", "broken", ["invariant: a"]),
        _outcome("l latency", "held"),
        _outcome("db kill", "degraded"),
    )
    text = render_markdown(result)
    assert "| dependency | down | latency | kill |" in text
    assert "| l | broken: invariant: a | held |  |" in text
    assert "was not shrunk: the budget ran out first" in text
    page = render_html(result)
    assert "<script" not in page
    assert "broken: invariant: a" in page


@pytest.mark.parametrize(
    ("passed", "said"),
    [
        (True, "; passes on normal;"),
        (False, "; FAILS on normal too (it does not isolate a bug of this build);"),
        (None, "; not run on normal (no time left);"),
    ],
)
def test_a_finding_says_whether_it_passes_on_the_reference_build(
    passed: bool | None, said: str
) -> None:
    result = _exploration(_outcome("l down", "broken", ["invariant: a"]))
    result.findings.append(
        Finding(
            label="l down",
            broken=["invariant: a"],
            minimal="l down, 4 s, 2 users",
            scenario="s.yaml",
            faults=1,
            fault_seconds=4,
            users=2,
            reproduced=9,
            reruns=10,
            runs_used=14,
            reference="normal",
            reference_passed=passed,
        )
    )
    assert said in render_markdown(result)
    assert html.escape(said) in render_html(result)
    result.findings[0].reference = None  # no --reference-profile: nothing said
    assert "failed 9 of 10 seeded re-runs; `harness run" in render_markdown(result)
    result.findings[0].reproduced = 1
    assert "failed 1 of 10 seeded re-runs: not reproducible;" in render_markdown(result)
    result.findings[0].reruns = 0
    assert "not confirmed: no time left for a re-run;" in render_markdown(result)


def test_an_emitted_scenario_names_its_topology_relative_to_itself(tmp_path: Path) -> None:
    topology = load_topology(TINY)
    assert relative_ref(topology, Path("examples/tiny-target/scenarios")) == "../topology.yaml"
    assert relative_ref(topology, Path("/")) == str(TINY.resolve())


def test_a_quiet_endpoint_with_no_request_in_a_window_is_not_judged_on_it() -> None:
    empty = "no request finished in the window"
    quiet = [
        _check("steady state before (before)", "error_rate my_videos", measured=empty),
        _check("after", "error_rate my_videos within 6s", measured=empty),
    ]
    assert judge(_record(*quiet), set(), thin={"my_videos"}).verdict is Verdict.HELD
    # a busy endpoint with nothing finished after healing is hung: not recovered
    hung = judge(_record(quiet[1]), set(), thin=set())
    assert hung.broken == ["after: error_rate my_videos within 6s"]
    found = _found()
    found.rate_per_s = {"feed": 1.0}
    assert found.thin() == {"feed"}  # 3 expected in 3 s
    found.rate_per_s = {"feed": 2.0}
    assert found.thin() == set()


def test_only_a_page_that_hides_an_outage_breaks_honesty() -> None:
    record = _record()
    record.communication = [
        _check("communication", "right component feed"),  # more cautious than the SLIs
        _check("communication", "false alarm feed"),
        _check("communication", "false green search"),
        _check("communication", "time to acknowledge search"),
    ]
    assert judge(record, set()).broken == [
        "communication: false green search",
        "communication: time to acknowledge search",
    ]


class _ScriptedExplorer:
    """What shrink() asks of an Explorer, with a platform whose verdicts a rule decides."""

    def __init__(self, fails: Callable[[Experiment, int], bool], budget_s: float = 3600) -> None:
        self.options = ExploreOptions(topology=load_topology(TINY), out=Path("/nonexistent"))
        self.fails = fails
        self.budget_s = budget_s  # each run spends its phases + RUN_OVERHEAD_S of it
        self.tries: list[tuple[float, int]] = []
        self.lines: list[str] = []
        self.emitted: tuple[Experiment, bool] | None = None
        self.referenced: list[Experiment] = []
        self.passes_on_reference: Callable[[Experiment], bool | None] = lambda _: True

    def say(self, line: str) -> None:
        self.lines.append(line)

    def left(self) -> float:
        return self.budget_s

    def run_cost(self, experiment: Experiment) -> float:
        return experiment.duration_s + RUN_OVERHEAD_S

    def rate_per_user(self) -> dict[str, float]:
        return {}

    def judge(
        self, experiment: Experiment, seed: int, keep: set[str] | None = None
    ) -> tuple[Judged, float, str]:
        self.tries.append((experiment.fault_s, seed))
        self.budget_s -= experiment.duration_s + RUN_OVERHEAD_S
        broke = self.fails(experiment, len(self.tries))
        verdict = Verdict.BROKEN if broke else Verdict.HELD
        return Judged(verdict, sorted(keep or ()) if broke else [], []), 1.0, ""

    def on_reference(self, experiment: Experiment, keep: set[str]) -> bool | None:
        self.referenced.append(experiment)
        return self.passes_on_reference(experiment)

    def emit(self, experiment: Experiment, *args: object) -> Finding:
        self.emitted = (experiment, bool(args[-2]))
        return Finding(
            label="x",
            broken=[],
            minimal="",
            scenario="",
            faults=1,
            fault_seconds=experiment.fault_s,
            users=experiment.users,
            reproduced=0,
            reruns=0,
            runs_used=0,
        )


def test_a_smaller_experiment_that_failed_by_luck_gives_way_to_the_one_before_it() -> None:
    original = Experiment((FaultChoice("kill", "worker"),), users=2, fault_s=8)
    # the 8 s fault fails every time; the 4 s one failed the one time shrinking tried it
    explorer = _ScriptedExplorer(lambda e, n: e.fault_s == 8 or n == 1)
    shrink(explorer, original, {"invariant: nothing_published_unmoderated"}, "x")  # type: ignore[arg-type]
    assert explorer.tries[0] == (4, 1)  # shrinking's one try: "still fails"
    # its re-runs (seed, seed + 1) pass: 9 of 10 is out of reach after the second
    assert explorer.tries[1:3] == [(4, 1), (4, 2)]
    assert [t[0] for t in explorer.tries[3:]] == [8] * 9  # the original: 9 of 9
    assert "  back to the one before it" in explorer.lines
    assert explorer.emitted == (original, True)
    # a rare event: only twice the fault and twice the users make it happen nine times in ten
    rare = _ScriptedExplorer(lambda e, n: n == 1 or (e.fault_s == 16 and e.users == 4))
    shrink(rare, original, {"invariant: x"}, "x")  # type: ignore[arg-type]
    assert "  stronger: 16 s, 2 users" in rare.lines
    assert "  stronger: 16 s, 4 users" in rare.lines
    assert rare.emitted == (dataclasses.replace(original, fault_s=16, users=4), True)
    # one that never reproduces is emitted as the strongest tried, said so, and never
    # checked on a reference build
    never = _ScriptedExplorer(lambda e, n: n == 1)
    shrink(never, original, {"invariant: x"}, "x")  # type: ignore[arg-type]
    assert never.emitted == (stronger(original)[-1], False)
    assert never.referenced == []


def test_shrinking_keeps_the_time_to_fall_back_to_the_one_before_it() -> None:
    original = Experiment((FaultChoice("kill", "worker"),), users=2, fault_s=8)
    per_run = original.duration_s + RUN_OVERHEAD_S  # 29 s; a 4 s fault's run: 25 s
    # 255 s: the 4 s fault and its re-runs would fit (1 + 9 runs), the original's then not
    # (the 4 s fault failed by luck: its last re-run passes, so it is 8 of 9)
    explorer = _ScriptedExplorer(lambda e, n: e.fault_s == 8 or n != 10, budget_s=255)
    shrink(explorer, original, {"invariant: x"}, "x")  # type: ignore[arg-type]
    assert [t[0] for t in explorer.tries] == [8] * int(255 // per_run)  # not smaller: 8 of 8
    assert explorer.emitted == (original, True)
    # with the time for both, the smaller one is tried, and all 10 re-runs fit: 9 of 10
    roomy = _ScriptedExplorer(lambda e, n: e.fault_s == 8 or n != 10, budget_s=600)
    shrink(roomy, original, {"invariant: x"}, "x")  # type: ignore[arg-type]
    assert roomy.tries[0] == (4, 1)
    assert roomy.emitted == (dataclasses.replace(original, fault_s=4.0), True)


def test_a_minimal_scenario_that_fails_on_the_reference_gives_way_to_the_one_before_it() -> None:
    original = Experiment((FaultChoice("down", "replication"),), users=8, fault_s=8)
    explorer = _ScriptedExplorer(lambda e, n: True)  # fails every time on this build
    # with 2 users it fails on the reference build too (no creator among them: no upload)
    explorer.passes_on_reference = lambda e: e.users > 2
    shrink(explorer, original, {"invariant: served_as_acknowledged"}, "x")  # type: ignore[arg-type]
    assert [e.users for e in explorer.referenced] == [2, 4]
    assert explorer.emitted is not None
    assert explorer.emitted[0].users == 4
