"""The topology contract: the harness's reading of a topology file (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.errors import ConfigError
from harness.scenario.schema import topology_schema_text
from harness.topology import DEFAULT_TOPOLOGY, load_topology, topology_problems

REPO = Path(__file__).resolve().parents[2]


def test_the_mock_platform_topology() -> None:
    topology = load_topology(DEFAULT_TOPOLOGY)
    assert topology.gateway_url(18000) == "http://127.0.0.1:18080"
    body = topology.populate_body(18000)
    assert {p["name"] for p in body} == set(topology.links)
    replication = next(p for p in body if p["name"] == "catalog-replication")
    assert replication["upstream"] == f"127.0.0.1:{topology.service_port(18000, 'catalog-primary')}"
    ports = [s.port for s in topology.services.values()] + [
        link.port for link in topology.links.values()
    ]
    assert len(ports) == len(set(ports)), "two things would listen on one port"
    assert topology.replication_link == "catalog-replication"
    assert topology.canary_slots == {"search": "search-canary"}
    assert "search-canary" not in topology.started_services
    assert topology.render("{url[catalog-replica]}/lag", 18000) == "http://127.0.0.1:18085/lag"


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "load.py").write_text("")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


GOOD = """\
name: shop
entrypoint: api
command: ["{python}", "-m", "shop", "{service}", "--port", "{port}"]
services:
  api: {port: 1}
  db: {address: "10.0.0.5:5432", external: true, health: "http://10.0.0.5:8008/health"}
links:
  api-db: {from: api, upstream: "10.0.0.5:5432", port: 11}
load:
  locustfile: load.py
  user_classes: [buyer, browser]
  mix: {buyer: 1, browser: 4}
  endpoints: [cart, list]
  read_back: {url: "{entrypoint}/orders/{ref}", json: state, terminal: [paid]}
  readers:
    ledger: {url: "{url[api]}/ledger/{ref}", when: [paid], json: state, equals: "{state}"}
    receipt: {url: "{entrypoint}/receipts?q={value[sku]}", contains: "{ref}"}
probes:
  queue: {http: {path: /stats, json: queue.depth}}
  errors: {prometheus: {metric: http_errors_total, labels: {route: "/{target}"}}}
  lag: {command: {argv: [psql, -c, "select 1"], timeout: 2s}}
  per: {ratio: {of: queue, per: lag}}
status_page:
  url: "https://status.example.com/api/v2/summary.json"
  incidents: {url: "https://status.example.com/api/v2/incidents.json"}
components: {checkout: Checkout}
slis: {checkout: [cart]}
invariants:
  no_lost_orders: {check: no_lost_writes, kind: order}
  orders_everywhere: {check: readers_agree, kind: order, readers: [ledger, receipt]}
x-shop: {anything: [goes, here]}
"""
SLIS = "slis: {checkout: [cart]}"


def test_a_team_topology_with_external_services_and_every_probe_kind(tmp_path: Path) -> None:
    topology = load_topology(_write(tmp_path, GOOD))
    assert topology.started_services == ["api"]
    assert topology.external_services == ["db"]
    assert topology.checked_services == ["api", "db"]
    assert topology.service_url(30000, "db") == "http://10.0.0.5:5432"
    assert topology.health_url(30000, "db") == "http://10.0.0.5:8008/health"
    assert topology.local_ports(30000) == [("service api", 30001), ("link proxy api-db", 30011)]
    assert topology.populate_body(30000)[0]["upstream"] == "10.0.0.5:5432"
    assert {p.kind for p in topology.probes.values()} == {"http", "prometheus", "command", "ratio"}
    assert topology.probes["errors"].needs_target
    assert not topology.probes["queue"].needs_target
    assert topology.extensions == {"x-shop": {"anything": ["goes", "here"]}}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            ("from: api, upstream", "from: apu, upstream"),
            "unknown service 'apu'; did you mean 'api'?",
        ),
        (("entrypoint: api", "entrypoint: web"), "unknown service 'web'"),
        (
            ("external: true,", "external: true, command: [x],"),
            "an external service has no command",
        ),
        (
            ('{address: "10.0.0.5:5432", external: true,', '{address: "10.0.0.5:5432",'),
            "address is",
        ),
        (
            ("api: {port: 1}", "api: {port: 1, address: '1.2.3.4:5'}"),
            "exactly one of: port, address",
        ),
        (('"--port", "{port}"', '"--port", "{prot}"'), "unknown placeholder"),
        (("per: {ratio: {of: queue, per: lag}}", "per: {ratio: {of: queue, per: lagg}}"), "lagg"),
        (("json: queue.depth}}", "json: queue.depth}, command: {argv: [x]}}"), "exactly one of"),
        (("locustfile: load.py", "locustfile: nowhere.py"), "no such file 'nowhere.py'"),
        (("mix: {buyer: 1,", "mix: {seller: 1,"), "unknown user class 'seller'"),
        (('{url: "{entrypoint}/orders/{ref}"', '{url: "{entrypont}/orders/{ref}"'), "entrypont"),
        (("check: no_lost_writes", "check: no_lost_anything"), "no_lost_writes"),
        (("readers: [ledger, receipt]", "readers: [ledger, recipt]"), "did you mean 'receipt'"),
        (("readers: [ledger, receipt]", "readers: []"), "readers_agree needs readers"),
        (('contains: "{ref}"', 'sha256: "{ref}", contains: "{ref}"'), "exactly one of equals"),
        (('json: state, equals: "{state}"', 'json: state, contains: "{ref}"'), "go together"),
        (("q={value[sku]}", "q={value[sku]}&at={stat}"), "unknown placeholder {stat}"),
        (("slis: {checkout: [cart]}", "slis: {checkuot: [cart]}"), "unknown component 'checkuot'"),
        (("slis: {checkout: [cart]}", "slis: {checkout: [cat]}"), "unknown endpoint 'cat'"),
        (("/api/v2/incidents.json", "/{gatewy}/incidents"), "unknown placeholder {gatewy}"),
        (("name: shop", "name: Shop Platform"), "should match pattern"),
        ((SLIS, SLIS + "\ncritical: {cart: {unless: [ap]}}"), "did you mean 'api'?"),
        ((SLIS, SLIS + "\ncritical: {cart: {p95: null, error_rate: null}}"), "no bound: give"),
        (("name: shop", "name: shop\npreload: [shop.app, 'shop app']"), "should match pattern"),
    ],
)
def test_each_mistake_is_named_with_its_line(
    tmp_path: Path, change: tuple[str, str], fragment: str
) -> None:
    assert change[0] in GOOD, change[0]
    path = _write(tmp_path, GOOD.replace(change[0], change[1], 1))
    topology, problems = topology_problems(path)
    assert topology is None
    assert any(fragment in str(p) for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(f"{path}:") for p in problems)


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("from: api, upstream", "from: apu, upstream").replace(
        "per: lag}}", "per: lagg}}"
    )
    _, problems = topology_problems(_write(tmp_path, text))
    assert len(problems) == 2, [str(p) for p in problems]
    assert problems[0].line == 8  # links.api-db.from


def test_unreadable_topology(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("services: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_topology(broken)


def test_validate_checks_a_topology_file_as_one(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("entrypoint: api", "entrypoint: web"))
    result = CliRunner().invoke(cli, ["validate", str(path)], standalone_mode=False)
    assert "unknown service 'web'" in result.output
    assert getattr(result.exception, "exit_code", None) == 2
    fine = CliRunner().invoke(
        cli, ["validate", str(_write(tmp_path, GOOD))], catch_exceptions=False
    )
    assert fine.exit_code == 0, fine.output
    assert "ok: " in fine.output


def test_shipped_topology_schema_is_current() -> None:
    shipped = (REPO / "scenarios" / "topology.schema.json").read_text()
    assert shipped == topology_schema_text(), "run: harness schema --topology"


STACKED = GOOD.replace(
    "x-shop:",
    """stacks:
  onprem:
    description: the database on our own machine
    requires:
      - what: the database server
        check: ["{python}", "-c", "raise SystemExit(0)"]
        install: apt-get install db
    services:
      db: null
      db-local:
        port: 2
        command: ["{python}", "-m", "db", "--port", "{port}"]
        health_command: ["{python}", "-m", "db", "ready", "--port", "{port}"]
        stop_signal: SIGINT
    links:
      api-db: {from: api, to: db-local, port: 11}
    probes:
      lag: {http: {service: db-local, path: /lag, json: seconds}}
x-shop:""",
)


def test_a_stack_lays_its_services_links_and_probes_over_the_topology(tmp_path: Path) -> None:
    topology = load_topology(_write(tmp_path, STACKED))
    assert topology.stack == "default"
    assert topology.on_stack("default") is topology
    onprem = topology.on_stack("onprem")
    assert onprem.stack == "onprem"
    assert onprem.started_services == ["api", "db-local"]  # db removed by its null
    assert onprem.links["api-db"].to == "db-local"
    assert onprem.probes["lag"].kind == "http"
    assert onprem.probes["queue"].kind == "http"  # what the stack leaves alone stays
    assert onprem.services["db-local"].stop_signal == "SIGINT"
    assert onprem.missing_requirements() == []
    assert "db" in topology.services  # the topology itself is untouched
    with pytest.raises(ConfigError, match="--stack cloud: the topology shop has: default, onprem"):
        topology.on_stack("cloud")


def test_a_stack_that_needs_a_missing_program_names_its_install(tmp_path: Path) -> None:
    text = STACKED.replace('"raise SystemExit(0)"', '"raise SystemExit(1)"')
    onprem = load_topology(_write(tmp_path, text)).on_stack("onprem")
    assert onprem.missing_requirements() == [
        "the database server (install it with: apt-get install db)"
    ]
    from harness.engine.session import stack_topology
    from harness.errors import EnvironmentFailure

    with pytest.raises(EnvironmentFailure, match="--stack onprem needs the database server"):
        stack_topology(load_topology(_write(tmp_path, text)), "onprem", "local")


def test_a_stack_requirement_is_checked_where_the_platform_runs(tmp_path: Path) -> None:
    """The docker backend checks in its image: the check gets the image's interpreter."""
    onprem = load_topology(_write(tmp_path, STACKED)).on_stack("onprem")
    asked: list[list[str]] = []

    def absent(argv: list[str]) -> bool:
        asked.append(argv)
        return False

    unmet = onprem.unmet_requirements(absent, "/opt/venv/bin/python")
    assert [need.what for need in unmet] == ["the database server"]
    assert asked == [["/opt/venv/bin/python", "-c", "raise SystemExit(0)"]]
    assert onprem.unmet_requirements(lambda argv: True) == []
    assert load_topology(_write(tmp_path, STACKED)).unmet_requirements(absent) == []  # default


@pytest.mark.parametrize(
    ("change", "fragment", "field"),
    [
        (
            ("to: db-local, port: 11", "to: db-lokal, port: 11"),
            "unknown service 'db-lokal'",
            "stacks.onprem.links.api-db.to",
        ),
        (
            ("service: db-local, path: /lag", "service: db, path: /lag"),
            "unknown service 'db'",
            "stacks.onprem.probes.lag.http.service",
        ),
        (
            ('"ready", "--port", "{port}"', '"ready", "--port", "{prot}"'),
            "unknown placeholder",
            "stacks.onprem.services.db-local.command",
        ),
        (("stop_signal: SIGINT", "stop_signal: SIGHUP"), "SIGINT", ""),
    ],
)
def test_a_stack_is_checked_as_the_platform_it_makes(
    tmp_path: Path, change: tuple[str, str], fragment: str, field: str
) -> None:
    assert change[0] in STACKED, change[0]
    topology, problems = topology_problems(_write(tmp_path, STACKED.replace(*change, 1)))
    assert topology is None
    assert any(fragment in str(p) and field in p.field for p in problems), [
        (p.field, str(p)) for p in problems
    ]


def test_the_mock_platform_on_its_real_stack() -> None:
    real = load_topology(DEFAULT_TOPOLOGY).on_stack("real")
    assert real.links["catalog-replication"].source == "catalog-db-standby"
    assert real.links["catalog-replication"].to == "catalog-db"
    assert real.replication_link == "catalog-replication"
    assert {"catalog-db", "catalog-db-standby"} <= set(real.started_services)
    assert {"replay_lag", "replication_lag_bytes", "replication_lag"} <= set(real.probes)
    ports = [s.port for s in real.services.values()] + [link.port for link in real.links.values()]
    assert len(ports) == len(set(ports)), "two things would listen on one port"
