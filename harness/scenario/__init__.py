"""Scenarios: the YAML an engineer writes, typed and validated.

    scenario.yaml -> loader.load_yaml (values + their lines)
                  -> validate.load_scenario: model.Scenario (pydantic) + checks against the
                     topology -> (Scenario, [Problem "file:line: field: message", ...])
    model.Scenario.model_json_schema() -> scenarios/scenario.schema.json (editors)

The model knows nothing of running.
"""

from harness.scenario.model import Scenario
from harness.scenario.validate import Problem, load_scenario, validate_file

__all__ = ["Problem", "Scenario", "load_scenario", "validate_file"]
