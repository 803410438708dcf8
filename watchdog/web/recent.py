"""What happened recently, in the status document's terms: each endpoint's last poll and its
history, uptime, queue trends, alerts.

The status page draws these and `/api/v1/status` serves them; both read them from here so they
show the same. History is served as columns (one list per field, oldest first): an hour of
polls of a hundred targets is tens of thousands of entries, and columns keep that compact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from watchdog.alerts.model import AlertState, AlertView
from watchdog.api.diagnosis import api_error_text, diagnose
from watchdog.state import EndpointState
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


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def endpoint_status(
    state: EndpointState, now: float, history_start: float | None = None
) -> dict[str, Any]:
    last = state.last.result if state.last else None
    error = last.api_error if last else None
    diagnosis = diagnose(last) if last else None
    backoff = max(0.0, state.backoff_until - now) if state.backoff_seconds else 0.0
    return {
        "ok": last.ok if last else None,
        "reason": last.reason if last else None,
        "diagnosis": diagnosis.failure.value if diagnosis else None,
        "detail": last.detail if last else None,
        "status_code": last.status_code if last else None,
        "api_error_code": error.code if error else None,
        # The API's own words (details redacted of secrets and cut by the client).
        "api_error": (
            {
                "code": error.code,
                "title": error.title,
                "details": error.details,
                "text": api_error_text(error),
            }
            if error
            else None
        ),
        "last_poll_age_seconds": _age(now, last.started_at if last else None),
        "last_success_age_seconds": _age(now, state.last_success_at),
        "fresh": state.fresh(now),
        "interval_seconds": state.interval,
        # After 429/503 answers polls are held back: the extra wait (as the metric
        # whatsapp_poll_backoff_seconds) and how long until the next poll may go; 0 on schedule.
        "backoff_seconds": state.backoff_seconds,
        "backoff_remaining_seconds": round(backoff, 3),
        "polls": state.polls,
        "errors": dict(state.errors),
        "history": history(state.timeline, now if history_start is None else history_start),
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
