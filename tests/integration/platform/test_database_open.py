"""Services that open one new SQLite database at the same moment (forked a millisecond apart
from the preload) all get it: the race to switch it to WAL has no loser."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mock_platform.common import Database

pytestmark = pytest.mark.integration


def _open_in_child(path: Path, gate: int, release: int) -> int:
    """A child that opens ``path`` once the gate opens (the parent closes ``release``)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(release)
            os.read(gate, 1)  # EOF: every child is released at once
            Database(path, "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY);").close()
        except Exception as exc:  # the child reports any failure as its exit code
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        os._exit(code)
    return pid


def test_four_processes_opening_one_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    failures = 0
    for round_ in range(40):
        path = tmp_path / f"queue-{round_}.db"
        gate, release = os.pipe()
        children = [_open_in_child(path, gate, release) for _ in range(4)]
        os.close(release)
        os.close(gate)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            failures += os.waitstatus_to_exitcode(status) != 0
        assert path.exists()
    assert failures == 0
