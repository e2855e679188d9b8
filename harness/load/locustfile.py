"""The load the mock platform gets: viewers, creators, searchers (the ONLY importer of locust).

Run by harness/load/runner.py as ``locust -f this_file --headless ...`` in its own process:

    request event --> per-second buckets (endpoint, build) --> --metrics-jsonl, every second
    creator upload --> invoke / ok | fail | info records --> --history-jsonl (Jepsen-style)
    --control-file (rewritten by the harness per phase) --> HarnessShape --> how many users

A team replaces this file with its own locustfile; the runner only needs the two JSONL files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
import uuid
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.env import Environment

_STATE: dict[str, Any] = {"buckets": {}, "metrics": None, "history": None, "secret": b""}
QUERIES = ["clip", "cat", "#demo", "dance", "#surf", "news"]


def _options(parser: Any) -> None:
    parser.add_argument("--metrics-jsonl", default="", help="Per-second samples go here")
    parser.add_argument("--history-jsonl", default="", help="Upload history goes here")
    parser.add_argument("--token-secret", default="", help="Signs creators' bearer tokens")
    parser.add_argument("--mix", default="viewer=6,creator=1,searcher=3", help="Class weights")
    parser.add_argument("--seed", type=int, default=-1, help="Seed users' choices (-1: random)")
    parser.add_argument("--control-file", default="", help="JSON {users, spawn_rate} to follow")


def _open(path: str) -> Any:
    if not path:
        return None
    # One file per process: in distributed mode every worker writes its own.
    return open(f"{path}.{os.getpid()}", "a", buffering=1, encoding="utf-8")


def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    _STATE["secret"] = options.token_secret.encode()
    weights = dict(part.split("=") for part in options.mix.split(",") if "=" in part)
    for cls in (Viewer, Creator, Searcher):
        cls.weight = int(weights.get(cls.__name__.lower(), cls.weight))
    if environment.runner is not None and not _is_master(environment):
        if options.seed >= 0:  # each worker its own stream, the same one on every run
            random.seed(options.seed * 1000 + getattr(environment.runner, "worker_index", 0))
        _STATE["metrics"] = _open(options.metrics_jsonl)
        _STATE["history"] = _open(options.history_jsonl)
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
        key, {"n": 0, "errors": 0, "latencies_ms": [], "status": {}}
    )
    bucket["n"] += 1
    failed = exception is not None or status == 0 or status >= 500
    bucket["errors"] += int(failed)
    bucket["latencies_ms"].append(round(response_time, 2))
    bucket["status"][str(status)] = bucket["status"].get(str(status), 0) + 1


def _flush(final: bool = False) -> None:
    out = _STATE["metrics"]
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
    for name in ("metrics", "history"):
        if _STATE[name] is not None:
            _STATE[name].close()
            _STATE[name] = None


def _history(record: dict[str, Any]) -> None:
    if _STATE["history"] is not None:
        _STATE["history"].write(json.dumps({"t": time.time(), **record}) + "\n")


def _token(creator: str) -> str:
    digest = hmac.new(_STATE["secret"], creator.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{creator}.{digest}"


events.init_command_line_parser.add_listener(_options)
events.init.add_listener(_init)
events.request.add_listener(_on_request)
events.quitting.add_listener(_quitting)


class Viewer(FastHttpUser):
    """Scrolls the feed, plays a video from it, sometimes likes it."""

    weight = 6
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.user_id = f"viewer{random.randrange(10**6)}"

    @task
    def scroll(self) -> None:
        with self.client.get(
            "/v1/feed", params={"user": self.user_id}, name="feed", catch_response=True
        ) as response:
            items = response.json().get("items", []) if response.status_code == 200 else []
            if response.status_code < 500:
                response.success()
        if items:
            video = random.choice(items)["video_id"]
            self.client.get(
                f"/v1/videos/{video}/play", headers={"Range": "bytes=0-1023"}, name="play"
            )
            self.client.post(f"/v1/videos/{video}/views", name="view")
            if random.random() < 0.2:
                self.client.post(f"/v1/videos/{video}/likes", name="like")


class Searcher(FastHttpUser):
    weight = 3
    wait_time = between(0.5, 1.5)

    @task
    def search(self) -> None:
        self.client.get("/v1/search", params={"q": random.choice(QUERIES)}, name="search")


class Creator(FastHttpUser):
    """Uploads (each with its own idempotency key, retried with it), and checks its videos."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.creator = f"creator{random.randrange(10**6)}"

    @task(3)
    def upload(self) -> None:
        key = uuid.uuid4().hex
        violating = random.random() < 0.1
        _history({"op": "invoke", "key": key, "creator": self.creator, "violating": violating})
        headers = {
            "Authorization": f"Bearer {_token(self.creator)}",
            "Idempotency-Key": key,
            "Content-Type": "video/mp4",
        }
        params = {"title": "chaos clip", "hashtags": "demo", "violating": str(violating).lower()}
        body = os.urandom(2048).hex()  # FastHttpSession types data as str
        for _attempt in range(3):
            with self.client.post(
                "/v1/videos",
                data=body,
                headers=headers,
                params=params,
                name="upload",
                catch_response=True,
            ) as response:
                status = response.status_code or 0
                if status == 202:
                    _history({"op": "ok", "key": key, "video_id": response.json()["video_id"]})
                    return
                if status and status < 500:
                    _history({"op": "fail", "key": key, "status": status})
                    return
                # A 5xx, timeout or reset: we do not know; retry with the same key.
                _history({"op": "info", "key": key, "status": status})
            gevent.sleep(0.5)

    @task(1)
    def my_videos(self) -> None:
        self.client.get(f"/v1/creators/{self.creator}/videos", name="my_videos")


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
