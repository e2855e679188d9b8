"""A run of one or more scenarios: validate all, then each on a fresh platform, then reports.

    paths -> load_scenarios (each against its topology; all problems first: exit 2)
          -> filter by tags; the report directory is checked writable before anything starts
    per scenario: Platform(its topology).up(profile, defects) (or attach to --gateway)
                  -> parts.run_scenario -> Platform.down() (always; attached ones stay up)
                  a harness bug in one scenario: its traceback in its directory, the record
                  errored, the next scenario runs
    -> reports/<run-id>/ journal.json, junit.xml, summary.md, report.html; reports/latest
    -> exit: 0 every expectation held, 1 one failed, 3 errored or aborted
SIGTERM is turned into KeyboardInterrupt so the same finally blocks clean up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.engine.console import RunView
from harness.engine.parts import RunContext, new_record, run_scenario
from harness.engine.runner import Interrupted, PhaseGate
from harness.engine.shield import deferred_interrupts
from harness.errors import (
    ConfigError,
    EnvironmentFailure,
    FaultError,
    HarnessError,
    ResilienceFailure,
)
from harness.faults import ToxiproxyClient
from harness.load import LoadOptions
from harness.platform import Platform
from harness.record import RunRecord, Status
from harness.report import write_reports
from harness.scenario import Scenario, TopologyCache, load_scenario
from harness.scenario.model import PROCESS_FAULTS, HttpFault
from harness.topology import DEFAULT_STACK, DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = [
    "SessionOptions",
    "check_report_dir",
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
    """How to run: what ``harness run``, ``gameday`` and the pytest plugin pass in."""

    tags: set[str] = dataclasses.field(default_factory=set)
    topology: Path | None = None  # --topology (default: each scenario's, else the mock's)
    profile: str | None = None
    defects: tuple[str, ...] = ()
    time_scale: float | None = 1.0  # None: each scenario at its own floor (--time-scale floor)
    report_dir: Path = Path("reports")
    load: LoadOptions = dataclasses.field(default_factory=LoadOptions)
    base_port: int | None = None
    gateway: str | None = None  # reuse this running platform instead of starting one
    toxiproxy_url: str | None = None  # a Toxiproxy server to use instead of the embedded proxy
    backend: str = "local"  # services as local processes, or "docker" containers
    stack: str = DEFAULT_STACK  # which of the topology's stacks (--stack)
    gate: PhaseGate | None = None  # a game day's operator between the phases
    fail_fast: bool = False  # stop each scenario once an expectation has certainly failed
    # more reports from the same records (a game day's post-mortem), even when interrupted
    more_reports: Callable[[Path, list[RunRecord]], None] | None = None


def load_scenarios(
    paths: list[Path], tags: set[str], topology: Path | None = None
) -> list[Scenario]:
    """Every file validated against its topology first (all problems, exit 2), then
    filtered by tags. A scenario naming another topology than --topology is an error."""
    default = (topology or DEFAULT_TOPOLOGY).resolve()
    cache = TopologyCache()
    scenarios: list[Scenario] = []
    problems: list[object] = []
    for path in paths:
        scenario, found = load_scenario(path, default, cache)
        problems += found
        if scenario is None:
            continue
        if topology is not None and Path(str(scenario.topology)) != default:
            problems.append(
                f"{path}: names topology {scenario.topology}, but --topology is {default}"
            )
        elif not tags or tags & set(scenario.tags):
            scenarios.append(scenario)
    if problems:
        raise ConfigError("invalid scenarios:\n" + "\n".join(str(p) for p in problems))
    if not scenarios:
        raise ConfigError(f"no scenario matches the tags {', '.join(sorted(tags))}")
    return scenarios


def on_this_stack(
    scenarios: list[Scenario], stack: str, say: Callable[[str], None]
) -> list[Scenario]:
    """The scenarios that run on ``stack``: those that name no stack run on every one; one
    that needs another is left out, and said so (ConfigError, exit 2, when none is left)."""
    kept = [s for s in scenarios if s.stack in (None, stack)]
    for scenario in scenarios:
        if scenario not in kept:
            say(f"left out {scenario.name}: it needs --stack {scenario.stack}")
    if not kept:
        needs = sorted({str(s.stack) for s in scenarios})
        raise ConfigError(
            f"no scenario runs on --stack {stack}; they need --stack {', '.join(needs)}"
        )
    return kept


def check_report_dir(report_dir: Path) -> None:
    """Before anything starts: the reports can be written there (else exit 2)."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / f".write-test-{secrets.token_hex(4)}"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--report-dir {report_dir}: cannot write reports there ({exc.strerror or exc})"
        ) from None


def run_session(paths: list[Path], options: SessionOptions, view: RunView) -> list[RunRecord]:
    """Run, report, and raise the exit code's exception unless every scenario passed."""
    scenarios = on_this_stack(
        load_scenarios(paths, options.tags, options.topology), options.stack, view.say
    )
    run_dir, records = execute(scenarios, options, view)
    for record in records:
        view.say(
            f"{record.status.value.upper():8} {record.scenario.name}"
            + (f": {record.reason}" if record.reason else "")
        )
    view.say(f"reports: {run_dir}/report.html, summary.md, junit.xml, journal.json")
    statuses = {r.status for r in records}
    if statuses & {Status.ERRORED, Status.ABORTED}:
        raise EnvironmentFailure("a scenario errored or was aborted (see the reports)")
    if Status.FAILED in statuses:
        raise ResilienceFailure("a resilience expectation failed (see the reports)")
    return records


def execute(
    scenarios: list[Scenario], options: SessionOptions, view: RunView
) -> tuple[Path, list[RunRecord]]:
    """Each scenario on its own platform; reports written even when interrupted."""
    refused = [r for s in scenarios if (r := s.refuses_time_scale(s.scale_for(options.time_scale)))]
    if refused:
        raise ConfigError("time scale too small:\n" + "\n".join(refused))
    check_report_dir(options.report_dir)
    if options.gateway:
        _check_attachable(scenarios, options)
    if options.toxiproxy_url:
        _check_http_toxics(scenarios, options.toxiproxy_url)
    topologies: dict[str, Topology] = {}
    for scenario in scenarios:  # before anything starts: every --defect is declared
        path = str(scenario.topology or DEFAULT_TOPOLOGY)
        if path not in topologies:
            topology = load_topology(Path(path))
            topologies[path] = stack_topology(topology, options.stack, options.backend)
        topologies[path].require_defects(options.defects)
    run_id = new_run_id()
    run_dir = (options.report_dir / run_id).resolve()
    records: list[RunRecord] = []
    scale = "each at its floor" if options.time_scale is None else f"{options.time_scale:g}"
    view.say(f"run {run_id}: {len(scenarios)} scenario(s), time scale {scale}")
    try:
        with _sigterm_interrupts():
            for scenario in scenarios:
                topology = topologies[str(scenario.topology or DEFAULT_TOPOLOGY)]
                records.append(_one(scenario, topology, run_id, run_dir, options, view))
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):  # the scenario's record so far is reported too
            records.append(exc.record)
        raise EnvironmentFailure("interrupted: faults removed, platform stopped") from None
    finally:
        view.close()
        if records:
            with deferred_interrupts(view.say):  # Ctrl-C again: reports first, then exit 3
                problem = write_reports(run_dir, records)
                if problem:
                    view.say(f"report.html not written: {problem.message}")
                if options.more_reports:
                    options.more_reports(run_dir, records)
            if problem and problem.interrupted:
                raise EnvironmentFailure("interrupted while writing the reports")
    return run_dir, records


def stack_topology(topology: Topology, stack: str, backend: str) -> Topology:
    """The topology on ``stack``: ConfigError (exit 2) for an unknown stack; EnvironmentFailure
    (exit 3) naming how to install what the machine (or the docker backend's image) lacks."""
    chosen = topology.on_stack(stack)
    if stack == DEFAULT_STACK:
        return chosen
    if backend == "docker":
        from harness.platform import containers

        client = containers.docker_client()
        try:
            containers.require_image(client, containers.IMAGE)
            unmet = chosen.unmet_requirements(
                lambda argv: containers.image_runs(client, containers.IMAGE, argv),
                containers.PYTHON,
            )
        finally:
            client.close()
        if unmet:
            raise EnvironmentFailure(
                f"--stack {stack}: the image {containers.IMAGE} lacks "
                + ", ".join(need.what for need in unmet)
                + "; rebuild it with: make images"
            )
        return chosen
    missing = chosen.missing_requirements()
    if missing:
        raise EnvironmentFailure(f"--stack {stack} needs " + "; ".join(missing))
    return chosen


def _check_attachable(scenarios: list[Scenario], options: SessionOptions) -> None:
    if options.profile or options.defects:
        raise ConfigError(
            "--profile/--defect cannot change a running platform (--gateway); start it with"
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


def _check_http_toxics(scenarios: list[Scenario], url: str) -> None:
    """HTTP faults are the embedded proxy's own toxics: refuse, before anything starts, to
    run them on a Toxiproxy server that lacks them (it would answer 400 mid-run)."""
    needing = [
        f"{scenario.name}: phase {phase.name}: {fault.type} on {fault.link}"
        for scenario in scenarios
        for phase in scenario.phases
        for fault in phase.faults
        if isinstance(fault, HttpFault)
    ]
    if not needing:
        return
    try:
        version = ToxiproxyClient(url).version()
    except FaultError:
        return  # not answering: bringing the platform up says so
    if "+shortvideo-chaos" in version:
        return
    raise ConfigError(
        f"TOXIPROXY_URL={url} is Toxiproxy {version}, which has no HTTP toxics"
        " (http_abort, http_delay, http_corrupt are the embedded proxy's own); these faults"
        " need it:\n  " + "\n  ".join(needing) + "\nunset TOXIPROXY_URL to run them"
    )


def open_platform(
    options: SessionOptions,
    run_dir: Path,
    topology: Topology,
    profile: str | None = None,
    echo: Callable[[str], None] = lambda _line: None,
) -> Platform:
    """The platform a run uses, up and healthy: the one at --gateway, or a new one here
    (profile: --profile, else the scenario's, else the topology's first). The caller calls
    down()."""
    if options.gateway:
        return Platform.attach(topology, options.gateway, options.toxiproxy_url, echo=echo)
    topology.require_defects(options.defects)
    chosen = options.profile or profile or topology.profiles[0]
    if chosen not in topology.profiles:
        raise ConfigError(
            f"--profile {chosen}: the topology {topology.name} has: {', '.join(topology.profiles)}"
        )
    plat = Platform(
        topology,
        options.base_port or topology.base_port,
        run_dir,
        chosen,
        options.toxiproxy_url,
        echo=echo,
        seed=options.load.seed,
        backend=options.backend,
        defects=options.defects,
    )
    echo(f"bringing the platform up ({plat.build_label}, {options.backend} backend)")
    plat.up()
    return plat


def _one(
    scenario: Scenario,
    topology: Topology,
    run_id: str,
    run_dir: Path,
    options: SessionOptions,
    view: RunView,
) -> RunRecord:
    scenario_dir = run_dir / scenario.name

    def say(line: str) -> None:
        view.say(f"[{scenario.name}] {line}")

    try:
        plat = open_platform(options, scenario_dir / "platform", topology, scenario.profile, say)
    except Exception as exc:  # the platform would not start: reported, as errored
        return _errored_by(exc, scenario, topology, run_id, scenario_dir, None, options, say)
    try:
        record = _attempt(scenario, topology, run_id, scenario_dir, plat, options, view, say)
    except BaseException:  # Interrupted, carrying the record so far
        _stop(plat, say)
        raise
    if _stop(plat, say):  # Ctrl-C while the platform stopped: this record is still reported
        record.status, record.reason = Status.ABORTED, "interrupted (SIGINT/SIGTERM)"
        raise Interrupted(record)
    return record


def _stop(plat: Platform, say: Callable[[str], None]) -> bool:
    """Stop every process of the platform even if Ctrl-C comes again; True if it did."""
    with deferred_interrupts(say, raise_after=False) as arrived:
        plat.down()
    return bool(arrived)


def _attempt(
    scenario: Scenario,
    topology: Topology,
    run_id: str,
    scenario_dir: Path,
    plat: Platform,
    options: SessionOptions,
    view: RunView,
    say: Callable[[str], None],
) -> RunRecord:
    """The scenario on a running platform; a harness error becomes an errored record."""
    try:
        context = RunContext(
            run_id,
            scenario_dir,
            plat,
            Path(".chaos/faults").resolve(),
            scenario.scale_for(options.time_scale),
            options.load,
            view,
            options.gate,
            fail_fast=options.fail_fast,
        )
        record = run_scenario(scenario, context)
        if record.traceback:
            record.error_log = _save_traceback(scenario_dir, record.traceback, say)
        return record
    except Exception as exc:
        return _errored_by(exc, scenario, topology, run_id, scenario_dir, plat, options, say)


def _errored_by(
    exc: Exception,
    scenario: Scenario,
    topology: Topology,
    run_id: str,
    scenario_dir: Path,
    plat: Platform | None,
    options: SessionOptions,
    say: Callable[[str], None],
) -> RunRecord:
    """The errored record of a scenario that could not run. A HarnessError is its reason;
    anything else is a harness bug with its traceback saved next to the record (the run goes
    on with the next scenario)."""
    if plat is None:
        plat = Platform(
            topology,
            options.base_port or topology.base_port,
            scenario_dir,
            options.profile or scenario.profile or topology.profiles[0],
            defects=options.defects,
        )
        plat.close()
    scale = scenario.scale_for(options.time_scale)
    context = RunContext(run_id, scenario_dir, plat, Path(".chaos/faults"), scale)
    record = new_record(scenario, context)
    record.status = Status.ERRORED
    record.finished_at = record.started_at
    if isinstance(exc, HarnessError):
        record.reason = str(exc)
    else:
        record.reason = f"harness error: {type(exc).__name__}: {exc}"
        record.error_log = _save_traceback(scenario_dir, traceback.format_exc(), say)
    return record


def _save_traceback(scenario_dir: Path, text: str, say: Callable[[str], None]) -> str:
    log = scenario_dir / "traceback.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text, encoding="utf-8")
    say(f"a harness error (a bug, not a finding); traceback: {log}")
    return str(log)
