"""Values inside a JSON answer, by a dotted path the topology writes.

    at({"breakers": {"db-1": "open"}}, "breakers.db-1") -> "open"
    at({"items": [{"id": 1}]}, "items.0.id")                 -> 1
A missing key, an index out of range or a path into a scalar is None (no data), never an error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["at"]


def at(document: Any, path: str | None) -> Any:
    if not path:
        return document
    current = document
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return None
            current = current[index]
        else:
            return None
    return current
