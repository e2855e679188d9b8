"""Game-day drills: a scenario run step by step by people, ending in a post-mortem draft.

harness gameday SCENARIO [--auto]
  -> the normal engine (platform, load, faults, observer, judgement) with a PhaseGate:
     Operator (a terminal: Enter / s / n / a before each phase; a / n during one)
     or AutoOperator (--auto: the same plan printed, nobody waits)
  -> reports/<run-id>/ report.html, journal.json, ... and postmortem.md (postmortem.py):
     timeline, what held, what broke, time to detect and to recover, sections to fill in
"""

from harness.gameday.operator import AutoOperator, Operator, phase_plan
from harness.gameday.postmortem import postmortem_md, time_to_detect, time_to_recover

__all__ = [
    "AutoOperator",
    "Operator",
    "phase_plan",
    "postmortem_md",
    "time_to_detect",
    "time_to_recover",
]
