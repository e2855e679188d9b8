"""Faults: how the harness injects and removes trouble.

    scenario fault -> faults.* -> ToxiproxyClient (HTTP, toxiproxy-python) -> any Toxiproxy server

This package speaks the Toxiproxy HTTP API only and never imports harness.proxy, so the
embedded proxy and a real Toxiproxy server (TOXIPROXY_URL) are interchangeable.
"""

from harness.faults.active import (
    ActiveFault,
    FaultInjector,
    FaultLedger,
    create_fault,
    sweep_dead_runs,
)
from harness.faults.toxiproxy import DEFAULT_URL, ProxyInfo, ToxicInfo, ToxiproxyClient

__all__ = [
    "DEFAULT_URL",
    "ActiveFault",
    "FaultInjector",
    "FaultLedger",
    "ProxyInfo",
    "ToxicInfo",
    "ToxiproxyClient",
    "create_fault",
    "sweep_dead_runs",
]
