"""The ``harness`` command line; the only module that calls sys.exit.

Each command raises HarnessError subclasses; ``main`` prints them as one line on stderr and
exits with the class's code (0 held, 1 resilience finding, 2 bad input, 3 environment).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from harness import __version__
from harness.errors import ConfigError, EnvironmentFailure, HarnessError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Chaos and resilience testing for short-video platform backends."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="API listen address.")
@click.option("--port", default=8474, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Proxies to create at start, in Toxiproxy's populate format (a JSON array).",
)
@click.option("--seed", type=int, help="Seed toxicity draws and jitter (reproducible runs).")
@click.option(
    "--loop",
    type=click.Choice(["asyncio", "uvloop"]),
    default="asyncio",
    show_default=True,
    help="Event loop (uvloop must be installed).",
)
def proxy(host: str, port: int, config: Path | None, seed: int | None, loop: str) -> None:
    """Run the embedded Toxiproxy-compatible proxy until SIGINT/SIGTERM.

    It speaks Toxiproxy's HTTP API, so toxiproxy-cli, the official clients and the harness
    drive it exactly as they drive a real Toxiproxy server.
    """
    from harness.proxy import ConfigFileError, run_proxy
    from harness.proxy.app import ApiBindError

    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError("--loop uvloop needs the uvloop package: pip install uvloop")
    try:
        run_proxy(host, port, config, seed=seed, version=__version__, loop=loop)
    except ConfigFileError as exc:
        raise ConfigError(f"bad proxy config: {exc}") from exc
    except ApiBindError as exc:
        raise EnvironmentFailure(f"proxy API: {exc}") from exc


@cli.group()
def bench() -> None:
    """Benchmarks printed side by side with a reference run (ratios, not timed tests)."""


@bench.command("proxy")
@click.option(
    "--loop", type=click.Choice(["asyncio", "uvloop"]), default="asyncio", show_default=True
)
@click.option(
    "--connections",
    default="1000,10000",
    show_default=True,
    help="Comma-separated counts of concurrent connections to open and hold.",
)
@click.option("--bulk-mib", default=256, show_default=True, type=click.IntRange(1, 4096))
def bench_proxy(loop: str, connections: str, bulk_mib: int) -> None:
    """The embedded proxy against a direct loopback connection to the same upstream."""
    from harness.bench.proxy import render, run_proxy_bench

    try:
        counts = tuple(int(part) for part in connections.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--connections must be numbers like 1000,10000, got {connections!r}"
        ) from None
    rows = run_proxy_bench(loop, counts, bulk_mib, echo=lambda line: click.echo(f"... {line}"))
    click.echo(render(rows, loop))


def main() -> None:
    """Console-script entry point: HarnessError -> message on stderr + its exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)
