"""The JSON Schemas shipped for editors: scenarios/scenario.schema.json and
scenarios/topology.schema.json (``harness schema [--topology]``)."""

from __future__ import annotations

import json

from harness.scenario.model import Scenario
from harness.topology import Topology

__all__ = ["scenario_schema_text", "topology_schema_text"]


def scenario_schema_text() -> str:
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Chaos harness scenario"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def topology_schema_text() -> str:
    """The topology file's JSON Schema (harness schema --topology)."""
    schema = Topology.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Chaos harness topology"
    schema.setdefault("patternProperties", {})["^x-"] = {
        "description": "The platform's own settings (ignored by the harness)"
    }
    schema.get("properties", {}).pop("extensions", None)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
