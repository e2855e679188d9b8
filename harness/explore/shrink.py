"""Shrinking a failing experiment to the smallest one that still fails, then confirming it.

    Experiment + the properties it broke
      -> delta debugging, greedy (each step one re-run of the candidate, kept if it still
         breaks one of those properties; the checks are only those, so a pass is a pass):
         fewer faults (each alone), a shorter fault (halved, down to 3 s; a check judged
         from N s into the fault keeps N s + a 3 s window), fewer users (halved, down to 2,
         while every endpoint a kept check judges still expects 5 requests in its window:
         the discovery's rate per user)
         (halved, down to 2), a weaker fault (half the latency, half the connections)
      -> confirmed by ``reruns`` seeded re-runs of the minimal one (seed, seed+1, ...): it
         must fail at least 90% of them; stopped early once that is decided
      -> the minimal scenario YAML in OUT/scenarios (valid for `harness run`)
Every step is charged to the exploration's budget: a candidate is tried only if its
confirmation still fits after it, and the confirmation of the one before it too (a smaller
one that failed once by luck then gives way to a confirmed one, not to none); out of time,
the smallest found so far is confirmed by the re-runs that fit, and emitted even with none
(its finding says so).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.explore.oracle import Experiment, Verdict
from harness.explore.space import MIN_REQUESTS, THIN_WINDOW_S

if TYPE_CHECKING:
    from harness.explore.explorer import Explorer
    from harness.explore.results import Finding

__all__ = [
    "candidates",
    "enough_load",
    "needed_failures",
    "shortest_fault_s",
    "shrink",
    "stronger",
]

MIN_FAULT_S = 3.0
MIN_USERS = 2
_WITHIN = re.compile(r" within ([0-9.]+)s\b")


def needed_failures(reruns: int) -> int:
    """At least 90% of the re-runs (9 of 10)."""
    return math.ceil(0.9 * reruns)


def shortest_fault_s(broken: set[str]) -> float:
    """The shortest fault that still judges ``broken``: a check judged from N s into the
    fault (``fault: error_rate feed within 5s``, a critical endpoint's reaction time) needs
    the fault to last N s plus a window, or the window it judges is empty or all reaction
    (a shorter fault would manufacture the failure)."""
    reaction = [
        float(match.group(1))
        for name in broken
        if name.startswith("fault: ") and (match := _WITHIN.search(name)) is not None
    ]
    return max([MIN_FAULT_S, *(r + THIN_WINDOW_S for r in reaction)])


def enough_load(experiment: Experiment, broken: set[str], rate_per_user: dict[str, float]) -> bool:
    """Will every endpoint a kept check judges see at least MIN_REQUESTS requests in the
    window it is judged on, with this many users? An error rate or a recovery judged on a
    handful of requests fails on a platform without the bug (a breaker closes again on
    traffic): users are shrunk only while they are not. Invariants need no traffic."""
    for name in broken:
        phase, _, check = name.partition(": ")
        parts = check.split(" ")
        if phase not in ("fault", "after") or len(parts) < 2:
            continue
        length = experiment.fault_s if phase == "fault" else experiment.after_s
        match = _WITHIN.search(check)
        window = length - (float(match.group(1)) if match else 0.0)
        expected = rate_per_user.get(parts[1], 0.0) * experiment.users * window
        if expected < MIN_REQUESTS:
            return False
    return True


def candidates(
    experiment: Experiment,
    shortest_s: float = MIN_FAULT_S,
    loaded: Callable[[Experiment], bool] = lambda _: True,
) -> list[Experiment]:
    """The next smaller experiments to try, the biggest cut first; no fault shorter than
    ``shortest_s``, and fewer users only while ``loaded`` says the load is still enough."""
    out: list[Experiment] = []
    if len(experiment.faults) > 1:
        out += [dataclasses.replace(experiment, faults=(f,)) for f in experiment.faults]
    if experiment.fault_s / 2 >= shortest_s:
        out.append(dataclasses.replace(experiment, fault_s=round(experiment.fault_s / 2, 1)))
    fewer = dataclasses.replace(experiment, users=experiment.users // 2)
    if fewer.users >= MIN_USERS and loaded(fewer):
        out.append(fewer)
    for index, fault in enumerate(experiment.faults):
        for weaker in fault.weaker():
            faults = list(experiment.faults)
            faults[index] = weaker
            out.append(dataclasses.replace(experiment, faults=tuple(faults)))
    return out


def shrink(explorer: Explorer, experiment: Experiment, broken: set[str], label: str) -> Finding:
    seed = explorer.options.seed
    reruns = explorer.options.reruns
    runs = 0
    current = experiment
    explorer.say(f"shrink: {label} ({', '.join(sorted(broken))})")
    rate_per_user = explorer.rate_per_user()

    def loaded(smaller: Experiment) -> bool:
        return enough_load(smaller, broken, rate_per_user)

    kept = [experiment]  # the original, then each smaller one that still failed
    progress = True
    while progress:
        progress = False
        for candidate in candidates(current, shortest_fault_s(broken), loaded):
            cost = explorer.run_cost(candidate)
            if explorer.left() - cost < _confirm_cost(explorer, candidate) + _confirm_cost(
                explorer, current
            ):
                # trying it would leave no time to confirm it and, should it not reproduce,
                # the one before it (a cheaper one may fit)
                continue
            judged, _, _ = explorer.judge(candidate, seed, keep=broken)
            runs += 1
            still = judged.verdict is Verdict.BROKEN and bool(set(judged.broken) & broken)
            explorer.say(
                f"  {candidate.label}, {candidate.fault_s:g} s, {candidate.users} users: "
                + ("still fails: kept" if still else "passes")
            )
            if still:
                current = candidate
                kept.append(candidate)
                progress = True
                break
    # seeded re-runs of the smallest; one failure in a single try can be luck (a violating
    # upload that happened to wait through a short fault): if it does not reproduce at 90%,
    # the one before it is confirmed instead, back to the original experiment, then stronger
    # ones (a rare event needs more time or more users to happen nine times in ten)
    chain = [*reversed(kept), *stronger(experiment)]
    reference: bool | None = None
    for current in chain:
        reference = None
        if current is not chain[0]:
            explorer.say(
                "  back to the one before it"
                if current in kept
                else f"  stronger: {current.fault_s:g} s, {current.users} users"
            )
        failed, done, fit = _confirm(explorer, current, broken)
        runs += done
        reproduced = bool(done) and failed >= needed_failures(fit)
        if not done:
            verdict = "not confirmed: no time left for a re-run"
        else:
            verdict = f"failed {failed} of {done} seeded re-runs"
            verdict += f" (the budget allowed {fit} of {reruns})" if fit < reruns else ""
            verdict += "" if reproduced else ": not reproducible at 90%"
        explorer.say(
            f"  minimal: {current.label}, {current.fault_s:g} s, {current.users} users; {verdict}"
        )
        if not done or not reproduced:
            if done:
                continue
            break
        # only a scenario that fails reliably here can show that it passes because the bug
        # is gone on the reference build; one that fails there too (2 users, none of them a
        # creator) gives way to the one before it
        reference = explorer.on_reference(current, broken)
        runs += reference is not None
        if reference is False and current in kept[1:]:
            continue
        break
    return explorer.emit(current, broken, label, (failed, done, runs), reproduced, reference)


def stronger(experiment: Experiment) -> list[Experiment]:
    """When even the original does not reproduce: the fault held twice as long, then also
    twice the users (more of the requests a rare failure needs)."""
    longer = dataclasses.replace(experiment, fault_s=experiment.fault_s * 2)
    return [longer, dataclasses.replace(longer, users=experiment.users * 2)]


def _confirm(explorer: Explorer, experiment: Experiment, broken: set[str]) -> tuple[int, int, int]:
    """As many seeded re-runs as the budget allows, up to --reruns, stopped once decided:
    (failed, done, how many the budget allowed)."""
    seed, reruns = explorer.options.seed, explorer.options.reruns
    fit = min(reruns, int(explorer.left() // explorer.run_cost(experiment)))
    failed = passed = 0
    need = needed_failures(fit) if fit else 0
    for attempt in range(fit):
        judged, _, _ = explorer.judge(experiment, seed + attempt, keep=broken)
        if judged.verdict is Verdict.BROKEN:
            failed += 1
        else:
            passed += 1
        if failed >= need or passed > fit - need:
            break
    return failed, failed + passed, fit


def _confirm_cost(explorer: Explorer, experiment: Experiment) -> float:
    return needed_failures(explorer.options.reruns) * explorer.run_cost(experiment)
