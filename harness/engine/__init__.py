"""The engine: runs scenarios and judges them.

session.run_session: validate -> per scenario: platform up -> runner.run_scenario -> down
runner.run_scenario: load -> phases (faults, observation) -> cleanup -> judgement -> journal
expectations.py: pure judging of metrics and observations; probes.py: platform readings
"""

from harness.engine.runner import RunContext, run_scenario
from harness.engine.session import run_session

__all__ = ["RunContext", "run_scenario", "run_session"]
