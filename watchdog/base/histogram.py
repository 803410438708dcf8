"""Histogram bucketing shared by the poll-duration and schedule-lag histograms."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bucket_index"]


def bucket_index(value: float, bounds: Sequence[float]) -> int:
    """The index of the first upper bound `value` fits under; `len(bounds)` is +Inf."""
    for index, bound in enumerate(bounds):
        if value <= bound:
            return index
    return len(bounds)
