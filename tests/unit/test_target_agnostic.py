"""harness/ knows a platform only through its topology: no URL path, service, link, component,
endpoint or user class of the mock appears in its code (names are read from the mock's own
topology, so a new service of the mock is checked too)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.topology import DEFAULT_TOPOLOGY, load_topology

HARNESS = Path(__file__).resolve().parents[2] / "harness"
MOCK = load_topology(DEFAULT_TOPOLOGY)
# Words the harness's own interface uses in their plain sense: --gateway URL (DESIGN), a
# Statuspage's "status" field, Prometheus's /metrics; and the harness's vocabulary that the
# mock reuses for its own names: the replication_lag fault type, the no_duplicates checker.
GENERIC = {"gateway", "status", "metrics", "replication_lag", "no_duplicates"}
# Atlassian Statuspage's public API paths: the scaffold's example of a real status page
STATUSPAGE_PATHS = {"/api/v2/summary.json", "/api/v2/incidents.json"}


def _names() -> set[str]:
    names = set(MOCK.services) | set(MOCK.links) | set(MOCK.components) | set(MOCK.probes)
    assert MOCK.load is not None
    names |= set(MOCK.load.user_classes) | set(MOCK.load.endpoints) | set(MOCK.invariants)
    return names - GENERIC


def _paths() -> set[str]:
    """Every URL path the mock's topology declares (probes, status page, capabilities)."""
    found = {p.http.path for p in MOCK.probes.values() if p.http and p.http.path != "/"}
    templates = [MOCK.load.read_back.url] if MOCK.load and MOCK.load.read_back else []
    templates += [f.url for f in MOCK.capabilities.failover.values()]
    if MOCK.capabilities.rollouts:
        templates.append(MOCK.capabilities.rollouts.url)
    found |= {t.replace("{entrypoint}", "").split("{")[0] for t in templates}
    if MOCK.status_page:
        found.add(MOCK.status_page.path)
        if MOCK.status_page.incidents:
            found.add(MOCK.status_page.incidents.path)
    return {p.split("?")[0] for p in found if len(p) > 1} - STATUSPAGE_PATHS


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(HARNESS.rglob("*.py"))]


@pytest.mark.parametrize("name", sorted(_names()))
def test_no_mock_name_in_the_harness(name: str) -> None:
    # hyphenated names anywhere; single words as string literals (prose may say "upload")
    pattern = (
        re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        if "-" in name
        else re.compile(rf"""["']{re.escape(name)}["']""")
    )
    hits = [
        f"{path.relative_to(HARNESS)}:{text[: m.start()].count(chr(10)) + 1}"
        for path, text in _sources()
        for m in pattern.finditer(text)
    ]
    assert not hits, f"{name!r} of the mock platform in harness/: {hits}"


@pytest.mark.parametrize("path", sorted(_paths()))
def test_no_mock_url_path_in_the_harness(path: str) -> None:
    hits = [str(p.relative_to(HARNESS)) for p, text in _sources() if path in text]
    assert not hits, f"the mock's {path} in harness/: {hits}"


def test_the_checks_see_real_names() -> None:
    """The lists above are not empty by accident."""
    assert {"catalog-replica", "catalog-replication", "viewer", "no_lost_uploads"} <= _names()
    assert {"/admin/regions", "/admin/rollouts", "/v1/videos/", "/lag"} <= _paths()
