"""Child processes the harness starts: started, health-checked, signalled and always reaped.

Supervisor.start(name, argv) -> Child (own log file; dies with the harness, even paused:
                               a SIGKILL death signal, see harness/pids.py)
Supervisor.stop_all(): resume paused children, SIGTERM, wait, SIGKILL the stubborn ones
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

from harness.pids import die_with_parent, register_child

__all__ = ["Child", "Supervisor"]


@dataclasses.dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    paused: bool = False

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


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: dict[str, Child] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
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
        child = Child(name, argv, process, log_path)
        self.children[name] = child
        return child

    def signal(self, name: str, sig: signal.Signals) -> None:
        child = self.children[name]
        if child.alive():
            os.kill(child.pid, sig)
        if sig == signal.SIGSTOP:
            child.paused = True
        elif sig == signal.SIGCONT:
            child.paused = False

    def stop(self, name: str, grace_s: float = 5.0) -> None:
        child = self.children[name]
        if child.alive():
            if child.paused:
                os.kill(child.pid, signal.SIGCONT)
                child.paused = False
            child.process.terminate()
            try:
                child.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        else:
            child.process.wait()

    def stop_all(self, grace_s: float = 5.0) -> None:
        """Every child ends: paused ones are resumed first, then SIGTERM, then SIGKILL."""
        for child in self.children.values():
            if child.alive():
                if child.paused:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGCONT)
                    child.paused = False
                with contextlib.suppress(ProcessLookupError):
                    child.process.terminate()
        deadline = time.monotonic() + grace_s
        for child in self.children.values():
            remaining = max(deadline - time.monotonic(), 0.01)
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
