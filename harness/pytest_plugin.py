"""pytest plugin: scenarios as tests, and fixtures for chaos tests written in Python.

    pytest scenarios/  -> ScenarioFile per YAML scenario, checked against its topology
                          (--chaos-topology, or its own topology:, else the mock's); an
                          invalid file is a failing test of its own (its neighbours still
                          run) listing every problem as file:line
                          -> ScenarioItem -> engine.execute()
                          -> pass, or a failure listing each failed expectation with its
                          measured value and threshold (reports/<run-id>/ as with harness run)
    fixtures: platform (one per session: started, or --chaos-gateway to reuse one)
              -> toxiproxy (its proxy API) -> fault(spec) (applied now, undone at teardown)
              -> load(users=..., mix=...) (Locust in its own process, stopped at teardown)
Loaded through the ``pytest11`` entry point, so installing the harness is enough.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from harness.engine.console import PlainView
from harness.engine.session import SessionOptions, execute, open_platform
from harness.errors import HarnessError
from harness.faults import FaultLedger, ToxiproxyClient, create_fault, sweep_dead_runs
from harness.faults.active import ActiveFault
from harness.load import LoadOptions, LoadPlan, LoadRunner, figures, read_samples
from harness.load.result import Figures, History, read_history
from harness.platform import Platform
from harness.record import Status
from harness.scenario import Scenario, load_scenario
from harness.scenario.model import Fault
from harness.topology import DEFAULT_TOPOLOGY, defect_names, load_topology
from harness.yamlfile import YamlProblem, load_yaml

__all__ = ["Traffic"]

LEDGER_DIR = Path(".chaos/faults")
_FAULT = pydantic.TypeAdapter(Fault)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "resilience scenarios (harness)")
    group.addoption(
        "--chaos-topology",
        default=None,
        help="The platform's topology file (default: a scenario's own, else the mock's).",
    )
    group.addoption(
        "--chaos-profile",
        default=None,
        help="Platform profile, one of the topology's (default: the scenario's, else its first).",
    )
    group.addoption(
        "--chaos-defect",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="Start the platform with these catalogued defects on (harness defects lists them).",
    )
    group.addoption("--chaos-time-scale", type=float, default=1.0, help="Multiply every duration.")
    group.addoption("--chaos-report-dir", default="reports", help="Where run reports go.")
    group.addoption("--chaos-base-port", type=int, default=None, help="First port of the block.")
    group.addoption(
        "--chaos-gateway", default=None, help="Reuse a running platform (its gateway URL)."
    )
    group.addoption(
        "--chaos-fail-fast",
        action="store_true",
        help="Stop a scenario once an expectation has certainly failed (same FAIL, sooner).",
    )


def _topology_path(config: pytest.Config) -> Path | None:
    given = config.getoption("chaos_topology")
    return Path(given).resolve() if given else None


def _options(config: pytest.Config) -> SessionOptions:
    return SessionOptions(
        topology=_topology_path(config),
        profile=config.getoption("chaos_profile"),
        defects=defect_names(config.getoption("chaos_defect")),
        time_scale=config.getoption("chaos_time_scale"),
        report_dir=Path(config.getoption("chaos_report_dir")),
        base_port=config.getoption("chaos_base_port"),
        gateway=config.getoption("chaos_gateway"),
        toxiproxy_url=os.environ.get("TOXIPROXY_URL"),
        fail_fast=config.getoption("chaos_fail_fast"),
    )


# -- scenarios as tests ------------------------------------------------------------------------


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and _looks_like_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _looks_like_scenario(path: Path) -> bool:
    try:  # bounded: an alias bomb or a deep nesting is a problem, never a hang
        data = load_yaml(path.read_text(encoding="utf-8")).data
    except (OSError, UnicodeDecodeError, YamlProblem):
        return path.parent.name == "scenarios"  # broken, but meant as one: report it
    return isinstance(data, dict) and "phases" in data


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        default = _topology_path(self.config) or DEFAULT_TOPOLOGY
        scenario, problems = load_scenario(self.path, default)
        if problems or scenario is None:
            # a failing test of its own, not a collection error: its neighbours still run
            text = "invalid scenario:\n" + "\n".join(str(p) for p in problems)
            yield InvalidScenarioItem.from_parent(self, name=self.path.stem, problems=text)
            return
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioInvalid(Exception):
    """A scenario file with problems (each as file:line: field: message)."""


class InvalidScenarioItem(pytest.Item):
    def __init__(self, *, problems: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems

    def runtest(self) -> None:
        raise ScenarioInvalid(self.problems)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        return self.problems

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"invalid scenario: {self.path.name}"


class ScenarioFailed(Exception):
    """A resilience expectation or invariant did not hold."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        for tag in scenario.tags:  # `pytest scenarios/ -m default` picks the default suite
            marker = tag.replace("-", "_")
            self.config.addinivalue_line("markers", f"{marker}: scenarios tagged {tag}")
            self.add_marker(marker)

    def runtest(self) -> None:
        _, records = execute([self.scenario], _options(self.config), PlainView(sys.stderr))
        record = records[0]
        if record.status in (Status.ERRORED, Status.ABORTED):
            pytest.fail(f"{record.status.value}: {record.reason}", pytrace=False)
        if record.status == Status.FAILED:
            raise ScenarioFailed(
                "\n".join(
                    f"{r.phase}: {r.name}: measured {r.measured}, expected {r.threshold}"
                    + (f" ({r.detail})" if r.detail else "")
                    for r in record.failed
                )
            )

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, ScenarioFailed | HarnessError):
            return f"{self.scenario.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"


# -- fixtures for chaos tests in Python -------------------------------------------------------


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    """The platform under test for the whole session (started here unless --chaos-gateway)."""
    run_dir = (Path(".chaos") / "pytest" / secrets.token_hex(4)).resolve()
    options = _options(request.config)
    plat = open_platform(options, run_dir, load_topology(options.topology or DEFAULT_TOPOLOGY))
    try:
        yield plat
    finally:
        plat.down()


@pytest.fixture(scope="session")
def toxiproxy(platform: Platform) -> ToxiproxyClient:
    """The platform's Toxiproxy API (a link is a proxy named after it)."""
    return platform.toxiproxy()


@pytest.fixture
def fault(platform: Platform) -> Iterator[Callable[[dict[str, Any]], ActiveFault]]:
    """``fault({...})`` applies a fault written as in a scenario; all are undone at teardown."""
    run_id = "pytest" + secrets.token_hex(4)
    client = platform.toxiproxy()
    sweep_dead_runs(LEDGER_DIR.resolve(), client, platform)
    ledger = FaultLedger(LEDGER_DIR.resolve() / f"{run_id}.json", run_id, client, platform)
    count = 0

    def apply(spec: dict[str, Any]) -> ActiveFault:
        nonlocal count
        try:
            model = _FAULT.validate_python(spec)
        except pydantic.ValidationError as exc:
            raise pytest.UsageError(f"fault {spec}: {exc}") from None
        if getattr(model, "type", "") == "replication_lag" and model.link is None:  # type: ignore[union-attr]
            model = model.model_copy(update={"link": platform.topology.replication_link})
        count += 1
        rollouts = platform.topology.capabilities.rollouts
        url = (
            None if rollouts is None else platform.topology.render(rollouts.url, platform.base_port)
        )
        active = create_fault(model, run_id, count, client, platform, url)
        return ledger.add(active)

    try:
        yield apply
    finally:
        leftovers = ledger.remove_all()
        if leftovers:
            pytest.fail("faults could not be undone: " + "; ".join(leftovers), pytrace=False)


@dataclasses.dataclass
class Traffic:
    """A running load: figures of the last seconds, the upload history."""

    runner: LoadRunner

    def settle(self, seconds: float) -> None:
        """Let the load run; fail the test if Locust stopped."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.runner.alive():
                pytest.fail(f"the load stopped early:\n{self.runner.log_tail()}", pytrace=False)
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))

    def figures(self, endpoint: str = "all", last: float = 5, build: str | None = None) -> Figures:
        """Error rate, p50/p95/p99 and throughput over the last complete seconds."""
        now = int(time.time())
        samples = read_samples(self.runner.metrics_prefix)
        return figures(samples, now - last, now, endpoint, build)

    def history(self) -> History:
        return read_history(self.runner.history_prefix)


@pytest.fixture
def load(platform: Platform, tmp_path: Path) -> Iterator[Callable[..., Traffic]]:
    """``load(users=10, mix={"reader": 3, "writer": 1}, duration=60)``: Locust, started now
    with the topology's locustfile (mix: weights of its user classes)."""
    runners: list[LoadRunner] = []

    def start(
        users: int = 10,
        spawn_rate: float = 10,
        mix: dict[str, int] | None = None,
        duration: float = 120,
        workers: int = 0,
    ) -> Traffic:
        spec = platform.topology.load
        if spec is None:
            raise pytest.UsageError(f"the topology {platform.topology.name} declares no load")
        plan = LoadPlan(
            locustfile=platform.topology.locustfile() or Path(),
            users=users,
            spawn_rate=spawn_rate,
            mix=mix or spec.default_mix,
            env=dict(spec.env),
        )
        runner = LoadRunner(
            platform.gateway_url,
            tmp_path / f"load{len(runners)}",
            duration,
            plan,
            LoadOptions(workers=workers),
        )
        runners.append(runner)
        runner.start()
        return Traffic(runner)

    try:
        yield start
    finally:
        for runner in runners:
            runner.stop()
