"""The log sink: every alert transition as one structured log event."""

from __future__ import annotations

from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.sinks.delivery import NotificationStats
from watchdog.base.log import get_logger

__all__ = ["LogSink", "log_fields"]

log = get_logger(__name__)


class LogSink:
    """Every transition as a log event: ``alert_firing`` (warning), ``alert_resolved`` (info)."""

    name = "log"

    def __init__(self, stats: NotificationStats) -> None:
        self.stats = stats
        stats.add(self.name, "success", 0)

    def submit(self, alert: Alert) -> None:
        try:
            if alert.state is AlertState.FIRING:
                log.warning("alert_firing", **log_fields(alert))
            elif alert.state is AlertState.RESOLVED:
                fields = log_fields(alert)
                if alert.starts_at is not None and alert.ends_at is not None:
                    fields["duration_seconds"] = round(alert.ends_at - alert.starts_at, 3)
                log.info("alert_resolved", **fields)
            else:
                return
            self.stats.add(self.name, "success")
        except Exception:  # a sink must never break the engine that called it
            log.exception("alert_submit_failed", sink=self.name)

    async def start(self) -> None:
        return None

    async def stop(self, grace: float = 5.0) -> None:
        return None


def log_fields(alert: Alert) -> dict[str, object]:
    """The stable keys every alert log event carries."""
    return {
        "alertname": alert.labels.get("alertname"),
        "severity": alert.labels.get("severity"),
        "target": alert.labels.get("target"),
        "node": alert.labels.get("node"),
        "summary": alert.annotations.get("summary"),
        "fingerprint": alert.fingerprint,
    }
