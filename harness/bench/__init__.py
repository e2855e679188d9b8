"""Benchmarks that print ratios against a reference run, side by side (never timed tests).

harness bench proxy -> servers.py (echo/sink in their own process)
                    -> direct connection vs the proxy (a ``harness proxy`` process)
                    -> one table: direct | proxy | ratio or added | our bar
harness bench run   -> footprint.py: a `harness run` child, its process tree sampled from /proc
                    -> wall time, peak RSS, CPU seconds and share per part (harness, Locust, ...)
harness bench backends -> backends.py: platform start/stop, local processes vs containers,
                    alternated round by round -> medians and the ratio
"""

from harness.bench.proxy import run_proxy_bench

__all__ = ["run_proxy_bench"]
