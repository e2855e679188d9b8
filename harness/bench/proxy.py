"""``harness bench proxy``: the embedded proxy against a direct loopback connection.

Every figure is measured twice in one run, direct to the upstream and through the proxy, and
printed side by side with the ratio (or the time added) and the bar the issue set. Upstreams
and the proxy each run in their own process, as they do in a chaos run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from harness.errors import EnvironmentFailure
from harness.faults import ToxiproxyClient

__all__ = ["BenchRow", "run_proxy_bench"]

Echo = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class BenchRow:
    metric: str
    direct: str
    proxy: str
    relation: str
    bar: str
    ok: bool | None


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def _process(argv: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a helper that prints its port (or URL) first; stop it afterwards."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first:
            raise EnvironmentFailure(f"bench helper did not start: {' '.join(argv)}")
        yield process, first
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _upload_mib_s(address: tuple[str, int], total_mib: int) -> float:
    """One single-stream upload of ``total_mib`` MiB to the sink, confirmed by it."""
    block = b"\xa5" * (1 << 20)
    with _connect(address) as sock:
        start = time.perf_counter()
        sock.sendall((total_mib << 20).to_bytes(8, "big"))
        for _ in range(total_mib):
            sock.sendall(block)
        if sock.recv(2) != b"ok":
            raise EnvironmentFailure("sink did not confirm the upload")
        return total_mib / (time.perf_counter() - start)


def _throughputs(
    direct: tuple[str, int], proxy: tuple[str, int], total_mib: int
) -> tuple[float, float, float]:
    """Five interleaved pairs (noise hits both alike): median direct, median proxy, and the
    median of the per-pair ratios."""
    runs = [(_upload_mib_s(direct, total_mib), _upload_mib_s(proxy, total_mib)) for _ in range(5)]
    return (
        statistics.median(d for d, _ in runs),
        statistics.median(p for _, p in runs),
        statistics.median(p / d for d, p in runs),
    )


def _fd_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits", encoding="ascii") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 0


def _round_trips_ms(address: tuple[str, int], count: int, warmup: int = 200) -> list[float]:
    samples = []
    with _connect(address) as sock:
        for index in range(warmup + count):
            start = time.perf_counter()
            sock.sendall(b"p")
            if sock.recv(1) != b"p":
                raise EnvironmentFailure("echo server answered wrongly")
            if index >= warmup:
                samples.append((time.perf_counter() - start) * 1000)
    return samples


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _hold_connections(
    address: tuple[str, int], count: int, server_pid: int
) -> tuple[int, float, int]:
    """Open ``count`` connections (500 dials at a time), echo once on each, hold them all.

    Returns (served, seconds, server RSS growth in KiB while all are open).
    """
    rss_before = _rss_kib(server_pid)
    gate = asyncio.Semaphore(500)
    writers: list[asyncio.StreamWriter] = []

    async def one(index: int) -> bool:
        async with gate:
            try:
                reader, writer = await asyncio.open_connection(*address)
            except OSError:
                return False
            writers.append(writer)
            message = f"{index:015d}\n".encode()
            writer.write(message)
            try:
                return await asyncio.wait_for(reader.readexactly(16), 30) == message
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                return False

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    rss_growth = _rss_kib(server_pid) - rss_before
    for writer in writers:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    return sum(results), elapsed, rss_growth


def run_proxy_bench(
    loop: str = "asyncio",
    connection_counts: tuple[int, ...] = (1000, 10000),
    bulk_mib: int = 256,
    round_trips: int = 3000,
    echo: Echo = print,
) -> list[BenchRow]:
    """Measure, print progress through ``echo``, and return the table rows."""
    python = sys.executable
    with (
        _process([python, "-m", "harness.bench.servers", "echo"]) as (_, echo_port),
        _process([python, "-m", "harness.bench.servers", "sink"]) as (_, sink_port),
        _process([python, "-m", "harness", "proxy", "--port", "0", "--loop", loop]) as (
            proxy_process,
            banner,
        ),
    ):
        url = banner.split()[4]
        client = ToxiproxyClient(url)
        echo_direct = ("127.0.0.1", int(echo_port))
        sink_direct = ("127.0.0.1", int(sink_port))
        echo_proxy = (
            "127.0.0.1",
            client.create_proxy("bench-echo", f"127.0.0.1:{echo_port}").listen_port,
        )
        sink_proxy = (
            "127.0.0.1",
            client.create_proxy("bench-sink", f"127.0.0.1:{sink_port}").listen_port,
        )
        rows: list[BenchRow] = []

        echo(f"bulk throughput: {bulk_mib} MiB single stream, 5 interleaved pairs, medians")
        direct_mib, proxy_mib, ratio = _throughputs(sink_direct, sink_proxy, bulk_mib)
        rows.append(
            BenchRow(
                "bulk throughput (MiB/s)",
                f"{direct_mib:.0f}",
                f"{proxy_mib:.0f}",
                f"{ratio:.0%} of direct",
                ">= 40%",
                ratio >= 0.40,
            )
        )

        echo(f"round trips: {round_trips} one-byte ping-pongs on one connection")
        direct_rtt = _round_trips_ms(echo_direct, round_trips)
        proxy_rtt = _round_trips_ms(echo_proxy, round_trips)
        for label, fraction in (("p50", 0.50), ("p99", 0.99)):
            d, p = _percentile(direct_rtt, fraction), _percentile(proxy_rtt, fraction)
            rows.append(
                BenchRow(
                    f"round trip {label} (ms)",
                    f"{d:.3f}",
                    f"{p:.3f}",
                    f"+{p - d:.3f} ms",
                    "< +0.15 ms" if label == "p50" else "",
                    (p - d) < 0.15 if label == "p50" else None,
                )
            )

        echo("latency toxic: 100 ms downstream, 40 round trips")
        client.add_toxic("bench-echo", "latency", name="bench-lat", attributes={"latency": 100})
        with_toxic = _round_trips_ms(echo_proxy, 40, warmup=2)
        client.remove_toxic("bench-echo", "bench-lat")
        base = statistics.median(proxy_rtt)
        errors = [abs(sample - base - 100.0) for sample in with_toxic]
        median_error = statistics.median(errors)
        rows.append(
            BenchRow(
                "latency toxic 100 ms: error (ms)",
                "-",
                f"median {median_error:.3f}, max {max(errors):.3f}",
                f"median {statistics.median(with_toxic):.2f} ms",
                "< 1 ms",
                median_error < 1.0,
            )
        )

        for count in connection_counts:
            echo(f"concurrency: {count} connections opened, served and held")
            d_served, d_s, _ = asyncio.run(_hold_connections(echo_direct, count, proxy_process.pid))
            p_served, p_s, rss = asyncio.run(
                _hold_connections(echo_proxy, count, proxy_process.pid)
            )
            fd_limit = _fd_limit(proxy_process.pid)
            # Each proxied connection holds two descriptors (client side and upstream side).
            capped = p_served < count
            ceiling = f"; fd limit {fd_limit} (2 per connection) caps it" if capped else ""
            rows.append(
                BenchRow(
                    f"{count} concurrent: served / time",
                    f"{d_served} in {d_s:.2f} s",
                    f"{p_served} in {p_s:.2f} s",
                    f"{p_s / d_s:.1f}x the time{ceiling}",
                    "all served",
                    p_served == count,
                )
            )
            if p_served:
                rows.append(
                    BenchRow(
                        f"{count} concurrent: proxy RSS per connection",
                        "-",
                        f"{rss / p_served:.1f} KiB",
                        f"{rss / 1024:.1f} MiB in all",
                        "",
                        None,
                    )
                )
        return rows


_VERDICT = {True: "ok", False: "MISS", None: ""}


def render(rows: list[BenchRow], loop: str) -> str:
    """A plain table, one row per figure, with the verdict against our bar."""
    header = ("metric", "direct", f"proxy ({loop})", "proxy vs direct", "bar", "")
    lines = [header] + [
        (
            r.metric,
            r.direct,
            r.proxy,
            r.relation,
            r.bar,
            {True: "ok", False: "MISS", None: ""}[r.ok],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)
