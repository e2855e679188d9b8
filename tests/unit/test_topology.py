"""The harness's reading of a topology file (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.topology import DEFAULT_TOPOLOGY, load_topology


def test_the_mock_platform_topology() -> None:
    topology = load_topology(DEFAULT_TOPOLOGY)
    assert topology.gateway_url(18000) == "http://127.0.0.1:18080"
    body = topology.populate_body(18000)
    assert {p["name"] for p in body} == set(topology.links)
    replication = next(p for p in body if p["name"] == "catalog-replication")
    assert (
        replication["upstream"] == f"127.0.0.1:{18000 + topology.services['catalog-primary'].port}"
    )
    ports = [s.port for s in topology.services.values()] + [
        link.port for link in topology.links.values()
    ]
    assert len(ports) == len(set(ports)), "two things would listen on one port"


def test_a_link_to_an_unknown_service_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text(
        "name: x\nentrypoint: a\nservices: {a: {port: 1}}\n"
        "links: {a-b: {from: a, to: b, port: 2}}\n"
    )
    with pytest.raises(ConfigError, match="unknown service 'b'"):
        load_topology(bad)


def test_unreadable_topology(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("services: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_topology(broken)
