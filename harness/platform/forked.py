"""Services forked from one pre-imported process (the topology's ``preload``), behind the same
interface as a subprocess, so the supervisor, every fault and the crash sweep treat them alike.

ForkServer.start(log) -> ``python -m harness.forkserver MODULES`` (dies with the harness),
                      importing while the harness starts its proxy
ForkServer.fork(name, module, args, env, log) -> [the first waits for {"ready"}; a failed
                      import is a ForkServerError naming it] -> ForkedProcess (pid: the service)
a reader thread: {"started"} answers fork(); {"exited": pid, "code"} -> that ForkedProcess
ForkedProcess: pid, poll(), wait(timeout), terminate(), kill() as subprocess.Popen has them;
               the server reaps it, so it is never a zombie; if the server is gone, so is it
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.pids import die_with_parent, pid_alive

__all__ = ["ForkServer", "ForkServerError", "ForkedProcess", "forkable"]

READY_TIMEOUT_S = 60.0
_KILLED = -signal.SIGKILL


class ForkServerError(Exception):
    """The fork server could not import what it preloads, or stopped answering."""


def forkable(argv: list[str], python: str) -> tuple[str, list[str]] | None:
    """(module, args) when ``argv`` is ``python -m module args...``; None otherwise."""
    if len(argv) >= 3 and argv[0] == python and argv[1] == "-m":
        return argv[2], argv[3:]
    return None


class ForkedProcess:
    """A service the fork server forked: a subprocess.Popen for what the supervisor uses."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        self._exited = threading.Event()
        self.returncode: int | None = None

    def _ended(self, code: int) -> None:
        self.returncode = code
        self._exited.set()

    def poll(self) -> int | None:
        if self.returncode is None and not self.server.running() and not pid_alive(self.pid):
            self._ended(_KILLED)  # the server died: its death signal killed every child
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._exited.wait(left)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never a pid the server has reaped (it may be reused)
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        self.argv = [sys.executable, "-m", "harness.forkserver", ",".join(modules)]
        self.process: subprocess.Popen[bytes] | None = None
        self._answers: queue.Queue[dict[str, object]] = queue.Queue()
        self._forked: dict[int, ForkedProcess] = {}
        self._early_exits: dict[int, int] = {}  # exited before fork() filed it
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self._reader: threading.Thread | None = None
        self._error = ""
        self.log_path: Path | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
            )
        self.log_path = log_path
        self._reader = threading.Thread(target=self._read, name="forkserver-reader", daemon=True)
        self._reader.start()
        return self.process

    def _wait_ready(self) -> None:
        if self._ready is None:
            ready = self._answer(READY_TIMEOUT_S)
            self._ready = bool(ready.get("ready"))
            if not self._ready:
                self._error = f"{ready.get('error', 'no answer')} (log: {self.log_path})"
        if not self._ready:
            raise ForkServerError(f"preload {', '.join(self.modules)}: {self._error}")

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            if "exited" in message:
                pid, code = int(message["exited"]), int(message["code"])
                with self._lock:
                    forked = self._forked.get(pid)
                    if forked is None:
                        self._early_exits[pid] = code
                if forked is not None:
                    forked._ended(code)
            else:
                self._answers.put(message)
        self._answers.put({"ready": False, "error": "the fork server exited"})

    def _answer(self, timeout: float) -> dict[str, object]:
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return {"ready": False, "error": f"no answer within {timeout:.0f} s"}

    def fork(
        self, name: str, module: str, args: list[str], env: dict[str, str], log_path: Path
    ) -> ForkedProcess:
        self._wait_ready()
        if self.process is None or self.process.stdin is None or not self.running():
            raise ForkServerError("the fork server is not running")
        request = {"name": name, "module": module, "args": args, "env": env, "log": str(log_path)}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except OSError as exc:
            raise ForkServerError(f"the fork server is gone: {exc}") from None
        answer = self._answer(READY_TIMEOUT_S)
        if "pid" not in answer:
            raise ForkServerError(f"cannot fork {name}: {answer.get('error', answer)}")
        pid = int(str(answer["pid"]))
        forked = ForkedProcess(self, pid, [sys.executable, "-m", module, *args])
        with self._lock:
            self._forked[pid] = forked
            early = self._early_exits.pop(pid, None)
        if early is not None:
            forked._ended(early)
        return forked

    def stop(self, grace_s: float = 5.0) -> None:
        """Close its stdin (it exits; any child left dies with it), SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._reader is not None:
            self._reader.join(grace_s)  # it reads to the end of the pipe the server closed
        if self.process.stdout is not None:
            self.process.stdout.close()
