"""The generic oracle: an experiment as a scenario whose checks need no one's judgement.

    Experiment (faults, users, durations) + Discovery (endpoints, baseline) + Topology
      -> experiment_scenario(): a scenario dict (the YAML an engineer could have written):
         before   (steady state: every endpoint as in the baseline)
         fault    every endpoint's error rate and p95 (a miss here is *degraded*), the
                  topology's critical endpoints within their bounds (unless the fault is on
                  one of their declared single points), and no wrong answers (a miss of
                  either is *broken*)
         after    every endpoint back to its baseline error rate and p95 (*broken*: recovery),
                  and each critical endpoint's p95 bound over the whole phase: a request
                  that hung through the fault finishes only once it is healed, so the fault
                  phase never sees it (*broken*: it hung)
         invariants: all the topology's (nothing acknowledged lost, ...); communication: the
         status page's honesty, where the topology has one
      -> judge(record): held / degraded / broken, naming each property that broke
A finding's minimal scenario keeps only the checks that broke, so it fails for that reason.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

from harness.checks.expectations import NO_REQUESTS
from harness.checks.invariants import NOTHING_READ
from harness.explore.space import Discovery, FaultChoice
from harness.record import RunRecord, Status
from harness.topology import Topology

__all__ = [
    "Experiment",
    "Judged",
    "Verdict",
    "discovery_scenario",
    "experiment_scenario",
    "judge",
]

DEGRADED_ERROR_RATE = 0.05  # a fault phase's endpoint above this is degraded
RECOVERED_ERROR_SLACK = 0.01  # after healing: the baseline's error rate plus this
FAULT_P95 = "5x baseline + 500ms"
RECOVERED_P95 = "3x baseline + 250ms"
CRITICAL_P95 = "3x baseline + 250ms"
HONESTY_CHECKS = ("false green", "time to acknowledge")


class Verdict(enum.StrEnum):
    HELD = "held"
    DEGRADED = "degraded"
    BROKEN = "broken"
    INCONCLUSIVE = "inconclusive"  # the platform was not steady before the fault: run again


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Faults held together for ``fault_s`` under ``users``, between a steady ``before``
    and an ``after`` in which the platform must recover."""

    faults: tuple[FaultChoice, ...]
    users: int
    before_s: float = 3.0
    fault_s: float = 10.0
    after_s: float = 12.0

    @property
    def label(self) -> str:
        return " + ".join(f"{f.target} {f.label}" for f in self.faults)

    @property
    def slug(self) -> str:
        return "-and-".join(f.slug for f in self.faults)[:90].strip("-")

    @property
    def duration_s(self) -> float:
        return self.before_s + self.fault_s + self.after_s


@dataclasses.dataclass
class Judged:
    verdict: Verdict
    broken: list[str]  # "phase: check" of each broken property
    degraded: list[str]


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _load(users: int) -> dict[str, object]:
    return {"users": users, "spawn_rate": max(users, 1)}


def discovery_scenario(topology: Topology, users: int, seconds: float) -> dict[str, Any]:
    """A fault-free run under the topology's load: its figures are the baseline."""
    return {
        "name": "explore-discover",
        "description": "harness explore: the fault-free run whose figures are the baseline",
        "topology": str(topology.path),
        "load": _load(users),
        "phases": [{"name": "discover", "duration": _seconds(seconds)}],
    }


def experiment_scenario(
    experiment: Experiment,
    found: Discovery,
    topology: Topology,
    name: str,
    keep: set[str] | None = None,
    topology_ref: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """The experiment as a scenario. ``keep``: only these checks ("phase: name", as judge()
    names them), for a finding's minimal scenario; None: every check (an experiment)."""

    def wanted(phase: str, check: dict[str, Any]) -> bool:
        return keep is None or f"{phase}: {_name(check)}" in keep

    fault_checks: list[dict[str, Any]] = []
    after_checks: list[dict[str, Any]] = []
    settle = _seconds(round(experiment.after_s / 2, 1))
    thin = found.thin()
    for endpoint in found.endpoints:
        base_errors = found.baseline_error_rate.get(endpoint, 0.0)
        fault_p95, after_p95 = FAULT_P95, RECOVERED_P95
        if endpoint in thin:  # its own before phase may see no request: the discovery's p95
            base_s = found.baseline_p95_ms.get(endpoint, 0.0) / 1000
            fault_p95 = _seconds(round(5 * base_s + 0.5, 3))
            after_p95 = _seconds(round(3 * base_s + 0.25, 3))
        fault_checks += [
            {"metric": "error_rate", "endpoint": endpoint, "max": DEGRADED_ERROR_RATE},
            {"metric": "p95", "endpoint": endpoint, "max": fault_p95},
            {"metric": "wrong_answers", "endpoint": endpoint, "max": 0},
        ]
        after_checks += [
            {
                "metric": "error_rate",
                "endpoint": endpoint,
                "max": round(base_errors + RECOVERED_ERROR_SLACK, 4),
                "within": settle,
            },
            {"metric": "p95", "endpoint": endpoint, "max": after_p95, "within": settle},
        ]
    targets = {f.target for f in experiment.faults}
    for endpoint, bounds in topology.critical.items():
        if endpoint not in found.endpoints or targets & set(bounds.unless):
            continue  # a fault on one of its declared single points of failure excuses it
        for metric, bound in (("error_rate", bounds.error_rate), ("p95", bounds.p95)):
            if bound is not None:
                fault_checks.append(
                    {
                        "metric": metric,
                        "endpoint": endpoint,
                        "max": bound,
                        "within": _seconds(bounds.within),
                    }
                )
        if bounds.p95 is not None:  # a request hung through the fault finishes after it
            after_checks.append({"metric": "p95", "endpoint": endpoint, "max": bounds.p95})
    phases: list[dict[str, Any]] = [
        {"name": "before", "duration": _seconds(experiment.before_s)},
        {
            "name": "fault",
            "duration": _seconds(experiment.fault_s),
            "faults": [f.fault() for f in experiment.faults],
            "expect": [c for c in fault_checks if wanted("fault", c)],
        },
        {
            "name": "after",
            "duration": _seconds(experiment.after_s),
            "expect": [c for c in after_checks if wanted("after", c)],
        },
    ]
    for phase in phases:
        if not phase.get("expect"):
            phase.pop("expect", None)
    scenario: dict[str, Any] = {
        "name": name,
        "description": description
        or f"harness explore: {experiment.label} for {experiment.fault_s:g} s",
        "tags": ["explore"],
        "topology": topology_ref or str(topology.path),
        "load": _load(experiment.users),
        "phases": phases,
        "invariants": [n for n in topology.invariants if keep is None or f"invariant: {n}" in keep],
    }
    thin = found.thin()
    if keep is None:  # the run's own steady state (before, and the end of after) is judged too
        scenario["steady_state"] = [
            {"metric": "error_rate", "endpoint": e, "max": round(r + RECOVERED_ERROR_SLACK, 4)}
            for e, r in found.baseline_error_rate.items()
            if e not in thin
        ]
    if (
        topology.status_page is not None
        and topology.slis
        and (keep is None or any(k.startswith("communication: ") for k in keep))
    ):
        scenario["communication"] = {
            # generous: a fault phase is short, and the oracle knows no one's promises
            "acknowledge_within": _seconds(round(experiment.fault_s * 0.8, 1)),
            "max_false_green": _seconds(round(experiment.fault_s * 0.6, 1)),
            "max_false_alarm": _seconds(experiment.duration_s),
            "max_changes_per_minute": 6,
            "update_every": _seconds(experiment.duration_s),
            "resolve_after": "1s",
        }
    if not scenario["invariants"]:
        del scenario["invariants"]
    return scenario


def _name(check: dict[str, Any]) -> str:
    """The name judge_metric gives a check (``error_rate feed``, ``p95 feed within 6s``)."""
    name = f"{check['metric']} {check['endpoint']}"
    if "within" in check:
        name += f" within {float(str(check['within']).removesuffix('s')):g}s"
    return name


def judge(record: RunRecord, critical: set[str], thin: set[str] | None = None) -> Judged:
    """Held, degraded or broken, from the run's judgements. Broken: an invariant, a wrong
    answer, a critical endpoint out of its bounds, no recovery after healing, or the status
    page hiding what users saw (green through an SLI breach, an incident never opened).
    Degraded: any other endpoint out of its fault-phase bound. A run that was not steady
    before the fault is inconclusive. ``thin`` endpoints (too quiet for a short window) are
    not judged on a window where no request of theirs finished: that is chance."""
    if record.status in (Status.ERRORED, Status.ABORTED):
        return Judged(Verdict.INCONCLUSIVE, [record.reason or record.status.value], [])
    broken: list[str] = []
    degraded: list[str] = []
    for check in record.expectations:
        if check.passed or check.phase.startswith("steady state after"):
            continue  # the after phase's own checks judge recovery, on the same window
        endpoint = check.name.split(" ")[1] if " " in check.name else ""
        if check.measured == NO_REQUESTS and endpoint in (thin or set()):
            continue
        if NO_REQUESTS in check.threshold:  # relative to a baseline that saw no request
            continue
        if check.phase.startswith("steady state before"):
            return Judged(Verdict.INCONCLUSIVE, [f"{check.phase}: {check.name}"], [])
        # a wrong answer is one given (a success the user found wrong); no answer at all
        # (every request hung through the phase) is the endpoint degraded, not wrong
        wrong = check.name.startswith("wrong_answers") and check.measured != NO_REQUESTS
        critical_miss = endpoint in critical and " within " in check.name
        if check.phase == "fault" and (wrong or critical_miss):
            broken.append(f"fault: {check.name}")
        elif check.phase == "fault":
            degraded.append(f"fault: {check.name}")
        else:
            broken.append(f"{check.phase}: {check.name}")
    # an invariant with nothing to read (no creator among 2 users: no upload) judged nothing
    broken += [
        f"invariant: {c.name}"
        for c in record.invariants
        if not c.passed and NOTHING_READ not in c.measured
    ]
    # the page hiding an outage breaks users' trust; a page more cautious than the SLIs (an
    # incident naming a component whose figures held, a stale feed called degraded) does not
    broken += [
        f"communication: {c.name}"
        for c in record.communication
        if not c.passed and c.name.startswith(HONESTY_CHECKS)
    ]
    if broken:
        return Judged(Verdict.BROKEN, broken, degraded)
    return Judged(Verdict.DEGRADED if degraded else Verdict.HELD, [], degraded)


def relative_ref(topology: Topology, scenario_dir: Path) -> str:
    """The topology as the emitted scenario names it: relative to where the scenario lives
    when both are in one tree (the scenario moves with it), else its absolute path."""
    import os

    target, here = topology.path.resolve(), scenario_dir.resolve()
    if os.path.commonpath([target, here]) == target.anchor:
        return str(target)
    return os.path.relpath(target, here)
