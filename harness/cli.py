"""The ``harness`` command line; the only module that calls sys.exit.

Each command raises HarnessError subclasses; ``main`` prints them as one line on stderr and
exits with the class's code (0 held, 1 resilience finding, 2 bad input, 3 environment).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.errors import ConfigError, EnvironmentFailure, HarnessError, ResilienceFailure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Chaos and resilience testing for short-video platform backends."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="API listen address.")
@click.option("--port", default=8474, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Proxies to create at start, in Toxiproxy's populate format (a JSON array).",
)
@click.option("--seed", type=int, help="Seed toxicity draws and jitter (reproducible runs).")
@click.option(
    "--loop",
    type=click.Choice(["asyncio", "uvloop"]),
    default="uvloop",
    show_default=True,
    help="Event loop: uvloop accepts and forwards faster; toxic timers are as precise on both.",
)
def proxy(host: str, port: int, config: Path | None, seed: int | None, loop: str) -> None:
    """Run the embedded Toxiproxy-compatible proxy until SIGINT/SIGTERM.

    It speaks Toxiproxy's HTTP API, so toxiproxy-cli, the official clients and the harness
    drive it exactly as they drive a real Toxiproxy server.
    """
    from harness.proxy import ConfigFileError, run_proxy
    from harness.proxy.app import ApiBindError

    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError("--loop uvloop needs the uvloop package: pip install uvloop")
    try:
        run_proxy(host, port, config, seed=seed, version=__version__, loop=loop)
    except ConfigFileError as exc:
        raise ConfigError(f"bad proxy config: {exc}") from exc
    except ApiBindError as exc:
        raise EnvironmentFailure(f"proxy API: {exc}") from exc


@cli.group()
def bench() -> None:
    """Benchmarks printed side by side with a reference run (ratios, not timed tests)."""


@bench.command("proxy")
@click.option(
    "--loop", type=click.Choice(["asyncio", "uvloop"]), default="uvloop", show_default=True
)
@click.option(
    "--reference-url",
    metavar="URL",
    help="A real Toxiproxy server's API (e.g. http://127.0.0.1:8474): measured in the same "
    "rounds, and the bars are set against it.",
)
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--held",
    default="10000",
    show_default=True,
    help="Comma-separated counts of concurrent connections to open and hold (once each).",
)
@click.option(
    "--burst",
    default=500,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="New connections opened at once, each round.",
)
@click.option("--bulk-mib", default=256, show_default=True, type=click.IntRange(1, 4096))
def bench_proxy(
    loop: str, reference_url: str | None, rounds: int, held: str, burst: int, bulk_mib: int
) -> None:
    """The embedded proxy beside a direct loopback connection to the same upstream (and a real
    Toxiproxy with --reference-url): medians [min-max] of interleaved rounds."""
    from harness.bench.proxy import render, run_proxy_bench

    try:
        counts = tuple(int(part) for part in held.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--held must be numbers like 1000,10000, got {held!r}") from None
    table = run_proxy_bench(
        loop,
        counts,
        bulk_mib,
        rounds,
        reference_url,
        burst,
        echo=lambda line: click.echo(f"... {line}"),
    )
    click.echo(render(table, loop))


@bench.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED)
def bench_run(run_args: tuple[str, ...]) -> None:
    """Wall time, peak RSS and CPU share by part (harness, Locust, proxy, services) of a run.

    Arguments go to ``harness run`` (e.g. ``harness bench run --tags default``).
    """
    from harness.bench.footprint import measure, render

    argv = [sys.executable, "-m", "harness", "run", "--plain", *run_args]
    result = measure(argv, echo=lambda line: click.echo(f"... {line}", err=True))
    click.echo(render(result))
    if result.exit_code not in (0, 1):
        raise EnvironmentFailure(f"the run exited {result.exit_code}; figures cover a broken run")


@bench.command("backends")
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--base-port", type=click.IntRange(1024, 64000), default=27000, show_default=True)
@click.option("--docker", is_flag=True, help="Containers too (needs the engine and the images).")
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="NAME",
    help="The topology on this stack too (the mock's: real), forked like the default one.",
)
def bench_backends(rounds: int, base_port: int, docker: bool, stacks: tuple[str, ...]) -> None:
    """Platform start, stop and idle memory: services forked from the topology's preload
    against a fresh interpreter each (the reference), another stack with --stack, and
    containers with --docker."""
    from harness.bench.backends import measure_backends, render_backends
    from harness.engine.session import stack_topology

    topology = _topology(None)
    for stack in stacks:
        stack_topology(topology, stack, "local")  # known, and what it needs installed
    results = measure_backends(
        rounds, base_port, echo=_say, docker=docker, topology=topology, stacks=stacks
    )
    click.echo(render_backends(results))


def _topology_option(func: Any) -> Any:
    return click.option(
        "--topology",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="HARNESS_TOPOLOGY",
        help="The platform's topology file (default: a scenario's own, else the mock's).",
    )(func)


def _defect_option(func: Any) -> Any:
    return click.option(
        "--defect",
        "defects",
        multiple=True,
        metavar="NAME[,NAME]",
        callback=lambda _ctx, _param, value: _defect_names(value),
        help="Start the platform with these catalogued defects on (harness defects lists them).",
    )(func)


def _defect_names(values: tuple[str, ...]) -> tuple[str, ...]:
    from harness.topology import defect_names

    return defect_names(values)


def _topology(path: Path | None) -> Any:
    from harness.topology import DEFAULT_TOPOLOGY, load_topology

    return load_topology(path or DEFAULT_TOPOLOGY)


def _stack_option(func: Any) -> Any:
    return click.option(
        "--stack",
        default="default",
        show_default=True,
        envvar="HARNESS_STACK",
        help="Which of the topology's stacks the platform runs on (the mock's: default, or"
        " real: the catalog on PostgreSQL, local backend).",
    )(func)


def _base_port_option(func: Any) -> Any:
    return click.option(
        "--base-port",
        type=click.IntRange(1024, 64000),
        default=None,
        help="Ports are offsets from this (default: the topology's, 18000).",
    )(func)


SCHEMA_PATH = Path("scenarios/scenario.schema.json")
TOPOLOGY_SCHEMA_PATH = Path("scenarios/topology.schema.json")


def _backend_option(func: Any) -> Any:
    return click.option(
        "--backend",
        type=click.Choice(["local", "docker"]),
        default="local",
        show_default=True,
        help="Services as local processes, or as containers (make images builds them).",
    )(func)


def _stack(func: Any, options: list[Callable[[Any], Any]]) -> Any:
    """Apply click options so --help lists them in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def _time_scale(_ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    """A factor in 0.05-10, or ``floor`` (None: each scenario at its own floor)."""
    if value.strip().lower() == "floor":
        return None
    try:
        scale = float(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: a number (0.5 halves every duration) or 'floor'"
        ) from None
    if not 0.05 <= scale <= 10:
        raise click.BadParameter(f"{scale:g} is not in 0.05-10")
    return scale


def _run_options(func: Any) -> Any:
    """What ``run`` and ``gameday`` share: profile, time scale, reports, seed, plain output."""
    options: list[Callable[[Any], Any]] = [
        click.option(
            "--profile",
            default=None,
            help="Platform profile, one of the topology's (default: the scenario's, else its"
            " first: normal for the mock).",
        ),
        _defect_option,
        click.option(
            "--time-scale",
            metavar="SCALE|floor",
            default="1",
            callback=_time_scale,
            show_default=True,
            help="Multiply every duration; 'floor': each scenario at its min_time_scale, the"
            " shortest timeline its verdict is tested at.",
        ),
        click.option(
            "--report-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("reports"),
            show_default=True,
        ),
        click.option(
            "--seed", type=int, help="Seed the load's choices and the proxy's toxicity draws."
        ),
        click.option("--plain", is_flag=True, help="Plain line output even on a terminal."),
        _backend_option,
        _topology_option,
        _stack_option,
    ]
    return _stack(func, options)


def _scenario_paths(items: tuple[Path, ...]) -> list[Path]:
    paths: list[Path] = []
    for path in items:
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*.y*ml"))
        elif path.exists():
            paths.append(path)
        else:
            raise ConfigError(f"{path}: no such scenario file or directory")
    if not paths:
        raise ConfigError("no scenario files (*.yaml, *.yml) found")
    return paths


@cli.command()
@click.argument("scenarios", nargs=-1, type=click.Path(path_type=Path))
@click.option("--tags", default="", help="Only scenarios with one of these tags (comma-separated).")
@_run_options
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Locust workers (distributed mode); 0 runs one local process.",
)
@click.option(
    "--remote-workers",
    type=click.IntRange(0, 256),
    default=0,
    show_default=True,
    help="Locust workers you start on other machines (the run prints their command).",
)
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST[:PORT]",
    callback=lambda _ctx, _param, value: _host_port(value),
    help="Where the Locust master listens for workers.",
)
@click.option(
    "--gateway",
    metavar="URL",
    callback=lambda _ctx, _param, value: _url(value),
    help="Reuse a running platform (harness platform up) instead of starting one per scenario.",
)
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Stop a scenario as soon as an expectation has certainly failed (a phase that"
    " ended failed): the same FAIL, sooner; its later phases and invariants are not run.",
)
@_base_port_option
def run(
    scenarios: tuple[Path, ...],
    tags: str,
    profile: str | None,
    defects: tuple[str, ...],
    time_scale: float | None,
    report_dir: Path,
    workers: int,
    remote_workers: int,
    master_bind: str,
    seed: int | None,
    gateway: str | None,
    plain: bool,
    backend: str,
    topology: Path | None,
    stack: str,
    base_port: int | None,
    fail_fast: bool,
) -> None:
    """Run scenarios against a platform (the mock's by default); exit 0 held, 1 failed,
    2 invalid input, 3 errored or interrupted.

    A terminal gets a live view; set TOXIPROXY_URL to use a Toxiproxy server you run.
    """
    from harness.engine.console import choose_view
    from harness.engine.session import SessionOptions, run_session
    from harness.load import LoadOptions

    paths = _scenario_paths(scenarios or (Path("scenarios"),))
    options = SessionOptions(
        tags={t.strip() for t in tags.split(",") if t.strip()},
        topology=topology,
        profile=profile,
        defects=defects,
        time_scale=time_scale,
        report_dir=report_dir,
        load=LoadOptions(workers, remote_workers, master_bind, seed),
        base_port=base_port,
        gateway=gateway,
        toxiproxy_url=_toxiproxy_url(),
        backend=backend,
        fail_fast=fail_fast,
        stack=stack,
    )
    run_session(paths, options, choose_view(plain=plain))


@cli.command()
@_topology_option
@click.option(
    "--budget",
    default="20m",
    show_default=True,
    metavar="DURATION",
    callback=lambda _ctx, _param, value: _duration(value, "--budget"),
    help="Wall time for everything (discovery, experiments, shrinking): 90s, 20m, 1h.",
)
@click.option(
    "--depth",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="1: single faults; 2: then the pairs the singles point at.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seeds the load and the re-runs that confirm a finding (seed, seed+1, ...).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("explore"),
    show_default=True,
    help="Where explore.json, matrix.md/.html and scenarios/ go.",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A previous explore.json: list what broke that did not before; exit 1 if any.",
)
@click.option(
    "--reruns",
    type=click.IntRange(1, 50),
    default=10,
    show_default=True,
    help="Seeded re-runs that confirm a minimal scenario (it must fail 90% of them).",
)
@click.option(
    "--users",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Users of the load (default: the topology's).",
)
@click.option(
    "--faults",
    "kinds",
    default="",
    metavar="KIND[,KIND]",
    callback=lambda _ctx, _param, value: _fault_kinds(value),
    help="Only these fault kinds (default: all): down, kill, blackhole, pause, latency,"
    " http_corrupt, http_abort, reset_peer, partial.",
)
@click.option(
    "--stop-after",
    "stop_after",
    type=click.IntRange(1, 1000),
    default=None,
    metavar="N",
    help="Stop searching once N distinct properties broke (then shrink them): a gate that"
    " needs one failure, not the whole matrix.",
)
@click.option(
    "--fault-duration",
    "fault_s",
    default="8s",
    show_default=True,
    callback=lambda _ctx, _param, value: _duration(value, "--fault-duration"),
    help="How long each experiment holds its faults.",
)
@click.option(
    "--reference-profile",
    "reference",
    default=None,
    metavar="PROFILE",
    help="A build without the bug (a profile, no defect): each minimal scenario is run once on"
    " it and must pass there, or the finding says it does not isolate this build's bug.",
)
@click.option("--profile", default=None, help="Platform profile (default: the topology's first).")
@_defect_option
@_stack_option
@_backend_option
@_base_port_option
@click.option("--plain", is_flag=True, help="Accepted for symmetry with run: output is lines.")
def explore(
    topology: Path | None,
    budget: float,
    depth: int,
    seed: int,
    out: Path,
    baseline: Path | None,
    reruns: int,
    users: int | None,
    kinds: tuple[str, ...],
    stop_after: int | None,
    fault_s: float,
    reference: str | None,
    profile: str | None,
    defects: tuple[str, ...],
    stack: str,
    backend: str,
    base_port: int | None,
    plain: bool,
) -> None:
    """Find the faults that break a platform, with no scenario: discover its links, try each
    fault (and pairs with --depth 2) under load, judge with a generic oracle, shrink each
    failure to a minimal scenario. Exit 0 nothing broke (or no regression against
    --baseline), 1 a broken property (or a regression), 2 bad input, 3 interrupted."""
    from harness.explore import Exploration, ExploreOptions, Explorer, regressions

    previous = None
    if baseline is not None:
        try:
            previous = Exploration.model_validate_json(baseline.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"--baseline {baseline}: not an explore.json ({first})") from None
    chosen = _on_stack(_topology(topology), stack, backend)
    chosen.require_defects(defects)
    _profile(chosen, profile, defects)
    if reference is not None and reference not in chosen.profiles:
        raise ConfigError(
            f"--reference-profile {reference}: the topology {chosen.name} has:"
            f" {', '.join(chosen.profiles)}"
        )
    options = ExploreOptions(
        topology=chosen,
        out=out.resolve(),
        budget_s=budget,
        depth=depth,
        seed=seed,
        profile=profile,
        defects=defects,
        backend=backend,
        base_port=base_port,
        users=users,
        reruns=reruns,
        fault_s=fault_s,
        stop_after=stop_after,
        kinds=kinds,
        toxiproxy_url=_toxiproxy_url(),
        reference_profile=reference,
    )
    result = Explorer(options, _say).run()
    _say(f"matrix: {options.out / 'matrix.html'}, matrix.md, explore.json")
    for finding in result.findings:
        _say(
            f"finding: {', '.join(finding.broken)}: harness run {finding.scenario}"
            f" ({finding.confirmation}{finding.on_reference})"
        )
    if result.interrupted:
        raise EnvironmentFailure(
            "interrupted: faults removed, platform stopped; what was found is written"
        )
    if previous is not None:
        found = regressions(previous, result)
        for line in found:
            _say(f"regression: {line}")
        if found:
            raise ResilienceFailure(f"{len(found)} regression(s) against {baseline}")
        _say(f"no regression against {baseline}")
        return
    if any(o.verdict == "broken" for o in result.outcomes):
        raise ResilienceFailure("a fault broke a property of the platform (see the matrix)")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=True))
@_topology_option
def validate(files: tuple[Path, ...], topology: Path | None) -> None:
    """Check scenario files against their topology; print every problem as
    file:line: field: message (exit 2), ok: per valid file.

    A file that is a topology (it has services) is checked as one.
    """
    from harness.scenario import TopologyCache, load_scenario
    from harness.topology import DEFAULT_TOPOLOGY

    default = (topology or DEFAULT_TOPOLOGY).resolve()
    _topology(default)  # the topology itself first: its problems, all at once
    cache = TopologyCache()
    paths = _scenario_paths(files)
    failed = 0
    for path in paths:
        if _is_topology(path):
            spec, problems = cache.get(path)
            for problem in problems:
                click.echo(str(problem))
            failed += spec is None
            if spec is not None:
                click.echo(f"ok: {path} (topology {spec.name}: {len(spec.services)} services)")
            continue
        scenario, problems = load_scenario(path, default, cache)
        for problem in problems:
            click.echo(str(problem))
        if scenario is None:
            failed += 1
        else:
            click.echo(
                f"ok: {path} ({scenario.name}: {len(scenario.phases)} phases, "
                f"{scenario.duration_s:g}s)"
            )
    if failed:
        raise ConfigError(f"{failed} of {len(paths)} scenario files are invalid")


@cli.command("list")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_topology_option
def list_scenarios(paths: tuple[Path, ...], topology: Path | None) -> None:
    """Show the scenarios with their tags, length and description."""
    from harness.scenario import TopologyCache, load_scenario
    from harness.topology import DEFAULT_TOPOLOGY

    default = (topology or DEFAULT_TOPOLOGY).resolve()
    cache = TopologyCache()
    for path in _scenario_paths(paths or (Path("scenarios"),)):
        if _is_topology(path):
            continue
        scenario, problems = load_scenario(path, default, cache)
        if scenario is None:
            click.echo(f"{path}: invalid ({len(problems)} problems; run harness validate {path})")
            continue
        tags = ",".join(scenario.tags) or "-"
        summary = " ".join(scenario.description.split())
        floor = f" (scale >= {scenario.min_time_scale:g})" if scenario.min_time_scale else ""
        click.echo(f"{scenario.name:24} [{tags}] {scenario.duration_s:g}s{floor}  {summary[:100]}")


@cli.command()
@_topology_option
def defects(topology: Path | None) -> None:
    """List the topology's defect catalogue: what each defect breaks and what catches it."""
    spec = _topology(topology)
    if not spec.defects:
        click.echo(f"the topology {spec.name} declares no defects (its `defects:` section)")
        return
    click.echo(f"{len(spec.defects)} defects of {spec.name} (run with --defect NAME[,NAME]):")
    width = max(len(name) for name in spec.defects)  # the longest name still leaves a space
    for name, defect in spec.defects.items():
        catch = defect.caught_by
        caught = str(catch) if catch else "no scenario yet"
        click.echo(f"{name:{width}} {defect.breaks:15} {defect.description}")
        click.echo(f"{'':{width}} {'':15} caught by {caught}")


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the JSON Schema ('-' for standard output)."
    f" [default: {SCHEMA_PATH}, or {TOPOLOGY_SCHEMA_PATH} with --topology]",
)
@click.option("--topology", "of_topology", is_flag=True, help="The topology file's schema instead.")
def schema(output: Path | None, of_topology: bool) -> None:
    """Write the scenario (or topology) JSON Schema for editors (yaml-language-server)."""
    from harness.scenario.schema import scenario_schema_text, topology_schema_text

    text = topology_schema_text() if of_topology else scenario_schema_text()
    output = output or (TOPOLOGY_SCHEMA_PATH if of_topology else SCHEMA_PATH)
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    _write_atomically(output, text)
    _say(f"wrote {output}; point editors at it with: # yaml-language-server: $schema=<path>")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="Where your app runs."
)
@click.option(
    "--dependency",
    default="127.0.0.1:6379",
    show_default=True,
    metavar="HOST:PORT",
    help="A dependency of the app, to put behind a link.",
)
@click.option("--name", default="my-platform", show_default=True, help="The topology's name.")
@click.option("--base-port", type=click.IntRange(1024, 64000), default=19800, show_default=True)
def init(directory: Path, url: str, dependency: str, name: str, base_port: int) -> None:
    """Start a topology, a locustfile and a first scenario for your own platform.

    \b
    Then: edit DIRECTORY/topology.yaml (every field is explained there), and
      harness validate DIRECTORY/topology.yaml DIRECTORY/scenarios
      harness run DIRECTORY/scenarios
    """
    from harness.scaffold import scaffold

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ConfigError(f"--name {name!r}: lowercase letters, digits, - or _")
    for path in scaffold(directory, url, dependency, name, base_port):
        _say(f"wrote {path}")
    _say(f"next: harness validate {directory}/topology.yaml {directory}/scenarios")


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--auto", is_flag=True, help="Run unattended: same plan and output, no prompts.")
@_run_options
@_base_port_option
def gameday(
    scenario: Path,
    auto: bool,
    profile: str | None,
    defects: tuple[str, ...],
    time_scale: float | None,
    report_dir: Path,
    seed: int | None,
    plain: bool,
    backend: str,
    topology: Path | None,
    stack: str,
    base_port: int | None,
) -> None:
    """Run one scenario as a game-day drill, phase by phase, and draft postmortem.md.

    \b
    Before each phase it shows what will be injected and what should hold, then waits:
      Enter  start the phase        s  skip a fault (s 2: the second)
      n      add a note (n TEXT)    a  abort: remove every fault, stop, report
    While a phase runs, a + Enter aborts and n + Enter adds a note.
    Exit codes as for run; an aborted drill exits 3 and still writes its post-mortem.
    """
    from harness.engine.console import choose_view
    from harness.engine.session import SessionOptions, load_scenarios, run_session
    from harness.gameday import AutoOperator, Operator, postmortem_md
    from harness.load import LoadOptions
    from harness.record import RunRecord

    if not auto and not sys.stdin.isatty():
        raise ConfigError("a drill needs a terminal to answer its prompts; add --auto to run it")
    chosen = load_scenarios(_scenario_paths((scenario,)), set(), topology)
    if len(chosen) != 1:
        raise ConfigError(f"{scenario}: a drill runs one scenario; {len(chosen)} found")
    view = choose_view(plain=plain)
    total = len(chosen[0].phases)
    operator = AutoOperator(view, total) if auto else Operator(view, total, sys.stdin, sys.stderr)

    def write_postmortem(run_dir: Path, records: list[RunRecord]) -> None:
        path = run_dir / "postmortem.md"
        _write_atomically(path, postmortem_md(records[0]))
        view.say(f"post-mortem draft: {path}")

    options = SessionOptions(
        topology=topology,
        profile=profile,
        defects=defects,
        time_scale=time_scale,
        report_dir=report_dir,
        base_port=base_port,
        load=LoadOptions(seed=seed),
        toxiproxy_url=_toxiproxy_url(),
        gate=operator,
        more_reports=write_postmortem,
        backend=backend,
        stack=stack,
    )
    try:
        run_session([scenario], options, view)
    finally:
        if isinstance(operator, Operator):
            operator.close()  # the terminal as it was


@cli.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
def report(run_dirs: tuple[Path, ...]) -> None:
    """Re-render report.html of each run directory from its journal.json, and the index.

    \b
    Example:
      harness report reports/latest
    """
    from harness.report import load_records, write_html

    for given in run_dirs:
        run_dir = given.resolve()
        if not run_dir.is_dir():
            raise ConfigError(f"{given}: no such run directory")
        write_html(run_dir, load_records(run_dir))
        _say(f"wrote {run_dir / 'report.html'} and {run_dir.parent / 'index.html'}")


DEFAULT_RUN_DIR = Path(".chaos/platform")


def _platform_options(func: Any) -> Any:
    """What ``platform up`` and ``platform compose`` share: profile, ports, data, topology."""
    options: list[Callable[[Any], Any]] = [
        click.option(
            "--profile", default=None, help="One of the topology's profiles (default: its first)."
        ),
        _defect_option,
        _base_port_option,
        click.option(
            "--run-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=DEFAULT_RUN_DIR,
            show_default=True,
            help="Databases and logs of this platform (bind-mounted into containers).",
        ),
        _topology_option,
        _stack_option,
    ]
    return _stack(func, options)


@cli.group()
def platform() -> None:
    """Run the platform under test (the mock short-video backend by default)."""


@platform.command("up")
@_platform_options
@_backend_option
def platform_up(
    profile: str | None,
    defects: tuple[str, ...],
    base_port: int | None,
    run_dir: Path,
    topology: Path | None,
    stack: str,
    backend: str,
) -> None:
    """Start the proxy, the links and every service; stay up until Ctrl-C or SIGTERM."""
    from harness.platform import Platform

    spec = _on_stack(_topology(topology), stack, backend)
    profile = _profile(spec, profile, defects)
    base = base_port or spec.base_port
    plat = Platform(
        spec,
        base,
        run_dir.resolve(),
        profile,
        _toxiproxy_url(),
        echo=_say,
        backend=backend,
        defects=defects,
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    started = time.monotonic()
    try:
        plat.up()
        plat.write_state(run_dir / "platform.json")
        _say(f"platform up ({plat.build_label}, {backend}) in {time.monotonic() - started:.1f} s")
        click.echo(f"entrypoint ({spec.entrypoint}): {plat.gateway_url}", color=False)
        page = spec.status_page
        if page is not None:
            click.echo(f"status page: {spec.url_of(page, base)}")
        click.echo(f"proxy API: {plat.proxy_url}")
        while not stop.wait(1.0):
            dead = [
                c.name for c in plat.supervisor.children.values() if not c.alive() and not c.paused
            ]
            if dead:
                _say(f"warning: exited: {', '.join(dead)} (see {run_dir}/logs)")
                stop.wait(5)
    finally:
        _say("stopping the platform")
        plat.down()
        with contextlib.suppress(OSError):
            (run_dir / "platform.json").unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _say("platform stopped")


@platform.command("compose")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docker-compose.yml"),
    show_default=True,
    help="The compose file; toxiproxy.json (the links) is written beside it.",
)
@_platform_options
def platform_compose(
    output: Path,
    profile: str | None,
    defects: tuple[str, ...],
    base_port: int | None,
    run_dir: Path,
    topology: Path | None,
    stack: str,
) -> None:
    """Write a docker-compose.yml equivalent of the topology (images: make images).

    \b
    Then: docker compose -f docker-compose.yml up -d   (or docker-compose, 1.x)
    """
    import yaml

    from harness.platform.compose import compose_document
    from harness.platform.containers import PROXY_IMAGE

    spec = _on_stack(_topology(topology), stack, "docker")
    profile = _profile(spec, profile, defects)
    base = base_port or spec.base_port
    flavour = "embedded"
    with contextlib.suppress(Exception):  # no daemon here: the embedded proxy's flags
        import docker

        client = docker.from_env(timeout=5)
        try:
            labels = client.images.get(PROXY_IMAGE).labels or {}
        finally:
            client.close()
        flavour = labels.get("io.shortvideo-chaos.proxy", "embedded")
    output.parent.mkdir(parents=True, exist_ok=True)
    config = output.with_name("toxiproxy.json")
    document = compose_document(spec, base, profile, run_dir, config, flavour, defects)
    for path, text in (
        (config, json.dumps(spec.populate_body(base), indent=2) + "\n"),
        (output, yaml.safe_dump(document, sort_keys=False)),
    ):
        _write_atomically(path, text)
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec.path, run_dir.resolve() / "topology.yaml")
    _say(
        f"wrote {output} ({len(document['services'])} containers, {flavour} proxy) and {config};"
        f" gateway at {spec.gateway_url(base)}"
    )


@platform.command("status")
@_base_port_option
@_topology_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def platform_status(base_port: int | None, topology: Path | None, as_json: bool) -> None:
    """Each service's health, as a table (exit 3 when any is unhealthy)."""
    import dataclasses

    from harness.platform import Platform, PlatformError

    spec = _topology(topology)
    plat = Platform(spec, base_port or spec.base_port, DEFAULT_RUN_DIR)
    report = plat.health()
    plat.close()
    if as_json:
        click.echo(json.dumps({k: dataclasses.asdict(v) for k, v in report.items()}, indent=2))
    else:
        width = max(len(name) for name in report)
        click.echo(f"{'service'.ljust(width)}  health     latency  build  url")
        for name, item in report.items():
            state = "healthy" if item.healthy else "DOWN"
            where = item.url + (" (external)" if item.external else "")
            click.echo(
                f"{name.ljust(width)}  {state.ljust(9)}  {item.latency_ms:>5.1f} ms  "
                f"{item.build or '-':5}  {where}"
            )
    down = [name for name, item in report.items() if not item.healthy]
    if down:
        raise PlatformError(f"unhealthy: {', '.join(down)}")


@platform.command("down")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RUN_DIR,
    show_default=True,
)
def platform_down(run_dir: Path) -> None:
    """Stop a platform that ``harness platform up`` runs (in another terminal)."""
    from harness.platform import PlatformError

    state_path = run_dir / "platform.json"
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        raise PlatformError(f"no running platform recorded in {state_path}") from None
    pid = int(state["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state_path.unlink(missing_ok=True)
        raise PlatformError(f"the platform process {pid} is gone; removed {state_path}") from None
    # The up process removes its state file once everything it started has stopped.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not state_path.exists() or not _process_alive(pid):
            _say("platform stopped")
            return
        time.sleep(0.1)
    raise PlatformError(f"the platform process {pid} did not stop within 30 s")


def _process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has finished


def _is_topology(path: Path) -> bool:
    """A YAML file with services and no phases is a topology (validate checks it as one)."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return False
    keys = {line.split(":", 1)[0] for line in head.splitlines() if line and line[0].isalpha()}
    return "services" in keys and "phases" not in keys


def _on_stack(topology: Any, stack: str, backend: str) -> Any:
    """The topology on --stack (checked: exit 2 unknown, 3 a program it needs is missing)."""
    from harness.engine.session import stack_topology

    return stack_topology(topology, stack, backend)


def _duration(value: str, option: str) -> float:
    from harness.units import parse_seconds

    try:
        seconds = parse_seconds(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a duration such as 90s, 20m or 1h") from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: must be more than 0")
    return seconds


def _fault_kinds(value: str) -> tuple[str, ...]:
    """--faults down,kill -> ("down", "kill"), each a kind explore knows."""
    from harness.explore.space import SEARCH_ORDER

    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in SEARCH_ORDER]
    if unknown:
        raise click.BadParameter(
            f"unknown fault kind {', '.join(unknown)}: choose from {', '.join(SEARCH_ORDER)}"
        )
    return kinds


def _profile(topology: Any, profile: str | None, defects: tuple[str, ...] = ()) -> str:
    """The profile to start (checked), and the --defect names checked against the topology."""
    topology.require_defects(defects)
    chosen = profile or topology.profiles[0]
    if chosen not in topology.profiles:
        raise ConfigError(
            f"--profile {chosen}: the topology {topology.name} has: {', '.join(topology.profiles)}"
        )
    return str(chosen)


def _toxiproxy_url() -> str | None:
    url = os.environ.get("TOXIPROXY_URL")
    if url is not None:
        _url(url, "TOXIPROXY_URL")
    return url


def _url(value: str | None, what: str = "--gateway") -> str | None:
    """An http URL with a host and port, else a usage error (exit 2)."""
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise click.BadParameter(
            f"{value!r}: give a URL with a host and port, e.g. http://127.0.0.1:18080",
            param_hint=what,
        )
    return value


def _write_atomically(path: Path, text: str) -> None:
    """A whole file or none; a path that cannot be written is a usage error (exit 2)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def _host_port(value: str) -> str:
    _, colon, port = value.partition(":")
    if colon and not (port.isdigit() and 0 < int(port) < 65536):
        raise click.BadParameter(f"{value!r}: the port must be a number 1-65535")
    return value


def _say(line: str) -> None:
    """A progress line on stderr; a closed terminal or pipe never interrupts the cleanup."""
    with contextlib.suppress(OSError):
        click.echo(f"==> {line}", err=True)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point: HarnessError -> message on stderr + its exit code.

    SIGTERM behaves like Ctrl-C from the first moment (and SIGINT is handled even when the
    parent started us with it ignored), so every command's cleanup (finally blocks) runs for
    both; commands that serve in the foreground install their own handlers.
    An interrupted command exits 3: it did not finish, whatever it found so far.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    # A process started in the background by a script inherits SIGINT ignored; an explicit
    # SIGINT must still stop the harness and clean up, so Ctrl-C always means the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(3)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a harness bug: exit 3 (never 1, which means a finding)
        saved = _save_traceback()
        click.echo(
            f"error: harness error (a bug, not a finding): {type(exc).__name__}: {exc}"
            + (f"; traceback: {saved}" if saved else ""),
            err=True,
        )
        sys.exit(3)
    sys.exit(0)


def _save_traceback() -> Path | None:
    """The traceback of an unexpected error, kept under .chaos/tracebacks/."""
    folder = Path(".chaos/tracebacks")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%dt%H%M%S')}-{os.getpid()}.txt"
        path.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        return None
    return path.resolve()
