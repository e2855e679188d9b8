"""What the status page told users, held to what the harness measured (a scenario's
``communication:`` checks). Pure: timelines in, judgements out; unit-tested without sockets.

    record.samples + topology.slis -> per component and second: its SLI (healthy | breach |
        unknown: fewer than MIN_SAMPLES in the SLI_WINDOW_S behind it), requests still
        waiting at the second's end counted with their age then (a hung request is slow
        from the moment users wait on it, not from when it ends)
    record.observed (status)       -> per component and second: the state the page showed
        -> ComponentTimeline (the report charts it: record.sli_timelines)
    + record.incidents (who was named when, the updates, the resolution)
    + the invariants (was acknowledged data lost?)
    -> Judgements, phase "communication":
       time to acknowledge C   first breach (4 s in a row) -> first incident naming C
       right component C       an incident named C: its SLI breached around then
       false green C           seconds shown operational while its SLI breached
       false alarm C           seconds shown degraded/outage while its SLI was healthy
       no flapping C           state changes of C in any 60 s of the page
       update cadence I        longest silence while I was open; every update (but the
                               last) says when the next is due
       honest resolution I     resolved only once what it named was healthy for N s, and
                               its last update says, truly, whether data was lost

The truth is the harness's own measurement, never what the platform says of itself.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Iterable, Sequence

from harness.load.result import Sample
from harness.record import IncidentRecord, IncidentUpdate, Judgement, Observed, SliTimeline
from harness.scenario.model import Communication

__all__ = [
    "CHECKS",
    "FLAP_WINDOW_S",
    "ComponentTimeline",
    "Second",
    "component_timelines",
    "data_claim",
    "judge_communication",
]

SLI_WINDOW_S = 3  # each second's SLI: the samples of the seconds (t-3, t]
MIN_SAMPLES = 3  # fewer: unknown (neither breach nor healthy)
# a breach users saw: this many seconds in a row (a one-second blip stays in the window for
# SLI_WINDOW_S seconds: two seconds of failures, at least)
BREACH_MIN_S = SLI_WINDOW_S + 1
FLAP_WINDOW_S = 60.0
PHASE = "communication"
CHECKS = (  # each judgement's name starts with one of these
    "time to acknowledge",
    "right component",
    "false green",
    "false alarm",
    "no flapping",
    "update cadence",
    "honest resolution",
)
_NEXT_UPDATE = re.compile(r"next update|update (you |again )?(by|within|in)\b", re.I)
_NONE_LOST = re.compile(r"\b(no|nothing|none)\b[^.]*\b(lost|loss)\b", re.I)
_LOST = re.compile(r"\b(lost|loss)\b", re.I)


@dataclasses.dataclass(frozen=True)
class Second:
    t: int
    sli: str  # healthy | breach | unknown
    shown: str | None  # operational | degraded | outage; None: not read yet
    error_rate: float | None = None
    p95_ms: float | None = None

    @property
    def false_green(self) -> bool:
        return self.sli == "breach" and self.shown == "operational"

    @property
    def false_alarm(self) -> bool:
        return self.sli == "healthy" and self.shown in ("degraded", "outage")


@dataclasses.dataclass(frozen=True)
class ComponentTimeline:
    component: str
    seconds: tuple[Second, ...]

    @property
    def false_green_s(self) -> int:
        return sum(1 for s in self.seconds if s.false_green)

    @property
    def false_alarm_s(self) -> int:
        return sum(1 for s in self.seconds if s.false_alarm)

    def first_breach(self) -> Second | None:
        """The first second of the first breach that lasted BREACH_MIN_S in a row."""
        run: list[Second] = []
        for second in self.seconds:
            run = [*run, second] if second.sli == "breach" else []
            if len(run) >= BREACH_MIN_S:
                return run[0]
        return None

    def breached_between(self, start: float, end: float) -> bool:
        return any(s.sli == "breach" and start <= s.t + 1 and s.t <= end for s in self.seconds)

    def last_breach_end(self, at: float) -> float | None:
        """The end of the last breached second begun by ``at`` (after it: still breaching)."""
        ends = [s.t + 1.0 for s in self.seconds if s.sli == "breach" and s.t <= at]
        return max(ends) if ends else None


def _p95(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _shown_at(changes: Sequence[Observed], t: float) -> str | None:
    shown: str | None = None
    for change in changes:
        if change.t > t:
            break
        shown = change.state
    return shown


def _long_requests(samples: Iterable[Sample]) -> list[tuple[float, float]]:
    """(start, end) of each request that took a second or more (it ended mid-way through its
    sample's second). Shorter ones are in flight at a second's end for less than a second:
    counting them would barely move the figures, and take long on a big load."""
    return [
        (sample.t + 0.5 - latency / 1000.0, sample.t + 0.5)
        for sample in samples
        for latency in sample.latencies_ms
        if latency >= 1000.0
    ]


def component_timelines(
    spec: Communication,
    slis: dict[str, list[str]],
    samples: Iterable[Sample],
    observed: Iterable[Observed],
    window: tuple[float, float],
) -> list[ComponentTimeline]:
    """Per judged component, each whole second of ``window``: its SLI beside the page.

    A request still waiting at a second's end counts there with the age it had: a hung
    request becomes a sample only when it ends (if ever), but its users waited all along."""
    start, end = math.floor(window[0]), math.ceil(window[1])
    by_second: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        by_second.setdefault((sample.endpoint, sample.t), []).append(sample)
    status = sorted((o for o in observed if o.what == "status"), key=lambda o: o.t)
    timelines: list[ComponentTimeline] = []
    for component in spec.components or list(slis):
        endpoints = slis.get(component, [])
        requests = _long_requests(
            s for (e, _), group in by_second.items() if e in endpoints for s in group
        )
        changes = [o for o in status if o.component == component]
        seconds: list[Second] = []
        for t in range(start, end):
            window_samples = [
                s
                for e in endpoints
                for u in range(t - SLI_WINDOW_S + 1, t + 1)
                for s in by_second.get((e, u), [])
            ]
            waiting = [(t + 1 - a) * 1000.0 for a, b in requests if a < t + 1 < b]
            n = sum(s.n for s in window_samples) + len(waiting)
            shown = _shown_at(changes, t + 1.0)  # what the page showed by that second's end
            if n < MIN_SAMPLES:
                seconds.append(Second(t, "unknown", shown))
                continue
            error_rate = sum(s.errors for s in window_samples) / n
            latencies = [x for s in window_samples for x in s.latencies_ms] + waiting
            p95_ms = _p95(latencies) if latencies else 0.0
            breach = error_rate > spec.error_rate or p95_ms > spec.p95 * 1000.0
            state = "breach" if breach else "healthy"
            seconds.append(Second(t, state, shown, error_rate, p95_ms))
        timelines.append(ComponentTimeline(component, tuple(seconds)))
    return timelines


def data_claim(body: str) -> str:
    """What an update says of data: 'none lost', 'lost' or 'silent'."""
    if _NONE_LOST.search(body):
        return "none lost"
    return "lost" if _LOST.search(body) else "silent"


def _when(update: IncidentUpdate) -> float:
    return update.published if update.published is not None else update.seen


def _began(incident: IncidentRecord, window: tuple[float, float]) -> float:
    """From when its naming of a component is the run's news: any time, or, for an incident
    already open when the run began, only from the run's start on."""
    first = min((_when(u) for u in incident.updates), default=incident.first_seen)
    return window[0] if first < window[0] else -math.inf


def _in_window(incident: IncidentRecord, window: tuple[float, float]) -> bool:
    """Open at some time of the run (not an incident resolved before it began)."""
    if incident.first_seen > window[1]:
        return False
    resolved = [_when(u) for u in incident.updates if u.status == "resolved"]
    if resolved or incident.resolved_seen is not None:
        return max([*resolved, incident.resolved_seen or 0.0]) >= window[0]
    return True


_SLI_CODES = {"healthy": "h", "breach": "b", "unknown": "?"}
_SHOWN_CODES = {"operational": "o", "degraded": "d", "outage": "x"}


def timeline_records(timelines: Iterable[ComponentTimeline]) -> list[SliTimeline]:
    """The record's compact form of the timelines (one character per second)."""
    return [
        SliTimeline(
            component=t.component,
            start=float(t.seconds[0].t) if t.seconds else 0.0,
            sli="".join(_SLI_CODES[s.sli] for s in t.seconds),
            shown="".join(_SHOWN_CODES.get(s.shown or "", "-") for s in t.seconds),
        )
        for t in timelines
    ]


def judge_communication(
    spec: Communication,
    slis: dict[str, list[str]],
    samples: Sequence[Sample],
    observed: Sequence[Observed],
    incidents: Sequence[IncidentRecord],
    window: tuple[float, float],
    data_lost: tuple[str, ...] | None,
) -> tuple[list[Judgement], list[ComponentTimeline]]:
    """data_lost: the data-loss invariants that failed (empty: none; None: not judged).
    Returns the judgements, and the timelines they were judged on."""
    timelines = component_timelines(spec, slis, samples, observed, window)
    judged = [i for i in incidents if _in_window(i, window)]
    results: list[Judgement] = []
    for timeline in timelines:
        results += _component_checks(spec, timeline, observed, judged, window)
    for incident in judged:
        results.append(_cadence(spec, incident, window))
        resolution = _resolution(spec, incident, timelines, data_lost)
        if resolution is not None:
            results.append(resolution)
    return results, timelines


def _component_checks(
    spec: Communication,
    timeline: ComponentTimeline,
    observed: Sequence[Observed],
    incidents: Sequence[IncidentRecord],
    window: tuple[float, float],
) -> list[Judgement]:
    c = timeline.component
    results: list[Judgement] = []
    breach = timeline.first_breach()
    if breach is not None:
        results.append(_acknowledged(spec, c, breach, incidents, window))
    # incidents that named c during the run (one already open when it began is not its news)
    naming = [i for i in incidents if c in i.named and i.named[c] >= _began(i, window)]
    if naming:
        wrong = [
            i
            for i in naming
            if not timeline.breached_between(
                i.named[c] - spec.acknowledge_within, i.resolved_seen or window[1]
            )
        ]
        results.append(
            Judgement(
                phase=PHASE,
                name=f"right component {c}",
                passed=not wrong,
                measured=f"named by {len(naming)} incident(s), {len(wrong)} while healthy",
                threshold="named only while its SLI breached",
                detail="; ".join(f"{i.name or i.id!r} named {c}, whose SLI held" for i in wrong),
            )
        )
    for label, seconds, bound in (
        ("false green", timeline.false_green_s, spec.max_false_green),
        ("false alarm", timeline.false_alarm_s, spec.max_false_alarm),
    ):
        results.append(
            Judgement(
                phase=PHASE,
                name=f"{label} {c}",
                passed=seconds <= bound,
                measured=f"{seconds} s",
                threshold=f"<= {bound:g} s",
                detail=_stretches(timeline, label),
            )
        )
    changes = [
        o.t for o in sorted(observed, key=lambda o: o.t) if o.what == "status" and o.component == c
    ][1:]  # the first reading is where the page started, not a change
    most = max((sum(1 for u in changes if t <= u < t + FLAP_WINDOW_S) for t in changes), default=0)
    results.append(
        Judgement(
            phase=PHASE,
            name=f"no flapping {c}",
            passed=most <= spec.max_changes_per_minute,
            measured=f"{most} changes in {FLAP_WINDOW_S:.0f} s",
            threshold=f"<= {spec.max_changes_per_minute}",
        )
    )
    return results


def _acknowledged(
    spec: Communication,
    c: str,
    breach: Second,
    incidents: Sequence[IncidentRecord],
    window: tuple[float, float],
) -> Judgement:
    delays = []
    for incident in incidents:
        named = incident.named.get(c)
        if named is None:
            continue
        if incident.resolved_seen is not None and incident.resolved_seen < breach.t:
            continue  # an earlier incident, over before this breach
        delays.append(max(0.0, named - breach.t))
    delay = min(delays) if delays else None
    what = f"{breach.error_rate or 0:.0%} errors, p95 {breach.p95_ms or 0:.0f} ms"
    return Judgement(
        phase=PHASE,
        name=f"time to acknowledge {c}",
        passed=delay is not None and delay <= spec.acknowledge_within,
        measured="never" if delay is None else f"{delay:.1f} s",
        threshold=f"<= {spec.acknowledge_within:g} s",
        detail=f"first breach at +{breach.t - window[0]:.0f} s ({what})",
    )


def _stretches(timeline: ComponentTimeline, label: str) -> str:
    """'+12-15 s, +30 s': when the page was wrong (relative to the timeline's start)."""
    flagged = [s.t for s in timeline.seconds if getattr(s, label.replace(" ", "_"))]
    if not flagged:
        return ""
    origin = timeline.seconds[0].t
    runs: list[list[int]] = []
    for t in flagged:
        if runs and t == runs[-1][-1] + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    return ", ".join(
        f"+{r[0] - origin}-{r[-1] + 1 - origin} s" if len(r) > 1 else f"+{r[0] - origin} s"
        for r in runs
    )


def _cadence(
    spec: Communication, incident: IncidentRecord, window: tuple[float, float]
) -> Judgement:
    times = sorted(_when(u) for u in incident.updates) or [incident.first_seen]
    resolved = [u for u in incident.updates if u.status == "resolved"]
    end = _when(resolved[0]) if resolved else window[1]
    marks = [*times, max(end, times[-1])]
    longest = max((b - a for a, b in itertools.pairwise(marks)), default=0.0)
    promising = [u for u in incident.updates if u.status != "resolved"]
    silent = [u for u in promising if not _NEXT_UPDATE.search(u.body)]
    passed = longest <= spec.update_every and not silent
    measured = f"longest silence {longest:.1f} s"
    if silent:
        measured += f"; {len(silent)} of {len(promising)} updates do not say when the next is due"
    return Judgement(
        phase=PHASE,
        name=f"update cadence {incident.name or incident.id}",
        passed=passed,
        measured=measured,
        threshold=f"<= {spec.update_every:g} s, each update says when the next is due",
        detail=f"{len(incident.updates)} update(s)",
    )


def _resolution(
    spec: Communication,
    incident: IncidentRecord,
    timelines: Sequence[ComponentTimeline],
    data_lost: tuple[str, ...] | None,
) -> Judgement | None:
    resolving = [u for u in incident.updates if u.status == "resolved"]
    if not resolving and incident.resolved_seen is None:
        return None  # still open: nothing to judge yet
    last = resolving[-1] if resolving else None
    at = _when(last) if last is not None else incident.resolved_seen or 0.0
    problems: list[str] = []
    healthy_for: list[float] = []
    for timeline in timelines:
        if timeline.component not in incident.named:
            continue
        end = timeline.last_breach_end(at)
        if end is not None:
            healthy_for.append(at - end)
        if end is not None and at - end < spec.resolve_after:
            problems.append(
                f"resolved {at - end:.1f} s after {timeline.component}'s SLI last breached"
                if at >= end
                else f"resolved while {timeline.component}'s SLI still breached"
            )
    claim = data_claim(last.body) if last is not None else "silent"
    if claim == "silent":
        problems.append("its last update does not say whether data was lost")
    elif claim == "none lost" and data_lost:
        problems.append(f"it says no data was lost; {', '.join(data_lost)} failed")
    shortest = min(healthy_for) if healthy_for else None
    return Judgement(
        phase=PHASE,
        name=f"honest resolution {incident.name or incident.id}",
        passed=not problems,
        measured=("never breached" if shortest is None else f"healthy {max(shortest, 0):.1f} s")
        + f"; data: {claim}",
        threshold=f"healthy >= {spec.resolve_after:g} s before; says truly whether data was lost",
        detail="; ".join(problems),
    )
