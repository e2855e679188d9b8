"""Charts of one scenario run, drawn by matplotlib to inline SVG (text stays text, no scripts).

record -> per-second series per endpoint (throughput, error rate, p95)
        -> traffic_svg: three stacked panels, phases shaded and named, faults as red bands,
                        failovers as vertical lines
        -> status_svg: each status-page component's state over time (operational/degraded/
                       outage), plus the rollouts' canary weights when there were any
        -> communication_svg: per judged component, the measured SLI above the page's state,
                       the seconds the page was wrong hatched
Time is seconds since the scenario started.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede any other matplotlib import

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.record import RunRecord

__all__ = ["communication_svg", "status_svg", "traffic_series", "traffic_svg"]

STATE_COLOURS = {"operational": "#2da44e", "degraded": "#d4a72c", "outage": "#cf222e"}
FAULT_COLOUR = "#cf222e"
PHASE_COLOURS = ("#f6f8fa", "#eaeef2")
BIN_S = 2  # seconds per point: per-second p95 of a few requests is mostly noise


def _svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    # a salt per chart keeps element ids unique when several SVGs share one page
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # matplotlib numbers its groups figure_1, patch_1...: the same in every chart of the page
    return (
        text.replace('id="', f'id="{salt}-')
        .replace("url(#", f"url(#{salt}-")
        .replace('href="#', f'href="#{salt}-')
    )


def traffic_series(record: RunRecord) -> dict[str, dict[str, list[float]]]:
    """endpoint -> {"t", "throughput", "error_rate" (%), "p95" (ms)}, one point per BIN_S."""
    start = record.started_at
    bins: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    for sample in record.samples:
        key = int((sample.t - start) // BIN_S)
        acc = bins[sample.endpoint].setdefault(key, [0, 0, []])
        acc[0] += sample.n
        acc[1] += sample.errors
        acc[2].extend(sample.latencies_ms)
    series: dict[str, dict[str, list[float]]] = {}
    for endpoint, by_bin in sorted(bins.items()):
        out: dict[str, list[float]] = {"t": [], "throughput": [], "error_rate": [], "p95": []}
        for key in sorted(by_bin):
            n, errors, latencies = by_bin[key]
            latencies.sort()
            out["t"].append(key * BIN_S + BIN_S / 2)
            out["throughput"].append(n / BIN_S)
            out["error_rate"].append(100 * errors / n if n else math.nan)
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            out["p95"].append(p95 if latencies else math.nan)
        series[endpoint] = out
    return series


def _end(record: RunRecord) -> float:
    return record.ended - record.started_at


def _timeline(ax: Axes, record: RunRecord, labels: bool) -> None:
    """Phases as alternating bands (named on top), faults as red bands, failovers as lines."""
    start, end = record.started_at, _end(record)
    for index, phase in enumerate(record.phases):
        left = phase.start - start
        right = (phase.end or record.ended) - start
        ax.axvspan(left, right, color=PHASE_COLOURS[index % 2], zorder=0)
        if labels:
            ax.text(
                (left + right) / 2,
                1.02,
                phase.name,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    for fault in record.faults:
        left = fault.start - start
        right = (fault.end or record.ended) - start
        ax.axvspan(left, right, color=FAULT_COLOUR, alpha=0.10, zorder=1)
    for failover in record.failovers:
        ax.axvline(failover.at - start, color="#8250df", linestyle="--", linewidth=1)
    ax.set_xlim(0, max(end, 1))


def traffic_svg(record: RunRecord, salt: str) -> str:
    series = traffic_series(record)
    figure = Figure(figsize=(10, 7.2))
    axes = figure.subplots(3, 1, sharex=True)
    panels = (("throughput", "requests/s"), ("error_rate", "errors %"), ("p95", "p95 ms"))
    for row, (ax, (key, label)) in enumerate(zip(axes, panels, strict=True)):
        _timeline(ax, record, labels=row == 0)
        for endpoint, points in series.items():
            ax.plot(points["t"], points[key], label=endpoint, linewidth=1.2, zorder=3)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))
        ax.grid(True, alpha=0.3)
    if series:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    faults = record.faults
    if faults:
        start = record.started_at
        for index, fault in enumerate(faults):
            axes[2].annotate(
                fault.label[:60],
                xy=(fault.start - start, 1.0),
                xycoords=axes[2].get_xaxis_transform(),
                xytext=(2, -10 - 10 * (index % 3)),
                textcoords="offset points",
                fontsize=7,
                color=FAULT_COLOUR,
            )
    axes[2].set_xlabel("seconds since the scenario started (red bands: faults active)")
    return _svg(figure, salt)


def _status_lanes(record: RunRecord) -> dict[str, list[tuple[float, float, str]]]:
    """component -> [(from s, width s, state)] from the observed status-page changes."""
    start, end = record.started_at, _end(record)
    changes: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for item in record.observed:
        if item.what == "status" and item.component is not None:
            changes[item.component].append((item.t - start, str(item.state)))
    lanes: dict[str, list[tuple[float, float, str]]] = {}
    for component, points in sorted(changes.items()):
        ends = [t for t, _ in points[1:]] + [end]
        lanes[component] = [(t, max(e - t, 0.0), s) for (t, s), e in zip(points, ends, strict=True)]
    return lanes


def _rollout_weights(record: RunRecord) -> dict[str, list[tuple[float, float, str]]]:
    start = record.started_at
    out: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for item in record.observed:
        if item.what == "rollout":
            out[str(item.rollout)].append(
                (item.t - start, float(item.weight or 0), str(item.state))
            )
    return dict(out)


def status_svg(record: RunRecord, salt: str) -> str | None:
    """None when nothing was observed (an old journal, or a page that never answered)."""
    lanes, rollouts = _status_lanes(record), _rollout_weights(record)
    if not lanes and not rollouts:
        return None
    rows = 1 + bool(rollouts)
    figure = Figure(figsize=(10, 0.45 * max(len(lanes), 2) + 1.2 + 2.2 * bool(rollouts)))
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    _timeline(ax, record, labels=True)
    for index, spans in enumerate(lanes.values()):
        ax.broken_barh(
            [(t, w) for t, w, _ in spans],
            (index - 0.35, 0.7),
            facecolors=[STATE_COLOURS.get(s, "#8c959f") for _, _, s in spans],
            zorder=3,
        )
    ax.set_yticks(range(len(lanes)), list(lanes))
    ax.set_ylim(-0.6, max(len(lanes), 1) - 0.4)
    ax.set_title(
        "status page (green operational, amber degraded, red outage)",
        fontsize=9,
        loc="left",
        pad=14,
    )
    if rollouts:
        ax = axes[1]
        _timeline(ax, record, labels=False)
        for name, points in rollouts.items():
            times = [t for t, _, _ in points] + [_end(record)]
            weights = [w for _, w, _ in points] + [points[-1][1]]
            ax.step(times, weights, where="post", label=name, linewidth=1.5, zorder=3)
            for t, w, state in points:
                ax.annotate(state, (t, w), xytext=(3, 4), textcoords="offset points", fontsize=7)
        ax.set_ylabel("canary weight %")
        ax.set_ylim(-5, 110)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    axes[-1].set_xlabel("seconds since the scenario started (dashed: failovers)")
    return _svg(figure, salt)


SLI_COLOURS = {"h": "#2da44e", "b": "#cf222e", "?": "#d0d7de"}
SHOWN_COLOURS = {"o": "#2da44e", "d": "#d4a72c", "x": "#cf222e", "-": "#d0d7de"}


def _runs(codes: str, start: float) -> list[tuple[float, float, str]]:
    """'hhbb?' -> [(start, 2, 'h'), (start + 2, 2, 'b'), ...]: one bar per run of a code."""
    spans: list[tuple[float, float, str]] = []
    for offset, code in enumerate(codes):
        if spans and spans[-1][2] == code:
            left, width, _ = spans[-1]
            spans[-1] = (left, width + 1, code)
        else:
            spans.append((start + offset, 1.0, code))
    return spans


def communication_svg(record: RunRecord, salt: str) -> str | None:
    """Per judged component: its measured SLI above what the page showed, the seconds the
    page was wrong shaded (false green: breaching but shown operational; false alarm: healthy
    but shown degraded or down). None without communication checks."""
    if not record.sli_timelines:
        return None
    lanes = len(record.sli_timelines)
    figure = Figure(figsize=(10, 0.9 * lanes + 1.4))
    ax = figure.subplots()
    _timeline(ax, record, labels=True)
    labels: list[str] = []
    for index, timeline in enumerate(record.sli_timelines):
        start = timeline.start - record.started_at
        base = 2 * (lanes - 1 - index)
        for row, codes, colours in (
            (base + 1, timeline.sli, SLI_COLOURS),
            (base, timeline.shown, SHOWN_COLOURS),
        ):
            spans = _runs(codes, start)
            ax.broken_barh(
                [(t, w) for t, w, _ in spans],
                (row - 0.35, 0.7),
                facecolors=[colours[c] for _, _, c in spans],
                zorder=3,
            )
        wrong = "".join(
            "w" if (s == "b" and p == "o") or (s == "h" and p in "dx") else "."
            for s, p in zip(timeline.sli, timeline.shown, strict=True)
        )
        for t, w, code in _runs(wrong, start):
            if code == "w":
                ax.broken_barh(
                    [(t, w)],
                    (base - 0.45, 1.9),
                    facecolors="none",
                    edgecolors="#8250df",
                    hatch="///",
                    linewidth=0.8,
                    zorder=4,
                )
        labels = [f"{timeline.component} page", f"{timeline.component} measured", *labels]
    ax.set_yticks(range(2 * lanes), labels)
    ax.set_ylim(-0.6, 2 * lanes - 0.4)
    ax.set_title(
        "measured SLI (green healthy, red breach, grey too few requests) above the page"
        " (green operational, amber degraded, red outage); hatched: the page was wrong",
        fontsize=9,
        loc="left",
        pad=14,
    )
    ax.set_xlabel("seconds since the scenario started")
    return _svg(figure, salt)
