"""Reports render a journal and nothing more.

journal (dict) -> journal.json (everything) | junit.xml (a testcase per expectation) |
                  summary.md (a table for a pull request) ; written atomically
"""

from harness.report.write import write_reports

__all__ = ["write_reports"]
