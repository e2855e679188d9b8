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
    def line(kind: str, key: str, **extra: object) -> dict[str, object]:
        return {"id": f"{key}{kind}", "kind": "upload", "key": key, "type": kind, **extra}

    _write(
        tmp_path / "history.jsonl.7",
        [
            line("invoke", "a"),
            line("ok", "a", ref="va"),
            line("invoke", "b", value={"violating": True}),
            line("info", "b"),
            line("invoke", "c"),
            line("info", "c"),
            line("ok", "c", ref="vc"),
            line("ok", "c", ref="vc2"),
            {"id": "x", "kind": "like", "key": "d", "type": "invoke"},
            {"not": "a history line"},
        ],
    )
    history = read_history(tmp_path / "history.jsonl")
    assert history.attempted == {"a", "b", "c", "d"}
    uploads = history.of_kind("upload")
    assert uploads.attempted == {"a", "b", "c"}
    assert uploads.acknowledged["a"] == "va"
    assert uploads.indeterminate == {"b"}  # info and never ok: neither lost nor acknowledged
    assert uploads.keys_with_many_ids == {"c": frozenset({"vc", "vc2"})}
    assert uploads.flagged("violating") == {"b"}


def test_the_history_helper_writes_what_read_history_reads(tmp_path: Path) -> None:
    from harness.load.history import OperationHistory

    history = OperationHistory(str(tmp_path / "h.jsonl"))
    first = history.invoke("upload", "k1", {"violating": True})
    first.info({"status": 503})
    history.invoke("upload", "k1", {"violating": True}).ok(ref="v1")
    history.invoke("upload", "k2").fail({"status": 400})
    history.close()
    read = read_history(tmp_path / "h.jsonl")
    assert read.acknowledged == {"k1": "v1"}
    assert read.flagged("violating") == {"k1"}
    assert read.indeterminate == frozenset()
    assert OperationHistory("").invoke("upload", "k").id  # no file: writes nothing, no error


def test_wrong_answers_are_the_errors_that_came_with_a_success(tmp_path: Path) -> None:
    _write(
        tmp_path / "metrics.jsonl.1",
        [
            {"t": 5, "endpoint": "search", "n": 10, "errors": 3, "wrong": 2, "latencies_ms": []},
            {"t": 6, "endpoint": "search", "n": 10, "errors": 1, "latencies_ms": []},  # older
        ],
    )
    search = figures(read_samples(tmp_path / "metrics.jsonl"), 5, 7, "search")
    assert (search.errors, search.wrong) == (4, 2)
    assert search.get("wrong_answers") == 0.1
