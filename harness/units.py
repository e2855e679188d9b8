"""Durations as people write them: ``500ms``, ``30s``, ``2m``, ``1h`` or plain seconds.

    "30s" -> parse_seconds -> 30.0          Duration: the same, as a pydantic field type
Shared by the scenario model and the topology (neither imports the other for this).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

__all__ = ["MAX_DURATION_S", "Duration", "parse_seconds"]

# A day: a scenario or a timeout longer than that is a typo (99999999h), not a plan.
MAX_DURATION_S = 86_400.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(value: Any) -> float:
    """A duration in seconds from "30s", "500ms", "2m", "1h" or a number (at most a day)."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s, 500ms or 2m")
    seconds: float | None = None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite duration, got {value}")
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds is None:
        raise ValueError(f"must be a duration like 30s, 500ms or 2m, got {value!r}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most a day (86400s), got {value!r}")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_seconds),
    PlainSerializer(lambda s: f"{s:g}s", return_type=str),
    Field(json_schema_extra={"type": ["string", "number"], "examples": ["30s", "500ms", "2m"]}),
]
