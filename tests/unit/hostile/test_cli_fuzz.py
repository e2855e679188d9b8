"""A fuzz of the command line's inputs: documents, encodings, numbers, paths and options a
hostile tester would try. Whatever comes in: no traceback, exit 2 (bad input) or 3, fast."""

from __future__ import annotations

import contextlib
import io
import signal
import tempfile
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from tests.unit.hostile.test_yaml_limits import ALIAS_BOMB

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["99999999h", "-1s", "0s", "1e308", "nan", "inf", "1.5x baseline"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = ["name", "phases", "duration", "faults", "expect", "type", "link", "load", "mix", "users"]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    shape = draw(
        st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)
        | st.builds(
            lambda phases: {"name": "x", "phases": phases},
            st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4), max_size=3),
        )
    )
    text = yaml.safe_dump(shape, allow_unicode=True)
    kind = draw(st.sampled_from(["utf8", "latin1", "utf16", "binary", "bomb", "deep", "raw"]))
    if kind == "latin1":
        return (text + "title: café\n").encode("latin-1", errors="replace")
    if kind == "utf16":
        return text.encode("utf-16")
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "bomb":
        return ("name: x\nphases: []\n" + ALIAS_BOMB).encode()
    if kind == "deep":
        depth = draw(st.integers(60, 3000))
        return ("[" * depth + "]" * depth).encode()
    if kind == "raw":
        return draw(st.text(max_size=300)).encode("utf-8", errors="replace")
    return text.encode()


def _place(root: Path, data: bytes, where: str) -> Path:
    if where == "file":
        path = root / "s.yaml"
        path.write_bytes(data)
        return path
    if where == "dir":
        (root / "dir").mkdir()
        (root / "dir" / "s.yaml").write_bytes(data)
        return root / "dir"
    if where == "under-a-file":
        (root / "f").write_bytes(data)
        return root / "f" / "s.yaml"
    return root / "missing.yaml"


OPTIONS = st.lists(
    st.sampled_from(
        [
            ["--time-scale", "0"],
            ["--time-scale", "nan"],
            ["--base-port", "99999999"],
            ["--gateway", "notaurl"],
            ["--gateway", "http://[::1"],
            ["--topology", "/nonexistent.yaml"],
            ["--profile", "brittle"],
            ["--tags", "\x00"],
            ["--workers", "-1"],
            ["--master-bind", "host:port"],
            ["--seed", "x"],
        ]
    ),
    max_size=2,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    command=st.sampled_from(["validate", "run", "list"]),
    data=documents(),
    where=st.sampled_from(["file", "dir", "under-a-file", "missing"]),
    options=OPTIONS,
)
def test_hostile_input_is_never_a_traceback(
    command: str, data: bytes, where: str, options: list[list[str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = _place(root, data, where)
        argv = ["harness", command, str(path)]
        if command == "run":  # never a platform: a report directory that cannot exist
            (root / "blocker").write_text("")
            argv += ["--report-dir", str(root / "blocker" / "reports")]
            argv += [part for option in options for part in option]
        err = io.StringIO()
        started = time.monotonic()
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            import sys

            saved = sys.argv, signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
            sys.argv = argv
            try:
                cli.main()
            except SystemExit as done:
                code = int(done.code or 0)
            finally:
                sys.argv = saved[0]
                signal.signal(signal.SIGTERM, saved[1])
                signal.signal(signal.SIGINT, saved[2])
        assert time.monotonic() - started < 5
        assert "Traceback" not in err.getvalue(), err.getvalue()
        allowed = {0, 2} if command == "list" else {2, 3}
        assert code in allowed, (argv, code, err.getvalue())
