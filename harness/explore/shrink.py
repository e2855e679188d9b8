"""Shrinking a failing experiment to the smallest one that still fails, then confirming it.

    Experiment + the properties it broke
      -> delta debugging, greedy (each step one re-run of the candidate, kept if it still
         breaks one of those properties; the checks are only those, so a pass is a pass):
         fewer faults (each alone), a shorter fault (halved, down to 3 s), fewer users
         (halved, down to 2), a weaker fault (half the latency, half the connections)
      -> confirmed by ``reruns`` seeded re-runs of the minimal one (seed, seed+1, ...): it
         must fail at least 90% of them; stopped early once that is decided
      -> the minimal scenario YAML in OUT/scenarios (valid for `harness run`)
Every step is charged to the exploration's budget; out of time, the smallest found so far
is the one confirmed (None: not even the confirmation fits).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from harness.explore.oracle import Experiment, Verdict

if TYPE_CHECKING:
    from harness.explore.explorer import Explorer
    from harness.explore.results import Finding

__all__ = ["candidates", "needed_failures", "shrink"]

MIN_FAULT_S = 3.0
MIN_USERS = 2


def needed_failures(reruns: int) -> int:
    """At least 90% of the re-runs (9 of 10)."""
    return math.ceil(0.9 * reruns)


def candidates(experiment: Experiment) -> list[Experiment]:
    """The next smaller experiments to try, the biggest cut first."""
    out: list[Experiment] = []
    if len(experiment.faults) > 1:
        out += [dataclasses.replace(experiment, faults=(f,)) for f in experiment.faults]
    if experiment.fault_s / 2 >= MIN_FAULT_S:
        out.append(dataclasses.replace(experiment, fault_s=round(experiment.fault_s / 2, 1)))
    if experiment.users // 2 >= MIN_USERS:
        out.append(dataclasses.replace(experiment, users=experiment.users // 2))
    for index, fault in enumerate(experiment.faults):
        for weaker in fault.weaker():
            faults = list(experiment.faults)
            faults[index] = weaker
            out.append(dataclasses.replace(experiment, faults=tuple(faults)))
    return out


def shrink(
    explorer: Explorer, experiment: Experiment, broken: set[str], label: str
) -> Finding | None:
    seed = explorer.options.seed
    reruns = explorer.options.reruns
    runs = 0
    current = experiment
    explorer.say(f"shrink: {label} ({', '.join(sorted(broken))})")
    progress = True
    while progress:
        progress = False
        for candidate in candidates(current):
            if not explorer.affords(candidate) or explorer.left() < _confirm_cost(
                candidate, reruns
            ):
                break
            judged, _, _ = explorer.judge(candidate, seed, keep=broken)
            runs += 1
            still = judged.verdict is Verdict.BROKEN and bool(set(judged.broken) & broken)
            explorer.say(
                f"  {candidate.label}, {candidate.fault_s:g} s, {candidate.users} users: "
                + ("still fails: kept" if still else "passes")
            )
            if still:
                current = candidate
                progress = True
                break
    if explorer.left() < _confirm_cost(current, reruns):
        return None
    failed = passed = 0
    need = needed_failures(reruns)
    for attempt in range(reruns):
        judged, _, _ = explorer.judge(current, seed + attempt, keep=broken)
        runs += 1
        if judged.verdict is Verdict.BROKEN:
            failed += 1
        else:
            passed += 1
        if failed >= need or passed > reruns - need:
            break
    done = failed + passed
    explorer.say(
        f"  minimal: {current.label}, {current.fault_s:g} s, {current.users} users;"
        f" failed {failed} of {done} seeded re-runs"
        + ("" if failed >= need else f" (not reproducible: needs {need} of {reruns})")
    )
    return explorer.emit(current, broken, label, failed, done, runs)


def _confirm_cost(experiment: Experiment, reruns: int) -> float:
    from harness.explore.explorer import RUN_OVERHEAD_S

    return needed_failures(reruns) * (experiment.duration_s + RUN_OVERHEAD_S)
