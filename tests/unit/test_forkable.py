from __future__ import annotations

from harness.platform.forked import forkable

PY = "/usr/bin/python3.11"


def test_only_python_dash_m_of_this_interpreter_is_forked() -> None:
    assert forkable([PY, "-m", "shop.api", "--port", "1"], PY) == ("shop.api", ["--port", "1"])
    assert forkable([PY, "-m", "shop"], PY) == ("shop", [])
    assert forkable([PY, "shop.py"], PY) is None  # a script: a process of its own
    assert forkable([PY, "-m"], PY) is None
    assert forkable(["/other/python", "-m", "shop"], PY) is None  # another interpreter
    assert forkable(["gunicorn", "-m", "shop"], PY) is None
