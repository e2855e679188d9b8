"""The harness's half of every load run (the ONLY importer of locust in the harness).

Run by harness/load/runner.py as ``locust -f this_file,<the topology's locustfile> ...``:
the platform's locustfile holds the user classes; this file holds what the harness needs of
any of them, so a team's own locustfile needs nothing from the harness:

    request event --> per-second buckets (endpoint, build) --> --metrics-jsonl, every second
    --mix a=6,b=1       the whole mix: classes not named get no users
    --seed N            the users' random choices, the same on every run (per worker)
    --control-file      (rewritten by the harness per phase) --> HarnessShape --> users
    SIGTERM             stop the users, write the last samples (and --json-file), exit
The operation history is the locustfile's own (harness/load/history.py); its file comes from
the environment (HARNESS_HISTORY_JSONL), set by the runner.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.env import Environment

_STATE: dict[str, Any] = {"buckets": {}, "samples": None}


def _options(parser: Any) -> None:
    parser.add_argument("--metrics-jsonl", default="", help="Per-second samples go here")
    parser.add_argument("--mix", default="", help="User class weights, e.g. viewer=6,creator=1")
    parser.add_argument("--seed", type=int, default=-1, help="Seed users' choices (-1: random)")
    parser.add_argument("--control-file", default="", help="JSON {users, spawn_rate} to follow")


def _open(path: str) -> Any:
    if not path:
        return None
    # One file per process: in distributed mode every worker writes its own.
    return open(f"{path}.{os.getpid()}", "a", buffering=1, encoding="utf-8")


def _apply_mix(environment: Environment, mix: str) -> None:
    """Weights by class name (case-insensitive); a class the mix leaves out gets none."""
    if not mix:
        return
    weights = {
        name.strip().lower(): int(weight)
        for name, _, weight in (part.partition("=") for part in mix.split(","))
        if name.strip()
    }
    known = {cls.__name__.lower() for cls in environment.user_classes}
    unknown = sorted(set(weights) - known)
    if unknown:
        print(
            f"locustfile: no user class {', '.join(unknown)} (has {sorted(known)})", file=sys.stderr
        )
    chosen = []
    for cls in environment.user_classes:
        weight = weights.get(cls.__name__.lower(), 0)
        if weight > 0:
            cls.weight = weight
            chosen.append(cls)
    environment.user_classes[:] = chosen


def _quit_on_sigterm(environment: Environment) -> None:
    """Locust installs its SIGTERM handler only after a shape test's run (main() blocks on
    the shape first), so SIGTERM would kill it outright: no last samples, no --json-file.
    This handler stops the users; Locust then ends as after its run time, writing both."""

    def quit_gracefully() -> None:
        runner = environment.runner
        if runner is None:
            return
        shape = getattr(runner, "shape_greenlet", None)
        if shape is not None and not shape.dead:
            shape.kill(block=False)  # main() then stops and quits the run once, as at its end
        else:
            gevent.spawn(runner.quit)

    gevent.signal_handler(signal.SIGTERM, quit_gracefully)


def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    _quit_on_sigterm(environment)
    _apply_mix(environment, options.mix)
    if environment.runner is not None and not _is_master(environment):
        if options.seed >= 0:  # each worker its own stream, the same one on every run
            random.seed(options.seed * 1000 + getattr(environment.runner, "worker_index", 0))
        _STATE["samples"] = _open(options.metrics_jsonl)
        gevent.spawn(_flush_every_second)


def _is_master(environment: Environment) -> bool:
    return type(environment.runner).__name__ == "MasterRunner"


def _on_request(
    name: str, response_time: float, exception: Any, response: Any = None, **_: Any
) -> None:
    build = "-"
    status = 0
    if response is not None:
        build = response.headers.get("X-Build") or "-"
        status = response.status_code or 0
    key = (int(time.time()), name, build)
    bucket = _STATE["buckets"].setdefault(
        key, {"n": 0, "errors": 0, "wrong": 0, "latencies_ms": [], "status": {}}
    )
    bucket["n"] += 1
    failed = exception is not None or status == 0 or status >= 500
    bucket["errors"] += int(failed)
    # a wrong answer: the platform said it succeeded, the user found the answer wrong
    bucket["wrong"] += int(failed and 200 <= status < 400)
    bucket["latencies_ms"].append(round(response_time, 2))
    bucket["status"][str(status)] = bucket["status"].get(str(status), 0) + 1


def _flush(final: bool = False) -> None:
    out = _STATE["samples"]
    if out is None:
        return
    now = int(time.time())
    for key in sorted(_STATE["buckets"]):
        if final or key[0] < now:
            second, name, build = key
            record = {"t": second, "endpoint": name, "build": build, **_STATE["buckets"].pop(key)}
            out.write(json.dumps(record) + "\n")


def _flush_every_second() -> None:
    while True:
        gevent.sleep(1.0)
        _flush()


def _quitting(environment: Environment, **_: Any) -> None:
    _flush(final=True)
    if _STATE["samples"] is not None:
        _STATE["samples"].close()
        _STATE["samples"] = None


events.init_command_line_parser.add_listener(_options)
events.init.add_listener(_init)
events.request.add_listener(_on_request)
events.quitting.add_listener(_quitting)


class HarnessShape(LoadTestShape):
    """Users over time as the harness asks: it rewrites --control-file when a phase (or a
    stage) wants another number of users; without the file, -u and -r as usual."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._mtime = 0.0
        self._target: tuple[int, float] | None = None

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        if options.run_time and self.get_run_time() > options.run_time:
            return None
        if self._target is None:
            self._target = (int(options.num_users or 1), float(options.spawn_rate or 1))
        path = options.control_file
        try:
            mtime = os.stat(path).st_mtime if path else 0.0
            if mtime != self._mtime:
                with open(path, encoding="utf-8") as control:
                    wanted = json.load(control)
                self._target = (int(wanted["users"]), float(wanted["spawn_rate"]))
                self._mtime = mtime
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a half-written file: keep the last target, read it again next tick
        return self._target
