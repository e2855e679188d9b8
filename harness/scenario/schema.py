"""The scenario JSON Schema, as shipped in scenarios/scenario.schema.json."""

from __future__ import annotations

import json

from harness.scenario.model import Scenario

__all__ = ["scenario_schema_text"]


def scenario_schema_text() -> str:
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Chaos harness scenario"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
