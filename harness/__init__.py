"""Resilience and chaos-testing harness for short-video platform backends.

How data flows through one run (see ../shared/DESIGN.md)::

    scenario.yaml -> validate -> Scenario
        -> backend.up(topology) -> proxy.populate(links) -> load.start(profile)
        -> timeline: apply faults -> sample -> evaluate expectations
        -> always: remove faults, resume processes
        -> invariants -> journal.json -> console, junit.xml, summary.md, report.html

Packages present so far:
    cli      the ``harness`` command; the only place that turns errors into exit codes
    errors   one exception root (HarnessError) with an exit code per class
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shortvideo-chaos-harness")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
