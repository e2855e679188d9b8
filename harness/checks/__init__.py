"""Checks: what a run reads of the platform and how it is judged. Pure where it can be.

    topology + expectation -> probes.Prober.read        (status page, rollouts, failover,
                                                          named probes: one function per kind)
    topology -> observer.StateObserver.poll/finish      (what users saw -> record.observed)
    samples + windows -> expectations.judge_metric      -> Judgement
    timed readings    -> expectations.judge_observed    -> Judgement
    history + read-back -> invariants.judge_invariants  -> Judgement (one function per check)
    acknowledged writes -> readers.wrong_reads          (each declared reader agrees; both
                           read back through rereads.read_until_settled)
No data is never a pass. Nothing here starts or stops anything.
"""

from harness.checks.expectations import Observation, judge_metric, judge_observed
from harness.checks.invariants import InvariantInputs, ReadBack, judge_invariants
from harness.checks.observer import StateObserver
from harness.checks.probes import Prober

__all__ = [
    "InvariantInputs",
    "Observation",
    "Prober",
    "ReadBack",
    "StateObserver",
    "judge_invariants",
    "judge_metric",
    "judge_observed",
]
