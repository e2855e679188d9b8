"""YAML in, plain data out, with the line of every value kept for error messages.

    scenario.yaml --yaml.compose--> node tree --_build--> (data, lines)
    lines: {("phases", 1, "faults", 0, "toxicity"): 14, ...}  (1-based line numbers)

Only the YAML/JSON edge sees dicts; the model (model.py) turns them into typed objects.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Loaded", "Path_", "YamlProblem", "load_yaml"]

Path_ = tuple[str | int, ...]


class YamlProblem(Exception):
    """The file is not YAML we can read; carries the line of the problem."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclasses.dataclass(frozen=True)
class Loaded:
    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest parent that has one."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return 1


class _SafeComposer(yaml.SafeLoader):
    pass


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*path, "<key>"), {})
            if not isinstance(key, str | int):
                raise YamlProblem(key_node.start_mark.line + 1, "keys must be plain words")
            if key in result:
                raise YamlProblem(key_node.start_mark.line + 1, f"{key!r} appears twice")
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), lines) for index, item in enumerate(node.value)]
    loader = _SafeComposer("")
    return loader.construct_object(node, deep=True)


def load_yaml(text: str) -> Loaded:
    """Parse one YAML document; YamlProblem (with a line) for anything unreadable."""
    try:
        node = yaml.compose(text, Loader=_SafeComposer)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    if node is None:
        raise YamlProblem(1, "the file is empty")
    lines: dict[Path_, int] = {}
    try:
        data = _build(node, (), lines)
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(1, "nested too deeply") from None
    return Loaded(data, lines)


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
