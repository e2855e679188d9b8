"""The mock's defect catalogue: every defect the code switches on is declared in the topology
(with what it breaks), every declared one is used, and each is on alone or with fragile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.topology import load_topology
from mock_platform.settings import DEFAULT_TOPOLOGY, Settings

REPO = Path(__file__).resolve().parents[3]
USED = re.compile(r"""\.has\(\s*"([a-z0-9-]+)"\s*\)""")


def _used_in_code() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "mock_platform").rglob("*.py"):
        names |= set(USED.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_defect_in_the_code_is_catalogued_and_every_catalogued_one_is_used() -> None:
    catalogue = set(load_topology(DEFAULT_TOPOLOGY).defects)
    used = _used_in_code()
    assert used - catalogue == set(), "switched on in the code, missing from topology.yaml"
    assert catalogue - used == set(), "catalogued, but nothing in the code switches on it"
    assert len(catalogue) >= 20


def test_a_defect_is_on_alone_and_fragile_is_every_defect(tmp_path: Path) -> None:
    one = Settings.create("gateway", 18000, tmp_path, defects="gateway-retry-storm")
    assert one.has("gateway-retry-storm")
    assert not one.has("gateway-no-breaker")
    normal = Settings.create("gateway", 18000, tmp_path)
    assert not any(normal.has(name) for name in _used_in_code())
    fragile = Settings.create("gateway", 18000, tmp_path, profile="fragile")
    assert all(fragile.has(name) for name in _used_in_code())


def test_an_unknown_defect_is_refused_with_the_catalogue(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown defect gateway-retry-strom; the catalogue"):
        Settings.create("gateway", 18000, tmp_path, defects="gateway-retry-strom")
    settings = Settings.create("gateway", 18000, tmp_path)
    with pytest.raises(ValueError, match="not in the topology's defect catalogue"):
        settings.has("a-typo-in-the-code")
