from __future__ import annotations

from harness.bench.backends import render_backends


def test_the_table_shows_medians_and_the_ratio() -> None:
    table = render_backends(
        {
            "local": {"up": [10.0, 12.0, 30.0], "down": [2.0, 2.0, 2.0]},
            "docker": {"up": [15.0, 18.0, 16.0], "down": [4.0, 3.0, 5.0]},
        }
    )
    lines = table.splitlines()
    assert "median of 3 rounds" in lines[0]
    assert lines[1].split()[-3:] == ["12.0s", "16.0s", "1.33x"]
    assert lines[2].split()[-3:] == ["2.0s", "4.0s", "2.00x"]
