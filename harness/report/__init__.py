"""Reports render a run record and nothing more.

[RunRecord] (harness/record.py) -> journal.json (everything, written first) | junit.xml
    (a testcase per expectation) | summary.md (a table for a pull request) | report.html
    (charts and tables, self-contained) ; then reports/index.html (every run, trends)
Each file is written atomically (temp file + rename). `harness report RUN_DIR` re-renders the
HTML of an old run from its journal.json (load_records).
"""

from harness.report.html import load_records
from harness.report.write import ReportProblem, write_html, write_index, write_reports

__all__ = ["ReportProblem", "load_records", "write_html", "write_index", "write_reports"]
