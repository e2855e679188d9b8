"""Cleanup and report writing finish even if Ctrl-C (or SIGTERM) comes again meanwhile.

    with deferred_interrupts(say):   # SIGINT/SIGTERM noted, not raised, until the block ends
        undo faults, stop processes, write the journal
    -> then one KeyboardInterrupt, if any came and none was already on its way
A second Ctrl-C during cleanup would otherwise leave toxics, stopped processes or a
half-written report behind; SIGKILL still ends everything (and the next run sweeps it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["deferred_interrupts"]


@contextlib.contextmanager
def deferred_interrupts(
    say: Callable[[str], None] = lambda _line: None, raise_after: bool = True
) -> Iterator[list[int]]:
    """Yields the list of signals that arrived (empty: none). Only on the main thread."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        arrived.append(signum)
        say("cleaning up first (faults, processes, reports); it ends in a moment")

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield arrived
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived and raise_after:
        raise KeyboardInterrupt
