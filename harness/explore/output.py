"""What an exploration writes, rewritten whole after every experiment (atomically: a Ctrl-C
or a kill never leaves half a file):

    OUT/explore.json   the Exploration (results.py), for --baseline and for tools
    OUT/matrix.md      dependency x fault -> held / degraded / broken, naming the property
    OUT/matrix.html    the same, one file, no script
    OUT/scenarios/     the minimal scenarios (written by the explorer as they are confirmed)
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from harness.explore.results import Exploration, Outcome, PutOff

__all__ = ["link_faults", "matrix_rows", "render_markdown", "write_outputs"]

COLUMNS = (
    "down",
    "blackhole",
    "latency",
    "reset_peer",
    "partial",
    "http_abort",
    "http_corrupt",
    "kill",
    "pause",
)
COLOURS = {"held": "#d8f0d8", "degraded": "#fff0c0", "broken": "#f6c8c8", "inconclusive": "#e0e0e0"}
PUT_OFF_COLOUR = "#f0f6f0"  # implied held: paler than held


def _cell(outcome: Outcome | PutOff) -> str:
    if isinstance(outcome, PutOff):
        return f"not run: implied by {outcome.implied_by}"
    if outcome.verdict == "broken":
        return "broken: " + ", ".join(outcome.broken)
    if outcome.verdict == "degraded":
        return "degraded: " + ", ".join(outcome.degraded)
    return outcome.verdict


def _colour(outcome: Outcome | PutOff) -> str:
    return PUT_OFF_COLOUR if isinstance(outcome, PutOff) else COLOURS[outcome.verdict]


def matrix_rows(result: Exploration) -> list[tuple[str, dict[str, Outcome | PutOff]]]:
    """Single-fault outcomes by dependency (in the order they were planned) and fault kind,
    and the link faults put off as implied by a service loss absorbed (not run)."""
    rows: dict[str, dict[str, Outcome | PutOff]] = {}
    for outcome in result.outcomes:
        if len(outcome.faults) == 1:
            fault = outcome.faults[0]
            rows.setdefault(fault.target, {})[fault.kind] = outcome
    for put_off in result.put_off:
        rows.setdefault(put_off.fault.target, {})[put_off.fault.kind] = put_off
    return list(rows.items())


def _summary(result: Exploration) -> list[str]:
    counts = {v: sum(1 for o in result.outcomes if o.verdict == v) for v in COLOURS}
    state = (
        "interrupted" if result.interrupted else ("complete" if result.complete else "budget spent")
    )
    return [
        f"{result.topology} ({result.stack} stack, {result.profile} profile"
        + (f", defects {', '.join(result.defects)}" if result.defects else "")
        + f"), seed {result.seed}, depth {result.depth}",
        f"{len(result.outcomes)} of {result.planned} planned experiments ({state}) in"
        f" {result.elapsed_s / 60:.1f} min of a {result.budget_s / 60:.0f} min budget;"
        f" {result.experiments_run()} runs in all with shrinking",
        ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no experiment ran",
    ]


def render_markdown(result: Exploration) -> str:
    lines = ["# Resiliency matrix", "", *[f"- {line}" for line in _summary(result)], ""]
    rows = matrix_rows(result)
    used = [c for c in COLUMNS if any(c in cells for _, cells in rows)]
    if rows:
        lines += ["| dependency | " + " | ".join(used) + " |", "|---" * (len(used) + 1) + "|"]
        for target, cells in rows:
            shown = [_cell(cells[c]) if c in cells else "" for c in used]
            lines.append(f"| {target} | " + " | ".join(s.replace("|", "/") for s in shown) + " |")
    pairs = [o for o in result.outcomes if len(o.faults) > 1]
    if pairs:
        lines += ["", "## Pairs", ""] + [f"- {o.label}: {_cell(o)}" for o in pairs]
    lines += ["", "## Findings", ""]
    if not result.findings:
        if any(o.verdict == "broken" for o in result.outcomes):
            lines.append("What broke above was not shrunk: the budget ran out first.")
        else:
            lines.append("No broken property" + (" in what ran." if not result.complete else "."))
    for f in result.findings:
        lines.append(
            f"- **{', '.join(f.broken)}**: minimal {f.minimal}; {f.confirmation}"
            f"{f.on_reference}; `harness run {f.scenario}` (from {f.label})"
        )
    if result.put_off:
        lines += ["", _put_off(result)]
    if result.links_unused:
        lines += [
            "",
            f"Links that carried no traffic (not explored): {', '.join(result.links_unused)}",
        ]
    return "\n".join(lines) + "\n"


def link_faults(n: int) -> str:
    """``1 link fault``, ``3 link faults``."""
    return f"{n} link fault{'' if n == 1 else 's'}"


def _put_off(result: Exploration) -> str:
    """Why some cells say ``not run: implied by ...``."""
    return (
        f"{link_faults(len(result.put_off))} not run: each is implied by a service lost whole"
        " that the platform absorbed (its kill for a down, its pause for a blackhole), and was"
        " put off to the end of the plan, which the budget did not reach."
    )


def render_html(result: Exploration) -> str:
    esc = html.escape
    rows = matrix_rows(result)
    used = [c for c in COLUMNS if any(c in cells for _, cells in rows)]
    head = "".join(f"<th>{esc(c)}</th>" for c in used)
    body = []
    for target, cells in rows:
        tds = []
        for column in used:
            outcome = cells.get(column)
            if outcome is None:
                tds.append("<td></td>")
            else:
                tds.append(
                    f'<td style="background:{_colour(outcome)}"'
                    f' title="{esc(outcome.label)}">{esc(_cell(outcome))}</td>'
                )
        body.append(f"<tr><th>{esc(target)}</th>{''.join(tds)}</tr>")
    findings = (
        "".join(
            f"<li><b>{esc(', '.join(f.broken))}</b>: minimal {esc(f.minimal)};"
            f" {esc(f.confirmation + f.on_reference)};"
            f" <code>harness run {esc(f.scenario)}</code></li>"
            for f in result.findings
        )
        or "<li>No broken property found.</li>"
    )
    pairs = "".join(
        f"<li>{esc(o.label)}: {esc(_cell(o))}</li>" for o in result.outcomes if len(o.faults) > 1
    )
    summary = "".join(f"<li>{esc(line)}</li>" for line in _summary(result))
    return (
        "<!doctype html><meta charset=utf-8><title>Resiliency matrix</title>"
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 6px;vertical-align:top;max-width:22em}</style>"
        f"<h1>Resiliency matrix</h1><ul>{summary}</ul>"
        f"<table><tr><th>dependency</th>{head}</tr>{''.join(body)}</table>"
        + (f"<h2>Pairs</h2><ul>{pairs}</ul>" if pairs else "")
        + f"<h2>Findings</h2><ul>{findings}</ul>"
        + (f"<p>{esc(_put_off(result))}</p>" if result.put_off else "")
    )


def _atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_outputs(out: Path, result: Exploration) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "explore.json", result.model_dump_json(indent=2) + "\n")
    _atomic(out / "matrix.md", render_markdown(result))
    _atomic(out / "matrix.html", render_html(result))
