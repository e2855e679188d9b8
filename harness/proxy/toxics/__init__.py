"""Toxic types, one file each (the three HTTP ones in http.py); importing this package
registers all of them.

link input -> [noop] -> [toxic 1] -> ... -> [toxic n] -> link output
each stage: ToxicStub(input, output, interrupt) running toxic.pipe(stub)
"""

from harness.proxy.toxics import (
    bandwidth,
    http,
    latency,
    limit_data,
    noop,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from harness.proxy.toxics.base import TOXIC_TYPES, Toxic, ToxicStub

__all__ = [
    "TOXIC_TYPES",
    "Toxic",
    "ToxicStub",
    "bandwidth",
    "http",
    "latency",
    "limit_data",
    "noop",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
]
