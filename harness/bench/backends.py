"""Platform start and stop, and what the idle platform holds, for each way of running it,
alternated round by round so machine noise hits all alike.

    ways: "fresh" (a new interpreter per service: the reference), "forked" (the topology's
          preload: services forked from one process), a stack's name (--stack real: the
          topology on that stack, forked), "docker" (--docker: containers)
    for each round, each way: Platform.up (until every service is healthy) -> idle memory of
          the platform's processes (RSS, and PSS: shared pages counted once) -> Platform.down
    -> one table: each way's median [min-max] beside the reference, and the ratio
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from harness.bench.spread import spread
from harness.platform import Platform, Supervisor
from harness.topology import DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = ["Round", "measure_backends", "render_backends"]

REFERENCE = "fresh"
_KIB = 1024


@dataclasses.dataclass(frozen=True)
class Round:
    up_s: float
    down_s: float
    rss_mib: float  # every process of the platform (the proxy and the fork server included)
    pss_mib: float  # the same, shared pages split between their sharers


def _memory(pids: list[int]) -> tuple[float, float]:
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    kib = int(value.split()[0])
                    rss, pss = (rss + kib, pss) if name == "Rss" else (rss, pss + kib)
        except (OSError, ValueError, IndexError):
            continue  # gone, or a container's process we may not read
    return rss / _KIB, pss / _KIB


def _platform_pids(plat: Platform) -> list[int]:
    """Every process of the platform: each service's, with what it started (a database
    server's backends), the proxy's and the fork server's."""
    pids = [child.pid for child in plat.supervisor.children.values()]
    for pid in list(pids):
        with contextlib.suppress(psutil.Error):
            pids += [p.pid for p in psutil.Process(pid).children(recursive=True)]
    if isinstance(plat.supervisor, Supervisor):
        server = plat.supervisor.forkserver
        if server is not None and server.process is not None:
            pids.append(server.process.pid)
    return pids


def _variant(way: str, topology: Topology) -> tuple[Topology, str]:
    if way == "fresh":
        return topology.model_copy(update={"preload": []}), "local"
    if way == "forked":
        return topology, "local"
    if way == "docker":
        return topology, "docker"
    return topology.on_stack(way), "local"  # another stack, forked as the default one is


def _one(way: str, topology: Topology, base_port: int, run_dir: Path) -> Round:
    variant, backend = _variant(way, topology)
    plat = Platform(variant, base_port, run_dir, backend=backend)
    started = time.perf_counter()
    try:
        plat.up()
        up_s = time.perf_counter() - started
        time.sleep(1.0)  # idle: what start-up allocated and let go is given back
        rss, pss = _memory(_platform_pids(plat))
    finally:
        stopping = time.perf_counter()
        plat.down()
    return Round(up_s, time.perf_counter() - stopping, rss, pss)


def measure_backends(
    rounds: int,
    base_port: int,
    echo: Callable[[str], None],
    docker: bool = False,
    topology: Topology | None = None,
    stacks: tuple[str, ...] = (),
) -> dict[str, list[Round]]:
    """way -> its rounds; the ways alternate within each round. ``stacks``: the topology's
    other stacks, each a way of its own (checked first: ConfigError for an unknown one)."""
    topo = topology or load_topology(DEFAULT_TOPOLOGY)
    for stack in stacks:
        topo.on_stack(stack)
    ways = ["fresh", "forked", *stacks] + (["docker"] if docker else [])
    if not topo.preload:
        ways.remove("forked")
    results: dict[str, list[Round]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        Path(tmp).chmod(0o755)  # a stack's server running as its own user reaches its data
        for index in range(rounds):
            for way in ways:
                one = _one(way, topo, base_port, Path(tmp) / f"{way}-{index}")
                results[way].append(one)
                echo(
                    f"round {index + 1}/{rounds} {way}: up {one.up_s:.2f} s,"
                    f" down {one.down_s:.2f} s, RSS {one.rss_mib:.0f} MiB,"
                    f" PSS {one.pss_mib:.0f} MiB"
                )
    return results


def _cell(values: list[float], unit: str) -> str:
    return spread(values, 2 if unit == "s" else 0, unit)


def render_backends(results: dict[str, list[Round]]) -> str:
    """Medians [min-max] per way; ratio: each way's median over the reference's."""
    ways = list(results)
    rounds = len(results[ways[0]])
    width = 24
    head = f"{'median [min-max] of ' + str(rounds):30}" + "".join(f"{w:>{width}}" for w in ways)
    lines = [head + "".join(f"{w + '/' + REFERENCE:>14}" for w in ways if w != REFERENCE)]
    rows = (
        ("start, until all healthy", "up_s", "s"),
        ("stop, everything removed", "down_s", "s"),
        ("idle RSS (shared: n times)", "rss_mib", " MiB"),
        ("idle PSS (shared: once)", "pss_mib", " MiB"),
    )
    for label, field, unit in rows:
        values = {w: [getattr(r, field) for r in results[w]] for w in ways}
        line = f"{label:30}" + "".join(f"{_cell(values[w], unit):>{width}}" for w in ways)
        reference = statistics.median(values[REFERENCE]) if REFERENCE in values else 0.0
        for w in ways:
            if w != REFERENCE:
                ratio = statistics.median(values[w]) / reference if reference else 0.0
                line += f"{ratio:13.2f}x"
        lines.append(line)
    return "\n".join(lines)
