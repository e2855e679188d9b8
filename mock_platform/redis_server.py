"""Start the real stack's feed timeline cache: a Redis server, nothing kept on disk.

python -m mock_platform.redis_server serve --port P --data DIR
    -> exec redis-server (this pid): 127.0.0.1:P, no persistence (a cache: losing it is
       the point of the scenario that kills it), at most 64 MiB, least recently used out
python -m mock_platform.redis_server ready --port P
    -> exit 0 when it answers PING with PONG (the harness's health check)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

__all__ = ["REDIS_SERVER", "main"]

REDIS_SERVER = Path("/usr/bin/redis-server")
INSTALL_HINT = "scripts/system-deps.sh redis"


def _ready(port: int) -> int:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return 0 if conn.recv(64).startswith(b"+PONG") else 1
    except OSError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_platform.redis_server")
    parser.add_argument("role", choices=["serve", "ready"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, help="Its working directory (serve)")
    args = parser.parse_args(argv)
    if args.role == "ready":
        return _ready(args.port)
    if not REDIS_SERVER.exists():
        print(
            f"error: redis-server is not installed; install it with: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 3
    if args.data is None:
        parser.error("serve needs --data DIR")
    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    os.execv(
        REDIS_SERVER,
        [
            "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(args.port),
            "--dir", str(data),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--maxmemory", "64mb",
            "--maxmemory-policy", "allkeys-lru",
            "--loglevel", "warning",
        ],
    )  # fmt: skip
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
