"""The engine: runs scenarios and judges them.

    session.run_session: validate (each scenario against its topology) -> per scenario:
        platform up -> parts.run_scenario -> platform down -> reports
    parts.run_scenario: scale once -> real parts from the platform -> runner.run_timeline
    runner.run_timeline: load -> phases (faults, observation) -> cleanup -> verdict
    verdict.judge_run: expectations, steady state, invariants -> record.status
    console.py: what the person running it sees (live view or plain lines)
Checks (what is read and how it is judged) live in harness/checks; the engine only drives.
"""

from harness.engine.parts import RunContext, run_scenario
from harness.engine.session import run_session

__all__ = ["RunContext", "run_scenario", "run_session"]
