"""Locust in its own process (or a master and N workers), bounded in time, stopped cleanly.

LoadPlan (what the topology and scenario ask) + LoadOptions (how: workers, seed)
LoadRunner.start() -> locust --headless -f harness/load/locustfile.py,<the platform's>
                      -H entrypoint -u -r -t ... (--master + N x --worker with --workers N);
                      secrets and the history file through the environment, never argv;
                      every process dies with the harness (SIGKILL death signal)
LoadRunner.stop()  -> SIGTERM (locust writes its final samples), then SIGKILL if stuck
results: result.read_samples(out_dir / "metrics.jsonl"), read_history(... "history.jsonl")
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from harness.errors import EnvironmentFailure
from harness.load.history import ENV_VAR as HISTORY_ENV
from harness.load.result import History, Sample, read_history, read_samples
from harness.pids import die_with_parent, register_child

__all__ = ["LOCUSTFILE", "LoadError", "LoadOptions", "LoadPlan", "LoadRunner"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")  # the harness's half of every run
WORKERS_MAX_WAIT_S = 60  # the master gives up (and the run errors) if workers do not join
READY_TIMEOUT_S = WORKERS_MAX_WAIT_S + 30  # every sender has loaded the locustfiles


class LoadError(EnvironmentFailure):
    """Locust could not be started or died."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How the load runs, whatever it is: one value from the CLI to the runner."""

    workers: int = 0  # local Locust workers (distributed mode); 0: one process
    remote_workers: int = 0  # workers started by hand on other machines
    master_bind: str = "127.0.0.1"  # HOST[:PORT] the master listens on for workers
    seed: int | None = None


@dataclasses.dataclass(frozen=True)
class LoadPlan:
    """What the load is: the platform's locustfile, its mix, how many users, its secrets."""

    locustfile: Path
    users: int
    spawn_rate: float
    mix: dict[str, int]
    env: dict[str, str] = dataclasses.field(default_factory=dict)


class LoadRunner:
    def __init__(
        self,
        entrypoint_url: str,
        out_dir: Path,
        duration_s: float,
        plan: LoadPlan,
        options: LoadOptions | None = None,
    ) -> None:
        options = options or LoadOptions()
        self.gateway_url = entrypoint_url
        self.out_dir = out_dir
        self.duration_s = duration_s
        self.plan = plan
        self.users = plan.users
        self.spawn_rate = plan.spawn_rate
        self.workers = options.workers
        self.seed = options.seed
        self.remote_workers = options.remote_workers
        host, _, port = options.master_bind.partition(":")
        self.master_host = host or "127.0.0.1"
        self.master_port = int(port) if port else 0
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def metrics_prefix(self) -> Path:
        return self.out_dir / "metrics.jsonl"

    @property
    def control_path(self) -> Path:
        return self.out_dir / "control.json"

    def set_users(self, users: int, spawn_rate: float | None = None) -> None:
        """Ask the running load for another number of users (atomically: never half-read)."""
        tmp = self.control_path.with_suffix(".tmp")
        rate = self.spawn_rate if spawn_rate is None else spawn_rate
        tmp.write_text(json.dumps({"users": users, "spawn_rate": rate}), encoding="utf-8")
        tmp.replace(self.control_path)
        self.users = users

    @property
    def history_prefix(self) -> Path:
        return self.out_dir / "history.jsonl"

    def _common(self) -> list[str]:
        mix = ",".join(f"{k}={v}" for k, v in self.plan.mix.items())
        return [
            sys.executable,
            "-m",
            "locust",
            "-f",
            f"{LOCUSTFILE},{self.plan.locustfile}",
            "--headless",
            "--metrics-jsonl",
            str(self.metrics_prefix),
            "--mix",
            mix,
            "--seed",
            str(-1 if self.seed is None else self.seed),
            "--control-file",
            str(self.control_path),
            "--loglevel",
            "WARNING",
        ]

    def worker_env(self) -> dict[str, str]:
        """The environment a Locust process of this run needs beyond the machine's own:
        the topology's load.env (secrets) and where the history goes."""
        return {**self.plan.env, HISTORY_ENV: str(self.history_prefix)}

    def _popen(self, argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, **self.worker_env()},
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
        )
        register_child("locust", process.pid, argv)
        return process

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.set_users(self.users)
        log = (self.out_dir / "locust.log").open("ab")
        run = [
            "-H",
            self.gateway_url,
            "-u",
            str(self.users),
            "-r",
            str(self.spawn_rate),
            "-t",
            f"{max(int(self.duration_s), 1)}s",
            "--only-summary",
            "--exit-code-on-error",
            "0",
            "--json-file",
            str(self.out_dir / "locust"),
            "--stop-timeout",
            "2",
        ]
        try:
            if self.workers or self.remote_workers:
                self.master_port = self.master_port or _free_port()
                master = [
                    *self._common(),
                    *run,
                    "--master",
                    "--master-bind-host",
                    self.master_host,
                    "--master-bind-port",
                    str(self.master_port),
                    "--expect-workers",
                    str(self.workers + self.remote_workers),
                    "--expect-workers-max-wait",
                    str(WORKERS_MAX_WAIT_S),
                ]
                self.processes.append(self._popen(master, log))
                for _ in range(self.workers):
                    self.processes.append(self._popen(self.worker_command("127.0.0.1"), log))
            else:
                self.processes.append(self._popen([*self._common(), *run], log))
        except OSError as exc:
            raise LoadError(f"cannot start locust: {exc}") from exc
        finally:
            log.close()
        self._wait_until_ready()

    def _wait_until_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until every process started here that sends load has loaded the locustfiles (each
        opens its sample file then), so a warm-up counts from real load, never from a slow import
        (on a busy machine Locust's import alone took longer than a short warm-up)."""
        # Workers on other machines join when their operator starts them, after this returns:
        # only the processes started here are waited for.
        expected = self.workers if (self.workers or self.remote_workers) else 1
        pattern = self.metrics_prefix.name + ".*"
        deadline = time.monotonic() + timeout_s
        while len(list(self.metrics_prefix.parent.glob(pattern))) < expected:
            if not self.alive():
                raise LoadError(f"the load generator stopped while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise LoadError(
                    f"the load generator was not ready after {timeout_s:.0f} s"
                    f" ({expected} process(es) expected):\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def worker_command(self, master_host: str) -> list[str]:
        """How a worker joins this run's master (printed for workers on other machines;
        they need the topology's load.env in their environment too)."""
        return [
            *self._common(),
            "--worker",
            "--master-host",
            master_host,
            "--master-port",
            str(self.master_port),
        ]

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.processes)

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                break

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM: locust stops its users and writes what it has; SIGKILL what lingers."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in self.processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def samples(self) -> list[Sample]:
        return read_samples(self.metrics_prefix)

    def history(self) -> History:
        return read_history(self.history_prefix)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.out_dir / "locust.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
