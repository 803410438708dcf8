"""The alerting's own metrics: `watchdog_alerts` and `watchdog_notifications_total`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watchdog.alerts.engine import AlertEngine


class Stats(Protocol):
    def snapshot(self) -> dict[tuple[str, str], int]: ...


class AlertsCollector(Collector):
    """Pure, like the main collector: reads the engine and the delivery counts per scrape."""

    def __init__(self, engine: AlertEngine, stats: Stats) -> None:
        self.engine = engine
        self.stats = stats

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        alerts = GaugeMetricFamily(
            "watchdog_alerts",
            "Alerts of the watchdog's own rules by name, severity and state (pending, firing)",
            labels=["alertname", "severity", "state"],
        )
        for (name, severity, state), count in sorted(self.engine.counts().items()):
            alerts.add_metric([name, severity, state], count)
        yield alerts
        sent = CounterMetricFamily(
            "watchdog_notifications",
            "Alert notifications by sink and result (success, failure, dropped)",
            labels=["sink", "result"],
        )
        for (sink, result), count in sorted(self.stats.snapshot().items()):
            sent.add_metric([sink, result], count)
        yield sent
