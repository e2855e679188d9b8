"""report.html of a run and index.html of all runs: one self-contained file each.

run_dir/journal.json -> report_html(): per scenario a verdict, expectations and invariants
    (offending ids), inline SVG charts (charts.py), faults, rollouts, failovers, the timeline
reports/*/journal.json -> index_html(): every run with its verdict and duration, and a trend
    of results per scenario (and profile)
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

from harness.errors import ConfigError, HarnessError
from harness.report.charts import status_svg, traffic_svg

__all__ = ["index_html", "load_journals", "overall_verdict", "report_html"]

SEVERITY = {"passed": 0, "failed": 1, "aborted": 2, "errored": 3}


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


def load_journals(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "journal.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = data["runs"]
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: no journal.json (is this a run directory?)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a run journal ({exc})") from None
    if not isinstance(runs, list):
        raise ConfigError(f"{path}: not a run journal ('runs' is not a list)")
    return runs


def overall_verdict(journals: list[dict[str, Any]]) -> str:
    statuses = [str(j.get("status", "errored")) for j in journals] or ["errored"]
    return max(statuses, key=lambda s: SEVERITY.get(s, 3))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _one(journal: dict[str, Any], index: int) -> dict[str, Any]:
    start = float(journal["started_at"])

    def rel(t: float | None) -> str:
        return "-" if t is None else f"{float(t) - start:.1f} s"

    name = journal["scenario"]["name"]
    salt = f"{index}-{re.sub(r'[^a-z0-9]', '', name.lower())}"
    status = str(journal.get("status", "errored"))
    status_chart = status_svg(journal, f"s{salt}")
    observed = journal.get("observed", [])
    return {
        "name": name,
        "anchor": f"scenario-{index}",
        "description": journal["scenario"].get("description", ""),
        "status": status,
        "reason": journal.get("reason", ""),
        "profile": journal.get("profile", "?"),
        "time_scale": journal.get("time_scale", 1),
        "duration": _seconds(float(journal.get("finished_at") or start) - start),
        "expectations": journal.get("expectations", []),
        "invariants": journal.get("invariants", []),
        "traffic_svg": Markup(traffic_svg(journal, f"t{salt}")),
        "status_svg": Markup(status_chart) if status_chart else None,
        "faults": [
            {**f, "start": rel(f["start"]), "end": rel(f.get("end") or journal.get("finished_at"))}
            for f in journal.get("faults", [])
        ],
        "rollouts": [{**r, "at": rel(r["t"])} for r in observed if r.get("what") == "rollout"],
        "failovers": [{**f, "at": rel(f["at"])} for f in journal.get("failovers", [])],
        "events": [{**e, "at": rel(e["t"])} for e in journal.get("events", [])],
    }


def report_html(run_id: str, journals: list[dict[str, Any]]) -> str:
    runs = [_one(journal, index) for index, journal in enumerate(journals)]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            run_id=run_id,
            verdict=overall_verdict(journals),
            runs=runs,
            generated=_now(),
            css=_css(),
        )
    )


def index_html(reports_dir: Path) -> str:
    """Every run directory under reports_dir that holds a readable journal."""
    runs: list[dict[str, Any]] = []
    for journal_path in sorted(reports_dir.glob("*/journal.json")):
        run_dir = journal_path.parent
        if run_dir.is_symlink():
            continue  # "latest"
        try:
            journals = load_journals(run_dir)
        except HarnessError:
            continue
        if not journals:
            continue
        started = min(float(j["started_at"]) for j in journals)
        finished = max(float(j.get("finished_at") or j["started_at"]) for j in journals)
        runs.append(
            {
                "run_id": run_dir.name,
                "started_at": started,
                "started": _clock(started),
                "verdict": overall_verdict(journals),
                "duration": _seconds(finished - started),
                "has_report": (run_dir / "report.html").exists(),
                "scenarios": [
                    {
                        "name": j["scenario"]["name"],
                        "profile": j.get("profile", "?"),
                        "status": j.get("status", "errored"),
                    }
                    for j in journals
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
