"""Start one PostgreSQL server of the real stack: the catalog's primary or its hot standby.

    python -m mock_platform.postgres primary --port P --data DIR
        -> initdb (first start only) -> the settings below -> exec postgres (this pid)
    python -m mock_platform.postgres standby --port P --data DIR --primary 127.0.0.1:L
        -> waits for the primary at L (the catalog-replication link) -> pg_basebackup -R
           with a replication slot (first start only) -> exec postgres, streaming from L
    python -m mock_platform.postgres ready --port P      the health check (pg_isready)
    python -m mock_platform.postgres installed           exit 3 unless the server is here

The harness starts these like any service (topology `stacks: real`). The process it
supervises IS the postmaster (exec): a kill -9 or a pause reaches it, and every backend it
started with it (the harness signals a service's whole process tree). Run as root, the server
runs as the `postgres` user (PostgreSQL refuses root), which must be able to reach the data
directory. Its WAL
stream to the standby goes through the catalog-replication link, so a latency there is WAL
lag and a timeout a partition; the slot keeps the WAL a partitioned standby needs to catch up.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["MissingServer", "find_bindir", "main"]

INSTALL_HINT = "scripts/system-deps.sh postgresql"
SLOT = "catalog_standby"
BACKUP_DONE = "shortvideo-backup-complete"

# Small, fast, and honest about durability: fsync stays on (an acknowledged upload survives
# a kill -9 of the server); a throwaway cluster needs no more memory than this.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",  # TCP only: a run directory's path may be too long
    "max_connections": "60",
    "shared_buffers": "16MB",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
    # longer than any latency a scenario holds WAL back by (a receiver that heard nothing for
    # this long drops the stream and reconnects), short enough to notice a blackhole
    "wal_sender_timeout": "15s",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_receiver_status_interval": "1s",
    "wal_receiver_timeout": "15s",
    "wal_retrieve_retry_interval": "500ms",
    "checkpoint_timeout": "5min",
    "log_min_messages": "warning",
    "log_connections": "off",
    "log_line_prefix": "'%m [%p] '",
}
HBA = "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"


class MissingServer(Exception):
    """PostgreSQL's server programs are not installed."""


def find_bindir() -> Path:
    """Where postgres, initdb and pg_basebackup are: Debian's newest version, else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise MissingServer(f"PostgreSQL's server is not installed; install it with: {INSTALL_HINT}")


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def _as_server_user(data: Path) -> None:
    """As root: become `postgres` (PostgreSQL refuses root), owning the data directory."""
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise MissingServer(f"no `postgres` user to run the server as; {INSTALL_HINT}") from None
    data.mkdir(parents=True, exist_ok=True)
    for path in [data, *data.rglob("*")]:
        os.lchown(path, user.pw_uid, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setgroups([])
    os.setuid(user.pw_uid)
    os.environ["HOME"] = user.pw_dir
    _die_with_parent()  # a change of user clears the parent-death signal: set it again
    if not os.access(data, os.R_OK | os.W_OK | os.X_OK):
        raise MissingServer(
            f"the postgres user cannot reach {data} (a parent directory is private);"
            " use a run directory others may traverse"
        )


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG, as harness/pids.py does
    except (OSError, AttributeError):
        pass


def _configure(data: Path, port: int, standby: bool) -> None:
    """Append our settings: the last value of a setting in postgresql.conf wins."""
    lines = [f"{key} = {value}" for key, value in {**SETTINGS, "port": str(port)}.items()]
    conf = data / "postgresql.conf"
    text = conf.read_text(encoding="utf-8")
    marker = "# -- shortvideo-chaos --"
    text = text.split(marker)[0]
    conf.write_text(text + f"{marker}\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (data / "pg_hba.conf").write_text(HBA, encoding="utf-8")
    if standby:
        (data / "standby.signal").touch()


def _initdb(bindir: Path, data: Path) -> None:
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _wait_for(bindir: Path, host: str, port: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-q", "-h", host, "-p", port, "-t", "1"], check=False
        )
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the primary at {host}:{port} did not answer in {seconds:.0f} s")
        time.sleep(0.2)


def _basebackup(bindir: Path, data: Path, primary: str) -> None:
    """A copy of the primary, streaming from it through the link (its slot keeps the WAL)."""
    host, _, port = primary.rpartition(":")
    _wait_for(bindir, host, port, 60.0)
    for leftover in data.iterdir():  # a backup cut short is never taken for a data directory
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    argv = [
        str(bindir / "pg_basebackup"),
        "-h",
        host,
        "-p",
        port,
        "-U",
        "postgres",
        "-D",
        str(data),
        "-R",
        "-X",
        "stream",
        "-S",
        SLOT,
        "--no-sync",
        "-c",
        "fast",
    ]
    made = subprocess.run([*argv, "-C"], check=False, capture_output=True, text=True)
    if made.returncode != 0 and "already exists" in made.stderr:  # a standby made again
        made = subprocess.run(argv, check=False, capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(f"pg_basebackup from {primary} failed: {made.stderr.strip()}")
    (data / BACKUP_DONE).touch()


def _check(what: str, port: int) -> int:
    """installed: are the server programs here (exit 0) or not (3); ready: does the server
    on ``port`` accept connections (pg_isready's exit code: the harness's health check)."""
    try:
        bindir = find_bindir()
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if what == "installed":
        print(bindir)
        return 0
    argv = [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
    return subprocess.run(argv, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_platform.postgres")
    parser.add_argument("role", choices=["primary", "standby", "ready", "installed"])
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--data", type=Path, help="The data directory (primary, standby)")
    parser.add_argument("--primary", help="host:port of the primary (standby)")
    args = parser.parse_args(argv)
    if args.role in ("ready", "installed"):
        return _check(args.role, args.port)
    if args.data is None:
        parser.error(f"a {args.role} needs --data DIR")
    if args.role == "standby" and not args.primary:
        parser.error("a standby needs --primary host:port")
    data: Path = args.data.resolve()
    try:
        bindir = find_bindir()
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)  # as PostgreSQL requires of a data directory
        _as_server_user(data)
        if args.role == "primary" and not (data / "PG_VERSION").exists():
            _initdb(bindir, data)
        elif args.role == "standby" and not (data / BACKUP_DONE).exists():
            _basebackup(bindir, data, args.primary)
        _configure(data, args.port, standby=args.role == "standby")
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"error: cannot prepare {data}: {exc}", file=sys.stderr)
        return 3
    sys.stdout.flush()
    server = str(bindir / "postgres")  # a full argv[0]: PostgreSQL finds its own files by it
    os.execv(server, [server, "-D", str(data)])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
