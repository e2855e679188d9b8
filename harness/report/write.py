"""Write a run's reports: every file lands whole (temp file + rename) or not at all."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.html import index_html, report_html

__all__ = ["junit_xml", "summary_md", "write_html", "write_index", "write_reports"]

ICON = {"passed": "PASS", "failed": "FAIL", "errored": "ERROR", "aborted": "ABORTED"}


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _results(journal: dict[str, Any]) -> list[dict[str, Any]]:
    return list(journal.get("expectations", [])) + list(journal.get("invariants", []))


def junit_xml(journals: list[dict[str, Any]]) -> str:
    suites = ET.Element("testsuites")
    for journal in journals:
        name = journal["scenario"]["name"]
        results = _results(journal)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(max(len(results), 1)),
            failures=str(sum(not r["passed"] for r in results)),
            errors=str(int(journal["status"] in ("errored", "aborted"))),
            time=f"{journal.get('finished_at', 0) - journal['started_at']:.1f}",
        )
        if journal["status"] in ("errored", "aborted"):
            case = ET.SubElement(suite, "testcase", classname=name, name="run")
            ET.SubElement(case, "error", message=journal["reason"]).text = journal["reason"]
        for result in results:
            case = ET.SubElement(
                suite, "testcase", classname=f"{name}.{result['phase']}", name=result["name"]
            )
            if not result["passed"]:
                message = f"measured {result['measured']}, expected {result['threshold']}"
                ET.SubElement(case, "failure", message=message).text = (
                    result.get("detail") or message
                )
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def summary_md(journals: list[dict[str, Any]]) -> str:
    lines = ["# Chaos run", ""]
    for journal in journals:
        status = journal["status"]
        lines.append(
            f"## {ICON[status]} {journal['scenario']['name']} ({journal['profile']} profile)"
        )
        if journal["reason"]:
            lines.append(f"\n{journal['reason']}\n")
        lines += ["", "| | phase | expectation | measured | threshold |", "|---|---|---|---|---|"]
        for r in _results(journal):
            mark = "pass" if r["passed"] else "**FAIL**"
            lines.append(
                f"| {mark} | {r['phase']} | {r['name']} | {r['measured']} | {r['threshold']} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_html(run_dir: Path, journals: list[dict[str, Any]]) -> None:
    """report.html of the run, then the index of every run beside it."""
    _atomic(run_dir / "report.html", report_html(run_dir.name, journals))
    write_index(run_dir.parent)


def write_index(reports_dir: Path) -> None:
    _atomic(reports_dir / "index.html", index_html(reports_dir))


def write_reports(run_dir: Path, journals: list[dict[str, Any]]) -> str | None:
    """journal.json first: whatever happens to the rest, the run's data is on disk.

    Returns why report.html could not be drawn (a chart must never hide a verdict), else None.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic(run_dir / "journal.json", json.dumps({"runs": journals}, indent=1, default=str))
    _atomic(run_dir / "junit.xml", junit_xml(journals))
    _atomic(run_dir / "summary.md", summary_md(journals))
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)
    try:
        write_html(run_dir, journals)
    except Exception as exc:  # the verdict and journal stand without the HTML
        return f"{type(exc).__name__}: {exc} (re-render with: harness report {run_dir})"
    return None
