"""What happened recently, in the status document's terms: poll history, queue trends, alerts.

The status page draws these and `/api/v1/status` serves them; both read them from here so they
show the same. History is served as columns (one list per field, oldest first): an hour of
polls of a hundred targets is tens of thousands of entries, and columns keep that compact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from watchdog.alerts.model import AlertState, AlertView
from watchdog.timeline import Timeline, Trend

# Severities that raise a target's verdict while their alert fires; any other severity
# (`info`, a custom one) informs without raising it.
SEVERITY_LEVELS = {"critical": 2, "warning": 1}
UPTIME_WINDOWS = {"1h": 3600.0, "24h": 86400.0}


def history(timeline: Timeline, start: float) -> dict[str, list[Any]]:
    """The polls of one endpoint at or after `start`, as columns."""
    columns = timeline.since(start)
    return {
        "at": columns.at,
        "result": columns.result,
        "mark": columns.mark,
        "status_code": columns.status_code,
        "duration_ms": columns.duration_ms,
    }


def uptime(timeline: Timeline, now: float, kept: float) -> dict[str, float | None]:
    """Uptime over each window; None for a window longer than the history *kept*: a day's
    figure from an hour of polls would read as a healthy day."""
    return {
        name: timeline.uptime(now, window) if window <= kept else None
        for name, window in UPTIME_WINDOWS.items()
    }


def queues(trends: Mapping[tuple[str, str], Trend], start: float) -> list[dict[str, Any]]:
    """Queue gauges per node, by gauge then node, each with its points since `start`."""
    found = []
    for (gauge, node), trend in sorted(trends.items()):
        at, values = trend.since(start)
        if at:
            found.append(
                {"gauge": gauge, "node": node, "value": values[-1], "at": at, "values": values}
            )
    return found


def _left(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def alert_doc(view: AlertView) -> dict[str, Any]:
    alert = view.alert
    return {
        "alertname": alert.name,
        "severity": alert.severity,
        "target": alert.labels.get("target", ""),
        "node": alert.labels.get("node"),
        "state": alert.state.value,
        "summary": alert.annotations.get("summary", ""),
        "description": alert.annotations.get("description", ""),
        "labels": dict(alert.labels),
        "fingerprint": alert.fingerprint,
        "active_since": alert.active_since,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "for_left_seconds": _left(view.for_left),
        "keep_firing_left_seconds": _left(view.keep_firing_left),
    }


def alerts_doc(views: Iterable[AlertView]) -> dict[str, list[dict[str, Any]]]:
    """Firing (most severe, then oldest first), pending (oldest first), resolved (newest first)."""
    by_state: dict[AlertState, list[AlertView]] = {state: [] for state in AlertState}
    for view in views:
        by_state[view.alert.state].append(view)

    def firing_order(view: AlertView) -> tuple[int, float]:
        alert = view.alert
        started = alert.starts_at if alert.starts_at is not None else alert.active_since
        return -SEVERITY_LEVELS.get(alert.severity, 0), started

    firing = sorted(by_state[AlertState.FIRING], key=firing_order)
    pending = sorted(by_state[AlertState.PENDING], key=lambda v: v.alert.active_since)
    resolved = sorted(by_state[AlertState.RESOLVED], key=lambda v: -(v.alert.ends_at or 0.0))
    return {
        "firing": [alert_doc(v) for v in firing],
        "pending": [alert_doc(v) for v in pending],
        "resolved": [alert_doc(v) for v in resolved],
    }
