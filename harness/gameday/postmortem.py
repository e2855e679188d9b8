"""postmortem.md of a drill, from its journal: the team's starting point, not its conclusion.

journal -> timeline (every fault, operator note, skipped fault, observed state change)
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
from typing import Any

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


def time_to_detect(journal: dict[str, Any]) -> float | None:
    """Seconds from the first fault to the first status-page change away from operational."""
    faults = journal.get("faults", [])
    if not faults:
        return None
    first = min(float(f["start"]) for f in faults)
    for item in journal.get("observed", []):
        if item.get("what") == "status" and item["state"] != "operational" and item["t"] >= first:
            return float(item["t"]) - first
    return None


def _last_fault_end(journal: dict[str, Any]) -> float | None:
    ends = [f.get("end") for f in journal.get("faults", [])]
    if not ends or any(e is None for e in ends):
        return None  # a fault lasted to the end (or the drill was aborted before removal)
    return max(float(e) for e in ends if e is not None)


def _page_recovered(journal: dict[str, Any], healed: float) -> float | None:
    """Seconds after healing from which every component stayed operational to the end."""
    states: dict[str, str] = {}
    since: float | None = None  # when the page last became all operational
    for item in journal.get("observed", []):
        if item.get("what") != "status":
            continue
        states[item["component"]] = item["state"]
        if all(s == "operational" for s in states.values()):
            since = float(item["t"]) if since is None else since
        else:
            since = None
    return None if since is None else max(since - healed, 0.0)


def _errors_recovered(journal: dict[str, Any], healed: float) -> float | None:
    per_second: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sample in journal.get("samples", []):
        per_second[int(sample["t"])][0] += sample["n"]
        per_second[int(sample["t"])][1] += sample["errors"]
    phases = journal.get("phases", [])
    if not phases or not per_second:
        return None
    base = phases[0]
    requests = errors = 0
    for t, (n, e) in per_second.items():
        if base["start"] <= t < base.get("end", base["start"]):
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


def time_to_recover(journal: dict[str, Any]) -> dict[str, float | None]:
    """From the last fault's removal: to the status page all operational, to errors at the
    baseline's rate. None: not within the drill."""
    healed = _last_fault_end(journal)
    if healed is None:
        return {"status page": None, "errors": None}
    return {
        "status page": _page_recovered(journal, healed),
        "errors": _errors_recovered(journal, healed),
    }


def _seconds(value: float | None, missing: str) -> str:
    return missing if value is None or math.isnan(value) else f"{value:.1f} s"


def postmortem_md(journal: dict[str, Any], report_link: str = "report.html") -> str:
    scenario = journal["scenario"]
    start = float(journal["started_at"])
    end = float(journal.get("finished_at") or start)
    results = list(journal.get("expectations", [])) + list(journal.get("invariants", []))
    held = [r for r in results if r["passed"]]
    broke = [r for r in results if not r["passed"]]
    detect = time_to_detect(journal)
    recover = time_to_recover(journal)
    lines = [
        f"# Post-mortem: game day '{scenario['name']}'",
        "",
        f"- When: {dt.datetime.fromtimestamp(start, dt.UTC):%Y-%m-%d %H:%M:%S} UTC,"
        f" {end - start:.0f} s",
        f"- Platform profile: {journal.get('profile', '?')}, time scale"
        f" {journal.get('time_scale', 1)}",
        f"- Outcome: **{journal.get('status', '?')}**"
        + (f" ({journal['reason']})" if journal.get("reason") else ""),
        f"- Charts and every measurement: [{report_link}]({report_link})",
        "",
        "## What we rehearsed",
        "",
        " ".join(str(scenario.get("description", "")).split()) or "(no description)",
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
    for item in journal.get("events", []):
        if item["kind"] not in TIMELINE_KINDS:
            continue
        label = {"note": "**note:** ", "fault_applied": "injected: "}.get(item["kind"], "")
        message = str(item["message"]).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {_clock(item['t'])} | {item['t'] - start:.1f} s | {label}{message} |")
    lines += ["", "## What held", ""]
    lines += [f"- {r['phase']}: {r['name']}: {r['measured']} ({r['threshold']})" for r in held]
    lines += ["- (nothing was judged)"] if not results else []
    lines += ["", "## What broke", ""]
    lines += [
        f"- {r['phase']}: {r['name']}: measured {r['measured']}, expected {r['threshold']}"
        + (f"; {r['detail']}" if r.get("detail") else "")
        for r in broke
    ]
    if not broke:
        lines.append(
            "- nothing that was judged"
            if results
            else f"- the drill ended early: {journal.get('reason') or 'not judged'}"
        )
    notes = [e for e in journal.get("events", []) if e["kind"] == "note"]
    lines += ["", "## Operator notes", ""]
    lines += [f"- {e['t'] - start:.1f} s: {e['message']}" for e in notes] or ["- (none)"]
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
