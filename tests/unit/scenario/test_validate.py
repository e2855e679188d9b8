"""Scenario loading and validation: every problem at once, with its line; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import cli
from harness.scenario import load_scenario
from harness.scenario.schema import scenario_schema_text
from harness.topology import load_topology

TOPOLOGY = load_topology()
REPO = Path(__file__).resolve().parents[3]

VALID = """\
# yaml-language-server: $schema=scenario.schema.json
name: search-outage
description: Search is cut off; the feed must not notice.
tags: [default, search]
load: {users: 20, spawn_rate: 10, mix: {viewer: 6, searcher: 3, creator: 1}}
steady_state:
  - {metric: error_rate, endpoint: feed, max: 0.01}
phases:
  - name: baseline
    duration: 20s
  - name: search-down
    duration: 30s
    faults:
      - {type: down, link: gateway-search}
      - {type: latency, link: feed-a-catalog, stream: downstream, attributes: {latency: 100}}
      - {type: pause, service: moderation-worker}
      - {type: resume, service: moderation-worker}
      - {type: rollout, service: search, build: v2, interval: 5s}
    expect:
      - {metric: p95, endpoint: feed, max: 1.5x baseline}
      - {metric: error_rate, endpoint: search, max: 1.0, for: 10s}
      - {status: search, state: [degraded, outage], within: 10s}
      - {probe: replication_lag, max: 5s}
      - {rollout: search, outcome: rolled_back, within: 25s}
      - {failover: feed, to: feed-b, within: 5s}
  - name: recovery
    duration: 1m
abort:
  - {metric: error_rate, max: 0.5, for: 10s}
invariants: [no_lost_uploads, no_duplicates, {name: all_uploads_terminal, within: 60s}]
"""


def _check(tmp_path: Path, text: str) -> tuple[object, list[str]]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    scenario, problems = load_scenario(path, TOPOLOGY)
    return scenario, [f"{p.line}: {p.field}: {p.message}" for p in problems]


def test_a_valid_scenario_is_typed(tmp_path: Path) -> None:
    scenario, problems = _check(tmp_path, VALID)
    assert problems == []
    assert scenario is not None
    assert scenario.duration_s == 110  # type: ignore[attr-defined]
    expect = scenario.phases[1].expect  # type: ignore[attr-defined]
    assert expect[0].max.relative is True
    assert expect[0].max.value == 1.5
    assert expect[1].for_ == 10
    assert expect[3].max.value == 5


@pytest.mark.parametrize(
    ("change", "line", "fragment"),
    [
        (("link: gateway-search", "link: gateway-serch"), 14, "did you mean 'gateway-search'"),
        (("latency: 100", "latenc: 100"), 15, "unknown attribute latenc for latency"),
        (("stream: downstream", "stream: sideways"), 15, "'upstream', 'downstream' or 'both'"),
        (
            (
                "service: moderation-worker}\n      - {type: resume",
                "service: nope}\n      - {type: resume",
            ),
            16,
            "unknown service 'nope'",
        ),
        (("build: v2", "build: v9"), 18, "unknown build search@v9"),
        (("within: 25s", "within: 45s"), 24, "within 45s is longer than the phase (30s)"),
        (
            ("state: [degraded, outage]", "state: [melted]"),
            22,
            "'operational', 'degraded' or 'outage'",
        ),
        (("duration: 1m", "duration: soon"), 27, "must be a duration like 30s"),
        (("tags:", "tagz:"), 4, "tagz: unknown key"),
        (("name: recovery", "name: baseline"), 26, "phase 'baseline' appears twice"),
        (
            ("{type: down, link: gateway-search}", "{type: down, link: gateway-search, until: x}"),
            14,
            "no later phase named 'x'; later phases: recovery",
        ),
        (("max: 5s}", "max: 5s, min: 3x baseline + soon}"), 23, "'3x baseline + 50ms'"),
        (("{probe: replication_lag,", "{probe: retry_ratio,"), 23, "needs a target"),
        (("mix: {", "locustfile: nowhere.py, mix: {"), 5, "no such file 'nowhere.py'"),
        # every name is the topology's
        (("endpoint: feed, max: 1.5x", "endpoint: teleport, max: 1.5x"), 20, "unknown endpoint"),
        (("{status: search,", "{status: serch,"), 22, "did you mean 'search'"),
        (("{probe: replication_lag,", "{probe: replicaton_lag,"), 23, "unknown probe"),
        (("no_duplicates,", "no_dupes,"), 30, "unknown invariant 'no_dupes'"),
        (("searcher: 3", "surfer: 3"), 5, "unknown user class 'surfer'"),
        (("to: feed-b", "to: feed-c"), 25, "unknown region of feed 'feed-c'"),
        (("{failover: feed,", "{failover: cdn,"), 25, "unknown failover capability 'cdn'"),
        (("tags:", "profile: brittle\ntags:"), 4, "unknown profile 'brittle'"),
        # bounds that make no sense
        (("duration: 20s", "duration: 0s"), 10, "a phase lasts at least 1s"),
        (("duration: 1m", "duration: 99999999h"), 27, "at most a day"),
        (("latency: 100", "latency: -100"), 15, "greater than or equal to 0"),
    ],
)
def test_each_mistake_is_named_with_its_line(
    tmp_path: Path, change: tuple[str, str], line: int, fragment: str
) -> None:
    assert change[0] in VALID
    scenario, problems = _check(tmp_path, VALID.replace(change[0], change[1], 1))
    assert scenario is None
    assert any(p.startswith(f"{line}: ") and fragment in p for p in problems), problems


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("gateway-search}", "nowhere}").replace("within: 25s", "within: 99s")
    text = text.replace("duration: 1m", "duration: -3")
    _, problems = _check(tmp_path, text)
    assert len(problems) == 3, problems


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name: x\nphases: [\n", 3, "not valid YAML"),
        ("name: x\nname: y\nphases: []\n", 2, "'name' appears twice"),
        ("", 1, "empty"),
        ("- just\n- a list\n", 1, "a scenario is a mapping"),
        ("name: x\n\tphases: []\n", 2, "not valid YAML"),
    ],
)
def test_unreadable_yaml_is_one_problem_with_a_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    _, problems = _check(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{line}: ")
    assert fragment in problems[0]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=15,
)
KEYS = ["name", "phases", "duration", "faults", "expect", "type", "link", "metric", "max", "load"]


@st.composite
def scenario_like(draw: st.DrawFn) -> object:
    """Mostly-right shapes with wrong types in them: where the validator must be careful."""
    phase = draw(st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=5))
    phase["faults"] = draw(
        st.lists(st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=4), max_size=3)
    )
    phase["expect"] = draw(
        st.lists(st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=4), max_size=3)
    )
    return {"name": draw(JSONISH), "phases": draw(st.sampled_from([[phase], phase, None]))}


@settings(max_examples=300, deadline=None)
@given(document=scenario_like() | JSONISH, raw=st.text(max_size=200))
def test_the_loader_never_raises(
    tmp_path_factory: pytest.TempPathFactory, document: object, raw: str
) -> None:
    directory = tmp_path_factory.mktemp("fuzz", numbered=True)
    for index, text in enumerate((yaml.safe_dump(document), raw)):
        path = directory / f"{index}.yaml"
        path.write_text(text)
        scenario, problems = load_scenario(path, TOPOLOGY)
        assert (scenario is None) == bool(problems)
        for problem in problems:
            assert problem.line >= 1
            assert problem.message


def test_shipped_schema_is_current() -> None:
    shipped = (REPO / "scenarios" / "scenario.schema.json").read_text()
    assert shipped == scenario_schema_text(), "run: harness schema"
    schema = json.loads(shipped)
    assert "phases" in schema["properties"]


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("gateway-search}", "nowhere}"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(good)], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "ok: " in ok.output
    result = runner.invoke(cli, ["validate", str(tmp_path)], standalone_mode=False)
    assert f"{bad}:14: phases[1].faults[0].link: unknown link 'nowhere'" in result.output
    assert result.exception is not None
    assert getattr(result.exception, "exit_code", None) == 2


def test_a_fault_can_last_until_a_later_phase(tmp_path: Path) -> None:
    text = VALID.replace(
        "{type: down, link: gateway-search}", "{type: down, link: gateway-search, until: recovery}"
    )
    scenario, problems = _check(tmp_path, text)
    assert problems == []
    assert scenario.phases[1].faults[0].until == "recovery"  # type: ignore[attr-defined]


def test_stages_give_the_users_over_time(tmp_path: Path) -> None:
    text = VALID.replace(
        "load: {users: 20,", "load: {stages: [{duration: 10s, users: 5}, {duration: 5s, users: 9}],"
    ).replace("name: recovery\n    duration: 1m", "name: recovery\n    duration: 1m\n    users: 40")
    scenario, problems = _check(tmp_path, text)
    assert problems == []
    load = scenario.load  # type: ignore[attr-defined]
    assert [load.users_at(t) for t in (0, 9.9, 10, 14.9, 15, 500)] == [5, 5, 9, 9, 9, 9]
    assert scenario.phases[2].users == 40  # type: ignore[attr-defined]


def test_fault_types_list_every_fault_model() -> None:
    from typing import get_args

    from harness.scenario import model

    kinds: set[str] = set()
    for cls in (
        model.ToxicFault,
        model.HttpFault,
        model.DownFault,
        model.ReplicationLagFault,
        model.ProcessFault,
        model.RolloutFault,
    ):
        kinds |= set(get_args(cls.model_fields["type"].annotation))
    assert kinds == set(model.FAULT_TYPES)


def test_faults_that_contradict_each_other_on_one_link(tmp_path: Path) -> None:
    text = VALID.replace(
        "      - {type: down, link: gateway-search}\n",
        "      - {type: down, link: gateway-search}\n"
        "      - {type: latency, link: gateway-search, attributes: {latency: 5}}\n"
        "      - {type: latency, link: feed-a-catalog, attributes: {latency: 7}}\n",
    )
    _, problems = _check(tmp_path, text)
    assert any("a partition and another fault on link gateway-search" in p for p in problems)
    assert any("two latency faults on the same direction" in p for p in problems)
    # opposite directions of one toxic type are fine
    upstream = VALID.replace(
        "stream: downstream, attributes: {latency: 100}}",
        "stream: downstream, attributes: {latency: 100}}\n"
        "      - {type: latency, link: feed-a-catalog, stream: upstream, attributes: {latency: 5}}",
    )
    assert _check(tmp_path, upstream)[1] == []


HTTP_FAULTS = """\
      - type: http_abort
        link: gateway-search
        toxicity: 0.05
        attributes: {status: 503, method: GET}
      - {type: http_abort, link: gateway-search, attributes: {status: 429, method: POST}}
      - type: http_delay
        link: gateway-feed-a
        stream: upstream
        attributes: {distribution: lognormal, latency: 80, p99: 900}
      - type: http_corrupt
        link: gateway-feed-b
        attributes: {mode: empty_success, path: "^/feed", header: {X-A: "^b"}}
"""


def test_http_faults_are_typed_per_type_and_may_share_a_link(tmp_path: Path) -> None:
    text = VALID.replace("      - {type: down, link: gateway-search}\n", HTTP_FAULTS)
    scenario, problems = _check(tmp_path, text)
    assert problems == []
    faults = scenario.phases[1].faults  # type: ignore[attr-defined]
    assert [type(f.attributes).__name__ for f in faults[:4]] == [
        "HttpAbortAttributes",
        "HttpAbortAttributes",
        "HttpDelayAttributes",
        "HttpCorruptAttributes",
    ]
    assert faults[2].attributes.p99 == 900


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("status: 503", "status: 700"), "status: Input should be less than or equal to 599"),
        (("p99: 900", "p99: 50"), "0 < latency (its median) < p99"),
        (("mode: empty_success", "mode: melt"), "mode: Input should be"),
        (('path: "^/feed"', 'path: "(^/feed"'), "is not a regular expression"),
        (("method: GET", "method: G ET"), "is not an HTTP method"),
        (("status: 429,", "stauts: 429,"), "stauts: unknown attribute"),
    ],
)
def test_http_fault_attributes_are_checked_with_their_line(
    tmp_path: Path, change: tuple[str, str], fragment: str
) -> None:
    text = VALID.replace("      - {type: down, link: gateway-search}\n", HTTP_FAULTS)
    assert change[0] in text
    scenario, problems = _check(tmp_path, text.replace(change[0], change[1], 1))
    assert scenario is None
    assert any(p.split(":", 1)[0].isdigit() and fragment in p for p in problems), problems


def test_a_mix_that_runs_nobody_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("mix: {viewer: 6, searcher: 3, creator: 1}", "mix: {viewer: 0}")
    _, problems = _check(tmp_path, text)
    assert any("every user class weight 0" in p for p in problems), problems


def test_replication_lag_takes_the_topologys_replication_link(tmp_path: Path) -> None:
    text = VALID.replace(
        "      - {type: pause, service: moderation-worker}\n",
        "      - {type: replication_lag, delay: 3s}\n"
        "      - {type: pause, service: moderation-worker}\n",
    )
    scenario, problems = _check(tmp_path, text)
    assert problems == []
    lag = scenario.phases[1].faults[2]  # type: ignore[attr-defined]
    assert lag.link == "catalog-replication"


def _on_tiny(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A scenario named mine (``body`` after its name) written for TINY in platform/."""
    topology = tmp_path / "platform" / "topology.yaml"
    topology.parent.mkdir()
    (topology.parent / "load.py").write_text("")
    topology.write_text(TINY)
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text("name: mine\ntopology: platform/topology.yaml\n" + body)
    return scenario_file, topology


def test_a_scenario_names_its_own_topology(tmp_path: Path) -> None:
    scenario_file, topology = _on_tiny(
        tmp_path,
        "phases:\n  - name: only\n    duration: 5s\n"
        "    faults: [{type: kill, service: db}]\n"
        "    expect: [{metric: error_rate, endpoint: get, max: 0.1}]\n",
    )
    scenario, problems = load_scenario(scenario_file, TOPOLOGY)
    assert problems == [], problems
    assert scenario is not None
    assert scenario.topology == str(topology.resolve())
    # the mock's names mean nothing there
    scenario_file.write_text(scenario_file.read_text().replace("service: db", "service: upload"))
    _, problems = load_scenario(scenario_file, TOPOLOGY)
    assert [p.message for p in problems] == ["unknown service 'upload'; choose from: db"]


TINY = """\
name: tiny
entrypoint: api
services:
  api: {address: "127.0.0.1:9", external: true}
  db: {port: 3, command: [db]}
load: {locustfile: load.py, user_classes: [reader], endpoints: [get]}
"""


def test_process_faults_on_external_services_are_refused(tmp_path: Path) -> None:
    (tmp_path / "load.py").write_text("")
    topology_file = tmp_path / "t.yaml"
    topology_file.write_text(TINY)
    text = (
        "name: x\nphases:\n  - name: p\n    duration: 5s\n"
        "    faults: [{type: pause, service: api}]\n"
    )
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(text)
    _, problems = load_scenario(scenario_file, topology_file)
    assert len(problems) == 1
    assert "api is external (the harness never starts or signals it)" in problems[0].message


def test_communication_checks_need_the_pages_incidents_and_what_measures_components(
    tmp_path: Path,
) -> None:
    text = VALID + "communication: {components: [search, moderation], acknowledge_within: 20s}\n"
    scenario, problems = _check(tmp_path, text)
    # moderation has no SLI in the mock's topology: nothing to hold the page to
    assert problems == [
        "31: communication.components[1]: unknown measured component 'moderation';"
        " choose from: feed, playback, search, upload"
    ], problems
    scenario, problems = _check(tmp_path, text.replace(", moderation", ""))
    assert problems == [], problems
    assert scenario.communication.acknowledge_within == 20.0  # type: ignore[attr-defined]
    assert scenario.scaled(0.5).communication.acknowledge_within == 10.0  # type: ignore[attr-defined]
    # a topology whose page has no incidents, and measures no component
    mine, _ = _on_tiny(tmp_path, "phases: [{name: only, duration: 5s}]\ncommunication: {}\n")
    _, problems = load_scenario(mine, TOPOLOGY)
    assert [p.message for p in problems] == [
        "the topology declares no status_page.incidents to judge",
        "the topology measures no component (its slis:)",
    ]


ON_A_STACK = """\
name: cache-killed
phases:
  - name: baseline
    duration: 5s
  - name: killed
    duration: 5s
    faults:
      - {type: kill, service: feed-cache}
      - {type: down, link: feed-a-cache}
"""


def test_a_scenario_names_what_its_stack_has(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("stack: real\n" + ON_A_STACK)
    scenario, problems = load_scenario(path, TOPOLOGY)
    assert problems == []
    assert scenario is not None
    assert scenario.stack == "real"
    path.write_text(ON_A_STACK)  # the default stack has neither
    _, problems = load_scenario(path, TOPOLOGY)
    assert any("feed-cache" in str(p) for p in problems), [str(p) for p in problems]
    assert any("feed-a-cache" in str(p) for p in problems), [str(p) for p in problems]
    path.write_text("stack: cloud\n" + ON_A_STACK)
    _, problems = load_scenario(path, TOPOLOGY)
    assert [str(p) for p in problems] == [
        f"{path}:1: stack: unknown stack 'cloud'; the topology has: default, real"
    ]


def test_a_scenario_for_another_stack_is_left_out_and_said_so(tmp_path: Path) -> None:
    from harness.engine.session import on_this_stack
    from harness.errors import ConfigError

    (tmp_path / "real.yaml").write_text("stack: real\n" + ON_A_STACK)
    real, _ = load_scenario(tmp_path / "real.yaml", TOPOLOGY)
    plain, _ = load_scenario(REPO / "scenarios" / "search-outage.yaml", TOPOLOGY)
    assert real is not None
    assert plain is not None
    said: list[str] = []
    assert on_this_stack([real, plain], "default", said.append) == [plain]
    assert said == ["left out cache-killed: it needs --stack real"]
    assert on_this_stack([real, plain], "real", said.append) == [real, plain]  # plain: any
    assert said == ["left out cache-killed: it needs --stack real"]
    with pytest.raises(ConfigError, match="no scenario runs on --stack default; they need"):
        on_this_stack([real], "default", said.append)
