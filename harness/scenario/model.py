"""The scenario, typed: what an engineer writes in YAML, as pydantic models.

    Scenario: name, description, tags, topology, profile, load, baseline, steady_state,
              phases, abort, invariants, communication
    Phase: name, duration, faults (a union on ``type``), expect (a union by its key)
    Scenario.scaled(k) -> the same scenario with every timeline duration times k (once)

Durations are "30s", "500ms", "2m" or seconds; thresholds are a number or "1.5x baseline".
Names of the platform (links, services, endpoints, probes, components, user classes,
invariants) are plain strings here: validate.py checks them against the topology. The model
knows nothing of running: the engine reads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.proxy.http_attributes import (
    HTTP_ATTRIBUTES,
    HttpAbortAttributes,
    HttpCorruptAttributes,
    HttpDelayAttributes,
    describe_error,
)
from harness.units import Duration, parse_seconds

__all__ = [
    "EXPECTATION_KINDS",
    "FAULT_TYPES",
    "PROCESS_FAULTS",
    "TOXIC_ATTRIBUTES",
    "Communication",
    "DownFault",
    "Duration",
    "Expectation",
    "Fault",
    "Load",
    "Phase",
    "Scenario",
    "Threshold",
    "parse_seconds",
]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x\s*baseline\s*(?:\+\s*(\S+(?:\s*\S+)?)\s*)?$")
_THRESHOLD_HELP = "must be a number, a duration or like '1.5x baseline' or '3x baseline + 50ms'"


class Threshold(BaseModel):
    """A bound: absolute (``0.01``, ``800ms``) or relative to the baseline phase (``1.5x
    baseline``), optionally with slack added (``3x baseline + 50ms``: a 20 ms baseline is
    noise-sized, so a pure ratio of it would be a flaky bound)."""

    value: float
    relative: bool = False
    slack: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError(_THRESHOLD_HELP)
        if isinstance(data, int | float):
            return {"value": float(data)}
        if isinstance(data, str):
            match = _RELATIVE.match(data)
            if match:
                slack = 0.0
                if match.group(2):
                    try:
                        slack = parse_seconds(match.group(2))
                    except ValueError:
                        raise ValueError(f"{_THRESHOLD_HELP}, got {data!r}") from None
                return {"value": float(match.group(1)), "relative": True, "slack": slack}
            try:
                return {"value": parse_seconds(data)}  # "800ms" for latency bounds
            except ValueError:
                pass
            raise ValueError(f"{_THRESHOLD_HELP}, got {data!r}")
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {  # what a person writes, not the parsed form
            "description": cls.__doc__,
            "type": ["number", "string"],
            "examples": [0.01, "800ms", "1.5x baseline", "3x baseline + 50ms"],
        }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- load ------------------------------------------------------------------------------------


class Stage(_Strict):
    """From the load's start, one after another: this many users for this long (the last
    stage's users stay until the end). A phase with its own ``users`` overrides them."""

    duration: Duration
    users: int = Field(ge=0, le=10_000)


class Load(_Strict):
    users: int = Field(
        default=20, ge=1, le=10_000, description="Concurrent users (default: the topology's)"
    )
    spawn_rate: float = Field(
        default=10,
        gt=0,
        le=10_000,
        description="Users started per second (default: the topology's)",
    )
    mix: dict[str, Annotated[int, Field(ge=0, le=10_000)]] | None = Field(
        default=None,
        description="The whole mix: weights of the topology's user classes; a class left out"
        " gets no users (default: the topology's mix)",
    )
    stages: list[Stage] = Field(default_factory=list)
    locustfile: str | None = Field(
        default=None, description="Another locustfile than the topology's (relative to this file)"
    )

    @field_validator("mix")
    @classmethod
    def _someone(cls, mix: dict[str, int] | None) -> dict[str, int] | None:
        if mix is not None and not any(mix.values()):
            raise ValueError("the mix gives every user class weight 0: nobody would run")
        return mix

    def users_at(self, elapsed_s: float) -> int:
        """Users ``elapsed_s`` (unscaled) after the load started, following the stages."""
        for stage in self.stages:
            if elapsed_s < stage.duration:
                return stage.users
            elapsed_s -= stage.duration
        return self.stages[-1].users if self.stages else self.users


# -- faults ----------------------------------------------------------------------------------

# Toxiproxy's toxics and their attributes; durations in ms, rates in KB/s.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


MAX_ATTRIBUTE = 86_400_000  # a day in ms; a bigger number is a typo

# HTTP toxics: the embedded proxy's own (a real Toxiproxy server has none)
HTTP_FAULT_TYPES: tuple[str, ...] = tuple(HTTP_ATTRIBUTES)

# need the backend's processes (local signals or container operations)
PROCESS_FAULTS = frozenset({"kill", "pause", "resume", "restart", "stop"})
FAULT_TYPES: tuple[str, ...] = (
    *TOXIC_ATTRIBUTES,
    *HTTP_FAULT_TYPES,
    "down",
    "replication_lag",
    "kill",
    "pause",
    "resume",
    "restart",
    "stop",
    "rollout",
)


class _FaultBase(_Strict):
    until: str | None = Field(
        default=None,
        description="Keep the fault through this later phase (overlapping incidents)",
    )


class ToxicFault(_FaultBase):
    type: Literal[
        "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"
    ]
    link: str
    stream: Literal["upstream", "downstream", "both"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)
    attributes: dict[str, Annotated[int, Field(ge=0, le=MAX_ATTRIBUTE)]] = Field(
        default_factory=dict, description="Toxiproxy's attributes (ms, KB/s, bytes): >= 0"
    )
    max_lifetime: Duration | None = None

    @model_validator(mode="after")
    def _known_attributes(self) -> ToxicFault:
        allowed = TOXIC_ATTRIBUTES[self.type]
        unknown = sorted(set(self.attributes) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown attribute {', '.join(unknown)} for {self.type}; "
                f"it takes: {', '.join(allowed)}"
            )
        return self


class HttpFault(_FaultBase):
    """An HTTP toxic of the embedded proxy: each request the link carries (matching its
    method/path/header) is aborted, delayed or answered wrongly with probability toxicity."""

    type: Literal["http_abort", "http_delay", "http_corrupt"]
    link: str
    stream: Literal["upstream", "downstream"] = Field(
        default="downstream",
        description="http_delay: upstream holds the request, downstream its answer",
    )
    toxicity: float = Field(default=1.0, ge=0, le=1, description="Per request")
    attributes: HttpAbortAttributes | HttpDelayAttributes | HttpCorruptAttributes
    max_lifetime: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_attributes(cls, data: Any) -> Any:
        """Read ``attributes`` as the model of this ``type`` (each type takes its own)."""
        if not isinstance(data, dict):
            return data
        model = HTTP_ATTRIBUTES.get(str(data.get("type")))
        raw = data.get("attributes", {})
        if model is None or not isinstance(raw, dict):
            return data
        try:
            return {**data, "attributes": model.model_validate(raw)}
        except ValidationError as exc:
            raise ValueError(f"attributes of {data['type']}: {describe_error(exc)}") from None


class DownFault(_FaultBase):
    """A partition: the link's proxy is disabled (connections refused and cut)."""

    type: Literal["down"]
    link: str
    max_lifetime: Duration | None = None


class ReplicationLagFault(_FaultBase):
    """Latency (or, with cut: true, a partition) on a replication link (default: the one the
    topology marks ``replication: true``)."""

    type: Literal["replication_lag"]
    link: str | None = None
    delay: Duration = 2.0
    cut: bool = False
    max_lifetime: Duration | None = None


class ProcessFault(_FaultBase):
    # kill: SIGKILL / docker kill; stop: SIGTERM / docker stop (graceful); both are started
    # again when the fault ends. pause/resume: SIGSTOP/SIGCONT / docker pause/unpause.
    type: Literal["kill", "pause", "resume", "restart", "stop"]  # PROCESS_FAULTS
    service: str


class RolloutFault(_FaultBase):
    """Deploy a build as a canary; the platform's controller decides."""

    type: Literal["rollout"]
    service: str
    build: str
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [5, 25, 50, 100]
    )
    interval: Duration = Field(default=10.0, description="Between judgements (time-scaled)")
    analysis: dict[str, float] | None = Field(
        default=None, description="The controller's analysis settings, e.g. {min_samples: 15}"
    )


Fault = Annotated[
    ToxicFault | HttpFault | DownFault | ReplicationLagFault | ProcessFault | RolloutFault,
    Field(discriminator="type"),
]


# -- expectations ----------------------------------------------------------------------------


class MetricExpectation(_Strict):
    """A load figure: error_rate, wrong_answers (the share of requests answered with a success
    status whose answer the user found wrong: an empty or cut body), p50, p95, p99 (seconds),
    throughput (requests/s), or share (of the endpoint's requests, the fraction its ``build``
    served: a canary's exposure)."""

    metric: Literal["error_rate", "wrong_answers", "p50", "p95", "p99", "throughput", "share"]
    endpoint: str = "all"
    build: str | None = None
    max: Threshold | None = None
    min: Threshold | None = None
    within: Duration | None = Field(default=None, description="Holds from N s after phase start")
    for_: Duration | None = Field(default=None, alias="for", description="Holds N s in a row")

    @model_validator(mode="after")
    def _bounded(self) -> MetricExpectation:
        if self.max is None and self.min is None:
            raise ValueError("needs max or min")
        if self.metric == "share" and self.build is None:
            raise ValueError("share needs build: the build whose share of the endpoint it is")
        return self


class StatusExpectation(_Strict):
    """The status page shows a component (of the topology's) in one of these states, within
    N s."""

    status: str
    state: list[Literal["operational", "degraded", "outage"]] = Field(min_length=1)
    within: Duration = 30.0

    @model_validator(mode="before")
    @classmethod
    def _one_state(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("state"), str):
            return {**data, "state": [data["state"]]}
        return data


class ProbeExpectation(_Strict):
    """A reading of one of the topology's probes, taken every half second during the phase."""

    probe: str
    max: Threshold | None = None
    min: Threshold | None = None
    equals: str | None = None
    target: str | None = Field(default=None, description="Fills the probe's {target}")
    within: Duration | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ProbeExpectation:
        if self.max is None and self.min is None and self.equals is None:
            raise ValueError("needs max, min or equals")
        return self


class RolloutExpectation(_Strict):
    rollout: str
    outcome: Literal["promoted", "rolled_back"]
    within: Duration = 60.0


class FailoverExpectation(_Strict):
    failover: str = Field(description="The failing-over upstream, e.g. feed")
    to: str
    within: Duration = 10.0


EXPECTATION_KINDS = ("metric", "status", "probe", "rollout", "failover")


def _expectation_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((kind for kind in EXPECTATION_KINDS if kind in value), None)
    kinds: dict[type[BaseModel], str] = {
        MetricExpectation: "metric",
        StatusExpectation: "status",
        ProbeExpectation: "probe",
        RolloutExpectation: "rollout",
        FailoverExpectation: "failover",
    }
    return kinds.get(type(value))


Expectation = Annotated[
    Annotated[MetricExpectation, Tag("metric")]
    | Annotated[StatusExpectation, Tag("status")]
    | Annotated[ProbeExpectation, Tag("probe")]
    | Annotated[RolloutExpectation, Tag("rollout")]
    | Annotated[FailoverExpectation, Tag("failover")],
    Discriminator(
        _expectation_kind,
        custom_error_type="expectation_kind",
        custom_error_message=(
            "an expectation starts with one of: metric, status, probe, rollout, failover"
        ),
    ),
]


class Phase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    duration: Duration

    @field_validator("duration")
    @classmethod
    def _some_time(cls, seconds: float, info: ValidationInfo) -> float:
        if seconds < 1 and not (info.context or {}).get("scaled"):
            raise ValueError(f"a phase lasts at least 1s, got {seconds:g}s")
        return seconds

    users: int | None = Field(
        default=None, ge=0, le=10_000, description="Users during this phase (e.g. 2x load)"
    )
    faults: list[Fault] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)


class Invariant(_Strict):
    """One of the topology's invariants, checked after healing (within N s)."""

    name: str
    within: Duration = 60.0

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class Communication(_Strict):
    """What the status page must have told users, judged against the harness's own
    measurements after the run (harness/checks/communication.py). Every duration is of the
    timeline (scaled with it); the SLI's breach bounds are magnitudes and stay."""

    components: list[str] | None = Field(
        default=None, description="Judged components (default: every one the topology measures)"
    )
    error_rate: float = Field(
        default=0.05, ge=0, le=1, description="A component's SLI breaches above this error rate"
    )
    p95: Duration = Field(default=2.0, description="... or with its p95 above this")
    acknowledge_within: Duration = Field(
        default=30.0, description="First SLI breach of a component -> first incident naming it"
    )
    max_false_green: Duration = Field(
        default=10.0, description="Seconds shown operational while its SLI breaches"
    )
    max_false_alarm: Duration = Field(
        default=20.0, description="Seconds shown degraded or down while its SLI is healthy"
    )
    max_changes_per_minute: int = Field(
        default=3, ge=1, description="State changes of one component in any 60 s of the page"
    )
    update_every: Duration = Field(
        default=30.0, description="Longest silence while an incident is open"
    )
    resolve_after: Duration = Field(
        default=5.0, description="Resolved only once every component it names was this healthy"
    )


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Lowercase, words joined by -")
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    topology: str | None = Field(
        default=None, description="The platform's topology file, relative to this file"
    )
    stack: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="The topology's stack it needs (e.g. real): checked against the topology on"
        " that stack, run only with --stack NAME (left out, and said so, otherwise)",
    )
    profile: str | None = Field(default=None, description="One of the topology's profiles")
    load: Load = Field(default_factory=Load)
    baseline: str | None = Field(default=None, description="Phase for 'Nx baseline' (first)")
    steady_state: list[MetricExpectation] = Field(default_factory=list)
    phases: list[Phase] = Field(min_length=1)
    abort: list[MetricExpectation] = Field(default_factory=list)
    invariants: list[Invariant] = Field(default_factory=list)
    communication: Communication | None = Field(
        default=None, description="Check what the status page told users (None: not checked)"
    )
    min_time_scale: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="The smallest --time-scale this scenario accepts: the platform's own "
        "reaction times (health checks, status thresholds) do not shrink with the scale, so "
        "below it a verdict would be manufactured",
    )

    @property
    def baseline_phase(self) -> str:
        return self.baseline or self.phases[0].name

    source: Path | None = Field(default=None, exclude=True)  # the file it was read from

    def scale_for(self, requested: float | None) -> float:
        """The time scale this scenario runs at: the one asked for, or (None: ``--time-scale
        floor``) its own floor, the shortest timeline its verdict is tested at (1 without one)."""
        if requested is not None:
            return requested
        return self.min_time_scale or 1.0

    def refuses_time_scale(self, factor: float) -> str | None:
        """Why ``factor`` is too small for this scenario, or None if it is accepted."""
        if self.min_time_scale is None or factor >= self.min_time_scale:
            return None
        return (
            f"{self.name}: --time-scale {factor:g} is below its floor {self.min_time_scale:g}"
            " (its platform reacts in fixed seconds, so a smaller scale would fail it for"
            f" no fault of the platform); run it at {self.min_time_scale:g} or more"
        )

    @property
    def duration_s(self) -> float:
        return sum(phase.duration for phase in self.phases)

    def scaled(self, factor: float) -> Scenario:
        """Every duration of the timeline times ``factor`` (phases, within/for, lifetimes,
        stages, a rollout's interval); bounds on latency are magnitudes and stay."""
        if factor == 1.0:
            return self
        data = self.model_dump(by_alias=True, exclude_none=True)
        data = _scale(data, factor, ())
        scaled = Scenario.model_validate(data, context={"scaled": True})
        return scaled.model_copy(update={"source": self.source})


_TIMELINE_KEYS = {
    "duration",
    "within",
    "for",
    "max_lifetime",
    "interval",
    "acknowledge_within",
    "max_false_green",
    "max_false_alarm",
    "update_every",
    "resolve_after",
}


def _scale(value: Any, factor: float, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if (
                key in _TIMELINE_KEYS
                and isinstance(item, str | int | float)
                and "attributes" not in path
            ):
                seconds = parse_seconds(item) * factor
                if key == "interval":
                    seconds = max(seconds, 0.2)  # the controller's shortest judging interval
                out[key] = seconds
            else:
                out[key] = _scale(item, factor, (*path, str(key)))
        return out
    if isinstance(value, list):
        return [_scale(item, factor, path) for item in value]
    return value
