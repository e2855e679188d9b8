"""Every fault kind applied to a real platform and undone exactly; leftovers of a dead run swept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from harness.faults import FaultLedger, create_fault, sweep_dead_runs
from harness.scenario.model import Fault
from tests.integration.platform.conftest import Api, running_api, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAULT = TypeAdapter(Fault)


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api("normal", Path(tmp_path_factory.mktemp("faults")))


@pytest.fixture
def ledger(normal: Api, tmp_path: Path) -> Iterator[FaultLedger]:
    book = FaultLedger(tmp_path / "run1.json", "run1", normal.toxiproxy, normal.platform)
    yield book
    assert book.remove_all() == []
    normal.heal()


def _apply(normal: Api, ledger: FaultLedger, spec: dict[str, object], index: int = 0):  # type: ignore[no-untyped-def]
    fault = create_fault(
        FAULT.validate_python(spec),
        "run1",
        index,
        normal.toxiproxy,
        normal.platform,
        f"{normal.platform.gateway_url}/admin/rollouts",  # the mock's rollouts capability
    )
    return ledger.add(fault)


def test_toxic_both_streams_applied_and_removed(normal: Api, ledger: FaultLedger) -> None:
    fault = _apply(
        normal,
        ledger,
        {
            "type": "latency",
            "link": "gateway-search",
            "stream": "both",
            "attributes": {"latency": 50},
        },
    )
    names = sorted(t.name for t in normal.toxiproxy.toxics("gateway-search"))
    assert names == ["chaos-run1-0-downstream", "chaos-run1-0-upstream"]
    assert json.loads(ledger.path.read_text())["undo"]
    ledger.remove(fault)
    ledger.remove(fault)  # twice is harmless
    assert normal.toxiproxy.toxics("gateway-search") == []


def test_down_and_replication_cut_are_partitions(normal: Api, ledger: FaultLedger) -> None:
    down = _apply(normal, ledger, {"type": "down", "link": "gateway-search"})
    cut = _apply(
        normal, ledger, {"type": "replication_lag", "link": "catalog-replication", "cut": True}, 1
    )
    assert not normal.toxiproxy.proxy("gateway-search").enabled
    assert not normal.toxiproxy.proxy("catalog-replication").enabled
    ledger.remove(down)
    ledger.remove(cut)
    assert normal.toxiproxy.proxy("gateway-search").enabled
    assert normal.toxiproxy.proxy("catalog-replication").enabled


def test_pause_is_undone_by_resume_and_kill_by_restart(normal: Api, ledger: FaultLedger) -> None:
    pause = _apply(normal, ledger, {"type": "pause", "service": "moderation-worker"})
    assert normal.platform.supervisor.children["moderation-worker"].paused
    kill = _apply(normal, ledger, {"type": "kill", "service": "search"}, 1)
    wait_until(
        lambda: not normal.platform.supervisor.children["search"].alive(), 5, "search killed"
    )
    ledger.remove(pause)
    ledger.remove(kill)
    assert not normal.platform.supervisor.children["moderation-worker"].paused
    assert normal.http.get("/v1/search", params={"q": "x"}).status_code == 200


@pytest.mark.parametrize("after_s", [0.0, 0.4, 1.0, 3.0])
def test_rollout_fault_is_aborted_on_removal(
    normal: Api, ledger: FaultLedger, after_s: float
) -> None:
    """Removed while its canary starts (about 1-2 s) or after it took traffic: the operator's
    abort is the decision, never overwritten by the controller noticing its stopped process."""
    fault = _apply(
        normal,
        ledger,
        {"type": "rollout", "service": "search", "build": "v2-identical", "interval": "30s"},
    )
    rollout_id = fault.undo[0]["url"].rsplit("/", 1)[1]
    time.sleep(after_s)
    ledger.remove(fault)
    time.sleep(0.3)  # the controller's task sees the stopped canary
    state = normal.http.get(f"/admin/rollouts/{rollout_id}").json()
    assert (state["state"], state["reason"]) == ("aborted", "aborted by an operator"), state
    assert [e["kind"] for e in state["events"]].count("stopped") == 1, state["events"]


def test_a_fault_that_cannot_apply_is_a_fault_error(normal: Api, ledger: FaultLedger) -> None:
    from harness.errors import FaultError

    with pytest.raises(FaultError, match="proxy not found"):
        _apply(normal, ledger, {"type": "down", "link": "no-such-link"})


def test_max_lifetime_expires(normal: Api, ledger: FaultLedger) -> None:
    _apply(normal, ledger, {"type": "timeout", "link": "gateway-search", "max_lifetime": "200ms"})
    time.sleep(0.3)
    assert len(ledger.remove_expired()) == 1
    assert normal.toxiproxy.toxics("gateway-search") == []


def test_sweep_undoes_what_a_killed_run_left(normal: Api, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ledger_dir = tmp_path / "faults"
    book = FaultLedger(ledger_dir / "dead1.json", "dead1", normal.toxiproxy, normal.platform)
    for index, spec in enumerate(
        [
            {"type": "latency", "link": "feed-a-catalog", "attributes": {"latency": 500}},
            {"type": "down", "link": "gateway-metrics"},
            {"type": "pause", "service": "moderation-worker"},
        ]
    ):
        book.add(
            create_fault(
                FAULT.validate_python(spec), "dead1", index, normal.toxiproxy, normal.platform, None
            )
        )
    record = json.loads(book.path.read_text())
    record["pid"] = dead.pid  # as if the run had been SIGKILLed
    book.path.write_text(json.dumps(record))
    normal.toxiproxy.add_toxic("gateway-cdn", "latency", name="chaos-ghost-0-downstream")
    normal.toxiproxy.add_toxic("gateway-cdn", "latency", name="someone-elses")
    undone = sweep_dead_runs(ledger_dir, normal.toxiproxy, normal.platform)
    assert undone == 4
    assert normal.toxiproxy.toxics("feed-a-catalog") == []
    assert normal.toxiproxy.proxy("gateway-metrics").enabled
    assert not normal.platform.supervisor.children["moderation-worker"].paused
    assert [t.name for t in normal.toxiproxy.toxics("gateway-cdn")] == ["someone-elses"]
    assert not book.path.exists()
    normal.toxiproxy.remove_toxic("gateway-cdn", "someone-elses")
