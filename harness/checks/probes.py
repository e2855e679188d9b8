"""Reading the platform during a run, only as its topology declares: status page components,
rollouts, failover regions, and named probes.

    Prober.read(expectation) -> _READERS[type(expectation)]   (status, failover, rollout, probe)
    probe NAME (target)      -> _SOURCES[spec.kind]            (http, prometheus, command, ratio)
                             -> delta since the phase began, age of a timestamp, on_error,
                                at most every N s (a costly probe)
A reading that cannot be taken is None (it never counts as a pass), or the probe's on_error.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.checks.paths import at
from harness.checks.status_page import StatusPageReader
from harness.clock import SYSTEM_CLOCK, Clock
from harness.scenario.model import (
    FailoverExpectation,
    ProbeExpectation,
    RolloutExpectation,
    StatusExpectation,
)
from harness.topology import ProbeSpec, Topology

__all__ = ["Observable", "Prober", "run_command"]

Observable = StatusExpectation | ProbeExpectation | RolloutExpectation | FailoverExpectation
CommandRunner = Callable[[list[str], float, dict[str, str]], str | None]


def run_command(argv: list[str], timeout_s: float, env: dict[str, str]) -> str | None:
    """A probe command's standard output, stripped; None if it fails or times out."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _number_or_text(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


class Prober:
    def __init__(
        self,
        topology: Topology,
        base_port: int,
        http: httpx.Client | None = None,
        clock: Clock = SYSTEM_CLOCK,
        commands: CommandRunner = run_command,
    ) -> None:
        self.topology = topology
        self.base_port = base_port
        self.http = http or httpx.Client(timeout=2.0, trust_env=False)
        self.clock = clock
        self.commands = commands
        self.page = StatusPageReader(topology, base_port, self.http)
        self._phase_start: dict[tuple[str, str], Any] = {}  # (probe, target) -> first reading
        self._costly: dict[tuple[str, str], tuple[float, Any]] = {}

    def new_phase(self) -> None:
        """Readings taken as a difference (delta: phase) start again."""
        self._phase_start.clear()

    def close(self) -> None:
        self.http.close()

    @property
    def client(self) -> httpx.Client:
        """The HTTP client, opened again if closed (invariants read after the timeline)."""
        if self.http.is_closed:
            self.http = httpx.Client(timeout=2.0, trust_env=False)
            self.page.http = self.http
        return self.http

    def get_json(self, url: str) -> Any:
        try:
            response = self.client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def read(self, expectation: Observable) -> Any:
        return _READERS[type(expectation)](self, expectation)

    # -- named probes ----------------------------------------------------------------------

    def probe(self, name: str, target: str | None = None) -> Any:
        spec = self.topology.probes[name]
        key = (name, target or "")
        if spec.every is not None:
            last = self._costly.get(key)
            if last is not None and self.clock.monotonic() - last[0] < spec.every:
                return last[1]
        value = self._reading(name, spec, target)
        if spec.every is not None:
            self._costly[key] = (self.clock.monotonic(), value)
        return value

    def _reading(self, name: str, spec: ProbeSpec, target: str | None) -> Any:
        value = _number_or_text(_SOURCES[spec.kind](self, spec, target))
        if value is not None and spec.age:
            value = round(self.clock.time() - float(value), 3) if _is_number(value) else None
        if value is not None and spec.delta == "phase":
            if not _is_number(value):
                return None
            start = self._phase_start.setdefault((name, target or ""), value)
            value = value - start
        if value is None and spec.on_error is not None:
            return spec.on_error
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- where a probe's value comes from (one small function per kind) ----------------------------


def _http(prober: Prober, spec: ProbeSpec, target: str | None) -> Any:
    assert spec.http is not None
    url = prober.topology.url_of(spec.http, prober.base_port, target)
    path = (
        prober.topology.render(spec.http.json_path, prober.base_port, target)
        if (spec.http.json_path)
        else None
    )
    return at(prober.get_json(url), path)


def _prometheus(prober: Prober, spec: ProbeSpec, target: str | None) -> Any:
    source = spec.prometheus
    assert source is not None
    url = prober.topology.url_of(source, prober.base_port, target)
    try:
        response = prober.client.get(url)
        response.raise_for_status()
        families = list(text_string_to_metric_families(response.text))
    except (httpx.HTTPError, ValueError):
        return None
    labels = {
        k: prober.topology.render(v, prober.base_port, target) for k, v in source.labels.items()
    }
    matched = [
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == source.metric
        and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(matched) if matched else None


def _command(prober: Prober, spec: ProbeSpec, target: str | None) -> Any:
    source = spec.command
    assert source is not None
    argv = [prober.topology.render(part, prober.base_port, target) for part in source.argv]
    env = {k: prober.topology.render(v, prober.base_port, target) for k, v in source.env.items()}
    return prober.commands(argv, source.timeout, env)


def _ratio(prober: Prober, spec: ProbeSpec, target: str | None) -> Any:
    assert spec.ratio is not None
    top, bottom = prober.probe(spec.ratio.of, target), prober.probe(spec.ratio.per, target)
    if not (_is_number(top) and _is_number(bottom)) or not bottom:
        return None
    return round(float(top) / float(bottom), 3)


_SOURCES: dict[str, Callable[[Prober, ProbeSpec, str | None], Any]] = {
    "http": _http,
    "prometheus": _prometheus,
    "command": _command,
    "ratio": _ratio,
}


# -- what each kind of observed expectation reads ----------------------------------------------


def _status(prober: Prober, expectation: Any) -> Any:
    components = prober.page.read()
    if components is None or expectation.status not in components:
        return None
    return components[expectation.status].state


def _failover(prober: Prober, expectation: Any) -> Any:
    spec = prober.topology.capabilities.failover[expectation.failover]
    document = prober.get_json(prober.topology.render(spec.url, prober.base_port))
    return at(document, spec.active)


def _rollout(prober: Prober, expectation: Any) -> Any:
    spec = prober.topology.capabilities.rollouts
    assert spec is not None
    rollouts = prober.get_json(prober.topology.render(spec.url, prober.base_port))
    if not isinstance(rollouts, list):
        return None
    mine = [r for r in rollouts if isinstance(r, dict) and r.get("service") == expectation.rollout]
    return mine[-1].get("state") if mine else None


def _probe(prober: Prober, expectation: Any) -> Any:
    return prober.probe(expectation.probe, expectation.target)


_READERS: dict[type, Callable[[Prober, Any], Any]] = {
    StatusExpectation: _status,
    FailoverExpectation: _failover,
    RolloutExpectation: _rollout,
    ProbeExpectation: _probe,
}
