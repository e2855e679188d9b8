"""postmortem.md of a drill, from its journal: the team's starting point, not its conclusion.

record -> timeline (every fault, operator note, skipped fault, observed state change)
        -> what held / what broke (expectations and invariants, measured vs threshold)
        -> time to detect: first fault -> first status-page component leaving operational
        -> time to recover: last fault removed -> status page all operational again, and
           -> errors back to the baseline's rate (5 s in a row)
        -> empty sections the team fills in: contributing factors, action items
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

from harness.record import RunRecord

__all__ = ["postmortem_md", "time_to_detect", "time_to_recover"]

TIMELINE_KINDS = {
    "phase",
    "fault_applied",
    "fault_removed",
    "fault_skipped",
    "note",
    "observed",
    "aborted",
    "errored",
    "load",
}
RECOVERED_FOR_S = 5


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S")


def time_to_detect(record: RunRecord) -> float | None:
    """Seconds from the first fault to the first status-page change away from operational."""
    if not record.faults:
        return None
    first = min(f.start for f in record.faults)
    for item in record.observed:
        if item.what == "status" and item.state != "operational" and item.t >= first:
            return item.t - first
    return None


def _last_fault_end(record: RunRecord) -> float | None:
    ends = [f.end for f in record.faults]
    if not ends or any(e is None for e in ends):
        return None  # a fault lasted to the end (or the drill was aborted before removal)
    return max(e for e in ends if e is not None)


def _page_recovered(record: RunRecord, healed: float) -> float | None:
    """Seconds after healing from which every component stayed operational to the end."""
    states: dict[str, str] = {}
    since: float | None = None  # when the page last became all operational
    for item in record.observed:
        if item.what != "status" or item.component is None:
            continue
        states[item.component] = str(item.state)
        if all(s == "operational" for s in states.values()):
            since = item.t if since is None else since
        else:
            since = None
    return None if since is None else max(since - healed, 0.0)


def _errors_recovered(record: RunRecord, healed: float) -> float | None:
    per_second: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sample in record.samples:
        per_second[sample.t][0] += sample.n
        per_second[sample.t][1] += sample.errors
    if not record.phases or not per_second:
        return None
    base = record.phases[0]
    requests = errors = 0
    for t, (n, e) in per_second.items():
        if base.start <= t < (base.end or base.start):
            requests, errors = requests + n, errors + e
    allowed = max(2 * errors / requests if requests else 0.0, 0.01)
    run = 0
    for t in range(int(healed), int(max(per_second)) + 1):
        n, e = per_second.get(t, [0, 0])
        ok = n > 0 and e / n <= allowed
        run = run + 1 if ok else 0
        if run == RECOVERED_FOR_S:
            return max(t - RECOVERED_FOR_S + 1 - healed, 0.0)
    return None


def time_to_recover(record: RunRecord) -> dict[str, float | None]:
    """From the last fault's removal: to the status page all operational, to errors at the
    baseline's rate. None: not within the drill."""
    healed = _last_fault_end(record)
    if healed is None:
        return {"status page": None, "errors": None}
    return {
        "status page": _page_recovered(record, healed),
        "errors": _errors_recovered(record, healed),
    }


def _seconds(value: float | None, missing: str) -> str:
    return missing if value is None or math.isnan(value) else f"{value:.1f} s"


def _communication(record: RunRecord) -> list[str]:
    """What the status page told users, beside what was measured (the communication checks)."""
    by_name = {j.name: j for j in record.communication}

    def figure(prefix: str) -> list[str]:
        return [
            f"{name[len(prefix) + 1 :]} {j.measured}"
            for name, j in by_name.items()
            if name.startswith(prefix + " ")
        ]

    lines: list[str] = []
    if record.communication:
        failed = [j for j in record.communication if not j.passed]
        lines.append(
            f"- Checks: {len(record.communication) - len(failed)} of"
            f" {len(record.communication)} held"
            + (f"; failed: {', '.join(j.name for j in failed)}" if failed else "")
        )
        for label, prefix in (
            (
                "Time to acknowledge (first measured breach to an incident naming it)",
                "time to acknowledge",
            ),
            ("False green (shown operational while measured breaching)", "false green"),
            ("False alarm (shown degraded or down while measured healthy)", "false alarm"),
            ("Longest silence of an open incident", "update cadence"),
        ):
            lines.append(f"- {label}: {', '.join(figure(prefix)) or '-'}")
    else:
        lines.append("- (the scenario checks no communication; incidents as published below)")
    for incident in record.incidents:
        named = ", ".join(incident.named) or "nothing measured"
        lines += [
            "",
            f"Incident **{incident.name or incident.id}** ({incident.status}; names {named}):",
            "",
        ]
        for update in incident.updates:
            at = update.published if update.published is not None else update.seen
            body = update.body.replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"- {_clock(at)} (T+{at - record.started_at:.1f} s) {update.status}: {body}"
            )
    if not record.incidents:
        lines.append("- No incident was published during the drill.")
    return lines


def postmortem_md(record: RunRecord, report_link: str = "report.html") -> str:
    start = record.started_at
    results = record.judgements
    held = [r for r in results if r.passed]
    broke = [r for r in results if not r.passed]
    detect = time_to_detect(record)
    recover = time_to_recover(record)
    partial = any(r.partial for r in results)
    lines = [
        f"# Post-mortem: game day '{record.scenario.name}'",
        "",
        f"- When: {dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d %H:%M:%S} UTC,"
        f" {record.ended - start:.0f} s",
        f"- Platform profile: {record.profile}"
        + (f" with defects {', '.join(record.defects)}" if record.defects else "")
        + f", time scale {record.time_scale:g}",
        f"- Outcome: **{record.status.value}**" + (f" ({record.reason})" if record.reason else ""),
        f"- Charts and every measurement: [{report_link}]({report_link})",
        "",
        "## What we rehearsed",
        "",
        " ".join(record.scenario.description.split()) or "(no description)",
        "",
        "## Detection and recovery",
        "",
        "- Time to detect (first fault to the status page leaving operational): "
        + _seconds(detect, "not detected: the status page never changed"),
        "- Time to recover, status page (last fault removed to all operational): "
        + _seconds(recover["status page"], "not recovered within the drill"),
        "- Time to recover, errors (last fault removed to the baseline's error rate for"
        f" {RECOVERED_FOR_S} s): " + _seconds(recover["errors"], "not recovered within the drill"),
        "",
        "## Timeline",
        "",
        "| UTC | T+ | what |",
        "|---|---|---|",
    ]
    for item in record.events:
        if item.kind not in TIMELINE_KINDS:
            continue
        label = {"note": "**note:** ", "fault_applied": "injected: "}.get(item.kind, "")
        message = item.message.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {_clock(item.t)} | {item.t - start:.1f} s | {label}{message} |")
    lines += ["", "## What held", ""]
    if partial:
        lines.append("(judged on the phases that ended before the drill stopped)")
    lines += [f"- {r.phase}: {r.name}: {r.measured} ({r.threshold})" for r in held]
    lines += ["- (nothing was judged: no phase ended)"] if not results else []
    lines += ["", "## What broke", ""]
    lines += [
        f"- {r.phase}: {r.name}: measured {r.measured}, expected {r.threshold}"
        + (f"; {r.detail}" if r.detail else "")
        for r in broke
    ]
    if not broke:
        lines.append(
            "- nothing that was judged"
            if results
            else f"- the drill ended early: {record.reason or 'not judged'}"
        )
    lines += ["", "## Communication", "", *_communication(record)]
    notes = [e for e in record.events if e.kind == "note"]
    lines += ["", "## Operator notes", ""]
    lines += [f"- {e.t - start:.1f} s: {e.message}" for e in notes] or ["- (none)"]
    lines += [
        "",
        "## Contributing factors",
        "",
        "<!-- To be written by the team. -->",
        "",
        "## Action items",
        "",
        "<!-- To be written by the team: what, who, by when. -->",
        "",
    ]
    return "\n".join(lines)
