"""The record of one scenario run, typed (what reports render; journal.json serialises it).

    engine (during the run) -> RunRecord: events, phases, fault windows, observed changes,
                               status-page incidents, samples, HTTP faults injected (the
                               proxy's counts), judgements (expectations, invariants,
                               communication), status + reason
    report.write -> journal.json {"runs": [RunRecord, ...]} (model_dump, the JSON edge)
    harness report / index -> load_records(journal.json) -> RunRecord (older journals too)

Nothing here runs anything; the engine fills it, reports and the post-mortem read it.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.load.result import Sample

__all__ = [
    "SEVERITY",
    "Event",
    "FailoverRecord",
    "FaultWindow",
    "HttpFaultCount",
    "IncidentRecord",
    "IncidentUpdate",
    "Judgement",
    "Observed",
    "PhaseRecord",
    "RunRecord",
    "ScenarioInfo",
    "SliTimeline",
    "Status",
]


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERRORED = "errored"
    ABORTED = "aborted"


SEVERITY = {Status.PASSED: 0, Status.FAILED: 1, Status.ABORTED: 2, Status.ERRORED: 3}


class _Record(BaseModel):
    # Journals outlive the code that wrote them: unknown keys of older versions are ignored.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Event(_Record):
    t: float
    kind: str
    message: str


class PhaseRecord(_Record):
    name: str
    start: float
    end: float | None = None  # None: the run stopped during the phase
    faults: list[str] = Field(default_factory=list)


class FaultWindow(_Record):
    label: str
    phase: str
    start: float
    end: float | None = None  # set when removed (by the phase, cleanup, or a lifetime)


class Judgement(_Record):
    """One expectation or invariant, judged: what was measured against what was asked."""

    phase: str
    name: str
    passed: bool
    measured: str
    threshold: str
    detail: str = ""
    partial: bool = Field(
        default=False, description="Judged on a run that stopped early (what it had seen)"
    )


class Observed(_Record):
    """A change users or operators could see: a status component, a rollout, a region."""

    t: float
    what: Literal["status", "rollout", "region"]
    component: str | None = None
    state: str | None = None
    reason: str = ""
    rollout: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None


class IncidentUpdate(_Record):
    """One update of a status-page incident, as published and as first seen."""

    id: str
    status: str
    body: str = ""
    published: float | None = Field(default=None, description="Its created_at (Unix time)")
    seen: float = Field(description="When the harness first saw it")
    components: list[str] = Field(default_factory=list, description="Ours, that it names")


class IncidentRecord(_Record):
    """A status-page incident as the harness saw it: the latest of each of its updates."""

    id: str
    name: str = ""
    status: str = ""
    impact: str = ""
    first_seen: float
    resolved_seen: float | None = None
    named: dict[str, float] = Field(
        default_factory=dict, description="Each of our components it names: first seen naming it"
    )
    updates: list[IncidentUpdate] = Field(default_factory=list)


class SliTimeline(_Record):
    """One component second by second from ``start``: its SLI (h healthy, b breach, ? unknown)
    beside what the page showed (o operational, d degraded, x outage, - not read)."""

    component: str
    start: float
    sli: str
    shown: str


class FailoverRecord(_Record):
    at: float
    source: str = Field(default="", alias="from")
    to: str = ""
    reason: str = ""


class HttpFaultCount(_Record):
    """What one HTTP toxic of the run did, by the proxy's own count (its /metrics)."""

    phase: str
    link: str
    toxic: str
    kind: str = Field(description="abort, delay, or the corruption mode")
    matched: int = Field(description="Requests the toxic's method/path/header matched")
    injected: int = Field(description="Of those, the ones its toxicity drew: faults injected")


class ScenarioInfo(_Record):
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    source: str | None = None


class RunRecord(_Record):
    run_id: str
    scenario: ScenarioInfo
    definition: dict[str, Any] = Field(
        default_factory=dict, description="The scenario as written (for the record only)"
    )
    topology: str = ""
    profile: str = "normal"
    defects: list[str] = Field(default_factory=list)
    time_scale: float = 1.0
    started_at: float
    finished_at: float | None = None
    status: Status = Status.PASSED
    reason: str = ""
    stopped_early: str = Field(
        default="",
        description="Why --fail-fast ended the run before its last phase (empty: it did not)",
    )
    events: list[Event] = Field(default_factory=list)
    phases: list[PhaseRecord] = Field(default_factory=list)
    faults: list[FaultWindow] = Field(default_factory=list)
    expectations: list[Judgement] = Field(default_factory=list)
    invariants: list[Judgement] = Field(default_factory=list)
    observed: list[Observed] = Field(default_factory=list)
    incidents: list[IncidentRecord] = Field(default_factory=list)
    communication: list[Judgement] = Field(
        default_factory=list, description="The scenario's communication checks, judged"
    )
    sli_timelines: list[SliTimeline] = Field(
        default_factory=list, description="What the communication checks compared"
    )
    failovers: list[FailoverRecord] = Field(default_factory=list)
    http_faults: list[HttpFaultCount] = Field(
        default_factory=list, description="HTTP faults the proxy injected, per toxic and kind"
    )
    samples: list[Sample] = Field(default_factory=list)
    error_log: str | None = Field(default=None, description="Traceback file of a harness bug")
    traceback: str | None = Field(default=None, exclude=True)  # written to error_log

    @property
    def judgements(self) -> list[Judgement]:
        return [*self.expectations, *self.invariants, *self.communication]

    @property
    def failed(self) -> list[Judgement]:
        return [j for j in self.judgements if not j.passed]

    @property
    def ended(self) -> float:
        return self.finished_at or self.started_at

    def event(self, t: float, kind: str, message: str) -> None:
        self.events.append(Event(t=t, kind=kind, message=message))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
