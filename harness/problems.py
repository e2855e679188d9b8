"""Problems in a file a person wrote, each as ``file:line: field.path: message``.

    pydantic ValidationError + Loaded (lines) -> [Problem, ...]     (validation_problems)
    a name that is not declared              -> "unknown link 'x'; did you mean 'y'?" (unknown)
Shared by scenario and topology validation, so both read the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from harness.yamlfile import Loaded, Path_

__all__ = ["Problem", "field_text", "unknown", "validation_problems"]


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


def field_text(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def unknown(kind: str, value: Any, choices: Iterable[str]) -> str:
    """``unknown probe 'lagg'; did you mean 'lag'?`` or the list of choices."""
    options = sorted(choices)
    close = difflib.get_close_matches(str(value), options, n=1)
    if close:
        return f"unknown {kind} {value!r}; did you mean {close[0]!r}?"
    if not options:
        return f"unknown {kind} {value!r}; the topology declares none"
    return f"unknown {kind} {value!r}; choose from: {', '.join(options)}"


def _data_path(loc: tuple[Any, ...], data: Any, tags: Collection[str]) -> Path_:
    """pydantic's location minus the union tags it inserts, following the data."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in tags:
            following = loc[index + 1] if index + 1 < len(loc) else None
            if part not in current or following in current:
                continue  # a union member's tag, not a key of the file
        if isinstance(part, str) and part.startswith("function-"):
            continue  # a validator's name, not a key of the file
        path.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(path)


def _message(error: ErrorDetails) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required"
    if error["type"] == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"type must be one of: {expected.replace(chr(39), '')}, got {error['ctx']['tag']!r}"
    message = message[:1].lower() + message[1:]
    if error["type"] not in ("value_error", "expectation_kind") and "input" in error:
        shown = repr(error["input"])
        if len(shown) <= 60:
            message += f", got {shown}"
    return message


def validation_problems(
    exc: ValidationError, loaded: Loaded, name: str, tags: Collection[str] = ()
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = _data_path(tuple(error["loc"]), loaded.data, tags)
        problems.append(Problem(name, loaded.line_of(path), field_text(path), _message(error)))
    return problems
