"""Validation that reports every problem at once, each as ``file:line: field.path: message``.

file -> load_yaml (line of every value; size, depth and alias limits)
     -> its topology: the scenario's ``topology:`` (relative to it), else the given one,
        on the scenario's ``stack:`` when it names one
     -> Scenario.model_validate (types, unknown keys)
     -> checks against the topology (every link, service, endpoint, probe, component,
        capability, user class and invariant it names is declared) and the timeline
     -> (Scenario | None, [Problem, ...])   (None when there is any problem)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.problems import Problem, field_text, unknown, validation_problems
from harness.scenario.model import (
    EXPECTATION_KINDS,
    FAULT_TYPES,
    HTTP_FAULT_TYPES,
    PROCESS_FAULTS,
    Scenario,
    parse_seconds,
)
from harness.topology import DEFAULT_STACK, Topology, topology_problems
from harness.yamlfile import Loaded, Path_, YamlProblem, load_yaml

__all__ = ["Problem", "TopologyCache", "load_scenario", "scenario_topology_path", "validate_file"]

_TAGS = set(EXPECTATION_KINDS) | set(FAULT_TYPES)  # pydantic puts union tags in locations
Report = Callable[[Path_, str], None]


class TopologyCache:
    """Topologies by path, each loaded (and its problems found) once per command."""

    def __init__(self) -> None:
        self._loaded: dict[Path, tuple[Topology | None, list[Problem]]] = {}

    def get(self, path: Path) -> tuple[Topology | None, list[Problem]]:
        key = path.resolve()
        if key not in self._loaded:
            self._loaded[key] = topology_problems(key)
        return self._loaded[key]


def _read(path: Path) -> tuple[Loaded | None, list[Problem]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(name, 1, "", "cannot read: not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(name, 1, "", f"cannot read: {exc.strerror or exc}")]
    try:
        loaded = load_yaml(text)
    except YamlProblem as exc:
        return None, [Problem(name, exc.line, "", exc.message)]
    if not isinstance(loaded.data, dict):
        return None, [Problem(name, 1, "", "a scenario is a mapping with name, phases, ...")]
    return loaded, []


def scenario_topology_path(path: Path, data: dict[str, Any], default: Path) -> Path:
    """The scenario's own ``topology:`` (relative to its file), else the default."""
    own = data.get("topology")
    return (path.parent / own).resolve() if isinstance(own, str) else default


def load_scenario(
    path: Path, topology: Topology | Path, cache: TopologyCache | None = None
) -> tuple[Scenario | None, list[Problem]]:
    """The scenario and every problem in it, checked against its topology (the scenario's
    own ``topology:`` when it names one; else ``topology``)."""
    loaded, problems = _read(path)
    if loaded is None:
        return None, problems
    data: dict[str, Any] = loaded.data
    name = str(path)
    default = topology if isinstance(topology, Path) else topology.path
    wanted = scenario_topology_path(path, data, default)
    if isinstance(topology, Topology) and wanted == topology.path:
        spec: Topology | None = topology
    else:
        spec, found = (cache or TopologyCache()).get(wanted)
        if spec is None:
            where = ("topology",) if "topology" in data else ()
            line = loaded.line_of(where)
            return None, [
                Problem(name, line, field_text(where), f"its topology is invalid: {p}")
                for p in found
            ]
    assert spec is not None
    stack = data.get("stack")
    if isinstance(stack, str) and stack != DEFAULT_STACK:  # what it names lives on that stack
        if stack not in spec.stacks:
            known = ", ".join([DEFAULT_STACK, *spec.stacks])
            line = loaded.line_of(("stack",))
            return None, [
                Problem(name, line, "stack", f"unknown stack {stack!r}; the topology has: {known}")
            ]
        spec = spec.on_stack(stack)
    problems = _semantic(data, loaded, spec, name, path)
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, loaded, name, _TAGS)
    problems.sort(key=lambda p: (p.line, p.field))
    if problems or scenario is None:
        return None, problems
    defaults = {
        key: getattr(spec.load, key)
        for key in ("users", "spawn_rate")
        if spec.load is not None and key not in scenario.load.model_fields_set
    }
    if defaults:  # the topology's load size, where the scenario does not set its own
        scenario = scenario.model_copy(update={"load": scenario.load.model_copy(update=defaults)})
    locustfile = scenario.load.locustfile
    if locustfile is not None:  # relative to the scenario's file, resolved once here
        resolved = str((path.parent / locustfile).resolve())
        scenario = scenario.model_copy(
            update={"load": scenario.load.model_copy(update={"locustfile": resolved})}
        )
    return scenario.model_copy(update={"source": path.resolve(), "topology": str(wanted)}), []


def validate_file(path: Path, topology: Topology | Path) -> list[Problem]:
    return load_scenario(path, topology)[1]


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


def _semantic(
    data: dict[str, Any], loaded: Loaded, topology: Topology, name: str, path: Path
) -> list[Problem]:
    """Checks against the topology and the timeline; they read the raw data, so they run (and
    report) even when the file also has type errors."""
    problems: list[Problem] = []

    def problem(at: Path_, message: str) -> None:
        problems.append(Problem(name, loaded.line_of(at), field_text(at), message))

    phases = _items(data.get("phases"))
    names = [_text(phase.get("name")) for _, phase in phases]
    seen: set[str] = set()
    for index, phase in phases:
        phase_name = _text(phase.get("name"))
        if phase_name is not None and phase_name in seen:
            problem(("phases", index, "name"), f"phase {phase_name!r} appears twice")
        seen.add(phase_name or "")
    _check_top(data, topology, path, problem)
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
            _check_expectation(expectation, at, topology, problem)
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
    _check_conflicts(phases, names, topology, problem)
    for key in ("steady_state", "abort"):
        for index, expectation in _items(data.get(key)):
            _check_expectation(expectation, (key, index), topology, problem)
    return problems


def _check_top(data: dict[str, Any], topology: Topology, path: Path, problem: Report) -> None:
    """Profile, load (locustfile, the whole mix) and invariants against the topology."""
    profile = _text(data.get("profile"))
    if profile is not None and profile not in topology.profiles:
        problem(("profile",), unknown("profile", profile, topology.profiles))
    load = data.get("load")
    if isinstance(load, dict):
        locustfile = _text(load.get("locustfile"))
        if locustfile is not None and not (path.parent / locustfile).is_file():
            problem(("load", "locustfile"), f"no such file {locustfile!r} (relative to this file)")
        mix = load.get("mix")
        classes = topology.load.user_classes if topology.load else []
        if isinstance(mix, dict):
            for key in mix:
                if str(key) not in classes:
                    problem(("load", "mix", key), unknown("user class", key, classes))
    if topology.load is None and (isinstance(load, dict) or "invariants" in data):
        problem(("load",), "the topology declares no load (load.locustfile)")
    for index, invariant in enumerate(data.get("invariants") or []):
        item = invariant.get("name") if isinstance(invariant, dict) else invariant
        if isinstance(item, str) and item not in topology.invariants:
            problem(("invariants", index), unknown("invariant", item, topology.invariants))
    communication = data.get("communication")
    if isinstance(communication, dict):
        _check_communication(communication, topology, problem)


def _check_communication(data: dict[str, Any], topology: Topology, problem: Report) -> None:
    """Checks of what the page said need its components, incidents and the SLIs behind them."""
    page = topology.status_page
    if page is None or page.incidents is None:
        problem(("communication",), "the topology declares no status_page.incidents to judge")
    if not topology.slis:
        problem(("communication",), "the topology measures no component (its slis:)")
    for index, component in enumerate(data.get("components") or []):
        if str(component) not in topology.slis:
            problem(
                ("communication", "components", index),
                unknown("measured component", component, topology.slis),
            )


def _check_expectation(
    expectation: dict[str, Any], at: Path_, topology: Topology, problem: Report
) -> None:
    """Every name an expectation uses is one the topology declares."""
    endpoint = _text(expectation.get("endpoint"))
    endpoints = topology.load.endpoints if topology.load else []
    if endpoint is not None and endpoint != "all" and endpoint not in endpoints:
        problem((*at, "endpoint"), unknown("endpoint", endpoint, [*endpoints, "all"]))
    status = _text(expectation.get("status"))
    if "status" in expectation and topology.status_page is None:
        problem((*at, "status"), "the topology declares no status_page")
    elif status is not None and status not in topology.components:
        problem((*at, "status"), unknown("status component", status, topology.components))
    probe = _text(expectation.get("probe"))
    if probe is not None:
        spec = topology.probes.get(probe)
        target = _text(expectation.get("target"))
        if spec is None:
            problem((*at, "probe"), unknown("probe", probe, topology.probes))
        elif spec.needs_target and target is None:
            hint = f" (one of: {', '.join(spec.targets)})" if spec.targets else ""
            problem((*at, "target"), f"probe {probe} needs a target{hint}")
        elif target is not None and spec.targets is not None and target not in spec.targets:
            problem((*at, "target"), unknown(f"target of probe {probe}", target, spec.targets))
        elif target is not None and not spec.needs_target:
            problem((*at, "target"), f"probe {probe} takes no target")
    if "rollout" in expectation:
        _check_rollout_capability(at, topology, problem, "rollout")
    failover = _text(expectation.get("failover"))
    if failover is not None:
        spec_f = topology.capabilities.failover.get(failover)
        to = _text(expectation.get("to"))
        if spec_f is None:
            problem(
                (*at, "failover"),
                unknown("failover capability", failover, topology.capabilities.failover),
            )
        elif to is not None and to not in spec_f.regions:
            problem((*at, "to"), unknown(f"region of {failover}", to, spec_f.regions))


def _check_rollout_capability(at: Path_, topology: Topology, problem: Report, key: str) -> bool:
    if topology.capabilities.rollouts is None:
        problem((*at, key), "the topology declares no rollouts capability")
        return False
    return True


def _check_fault(
    fault: dict[str, Any],
    at: Path_,
    later: list[str],
    topology: Topology,
    paused: set[str],
    problem: Report,
) -> None:
    """One fault against the topology and the timeline (``paused`` carries pauses forward)."""
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
        problem((*at, "link"), unknown("link", link, topology.links))
    if kind == "replication_lag" and link is None:
        if topology.replication_link is None:
            problem(
                (*at, "link"),
                "name the link: the topology marks no single link with replication: true",
            )
        else:  # the topology's replication link, written in before the model reads it
            fault["link"] = topology.replication_link
    if service is not None and kind in PROCESS_FAULTS:
        spec = topology.services.get(service)
        if spec is None:
            problem((*at, "service"), unknown("service", service, topology.started_services))
        elif spec.external:
            problem(
                (*at, "service"),
                f"{service} is external (the harness never starts or signals it): "
                f"a {kind} fault needs a service the harness starts",
            )
        elif not spec.autostart:
            problem((*at, "service"), f"{service} is started by the platform itself, not by us")
    if kind == "pause":
        paused.add(str(service))
    if kind == "resume" and service not in paused:
        problem((*at, "service"), f"resumes {service!r}, which no earlier fault paused")
    if kind == "rollout" and _check_rollout_capability(at, topology, problem, "type"):
        build = f"{service}@{fault.get('build')}"
        if service not in topology.canary_slots:
            problem((*at, "service"), f"no canary slot for {service!r} in the topology")
        elif build not in topology.builds:
            known = [b for b in sorted(topology.builds) if b.startswith(f"{service}@")]
            problem(
                (*at, "build"),
                f"unknown build {build}; the topology declares: {', '.join(known) or 'none'}",
            )


def _check_conflicts(
    phases: list[tuple[int, dict[str, Any]]],
    names: list[str | None],
    topology: Topology,
    problem: Report,
) -> None:
    """Faults active at once on one link must not contradict each other: the same toxic type
    twice on one direction, or a partition together with anything else on the link."""
    active: list[tuple[int, Path_, dict[str, Any]]] = []  # (last phase index, where, fault)
    reported: set[tuple[Path_, Path_]] = set()
    for p_index, phase in phases:
        active = [item for item in active if item[0] >= p_index]
        for f_index, fault in _items(phase.get("faults")):
            until = _text(fault.get("until"))
            last = names.index(until) if until in names else p_index
            active.append((last, ("phases", p_index, "faults", f_index), fault))
        by_link: dict[str, list[tuple[Path_, dict[str, Any]]]] = {}
        for _, where, fault in active:
            link = _text(fault.get("link"))
            if fault.get("type") == "replication_lag" and link is None:
                link = topology.replication_link
            if link is not None:
                by_link.setdefault(link, []).append((where, fault))
        for link, faults in by_link.items():
            _conflicts_on(link, faults, problem, reported)


def _partition(fault: dict[str, Any]) -> bool:
    return fault.get("type") == "down" or (
        fault.get("type") == "replication_lag" and bool(fault.get("cut"))
    )


def _streams(fault: dict[str, Any]) -> set[str]:
    stream = fault.get("stream", "downstream")
    return {"upstream", "downstream"} if stream == "both" else {str(stream)}


def _conflicts_on(
    link: str,
    faults: list[tuple[Path_, dict[str, Any]]],
    problem: Report,
    reported: set[tuple[Path_, Path_]],
) -> None:
    for index, (where, fault) in enumerate(faults):
        for other_where, other in faults[:index]:
            if (where, other_where) in reported:
                continue
            clash = ""
            if _partition(fault) or _partition(other):
                clash = "a partition and another fault"
            elif (
                fault.get("type") == other.get("type")
                and fault.get("type") not in HTTP_FAULT_TYPES  # each matches its own requests
                and _streams(fault) & _streams(other)
            ):
                clash = f"two {fault.get('type')} faults on the same direction"
            if clash:
                reported.add((where, other_where))
                problem(
                    where,
                    f"conflicts with {field_text(other_where)}: {clash} on link {link} at once",
                )
