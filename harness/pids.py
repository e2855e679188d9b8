"""Processes by pid: alive or not, and children that die with the harness.

    pid_alive(pid)        is it there (and not a zombie)?
    die_with_parent()     preexec_fn of every child: SIGKILL when the harness dies, however it
                          dies (PR_SET_PDEATHSIG). SIGKILL because it is the one signal a
                          SIGSTOPped (paused) child still obeys; SQLite with synchronous=FULL
                          and the fault ledger make an abrupt end safe.
No imports of the harness, so any module can use it without an import cycle.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from pathlib import Path

__all__ = ["die_with_parent", "pid_alive", "process_start_time"]

_PR_SET_PDEATHSIG = 1


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here: kill(0) said it exists
    return state != "Z"


def process_start_time(pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started: with the pid, it names one process
    (a pid can be reused; the pair cannot)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent (the harness) dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl: do not outlive it
            os._exit(1)
