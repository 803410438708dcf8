"""What one poll produced: the endpoint polled, the HTTP outcome, and the parsed payload.

A poll never raises; every outcome is a `PollResult` — success with the decoded body, or a
failure with a `reason` — and `observe` turns it into an `Observation` with typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from watchdog.api.payloads import (
    ApiErrorInfo,
    Health,
    PayloadError,
    Samples,
    parse_health,
    parse_metrics,
    parse_stats,
)
from watchdog.config.targets import Target


class Endpoint(StrEnum):
    """The monitoring nodes the watchdog polls; values are the `endpoint` label."""

    HEALTH = "health"
    METRICS = "metrics"
    STATS_APP = "stats_app"
    STATS_DB = "stats_db"

    @property
    def path(self) -> str:
        return _PATHS[self]

    def interval(self, target: Target) -> float:
        """The poll interval of this endpoint on `target`; 0 means not polled."""
        return float(getattr(target, f"{self.value}_interval"))


_PATHS = {
    Endpoint.HEALTH: "/v1/health",
    Endpoint.METRICS: "/metrics",
    Endpoint.STATS_APP: "/v1/stats/app",
    Endpoint.STATS_DB: "/v1/stats/db",
}

# Failure reasons (the `reason` label of whatsapp_poll_errors_total). HTTP statuses map to
# http_<code> for the ones with a meaning of their own, else http_4xx / http_5xx.
REASONS = (
    "http_401", "http_403", "http_404", "http_429", "http_503", "http_4xx", "http_5xx",
    "timeout", "connect", "dns", "tls", "protocol", "too_large", "decode", "shape",
    "auth_config", "internal",
)  # fmt: skip


@dataclass(frozen=True)
class PollResult:
    """The HTTP outcome of one poll. `reason` is None exactly when the poll succeeded."""

    target: str
    endpoint: Endpoint
    started_at: float  # wall-clock epoch seconds
    duration: float  # seconds
    status_code: int | None
    reason: str | None
    # One line for people (logs, status page): what happened. Never carries a secret.
    detail: str = ""
    api_error: ApiErrorInfo | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Observation:
    """A poll with its payload parsed: `health` for the health endpoint, else `samples`."""

    result: PollResult
    health: Health | None = None
    samples: Samples | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok


def observe(result: PollResult) -> Observation:
    """Parse a successful result's body; a body of the wrong shape becomes a `shape` failure."""
    if not result.ok:
        return Observation(result)
    body = result.body
    try:
        if result.endpoint is Endpoint.HEALTH:
            return Observation(_without_body(result), health=parse_health(body))
        if result.endpoint is Endpoint.METRICS:
            samples = parse_metrics(body)
        else:
            samples = parse_stats(body, "app" if result.endpoint is Endpoint.STATS_APP else "db")
    except PayloadError as err:
        failed = replace(result, reason="shape", detail=f"unexpected answer: {err}", body=None)
        return Observation(failed)
    return Observation(_without_body(result), samples=samples)


def _without_body(result: PollResult) -> PollResult:
    # The raw body is not kept once parsed: the state holds typed values only.
    return replace(result, body=None)
