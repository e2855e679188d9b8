"""report.html of a run and index.html of all runs: one self-contained file each.

[RunRecord] -> report_html(): per scenario a verdict, expectations and invariants
    (offending ids), inline SVG charts (charts.py), faults, rollouts, failovers, the timeline
reports/*/journal.json -> load_records -> index_html(): every run (with or without its
    report.html, or a journal that cannot be read: listed, never hidden) with its verdict and
    duration, and a trend of results per scenario (and profile)
No script, no stylesheet or font from the network: the page works attached to a CI run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from pydantic import ValidationError

from harness.errors import ConfigError, HarnessError
from harness.load.result import figures
from harness.record import SEVERITY, RunRecord, Status
from harness.report.charts import communication_svg, status_svg, traffic_svg

__all__ = ["index_html", "load_records", "overall_verdict", "report_html"]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _css() -> Markup:
    css = resources.files("harness.report").joinpath("templates/base.css").read_text("utf-8")
    return Markup(css)


def _clock(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def load_records(run_dir: Path) -> list[RunRecord]:
    path = run_dir / "journal.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = data["runs"]
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: no journal.json (is this a run directory?)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a run journal ({exc})") from None
    if not isinstance(runs, list):
        raise ConfigError(f"{path}: not a run journal ('runs' is not a list)")
    try:
        return [RunRecord.model_validate(run) for run in runs]
    except ValidationError as exc:
        raise ConfigError(f"{path}: not a run journal ({exc.error_count()} problems)") from None


def overall_verdict(records: list[RunRecord]) -> Status:
    statuses = [r.status for r in records] or [Status.ERRORED]
    return max(statuses, key=lambda s: SEVERITY[s])


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _http_faults(record: RunRecord) -> list[dict[str, Any]]:
    """Each HTTP toxic's count beside what the load saw in its phase (all endpoints), so
    the faults injected can be reconciled with the errors and wrong answers users got."""
    load = {
        p.name: figures(record.samples, p.start, p.end or record.ended)
        for p in record.phases
        if any(count.phase == p.name for count in record.http_faults)
    }
    rows = []
    for count in record.http_faults:
        seen = load.get(count.phase)
        rows.append(
            {
                "phase": count.phase,
                "link": count.link,
                "kind": count.kind,
                "matched": count.matched,
                "injected": count.injected,
                "requests": "-" if seen is None else seen.requests,
                "errors": "-" if seen is None else seen.errors,
                "wrong": "-" if seen is None else seen.wrong,
            }
        )
    return rows


def _one(record: RunRecord, index: int) -> dict[str, Any]:
    """The template's view of one record (the jinja edge: plain values)."""
    start = record.started_at

    def rel(t: float | None) -> str:
        return "-" if t is None else f"{float(t) - start:.1f} s"

    name = record.scenario.name
    salt = f"{index}-{re.sub(r'[^a-z0-9]', '', name.lower())}"
    status_chart = status_svg(record, f"s{salt}")
    communication_chart = communication_svg(record, f"c{salt}")
    return {
        "name": name,
        "anchor": f"scenario-{index}",
        "description": record.scenario.description,
        "status": record.status.value,
        "reason": record.reason,
        "profile": record.profile + (f" + {', '.join(record.defects)}" if record.defects else ""),
        "time_scale": record.time_scale,
        "duration": _seconds(record.ended - start),
        "expectations": record.expectations,
        "invariants": record.invariants,
        "traffic_svg": Markup(traffic_svg(record, f"t{salt}")),
        "status_svg": Markup(status_chart) if status_chart else None,
        "communication": record.communication,
        "communication_svg": Markup(communication_chart) if communication_chart else None,
        "incidents": [
            {
                "name": i.name or i.id,
                "status": i.status,
                "impact": i.impact,
                "components": ", ".join(i.named),
                "opened": rel(i.first_seen),
                "resolved": rel(i.resolved_seen),
                "updates": [
                    {
                        "at": rel(u.published if u.published is not None else u.seen),
                        "seen": rel(u.seen),
                        "status": u.status,
                        "body": u.body,
                    }
                    for u in i.updates
                ],
            }
            for i in record.incidents
        ],
        "faults": [
            {
                "label": f.label,
                "phase": f.phase,
                "start": rel(f.start),
                "end": rel(f.end or record.finished_at),
            }
            for f in record.faults
        ],
        "rollouts": [
            {
                "at": rel(o.t),
                "rollout": o.rollout,
                "state": o.state,
                "weight": o.weight,
                "reason": o.reason,
            }
            for o in record.observed
            if o.what == "rollout"
        ],
        "failovers": [
            {"at": rel(f.at), "from": f.source, "to": f.to, "reason": f.reason}
            for f in record.failovers
        ],
        "http_faults": _http_faults(record),
        "events": [{"at": rel(e.t), "kind": e.kind, "message": e.message} for e in record.events],
    }


def report_html(run_id: str, records: list[RunRecord]) -> str:
    runs = [_one(record, index) for index, record in enumerate(records)]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            run_id=run_id,
            verdict=overall_verdict(records).value,
            runs=runs,
            generated=_now(),
            css=_css(),
        )
    )


def _unreadable(run_dir: Path, why: str) -> dict[str, Any]:
    started = run_dir.stat().st_mtime
    return {
        "run_id": run_dir.name,
        "started_at": started,
        "started": _clock(started),
        "verdict": Status.ERRORED.value,
        "duration": "-",
        "has_report": (run_dir / "report.html").exists(),
        "note": why,
        "scenarios": [],
    }


def index_html(reports_dir: Path) -> str:
    """Every run directory under reports_dir that holds a readable journal."""
    runs: list[dict[str, Any]] = []
    for run_dir in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        if run_dir.is_symlink() or run_dir.name.startswith("."):
            continue  # "latest"
        if not (run_dir / "journal.json").exists():
            if any(run_dir.iterdir()):  # a run killed before it wrote anything: still listed
                runs.append(_unreadable(run_dir, "no journal (the run was killed?)"))
            continue
        try:
            records = load_records(run_dir)
        except HarnessError as exc:
            runs.append(_unreadable(run_dir, str(exc)))
            continue
        if not records:
            continue
        started = min(r.started_at for r in records)
        finished = max(r.ended for r in records)
        runs.append(
            {
                "run_id": run_dir.name,
                "started_at": started,
                "started": _clock(started),
                "verdict": overall_verdict(records).value,
                "duration": _seconds(finished - started),
                "has_report": (run_dir / "report.html").exists(),
                "note": "",
                "scenarios": [
                    {
                        "name": r.scenario.name,
                        "profile": r.profile,
                        "status": r.status.value,
                    }
                    for r in records
                ],
            }
        )
    runs.sort(key=lambda r: r["started_at"])
    trends: dict[tuple[str, str], list[dict[str, str]]] = {}
    for run in runs:
        for scenario in run["scenarios"]:
            trends.setdefault((scenario["name"], scenario["profile"]), []).append(
                {"run_id": run["run_id"], "status": scenario["status"]}
            )
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            runs=list(reversed(runs)),
            trends=[
                {
                    "name": name,
                    "profile": profile,
                    "results": results,
                    "passed": sum(r["status"] == "passed" for r in results),
                }
                for (name, profile), results in sorted(trends.items())
            ],
            directory=str(reports_dir),
            generated=_now(),
            css=_css(),
        )
    )
