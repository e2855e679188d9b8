"""Scenarios: the YAML an engineer writes, typed and validated against a topology.

    scenario.yaml -> harness.yamlfile.load_yaml (values + their lines, with limits)
                  -> validate.load_scenario: model.Scenario (pydantic) + checks against its
                     topology (harness/topology.py) -> (Scenario, [Problem "file:line: ..."])
    model.Scenario.model_json_schema() -> scenarios/scenario.schema.json (editors)

The model knows nothing of running.
"""

from harness.scenario.model import Scenario
from harness.scenario.validate import Problem, TopologyCache, load_scenario, validate_file

__all__ = ["Problem", "Scenario", "TopologyCache", "load_scenario", "validate_file"]
