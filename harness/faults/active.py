"""Faults a run applies, each undoable, named with the run id, with a maximum lifetime.

    scenario fault (model) -> create_fault(spec, run_id, ...) -> ActiveFault
    FaultInjector: create_fault + the ledger, what the timeline drives (a fake in unit tests)
    ActiveFault.apply()  : Toxiproxy API (toxics, proxy disable) | platform processes | rollout API
    ActiveFault.remove() : exactly what apply did, safe to call twice
    FaultLedger          : every applied fault on disk (.chaos/faults/<run>.json) with the pid, so
                           a later run can undo what a SIGKILLed run left behind (sweep_dead_runs)

This module speaks HTTP and signals only; it never imports harness.proxy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.errors import FaultError
from harness.faults.toxiproxy import HttpToxicCount, ToxiproxyClient
from harness.pids import pid_alive
from harness.scenario.model import (
    DownFault,
    Fault,
    HttpFault,
    ProcessFault,
    ReplicationLagFault,
    RolloutFault,
    ToxicFault,
)

__all__ = [
    "ActiveFault",
    "FaultInjector",
    "FaultLedger",
    "Processes",
    "create_fault",
    "sweep_dead_runs",
]

TOXIC_PREFIX = "chaos-"


class Processes(Protocol):
    """What process faults need from a backend (the local supervisor, later containers)."""

    def signal(self, service: str, sig: signal.Signals) -> None: ...

    def restart(self, service: str) -> None: ...


@dataclasses.dataclass
class ActiveFault:
    """One applied fault: a label for people, an undo for the harness."""

    label: str
    undo: list[dict[str, Any]]  # JSON-able steps, so a later run can undo them too
    applied_at: float = dataclasses.field(default_factory=time.monotonic)
    max_lifetime_s: float | None = None
    removed: bool = False

    def expired(self, now: float | None = None) -> bool:
        if self.max_lifetime_s is None or self.removed:
            return False
        return (now or time.monotonic()) - self.applied_at >= self.max_lifetime_s


def _toxic_name(run_id: str, index: int, stream: str) -> str:
    return f"{TOXIC_PREFIX}{run_id}-{index}-{stream}"


def create_fault(
    spec: Fault,
    run_id: str,
    index: int,
    toxiproxy: ToxiproxyClient,
    processes: Processes | None,
    rollouts_url: str | None,
) -> ActiveFault:
    """Apply the fault now; FaultError when it cannot be (the run is then errored).

    rollouts_url: the topology's rollouts capability, rendered for this platform."""
    if isinstance(spec, ToxicFault | HttpFault):
        return _toxic_fault(spec, run_id, index, toxiproxy)
    if isinstance(spec, DownFault):
        toxiproxy.set_enabled(spec.link, False)
        return ActiveFault(
            f"{spec.link} down (partition)",
            [{"do": "enable", "proxy": spec.link}],
            max_lifetime_s=spec.max_lifetime,
        )
    if isinstance(spec, ReplicationLagFault):
        if spec.link is None:
            raise FaultError("replication_lag: the topology names no replication link")
        if spec.cut:
            toxiproxy.set_enabled(spec.link, False)
            return ActiveFault(
                f"replication cut ({spec.link})",
                [{"do": "enable", "proxy": spec.link}],
                max_lifetime_s=spec.max_lifetime,
            )
        name = _toxic_name(run_id, index, "downstream")
        toxiproxy.add_toxic(
            spec.link, "latency", name=name, attributes={"latency": int(spec.delay * 1000)}
        )
        return ActiveFault(
            f"replication lag {spec.delay:g}s ({spec.link})",
            [{"do": "remove_toxic", "proxy": spec.link, "name": name}],
            max_lifetime_s=spec.max_lifetime,
        )
    if isinstance(spec, ProcessFault):
        if processes is None:
            raise FaultError(f"{spec.type} {spec.service}: this backend cannot signal processes")
        return _process_fault(spec, processes)
    return _rollout(spec, rollouts_url)


def _toxic_fault(
    spec: ToxicFault | HttpFault, run_id: str, index: int, toxiproxy: ToxiproxyClient
) -> ActiveFault:
    """A toxic (Toxiproxy's, or an HTTP one: per request) on each stream it names."""
    if isinstance(spec, HttpFault):
        attributes = spec.attributes.model_dump(mode="json", exclude_none=True)
        shown = ", ".join(f"{key}={value}" for key, value in attributes.items() if value != {})
        label = f"{spec.type} on {spec.link} at {spec.toxicity:.0%} of requests ({shown})"
    else:
        attributes = dict(spec.attributes)
        label = f"{spec.type} on {spec.link} ({spec.stream}) {spec.attributes or ''}".strip()
    streams = ["upstream", "downstream"] if spec.stream == "both" else [spec.stream]
    undo = []
    for stream in streams:
        name = _toxic_name(run_id, index, stream)
        toxiproxy.add_toxic(
            spec.link,
            spec.type,
            name=name,
            stream=stream,
            toxicity=spec.toxicity,
            attributes=attributes,
        )
        undo.append({"do": "remove_toxic", "proxy": spec.link, "name": name})
    return ActiveFault(label, undo, max_lifetime_s=spec.max_lifetime)


def _process_fault(spec: ProcessFault, processes: Processes) -> ActiveFault:
    if spec.type == "pause":
        processes.signal(spec.service, signal.SIGSTOP)
        return ActiveFault(f"{spec.service} paused", [{"do": "resume", "service": spec.service}])
    if spec.type == "resume":
        processes.signal(spec.service, signal.SIGCONT)
        return ActiveFault(f"{spec.service} resumed", [])
    if spec.type == "kill":
        processes.signal(spec.service, signal.SIGKILL)
        return ActiveFault(
            f"{spec.service} killed (SIGKILL)", [{"do": "restart", "service": spec.service}]
        )
    if spec.type == "stop":
        processes.signal(spec.service, signal.SIGTERM)
        return ActiveFault(
            f"{spec.service} stopped (SIGTERM)", [{"do": "restart", "service": spec.service}]
        )
    processes.restart(spec.service)
    return ActiveFault(f"{spec.service} restarted", [])


def _rollout(spec: RolloutFault, rollouts_url: str | None) -> ActiveFault:
    if rollouts_url is None:
        raise FaultError("a rollout needs the topology's rollouts capability")
    body = {
        "service": spec.service,
        "build": spec.build,
        "steps": spec.steps,
        "interval_s": spec.interval,
        **({"analysis": spec.analysis} if spec.analysis else {}),
    }
    try:
        response = httpx.post(rollouts_url, json=body, timeout=10, trust_env=False)
    except httpx.HTTPError as exc:
        raise FaultError(f"rollout of {spec.service}@{spec.build}: {exc}") from exc
    if response.status_code != 201:
        raise FaultError(f"rollout of {spec.service}@{spec.build} refused: {response.text[:200]}")
    rollout_id = response.json()["id"]
    return ActiveFault(
        f"rollout {spec.service}@{spec.build} ({rollout_id})",
        [{"do": "abort_rollout", "url": f"{rollouts_url}/{rollout_id}"}],
    )


def undo_step(
    step: dict[str, Any], toxiproxy: ToxiproxyClient, processes: Processes | None
) -> None:
    """One undo step; what is already undone (a toxic gone, a proxy enabled) is fine."""
    kind = step["do"]
    if kind == "remove_toxic":
        with contextlib.suppress(FaultError):  # already gone (reset, or removed twice)
            toxiproxy.remove_toxic(step["proxy"], step["name"])
    elif kind == "enable":
        toxiproxy.set_enabled(step["proxy"], True)
    elif kind == "resume" and processes is not None:
        processes.signal(step["service"], signal.SIGCONT)
    elif kind == "restart" and processes is not None:
        processes.restart(step["service"])
    elif kind == "abort_rollout":
        with contextlib.suppress(httpx.HTTPError):
            httpx.delete(step["url"], timeout=10, trust_env=False)


class FaultLedger:
    """The run's applied faults, mirrored to a file so that nothing outlives a dead run."""

    def __init__(
        self, path: Path, run_id: str, toxiproxy: ToxiproxyClient, processes: Processes | None
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.toxiproxy = toxiproxy
        self.processes = processes
        self.active: list[ActiveFault] = []

    def add(self, fault: ActiveFault) -> ActiveFault:
        self.active.append(fault)
        self._save()
        return fault

    def remove(self, fault: ActiveFault) -> None:
        if fault.removed:
            return
        for step in fault.undo:
            undo_step(step, self.toxiproxy, self.processes)
        fault.removed = True
        self._save()

    def remove_expired(self) -> list[ActiveFault]:
        expired = [f for f in self.active if f.expired()]
        for fault in expired:
            self.remove(fault)
        return expired

    def remove_all(self) -> list[str]:
        """Undo everything, newest first; keep going past failures and report them."""
        problems = []
        for fault in reversed(self.active):
            try:
                self.remove(fault)
            except Exception as exc:  # cleanup must reach every fault
                problems.append(f"{fault.label}: {exc}")
        if not problems:
            with contextlib.suppress(OSError):
                self.path.unlink()
        return problems

    def _save(self) -> None:
        steps = [step for f in self.active if not f.removed for step in f.undo]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"run_id": self.run_id, "pid": os.getpid(), "undo": steps}))
        tmp.replace(self.path)


class FaultInjector:
    """Faults as the timeline sees them: apply a scenario's fault, undo it, undo everything."""

    def __init__(
        self,
        ledger: FaultLedger,
        processes: Processes | None,
        rollouts_url: str | None,
    ) -> None:
        self.ledger = ledger
        self.processes = processes
        self.rollouts_url = rollouts_url
        self.http_applied = False  # an HTTP fault was applied: the run reads its counts

    def apply(
        self,
        spec: Fault,
        index: int,
    ) -> ActiveFault:
        self.http_applied = self.http_applied or isinstance(spec, HttpFault)
        fault = create_fault(
            spec,
            self.ledger.run_id,
            index,
            self.ledger.toxiproxy,
            self.processes,
            self.rollouts_url,
        )
        return self.ledger.add(fault)

    def remove(self, fault: ActiveFault) -> None:
        self.ledger.remove(fault)

    def remove_expired(self) -> list[ActiveFault]:
        return self.ledger.remove_expired()

    def remove_all(self) -> list[str]:
        return self.ledger.remove_all()

    def http_counts(self) -> list[tuple[int, HttpToxicCount]]:
        """What this run's HTTP toxics did, by the proxy's count, each with the index its
        fault was applied with; none when the server does not count (a real Toxiproxy)."""
        if not self.http_applied:
            return []  # no HTTP fault: nothing to ask the proxy
        prefix = f"{TOXIC_PREFIX}{self.ledger.run_id}-"
        try:
            counts = self.ledger.toxiproxy.http_counts()
        except (FaultError, ValueError):
            return []
        return [
            (int(count.toxic[len(prefix) :].split("-", 1)[0]), count)
            for count in counts
            if count.toxic.startswith(prefix)
        ]


def sweep_dead_runs(
    ledger_dir: Path,
    toxiproxy: ToxiproxyClient,
    processes: Processes | None,
    echo: Callable[[str], None] = lambda _line: None,
) -> int:
    """Undo what runs that died (SIGKILL) left applied; return how many steps were undone.

    Toxics named ``chaos-<run>-...`` of a dead run are removed even without a ledger entry."""
    undone = 0
    live_runs = set()
    for path in sorted(ledger_dir.glob("*.json")) if ledger_dir.exists() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(int(record.get("pid", 0))):
            live_runs.add(str(record.get("run_id")))
            continue
        for step in reversed(record.get("undo", [])):
            with contextlib.suppress(Exception):
                undo_step(step, toxiproxy, None if step["do"] == "restart" else processes)
                undone += 1
        path.unlink(missing_ok=True)
        echo(f"swept faults left by dead run {record.get('run_id')}")
    for name in toxiproxy.proxies():
        for toxic in toxiproxy.toxics(name):
            run = toxic.name[len(TOXIC_PREFIX) :].split("-", 1)[0]
            if toxic.name.startswith(TOXIC_PREFIX) and run not in live_runs:
                with contextlib.suppress(FaultError):
                    toxiproxy.remove_toxic(name, toxic.name)
                    undone += 1
    return undone
