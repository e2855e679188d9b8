"""The ``harness`` command line; the only module that calls sys.exit.

Each command raises HarnessError subclasses; ``main`` prints them as one line on stderr and
exits with the class's code (0 held, 1 resilience finding, 2 bad input, 3 environment).
"""

from __future__ import annotations

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
def proxy(host: str, port: int, config: Path | None, seed: int | None) -> None:
    """Run the embedded Toxiproxy-compatible proxy until SIGINT/SIGTERM.

    It speaks Toxiproxy's HTTP API, so toxiproxy-cli, the official clients and the harness
    drive it exactly as they drive a real Toxiproxy server.
    """
    from harness.proxy import ConfigFileError, run_proxy
    from harness.proxy.app import ApiBindError

    try:
        run_proxy(host, port, config, seed=seed, version=__version__)
    except ConfigFileError as exc:
        raise ConfigError(f"bad proxy config: {exc}") from exc
    except ApiBindError as exc:
        raise EnvironmentFailure(f"proxy API: {exc}") from exc


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
