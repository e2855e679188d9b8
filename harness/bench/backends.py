"""The docker backend against local processes: platform start (until every service is
healthy) and stop, side by side, the two alternated so machine noise hits both alike.

    for each round: Platform(local).up/down, then Platform(docker).up/down -> seconds
    -> one table: local | docker | ratio, as medians over the rounds
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.platform import Platform
from harness.topology import DEFAULT_TOPOLOGY, load_topology

__all__ = ["measure_backends", "render_backends"]


def _one(backend: str, base_port: int, run_dir: Path) -> tuple[float, float]:
    plat = Platform(load_topology(DEFAULT_TOPOLOGY), base_port, run_dir, backend=backend)
    started = time.perf_counter()
    try:
        plat.up()
        up_s = time.perf_counter() - started
    finally:
        stopping = time.perf_counter()
        plat.down()
    return up_s, time.perf_counter() - stopping


def measure_backends(
    rounds: int, base_port: int, echo: Callable[[str], None]
) -> dict[str, dict[str, list[float]]]:
    """backend -> {"up": [s...], "down": [s...]}"""
    results: dict[str, dict[str, list[float]]] = {
        b: {"up": [], "down": []} for b in ("local", "docker")
    }
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        for index in range(rounds):
            for backend in ("local", "docker"):
                up_s, down_s = _one(backend, base_port, Path(tmp) / f"{backend}-{index}")
                results[backend]["up"].append(up_s)
                results[backend]["down"].append(down_s)
                echo(f"round {index + 1}/{rounds} {backend}: up {up_s:.1f} s, down {down_s:.1f} s")
    return results


def render_backends(results: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        f"{'median of ' + str(len(results['local']['up'])) + ' rounds':28} {'local':>9}"
        f" {'docker':>9} {'ratio':>7}"
    ]
    for key, label in (("up", "start, until all healthy"), ("down", "stop, everything removed")):
        local = statistics.median(results["local"][key])
        docker = statistics.median(results["docker"][key])
        lines.append(f"{label:28} {local:8.1f}s {docker:8.1f}s {docker / local:6.2f}x")
    return "\n".join(lines)
