"""What a chaos run costs the machine: wall time, peak memory, and who uses the CPU.

    argv (e.g. harness run ...) -> a child process -> sample /proc every INTERVAL_S:
    every descendant's RSS and CPU ticks, grouped (harness, locust, proxy, services)
    -> peak total RSS, CPU seconds per group and each group's share of all CPU used
The harness's share is the figure to watch: the tool must not steal the cores it measures.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Footprint", "measure", "render"]

INTERVAL_S = 0.25
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclasses.dataclass
class Footprint:
    wall_s: float
    exit_code: int
    peak_rss_bytes: int
    cpu_s: dict[str, float]  # group -> CPU seconds
    peak_rss_by_group: dict[str, int]


def _group(cmdline: str) -> str:
    if "locust" in cmdline:
        return "locust (load)"
    if "harness proxy" in cmdline or "-m harness proxy" in cmdline:
        return "proxy"
    if "mock_platform" in cmdline:
        return "platform services"
    return "harness"


def _read(pid: int) -> tuple[int, int, float, str] | None:
    """(parent, rss bytes, cpu seconds, cmdline) or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return None
    # fields after the name: state ppid ... utime(12) stime(13) ... rss(22)
    cpu = (int(stat[11]) + int(stat[12])) * _TICK_S
    return int(stat[1]), int(stat[21]) * _PAGE, cpu, cmdline


def _tree(root: int) -> dict[int, tuple[int, float, str]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _read(int(entry.name))) is not None:
            table[int(entry.name)] = info
    found: dict[int, tuple[int, float, str]] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        if pid in table:
            _, rss, cpu, cmdline = table[pid]
            found[pid] = (rss, cpu, cmdline)
            frontier += [child for child, info in table.items() if info[0] == pid]
    return found


def measure(argv: list[str], echo: Callable[[str], None] = lambda _line: None) -> Footprint:
    """Run argv to completion, sampling its process tree; Ctrl-C stops it (and its cleanup)."""
    start = time.monotonic()
    child = subprocess.Popen(argv)
    cpu_by_pid: dict[int, tuple[str, float]] = {}
    peak_total = 0
    peak_by_group: dict[str, int] = {}
    last_echo = start
    try:
        while child.poll() is None:
            tree = _tree(child.pid)
            total = 0
            by_group: dict[str, int] = {}
            for pid, (rss, cpu, cmdline) in tree.items():
                # A zombie's cmdline is empty: it keeps the group it had while it ran.
                known = cpu_by_pid.get(pid)
                group = known[0] if known and not cmdline else _group(cmdline)
                cpu_by_pid[pid] = (group, cpu)
                total += rss
                by_group[group] = by_group.get(group, 0) + rss
            peak_total = max(peak_total, total)
            for group, rss in by_group.items():
                peak_by_group[group] = max(peak_by_group.get(group, 0), rss)
            if time.monotonic() - last_echo > 15:
                last_echo = time.monotonic()
                echo(f"{time.monotonic() - start:.0f} s, {total / 2**20:.0f} MiB in {len(tree)}")
            time.sleep(INTERVAL_S)
    except KeyboardInterrupt:
        child.terminate()
        child.wait()
        raise
    cpu_by_group: dict[str, float] = {}
    for group, seconds in cpu_by_pid.values():
        cpu_by_group[group] = cpu_by_group.get(group, 0.0) + seconds
    wall = time.monotonic() - start
    return Footprint(wall, child.returncode, peak_total, cpu_by_group, peak_by_group)


def render(result: Footprint) -> str:
    total_cpu = sum(result.cpu_s.values()) or 1e-9
    lines = [
        f"wall time {result.wall_s:.1f} s, exit code {result.exit_code}, "
        f"peak RSS of the whole tree {result.peak_rss_bytes / 2**20:.0f} MiB, "
        f"CPU {total_cpu:.1f} s = {total_cpu / result.wall_s:.2f} cores on average",
        f"{'group':20} {'CPU s':>8} {'share':>7} {'peak RSS':>10}",
    ]
    for group in sorted(result.cpu_s, key=lambda g: -result.cpu_s[g]):
        lines.append(
            f"{group:20} {result.cpu_s[group]:8.1f} {result.cpu_s[group] / total_cpu:7.1%}"
            f" {result.peak_rss_by_group.get(group, 0) / 2**20:7.0f} MiB"
        )
    return "\n".join(lines)
