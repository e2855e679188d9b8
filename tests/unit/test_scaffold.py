"""harness init: the files a team starts from validate as written and are never overwritten."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from harness.cli import cli
from harness.scenario import load_scenario
from harness.topology import load_topology


def test_init_writes_a_valid_topology_locustfile_and_scenario(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["init", str(target), "--url", "http://127.0.0.1:9090", "--dependency", "db.local:5432"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    topology = load_topology(target / "topology.yaml")
    assert topology.external_services == ["app"]
    assert topology.service_url(topology.base_port, "app") == "http://127.0.0.1:9090"
    assert topology.link_upstream(topology.base_port, "app-dependency") == "db.local:5432"
    scenario, problems = load_scenario(target / "scenarios" / "dependency-slow.yaml", topology)
    assert problems == []
    assert scenario is not None
    again = runner.invoke(cli, ["init", str(target)], standalone_mode=False)
    assert getattr(again.exception, "exit_code", None) == 2
    assert "not overwriting" in str(again.exception)


def test_init_refuses_a_url_without_a_port(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["init", str(tmp_path / "x"), "--url", "http://app"], standalone_mode=False
    )
    assert getattr(result.exception, "exit_code", None) == 2
    assert not (tmp_path / "x" / "topology.yaml").exists()
