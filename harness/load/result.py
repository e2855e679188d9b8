"""Load results: per-second samples and the operation history, read from the locust process's
JSONL files, and the figures expectations are judged on.

    metrics.jsonl.<pid>  -> Sample(t, endpoint, build, n, errors, latencies_ms, status)
    history.jsonl.<pid>  -> History: every write invoked / acknowledged / failed / unknown
    window(samples, start, end, endpoint, build) -> Figures(error_rate, wrong_answers,
        p50/p95/p99, throughput)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "Figures",
    "History",
    "HistoryEvent",
    "Sample",
    "figures",
    "read_history",
    "read_samples",
]


@dataclasses.dataclass(frozen=True)
class Sample:
    t: int
    endpoint: str
    build: str
    n: int
    errors: int
    latencies_ms: tuple[float, ...]
    status: dict[str, int]
    wrong: int = 0  # errors that came with a success status: answers the user found wrong

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
            wrong=int(data.get("wrong", 0)),
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
    wrong: int  # errors that came with a success status
    seconds: float
    error_rate: float
    wrong_answers: float  # the share of requests answered with success but wrongly
    p50_s: float
    p95_s: float
    p99_s: float
    throughput: float

    def get(self, metric: str) -> float:
        return {
            "error_rate": self.error_rate,
            "wrong_answers": self.wrong_answers,
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
    """Figures of the seconds wholly inside [start, end) for one endpoint (or all) and build.

    A sample covers its second [t, t + 1): one that straddles a window's edge belongs to both
    windows in part (a fault applied at 514.09 falls in the sample of second 514), so it is
    counted in neither. That is why the timeline starts every phase on a whole second: a
    phase of N whole seconds is judged on all N of them."""
    chosen = [
        s
        for s in samples
        if start <= s.t
        and s.t + 1 <= end
        and endpoint in ("all", s.endpoint)
        and (build is None or s.build == build)
    ]
    requests = sum(s.n for s in chosen)
    errors = sum(s.errors for s in chosen)
    wrong = sum(s.wrong for s in chosen)
    latencies = sorted(x / 1000 for s in chosen for x in s.latencies_ms)
    seconds = max(end - start, 1e-9)
    return Figures(
        requests=requests,
        errors=errors,
        wrong=wrong,
        seconds=seconds,
        error_rate=errors / requests if requests else math.nan,
        wrong_answers=wrong / requests if requests else math.nan,
        p50_s=_percentile(latencies, 0.50),
        p95_s=_percentile(latencies, 0.95),
        p99_s=_percentile(latencies, 0.99),
        throughput=requests / seconds,
    )


def share(samples: Iterable[Sample], start: float, end: float, endpoint: str, build: str) -> float:
    """The fraction of the endpoint's requests (whole seconds in [start, end)) that ``build``
    served: how far a release reached (NaN when nothing finished)."""
    everyone = figures(samples, start, end, endpoint).requests
    if not everyone:
        return math.nan
    return figures(samples, start, end, endpoint, build).requests / everyone


@dataclasses.dataclass(frozen=True)
class HistoryEvent:
    """One line of the operation history (harness/load/history.py writes them)."""

    id: str
    kind: str
    key: str
    type: str  # invoke | ok | fail | info
    time: float
    value: Any = None
    ref: str | None = None


@dataclasses.dataclass(frozen=True)
class History:
    """Writes as the load saw them: Jepsen's attempted, acknowledged (ok), indeterminate
    (info, never ok). Retries of one write share its key."""

    events: tuple[HistoryEvent, ...] = ()

    def of_kind(self, kind: str | None) -> History:
        if kind is None:
            return self
        return History(tuple(e for e in self.events if e.kind == kind))

    @property
    def attempted(self) -> frozenset[str]:
        return frozenset(e.key for e in self.events if e.type == "invoke")

    @property
    def refs_by_key(self) -> dict[str, frozenset[str]]:
        refs: dict[str, set[str]] = {}
        for event in self.events:
            if event.type == "ok" and event.ref is not None:
                refs.setdefault(event.key, set()).add(event.ref)
        return {key: frozenset(v) for key, v in refs.items()}

    @property
    def acknowledged(self) -> dict[str, str]:
        """key -> the ref it was acknowledged with (the smallest, if several)."""
        return {key: sorted(refs)[0] for key, refs in self.refs_by_key.items()}

    @property
    def keys_with_many_ids(self) -> dict[str, frozenset[str]]:
        return {key: refs for key, refs in self.refs_by_key.items() if len(refs) > 1}

    @property
    def indeterminate(self) -> frozenset[str]:
        infos = {e.key for e in self.events if e.type == "info"}
        return frozenset(infos - set(self.refs_by_key))

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        """key -> what its first invoke recorded (a dict; empty when it recorded none)."""
        found: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if event.type == "invoke" and event.key not in found:
                found[event.key] = dict(event.value) if isinstance(event.value, dict) else {}
        return found

    def flagged(self, flag: str) -> frozenset[str]:
        """Keys whose write was invoked with ``value[flag]`` true."""
        return frozenset(
            e.key
            for e in self.events
            if e.type == "invoke" and isinstance(e.value, dict) and e.value.get(flag)
        )


def read_history(prefix: Path) -> History:
    events = []
    for record in _lines(prefix):
        try:
            events.append(
                HistoryEvent(
                    id=str(record.get("id", "")),
                    kind=str(record.get("kind", "")),
                    key=str(record["key"]),
                    type=str(record["type"]),
                    time=float(record.get("time", 0.0)),
                    value=record.get("value"),
                    ref=None if record.get("ref") is None else str(record["ref"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # not a history line: skipped, as a line cut by a kill is
    return History(tuple(sorted(events, key=lambda e: e.time)))
