"""Processes by pid: alive or not, children that die with the harness, and a sweep of any
that survived one anyway.

    pid_alive(pid)        is it there (and not a zombie)?
    die_with_parent()     preexec_fn of every child: SIGKILL when the harness dies, however it
                          dies (PR_SET_PDEATHSIG). SIGKILL because it is the one signal a
                          SIGSTOPped (paused) child still obeys; SQLite with synchronous=FULL
                          and the fault ledger make an abrupt end safe.
    register_child()      every child, with its start time, in REGISTRY/<harness pid>.json
    sweep_dead_children() at the next start: children of harness processes that are gone are
                          resumed and killed, each named (pid, service)
    port_holder(port)     who listens there: a port in use is an error naming its holder
Why a death signal: the kernel sends it when the harness dies, by any signal, with no extra
process to keep alive (a supervisor would need the same care) and no group to signal after the
fact (nobody is left to do it after a SIGKILL); and SIGKILL reaches a SIGSTOPped child. The
registry catches what escapes it anyway (a grandchild, a machine that lacks prctl). No imports
of the harness.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "REGISTRY",
    "die_with_parent",
    "forget_children",
    "pid_alive",
    "port_holder",
    "process_start_time",
    "register_child",
    "sweep_dead_children",
]

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


# -- a registry of every process a run starts, so that a later run can sweep survivors ---------

REGISTRY = (
    Path(os.environ.get("HARNESS_PROCESS_REGISTRY", ""))
    if os.environ.get("HARNESS_PROCESS_REGISTRY")
    else Path(tempfile.gettempdir()) / f"harness-{os.getuid()}" / "processes"
)


def register_child(name: str, pid: int, argv: list[str]) -> None:
    """Note a child of this harness process: (pid, start time) names it even after reuse."""
    path = REGISTRY / f"{os.getpid()}.json"
    with contextlib.suppress(OSError, ValueError):
        REGISTRY.mkdir(parents=True, exist_ok=True)
        records = json.loads(path.read_text()) if path.exists() else {}
        records["owner_start"] = process_start_time(os.getpid())
        children = records.setdefault("children", {})
        children[str(pid)] = {"name": name, "start": process_start_time(pid), "argv": argv[:6]}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records))
        tmp.replace(path)


def forget_children() -> None:
    """This harness process ended cleanly: nothing of it to sweep."""
    with contextlib.suppress(OSError):
        (REGISTRY / f"{os.getpid()}.json").unlink()


def sweep_dead_children(echo: Callable[[str], None] = lambda _line: None) -> list[int]:
    """Kill what harness processes that died (SIGKILL) left running; return those pids.

    A survivor may be stopped (a pause fault): SIGCONT first, then SIGKILL."""
    killed: list[int] = []
    for path in sorted(REGISTRY.glob("*.json")) if REGISTRY.is_dir() else []:
        try:
            owner = int(path.stem)
            records = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner) and process_start_time(owner) == records.get("owner_start"):
            continue  # a harness still running: its children are its own
        for pid_text, child in records.get("children", {}).items():
            pid = int(pid_text)
            if pid_alive(pid) and process_start_time(pid) == child.get("start"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    echo(
                        f"killed pid {pid} ({child.get('name')}) left running by dead harness"
                        f" process {owner}"
                    )
        path.unlink(missing_ok=True)
    return killed


def port_holder(port: int) -> str | None:
    """Who listens on 127.0.0.1:port: "pid N (command)", or None if nobody we can see."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency of the project
        return None
    try:
        connections = psutil.net_connections("tcp")
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return "a process we cannot see (another user's)"
            try:
                process = psutil.Process(conn.pid)
                command = " ".join(process.cmdline()[:4]) or process.name()
                state = " (stopped: SIGSTOPped)" if process.status() == "stopped" else ""
            except psutil.Error:
                command, state = "?", ""
            return f"pid {conn.pid} ({command}){state}"
    return None
