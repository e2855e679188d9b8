"""``python -m mock_platform SERVICE --base-port N --run-dir DIR [--profile P] [--build B]
[--defects NAME,NAME] [--stack default|real]`` (defects: from the topology's catalogue;
stack: the topology's `stacks:`, real = the catalog on PostgreSQL)

Runs one service of the topology on 127.0.0.1 in the foreground (uvicorn); SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from mock_platform.app import build_app
from mock_platform.settings import DEFAULT_TOPOLOGY, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_platform")
    parser.add_argument("service")
    parser.add_argument("--base-port", type=int, default=18000)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--profile", default="normal")
    parser.add_argument("--build", default="v1")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--defects", default="", help="Catalogued defects to switch on")
    parser.add_argument("--stack", default="default", help="default (SQLite) or real")
    args = parser.parse_args(argv)
    try:
        settings = Settings.create(
            args.service,
            args.base_port,
            args.run_dir,
            args.profile,
            args.build,
            args.topology,
            args.defects,
            args.stack,
        )
    except (ValueError, OSError) as exc:
        print(f"mock_platform: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        build_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
