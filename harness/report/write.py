"""Write a run's reports: every file lands whole (temp file + rename) or not at all.

[RunRecord] -> journal.json (first: the data survives whatever follows), junit.xml,
               summary.md, reports/latest -> report.html, reports/index.html
"""

from __future__ import annotations

import dataclasses
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.record import RunRecord, Status
from harness.report.html import index_html, report_html

__all__ = [
    "ReportProblem",
    "journal_json",
    "junit_xml",
    "summary_md",
    "write_html",
    "write_index",
    "write_reports",
]

ICON = {
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.ERRORED: "ERROR",
    Status.ABORTED: "ABORTED",
}


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def junit_xml(records: list[RunRecord]) -> str:
    suites = ET.Element("testsuites")
    for record in records:
        name = record.scenario.name
        results = record.judgements
        broken = record.status in (Status.ERRORED, Status.ABORTED)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(max(len(results), 1)),
            failures=str(sum(not r.passed for r in results)),
            errors=str(int(broken)),
            time=f"{record.ended - record.started_at:.1f}",
        )
        if broken:
            case = ET.SubElement(suite, "testcase", classname=name, name="run")
            ET.SubElement(case, "error", message=record.reason).text = record.reason
        for result in results:
            case = ET.SubElement(
                suite, "testcase", classname=f"{name}.{result.phase}", name=result.name
            )
            if not result.passed:
                message = f"measured {result.measured}, expected {result.threshold}"
                ET.SubElement(case, "failure", message=message).text = result.detail or message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def summary_md(records: list[RunRecord]) -> str:
    lines = ["# Chaos run", ""]
    for record in records:
        defects = f", defects {', '.join(record.defects)}" if record.defects else ""
        lines.append(
            f"## {ICON[record.status]} {record.scenario.name} ({record.profile} profile{defects})"
        )
        if record.reason:
            lines.append(f"\n{record.reason}\n")
        lines += ["", "| | phase | expectation | measured | threshold |", "|---|---|---|---|---|"]
        for r in record.judgements:
            mark = "pass" if r.passed else "**FAIL**"
            if r.partial:
                mark += " (partial)"
            lines.append(f"| {mark} | {r.phase} | {r.name} | {r.measured} | {r.threshold} |")
        lines.append("")
    return "\n".join(lines)


def write_html(run_dir: Path, records: list[RunRecord]) -> None:
    """report.html of the run, then the index of every run beside it."""
    _atomic(run_dir / "report.html", report_html(run_dir.name, records))
    write_index(run_dir.parent)


def write_index(reports_dir: Path) -> None:
    _atomic(reports_dir / "index.html", index_html(reports_dir))


def journal_json(records: list[RunRecord]) -> str:
    return json.dumps({"runs": [r.to_json() for r in records]}, indent=1)


@dataclasses.dataclass(frozen=True)
class ReportProblem:
    """report.html could not be drawn; the journal, JUnit and summary were written."""

    message: str
    interrupted: bool = False


def write_reports(run_dir: Path, records: list[RunRecord]) -> ReportProblem | None:
    """journal.json first: whatever happens to the rest, the run's data is on disk.

    Returns why report.html could not be drawn (a chart must never hide a verdict; Ctrl-C
    while drawing is reported, not lost), else None.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic(run_dir / "journal.json", journal_json(records))
    _atomic(run_dir / "junit.xml", junit_xml(records))
    _atomic(run_dir / "summary.md", summary_md(records))
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)
    again = f"re-render with: harness report {run_dir}"
    try:
        write_html(run_dir, records)
    except KeyboardInterrupt:
        return ReportProblem(f"interrupted while drawing it ({again})", interrupted=True)
    except Exception as exc:  # the verdict and journal stand without the HTML
        return ReportProblem(f"{type(exc).__name__}: {exc} ({again})")
    return None
