"""Validation that reports every problem at once, each as ``file:line: field.path: message``.

file -> load_yaml (line of every value) -> Scenario.model_validate (types, unknown keys)
     -> semantic checks against the topology (links, services, builds, timelines)
     -> [Problem, ...]   (empty: the scenario is valid)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from harness.platform.topology import Topology
from harness.scenario.loader import Loaded, Path_, YamlProblem, load_yaml
from harness.scenario.model import EXPECTATION_KINDS, FAULT_TYPES, Scenario, parse_seconds

__all__ = ["Problem", "load_scenario", "validate_file"]

_TAGS = set(EXPECTATION_KINDS) | set(FAULT_TYPES)  # pydantic puts union tags in locations


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


def _field(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """pydantic's location minus the union tags it inserts, following the data."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in _TAGS:
            following = loc[index + 1] if index + 1 < len(loc) else None
            if part not in current or following in current:
                continue  # a union member's tag, not a key of the file
        path.append(part)
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    return tuple(path)


def _message(error: ErrorDetails) -> str:
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
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


def load_scenario(path: Path, topology: Topology) -> tuple[Scenario | None, list[Problem]]:
    """The scenario and every problem in it (the scenario is None when it has problems)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, 1, "", f"cannot read: {exc}")]
    try:
        loaded = load_yaml(text)
    except YamlProblem as exc:
        return None, [Problem(name, exc.line, "", exc.message)]
    if not isinstance(loaded.data, dict):
        return None, [Problem(name, 1, "", "a scenario is a mapping with name, phases, ...")]
    problems = _semantic(loaded.data, loaded, topology, name)
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(loaded.data)
    except ValidationError as exc:
        for error in exc.errors():
            path_ = _data_path(tuple(error["loc"]), loaded.data)
            problems.append(Problem(name, loaded.line_of(path_), _field(path_), _message(error)))
    problems.sort(key=lambda p: (p.line, p.field))
    return (None if problems else scenario), problems


def validate_file(path: Path, topology: Topology) -> list[Problem]:
    return load_scenario(path, topology)[1]


def _unknown(kind: str, value: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(value), choices, n=1)
    if close:
        return f"unknown {kind} {value!r}; did you mean {close[0]!r}?"
    return f"unknown {kind} {value!r}; choose from: {', '.join(choices)}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _seconds_or_none(value: Any) -> float | None:
    try:
        return parse_seconds(value)
    except ValueError:
        return None


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return (
        [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
        if isinstance(value, list)
        else []
    )


def _semantic(data: dict[str, Any], loaded: Loaded, topology: Topology, name: str) -> list[Problem]:
    """Checks against the topology and the timeline; they read the raw data, so they run (and
    report) even when the file also has type errors."""
    problems: list[Problem] = []

    def problem(path: Path_, message: str) -> None:
        problems.append(Problem(name, loaded.line_of(path), _field(path), message))

    phases = _items(data.get("phases"))
    names = [_text(phase.get("name")) for _, phase in phases]
    seen: set[str] = set()
    for index, phase in phases:
        phase_name = _text(phase.get("name"))
        if phase_name is not None and phase_name in seen:
            problem(("phases", index, "name"), f"phase {phase_name!r} appears twice")
        seen.add(phase_name or "")
    load = data.get("load")
    locustfile = _text(load.get("locustfile")) if isinstance(load, dict) else None
    if locustfile is not None and not Path(locustfile).is_file():
        problem(("load", "locustfile"), f"no such file {locustfile!r} (relative to where you run)")
    baseline = _text(data.get("baseline"))
    if baseline is not None and baseline not in names:
        problem(("baseline",), f"no phase named {baseline!r}; phases: {', '.join(map(str, names))}")
    baseline = baseline or (names[0] if names else None)
    paused: set[str] = set()
    for p_index, phase in phases:
        for f_index, fault in _items(phase.get("faults")):
            at: Path_ = ("phases", p_index, "faults", f_index)
            later = [str(n) for n in names[p_index + 1 :] if n is not None]
            _check_fault(fault, at, later, topology, paused, problem)
        duration = _seconds_or_none(phase.get("duration"))
        for e_index, expectation in _items(phase.get("expect")):
            at = ("phases", p_index, "expect", e_index)
            for key in ("within", "for"):
                value = _seconds_or_none(expectation.get(key)) if key in expectation else None
                if value is not None and duration is not None and value > duration:
                    problem(
                        (*at, key),
                        f"{key} {value:g}s is longer than the phase ({duration:g}s): "
                        "it can never be checked",
                    )
            bounds = [str(expectation.get(k, "")) for k in ("max", "min")]
            if phase.get("name") == baseline and any("baseline" in b for b in bounds):
                problem(
                    at, "a bound relative to the baseline cannot be checked in the baseline itself"
                )
    return problems


def _check_fault(
    fault: dict[str, Any],
    at: Path_,
    later: list[str],
    topology: Topology,
    paused: set[str],
    problem: Callable[[Path_, str], None],
) -> None:
    """One fault against the topology and the timeline (``paused`` carries pauses forward)."""
    links = sorted(topology.links)
    services = sorted(topology.started_services)
    slots = {s.canary_of for s in topology.services.values() if s.canary_of}
    until = _text(fault.get("until"))
    if until is not None and until not in later:
        problem(
            (*at, "until"),
            f"no later phase named {until!r}"
            + (f"; later phases: {', '.join(later)}" if later else "; this is the last"),
        )
    # Wrong types are the model's to report; these checks look only at strings.
    link, service, kind = (_text(fault.get(k)) for k in ("link", "service", "type"))
    if link is not None and link not in topology.links:
        problem((*at, "link"), _unknown("link", link, links))
    if service is not None and kind != "rollout" and service not in services:
        problem((*at, "service"), _unknown("service", service, services))
    if kind == "pause":
        paused.add(str(service))
    if kind == "resume" and service not in paused:
        problem((*at, "service"), f"resumes {service!r}, which no earlier fault paused")
    if kind == "rollout":
        build = f"{service}@{fault.get('build')}"
        if service not in slots:
            problem((*at, "service"), f"no canary slot for {service!r} in the topology")
        elif build not in topology.builds:
            known = [b for b in sorted(topology.builds) if b.startswith(f"{service}@")]
            problem(
                (*at, "build"),
                f"unknown build {build}; the topology declares: {', '.join(known)}",
            )
