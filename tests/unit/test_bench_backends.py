from __future__ import annotations

from harness.bench.backends import Round, render_backends


def test_the_table_shows_medians_ranges_and_the_ratio_to_fresh_interpreters() -> None:
    table = render_backends(
        {
            "fresh": [Round(10.0, 2.0, 900, 700), Round(12.0, 2.0, 900, 700), Round(30, 2, 1, 1)],
            "forked": [Round(3.0, 1.0, 800, 350), Round(6.0, 1.0, 800, 350), Round(4, 1, 1, 1)],
        }
    )
    lines = table.splitlines()
    assert "median [min-max] of 3" in lines[0]
    assert lines[0].split()[-1] == "forked/fresh"
    assert lines[1].split()[-5:] == ["12.00s", "[10.00-30.00]", "4.00s", "[3.00-6.00]", "0.33x"]
    assert lines[2].split()[-1] == "0.50x"
    assert lines[4].split()[-1] == "0.50x"  # PSS: 350 / 700
