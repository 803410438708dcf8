"""Schedule lag: how late poll jobs start compared with when they were due.

A poll due at 12:00:15.000 that starts at 12:00:15.180 has 180 ms of lag; lag grows when the
event loop is busy (scrapes, many targets). Exported as `watchdog_schedule_lag_seconds`, a
histogram, so both people and benchmarks can see whether polling keeps its schedule.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from watchdog.base.histogram import bucket_index

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LagRecorder:
    """A thread-safe histogram of job start lags, plus the maximum seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (len(LAG_BUCKETS) + 1)
        self._sum = 0.0
        self.max = 0.0

    def observe(self, lag: float) -> None:
        lag = max(0.0, lag)
        index = bucket_index(lag, LAG_BUCKETS)
        with self._lock:
            self._counts[index] += 1
            self._sum += lag
            self.max = max(self.max, lag)

    def snapshot(self) -> tuple[list[int], float]:
        """Per-bucket counts (the last is +Inf) and the sum."""
        with self._lock:
            return list(self._counts), self._sum

    @property
    def count(self) -> int:
        with self._lock:
            return sum(self._counts)


class LagCollector(Collector):
    def __init__(self, recorder: LagRecorder) -> None:
        self.recorder = recorder

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        counts, total = self.recorder.snapshot()
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*LAG_BUCKETS, float("inf")), counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else str(bound), running))
        family = HistogramMetricFamily(
            "watchdog_schedule_lag_seconds",
            "How late poll jobs started compared with when they were due",
        )
        family.add_metric([], cumulative, total)
        yield family
