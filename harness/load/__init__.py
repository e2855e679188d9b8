"""Load: Locust in its own process, and what it measured.

LoadRunner (runner.py) -> locust -f locustfile.py (the only importer of locust)
  -> metrics.jsonl.<pid>: per-second samples per endpoint and build
  -> history.jsonl.<pid>: every upload invoked / acknowledged / failed / indeterminate
result.py reads both: figures() for expectations, read_history() for invariants
"""

from harness.load.result import Figures, History, Sample, figures, read_history, read_samples
from harness.load.runner import LOCUSTFILE, LoadError, LoadRunner

__all__ = [
    "LOCUSTFILE",
    "Figures",
    "History",
    "LoadError",
    "LoadRunner",
    "Sample",
    "figures",
    "read_history",
    "read_samples",
]
