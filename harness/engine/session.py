"""A run of one or more scenarios: validate all, then each on a fresh platform, then reports.

    paths -> load_scenario (all problems first: exit 2) -> filter by tags
    per scenario: Platform.up(profile) -> run_scenario -> Platform.down() (always)
    -> reports/<run-id>/ journal.json, junit.xml, summary.md; reports/latest
    -> exit: 0 every expectation held, 1 one failed, 3 errored or aborted
SIGTERM is turned into KeyboardInterrupt so the same finally blocks clean up.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.engine.runner import RunContext, run_scenario
from harness.errors import ConfigError, EnvironmentFailure, ResilienceFailure
from harness.platform import DEFAULT_TOPOLOGY, Platform, load_topology
from harness.report import write_reports
from harness.scenario import Scenario, load_scenario

__all__ = ["new_run_id", "run_session"]


def new_run_id() -> str:
    """Sortable, and only letters and digits (fault names embed it)."""
    return time.strftime("%Y%m%dt%H%M%S") + secrets.token_hex(2)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_session(
    paths: list[Path],
    tags: set[str],
    profile: str | None,
    time_scale: float,
    report_dir: Path,
    workers: int,
    base_port: int | None,
    echo: Callable[[str], None],
) -> None:
    topology = load_topology(DEFAULT_TOPOLOGY)
    scenarios: list[Scenario] = []
    problems = []
    for path in paths:
        scenario, found = load_scenario(path, topology)
        problems += found
        if scenario is not None and (not tags or tags & set(scenario.tags)):
            scenarios.append(scenario)
    if problems:
        raise ConfigError("invalid scenarios:\n" + "\n".join(str(p) for p in problems))
    if not scenarios:
        raise ConfigError(f"no scenario matches the tags {', '.join(sorted(tags))}")
    run_id = new_run_id()
    run_dir = (report_dir / run_id).resolve()
    journals: list[dict[str, Any]] = []
    echo(f"run {run_id}: {len(scenarios)} scenario(s), time scale {time_scale:g}")
    try:
        with _sigterm_interrupts():
            for scenario in scenarios:
                journals.append(
                    _one(
                        scenario,
                        run_id,
                        run_dir,
                        profile,
                        time_scale,
                        workers,
                        base_port or topology.base_port,
                        echo,
                    )
                )
    except KeyboardInterrupt:
        raise EnvironmentFailure("interrupted: faults removed, platform stopped") from None
    finally:
        if journals:
            write_reports(run_dir, journals)
    for journal in journals:
        echo(
            f"{journal['status'].upper():8} {journal['scenario']['name']}"
            + (f": {journal['reason']}" if journal["reason"] else "")
        )
    echo(f"reports: {run_dir}/summary.md, junit.xml, journal.json")
    statuses = {j["status"] for j in journals}
    if statuses & {"errored", "aborted"}:
        raise EnvironmentFailure("a scenario errored or was aborted (see the reports)")
    if "failed" in statuses:
        raise ResilienceFailure("a resilience expectation failed (see the reports)")


def _one(
    scenario: Scenario,
    run_id: str,
    run_dir: Path,
    profile: str | None,
    time_scale: float,
    workers: int,
    base_port: int,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    chosen = profile or scenario.profile or "normal"
    scenario_dir = run_dir / scenario.name
    plat = Platform(
        load_topology(DEFAULT_TOPOLOGY),
        base_port,
        scenario_dir / "platform",
        chosen,
        echo=lambda line: echo(f"[{scenario.name}] {line}"),
    )
    echo(f"[{scenario.name}] bringing the platform up ({chosen})")
    plat.up()
    try:
        context = RunContext(
            run_id, scenario_dir, plat, Path(".chaos/faults").resolve(), time_scale, workers, echo
        )
        return run_scenario(scenario, context)
    finally:
        plat.down()
