"""Load results: per-second samples and the upload history, read from the locust process's
JSONL files, and the figures expectations are judged on.

    metrics.jsonl.<pid>  -> Sample(t, endpoint, build, n, errors, latencies_ms, status)
    history.jsonl.<pid>  -> History: acknowledged / attempted / indeterminate uploads
    window(samples, start, end, endpoint, build) -> Figures(error_rate, p50/p95/p99, throughput)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["Figures", "History", "Sample", "figures", "read_history", "read_samples"]


@dataclasses.dataclass(frozen=True)
class Sample:
    t: int
    endpoint: str
    build: str
    n: int
    errors: int
    latencies_ms: tuple[float, ...]
    status: dict[str, int]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        return cls(
            t=int(data["t"]),
            endpoint=str(data["endpoint"]),
            build=str(data.get("build", "-")),
            n=int(data["n"]),
            errors=int(data["errors"]),
            latencies_ms=tuple(float(x) for x in data.get("latencies_ms", [])),
            status={str(k): int(v) for k, v in (data.get("status") or {}).items()},
        )


def _lines(prefix: Path) -> Iterable[dict[str, Any]]:
    """Every JSON line of every file named ``<prefix>.<pid>`` (one per locust process)."""
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        with path.open(encoding="utf-8") as handle:
            for raw in handle:
                text = raw.strip()
                if not text:
                    continue
                try:
                    yield json.loads(text)
                except ValueError:
                    continue  # a line cut by a kill: everything before it still counts


def read_samples(prefix: Path) -> list[Sample]:
    return sorted((Sample.from_json(d) for d in _lines(prefix)), key=lambda s: s.t)


@dataclasses.dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    seconds: float
    error_rate: float
    p50_s: float
    p95_s: float
    p99_s: float
    throughput: float

    def get(self, metric: str) -> float:
        return {
            "error_rate": self.error_rate,
            "p50": self.p50_s,
            "p95": self.p95_s,
            "p99": self.p99_s,
            "throughput": self.throughput,
        }[metric]


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def figures(
    samples: Iterable[Sample],
    start: float,
    end: float,
    endpoint: str = "all",
    build: str | None = None,
) -> Figures:
    """Figures of the samples with start <= t < end for one endpoint (or all) and build."""
    chosen = [
        s
        for s in samples
        if start <= s.t < end
        and endpoint in ("all", s.endpoint)
        and (build is None or s.build == build)
    ]
    requests = sum(s.n for s in chosen)
    errors = sum(s.errors for s in chosen)
    latencies = sorted(x / 1000 for s in chosen for x in s.latencies_ms)
    seconds = max(end - start, 1e-9)
    return Figures(
        requests=requests,
        errors=errors,
        seconds=seconds,
        error_rate=errors / requests if requests else math.nan,
        p50_s=_percentile(latencies, 0.50),
        p95_s=_percentile(latencies, 0.95),
        p99_s=_percentile(latencies, 0.99),
        throughput=requests / seconds,
    )


@dataclasses.dataclass(frozen=True)
class History:
    """Uploads as the load saw them: Jepsen's attempted (T), acknowledged (A), info (I)."""

    attempted: frozenset[str]
    acknowledged: dict[str, str]  # idempotency key -> video id
    indeterminate: frozenset[str]
    keys_with_many_ids: dict[str, frozenset[str]]
    violating: frozenset[str]  # keys uploaded marked as violating


def read_history(prefix: Path) -> History:
    attempted: set[str] = set()
    ids: dict[str, set[str]] = {}
    info: set[str] = set()
    violating: set[str] = set()
    for record in _lines(prefix):
        key = str(record.get("key", ""))
        op = record.get("op")
        if op == "invoke":
            attempted.add(key)
            if record.get("violating"):
                violating.add(key)
        elif op == "ok":
            ids.setdefault(key, set()).add(str(record["video_id"]))
        elif op == "info":
            info.add(key)
    return History(
        attempted=frozenset(attempted),
        acknowledged={key: sorted(v)[0] for key, v in ids.items()},
        indeterminate=frozenset(info - set(ids)),
        keys_with_many_ids={k: frozenset(v) for k, v in ids.items() if len(v) > 1},
        violating=frozenset(violating),
    )
