"""Child processes the harness starts: started, health-checked, signalled and always reaped.

Supervisor.start(name, argv) -> Child (own log file; dies with the harness, even paused:
                               a SIGKILL death signal, see harness/pids.py)
    ``python -m MODULE`` with a ``preload`` -> forked from the fork server (forked.py), which
    imported the platform's code once; anything else -> a subprocess of its own
Supervisor.stop_all(): resume paused children, SIGTERM, wait, SIGKILL the stubborn ones; then
                       the fork server
Child.send(signal): the child and every process it started (a pause or a kill reaches a
                    database server's backends too, as in a container)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import psutil

from harness.pids import die_with_parent, register_child
from harness.platform.forked import ForkServer, forkable

__all__ = ["Child", "Process", "Supervisor"]


class Process(Protocol):
    """What the supervisor needs of a child: subprocess.Popen or a ForkedProcess."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    process: Process
    log_path: Path
    paused: bool = False
    stop_signal: signal.Signals = signal.SIGTERM

    def send(self, sig: signal.Signals) -> None:
        """Signal the child and every process it started (a database server's backends), as
        pausing or killing a container reaches all of its processes. The child itself first
        (stopped or killed, it starts no more), then the rest; to resume, the rest first."""
        if sig == signal.SIGCONT:
            for pid in [*_descendants(self.pid), self.pid]:
                _kill(pid, sig)
            return
        _kill(self.pid, sig)
        for pid in _descendants(self.pid):
            _kill(pid, sig)

    def ask_to_stop(self) -> None:
        """Resume it if paused, then its stop signal (SIGTERM unless its topology says)."""
        if self.paused:
            self.send(signal.SIGCONT)
            self.paused = False
        _kill(self.pid, self.stop_signal)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


class Supervisor:
    def __init__(self, log_dir: Path, preload: list[str] | None = None) -> None:
        self.log_dir = log_dir
        self.children: dict[str, Child] = {}
        self.preload = preload or []
        self.forkserver: ForkServer | None = None

    def warm_up(self) -> None:
        """Start the fork server (if there is a preload): it imports while other work goes on."""
        if self.preload and (self.forkserver is None or not self.forkserver.running()):
            self.forkserver = ForkServer(self.preload)
            server = self.forkserver.start(self.log_dir / "forkserver.log")
            register_child("forkserver", server.pid, self.forkserver.argv)

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        fork: bool = True,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> Child:
        """Start ``name``; ``fork``: from the fork server when it preloads and argv allows."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        process: Process
        command = forkable(argv, sys.executable) if self.preload and fork else None
        if command is not None:
            self.warm_up()
            assert self.forkserver is not None
            process = self.forkserver.fork(name, *command, env or {}, log_path)
        else:
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
                )
        register_child(name, process.pid, argv)
        child = Child(name, argv, process, log_path, stop_signal=stop_signal)
        self.children[name] = child
        return child

    def signal(self, name: str, sig: signal.Signals) -> None:
        child = self.children[name]
        if child.alive():
            child.send(sig)
        if sig == signal.SIGSTOP:
            child.paused = True
        elif sig == signal.SIGCONT:
            child.paused = False

    def stop(self, name: str, grace_s: float = 5.0) -> None:
        child = self.children[name]
        if child.alive():
            child.ask_to_stop()
            try:
                child.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                child.send(signal.SIGKILL)
                child.process.wait()
        else:
            child.process.wait()

    def stop_all(self, grace_s: float = 5.0) -> list[str]:
        """Every child ends: paused ones are resumed first, then SIGTERM, then SIGKILL.
        Returns what was left running: nothing (a SIGKILLed child always ends)."""
        for child in self.children.values():
            if child.alive():
                child.ask_to_stop()
        deadline = time.monotonic() + grace_s
        for child in self.children.values():
            remaining = max(deadline - time.monotonic(), 0.01)
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                child.send(signal.SIGKILL)
                child.process.wait()
        if self.forkserver is not None:
            self.forkserver.stop(grace_s)
            self.forkserver = None
        return []
