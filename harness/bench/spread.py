"""How a benchmark shows repeated measurements: the median, then [min-max] of the rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["spread"]


def spread(values: Sequence[float], digits: int, unit: str = "") -> str:
    """``1.23 s [1.10-1.40]``: the median of ``values`` with their min and max."""
    if not values:
        return "-"
    return (
        f"{statistics.median(values):.{digits}f}{unit}"
        f" [{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )
