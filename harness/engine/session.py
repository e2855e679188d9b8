"""A run of one or more scenarios: validate all, then each on a fresh platform, then reports.

    paths -> load_scenario (all problems first: exit 2) -> filter by tags
    per scenario: Platform.up(profile) (or .attach(--gateway)) -> run_scenario
                  -> Platform.down() (always; an attached platform is left running)
    -> reports/<run-id>/ journal.json, junit.xml, summary.md; reports/latest
    -> exit: 0 every expectation held, 1 one failed, 3 errored or aborted
SIGTERM is turned into KeyboardInterrupt so the same finally blocks clean up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.engine.console import RunView
from harness.engine.runner import Interrupted, PhaseGate, RunContext, run_scenario
from harness.errors import ConfigError, EnvironmentFailure, ResilienceFailure
from harness.platform import DEFAULT_TOPOLOGY, Platform, load_topology
from harness.report import write_reports
from harness.scenario import Scenario, load_scenario
from harness.scenario.model import PROCESS_FAULTS

__all__ = [
    "SessionOptions",
    "execute",
    "load_scenarios",
    "new_run_id",
    "open_platform",
    "run_session",
]


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


@dataclasses.dataclass
class SessionOptions:
    """How to run: what ``harness run`` and the pytest plugin pass in."""

    tags: set[str] = dataclasses.field(default_factory=set)
    profile: str | None = None
    time_scale: float = 1.0
    report_dir: Path = Path("reports")
    workers: int = 0
    remote_workers: int = 0  # Locust workers started by hand on other machines
    master_bind: str = "127.0.0.1"  # HOST[:PORT] the Locust master listens on
    base_port: int | None = None
    seed: int | None = None
    gateway: str | None = None  # reuse this running platform instead of starting one
    toxiproxy_url: str | None = None  # a Toxiproxy server to use instead of the embedded proxy
    backend: str = "local"  # services as local processes, or "docker" containers
    gate: PhaseGate | None = None  # a game day's operator between the phases
    # more reports from the same journals (a game day's post-mortem), even when interrupted
    more_reports: Callable[[Path, list[dict[str, Any]]], None] | None = None


def load_scenarios(paths: list[Path], tags: set[str]) -> list[Scenario]:
    """Every file validated first (all problems, exit 2), then filtered by tags."""
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
    return scenarios


def run_session(paths: list[Path], options: SessionOptions, view: RunView) -> list[dict[str, Any]]:
    """Run, report, and raise the exit code's exception unless every scenario passed."""
    scenarios = load_scenarios(paths, options.tags)
    run_dir, journals = execute(scenarios, options, view)
    for journal in journals:
        view.say(
            f"{journal['status'].upper():8} {journal['scenario']['name']}"
            + (f": {journal['reason']}" if journal["reason"] else "")
        )
    view.say(f"reports: {run_dir}/report.html, summary.md, junit.xml, journal.json")
    statuses = {j["status"] for j in journals}
    if statuses & {"errored", "aborted"}:
        raise EnvironmentFailure("a scenario errored or was aborted (see the reports)")
    if "failed" in statuses:
        raise ResilienceFailure("a resilience expectation failed (see the reports)")
    return journals


def execute(
    scenarios: list[Scenario], options: SessionOptions, view: RunView
) -> tuple[Path, list[dict[str, Any]]]:
    """Each scenario on its own platform; reports written even when interrupted."""
    if options.gateway:
        _check_attachable(scenarios, options)
    run_id = new_run_id()
    run_dir = (options.report_dir / run_id).resolve()
    journals: list[dict[str, Any]] = []
    view.say(f"run {run_id}: {len(scenarios)} scenario(s), time scale {options.time_scale:g}")
    try:
        with _sigterm_interrupts():
            for scenario in scenarios:
                journals.append(_one(scenario, run_id, run_dir, options, view))
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):  # the scenario's record so far is reported too
            journals.append(exc.journal)
        raise EnvironmentFailure("interrupted: faults removed, platform stopped") from None
    finally:
        view.close()
        if journals:
            problem = write_reports(run_dir, journals)
            if problem:
                view.say(f"report.html not written: {problem}")
            if options.more_reports:
                options.more_reports(run_dir, journals)
    return run_dir, journals


def _check_attachable(scenarios: list[Scenario], options: SessionOptions) -> None:
    if options.profile:
        raise ConfigError(
            "--profile cannot change a running platform (--gateway); start it with"
            " harness platform up --profile ... instead"
        )
    for scenario in scenarios:
        for phase in scenario.phases:
            for fault in phase.faults:
                if fault.type in PROCESS_FAULTS:
                    raise ConfigError(
                        f"{scenario.name}: phase {phase.name}: a {fault.type} fault needs a"
                        " platform this run starts; drop --gateway to run it"
                    )


def open_platform(
    options: SessionOptions,
    run_dir: Path,
    profile: str | None = None,
    echo: Callable[[str], None] = lambda _line: None,
) -> Platform:
    """The platform a run uses, up and healthy: the one at --gateway, or a new one here
    (profile: --profile, else the scenario's, else normal). The caller calls down()."""
    topology = load_topology(DEFAULT_TOPOLOGY)
    if options.gateway:
        return Platform.attach(topology, options.gateway, options.toxiproxy_url, echo=echo)
    chosen = options.profile or profile or "normal"
    plat = Platform(
        topology,
        options.base_port or topology.base_port,
        run_dir,
        chosen,
        options.toxiproxy_url,
        echo=echo,
        seed=options.seed,
        backend=options.backend,
    )
    echo(f"bringing the platform up ({chosen}, {options.backend} backend)")
    plat.up()
    return plat


def _one(
    scenario: Scenario,
    run_id: str,
    run_dir: Path,
    options: SessionOptions,
    view: RunView,
) -> dict[str, Any]:
    scenario_dir = run_dir / scenario.name

    def say(line: str) -> None:
        view.say(f"[{scenario.name}] {line}")

    plat = open_platform(options, scenario_dir / "platform", scenario.profile, say)
    try:
        context = RunContext(
            run_id,
            scenario_dir,
            plat,
            Path(".chaos/faults").resolve(),
            options.time_scale,
            options.workers,
            view,
            options.seed,
            options.remote_workers,
            options.master_bind,
            options.gate,
        )
        return run_scenario(scenario, context)
    finally:
        plat.down()
