"""The ``harness`` command line; the only module that calls sys.exit."""

import click

from harness import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Chaos and resilience testing for short-video platform backends."""


def main() -> None:
    """Console-script entry point."""
    cli()
