"""Load: Locust in its own process, and what it measured.

LoadRunner (runner.py) -> locust -f locustfile.py,<the topology's locustfile>
  locustfile.py (the only importer of locust here): samples, the mix, users over time
  -> metrics.jsonl.<pid>: per-second samples per endpoint and build
  -> history.jsonl.<pid>: every write invoked / acknowledged / failed / unknown, written by
     the platform's locustfile through history.py (OperationHistory)
result.py reads both: figures() for expectations, read_history() for invariants
"""

from harness.load.result import Figures, History, Sample, figures, read_history, read_samples
from harness.load.runner import LOCUSTFILE, LoadError, LoadOptions, LoadPlan, LoadRunner

__all__ = [
    "LOCUSTFILE",
    "Figures",
    "History",
    "LoadError",
    "LoadOptions",
    "LoadPlan",
    "LoadRunner",
    "Sample",
    "figures",
    "read_history",
    "read_samples",
]
