"""Reading what the load measured (files written by locust processes), without sockets."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.load import figures, read_history, read_samples


def _write(path: Path, records: list[dict[str, object]], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_samples_from_every_process_and_figures_by_window(tmp_path: Path) -> None:
    _write(
        tmp_path / "metrics.jsonl.1",
        [
            {
                "t": 100,
                "endpoint": "feed",
                "build": "v1",
                "n": 4,
                "errors": 1,
                "latencies_ms": [10, 20, 30, 40],
            },
            {
                "t": 101,
                "endpoint": "search",
                "build": "v2",
                "n": 2,
                "errors": 0,
                "latencies_ms": [300, 310],
            },
        ],
    )
    _write(
        tmp_path / "metrics.jsonl.2",
        [
            {
                "t": 100,
                "endpoint": "feed",
                "build": "v1",
                "n": 1,
                "errors": 0,
                "latencies_ms": [50],
            },
        ],
        tail='{"t": 102, "endpoi',
    )  # a line cut by a kill is skipped
    samples = read_samples(tmp_path / "metrics.jsonl")
    assert len(samples) == 3
    feed = figures(samples, 100, 102, "feed")
    assert (feed.requests, feed.errors) == (5, 1)
    assert feed.error_rate == 0.2
    assert feed.p95_s == 0.05
    assert feed.throughput == 2.5
    v2 = figures(samples, 100, 102, "all", build="v2")
    assert v2.requests == 2
    assert math.isnan(figures(samples, 200, 210).error_rate)  # no data is not a zero


def test_history_sets(tmp_path: Path) -> None:
    _write(
        tmp_path / "history.jsonl.7",
        [
            {"op": "invoke", "key": "a"},
            {"op": "ok", "key": "a", "video_id": "va"},
            {"op": "invoke", "key": "b", "violating": True},
            {"op": "info", "key": "b"},
            {"op": "invoke", "key": "c"},
            {"op": "info", "key": "c"},
            {"op": "ok", "key": "c", "video_id": "vc"},
            {"op": "ok", "key": "c", "video_id": "vc2"},
        ],
    )
    history = read_history(tmp_path / "history.jsonl")
    assert history.attempted == {"a", "b", "c"}
    assert history.acknowledged["a"] == "va"
    assert history.indeterminate == {"b"}
    assert history.keys_with_many_ids == {"c": frozenset({"vc", "vc2"})}
    assert history.violating == {"b"}
