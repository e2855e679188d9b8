"""YAML in, plain data out, with the line of every value kept for error messages, and with
limits, so that no file can make the harness hang, grow without bound or crash.

    text --size limit--> yaml.parse (events, not recursive: depth and aliases counted)
         --yaml.compose--> node tree --_build (a budget of values)--> Loaded(data, lines)
    lines: {("phases", 1, "faults", 0, "toxicity"): 14, ...}  (1-based line numbers)

A 351-byte alias bomb or a 5000-deep list is a YamlProblem with a line, never a RecursionError
or a memory blow-up. Only this edge sees dicts; typed models turn them into objects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "Loaded", "Path_", "YamlProblem", "load_yaml"]

Path_ = tuple[str | int, ...]
MAX_BYTES = 1024 * 1024  # a scenario or topology is a few KB
MAX_DEPTH = 64  # mappings and lists inside each other
MAX_VALUES = 100_000  # values after aliases are expanded (an alias bomb expands to billions)


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


def _check_shape(text: str) -> None:
    """Depth from the event stream (the composer recurses; the parser does not)."""
    depth = 0
    for event in yaml.parse(text, Loader=_SafeComposer):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise YamlProblem(line, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Builder:
    def __init__(self) -> None:
        self.values = 0
        self.loader = _SafeComposer("")

    def build(self, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise YamlProblem(
                node.start_mark.line + 1,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)",
            )
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, (*path, "<key>"), {})
                if not isinstance(key, str | int):
                    raise YamlProblem(key_node.start_mark.line + 1, "keys must be plain words")
                if key in result:
                    raise YamlProblem(key_node.start_mark.line + 1, f"{key!r} appears twice")
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key), lines)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), lines) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load_yaml(text: str) -> Loaded:
    """Parse one YAML document; YamlProblem (with a line) for anything unreadable."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise YamlProblem(1, f"larger than {MAX_BYTES // 1024} KiB")
    if "\x00" in text:
        raise YamlProblem(1, "not a text file (it holds NUL bytes)")
    try:
        _check_shape(text)
        node = yaml.compose(text, Loader=_SafeComposer)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(1, "nested too deeply") from None
    if node is None:
        raise YamlProblem(1, "the file is empty")
    lines: dict[Path_, int] = {}
    try:
        data = _Builder().build(node, (), lines)
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"not valid YAML: {exc}") from None
    except (RecursionError, OverflowError, ValueError) as exc:
        raise YamlProblem(1, f"not valid YAML: {type(exc).__name__}") from None
    return Loaded(data, lines)
