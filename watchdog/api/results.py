"""What one poll produced: the endpoint polled, the HTTP outcome, and the parsed payload.

A poll never raises; every outcome is a `PollResult` — success with the decoded body, or a
failure with a `reason` (`watchdog.api.endpoints.REASONS`) — and `observe` turns it into an
`Observation` with typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from watchdog.api.endpoints import SHAPE, Endpoint
from watchdog.api.graph import (
    PhoneNumber,
    TokenInfo,
    parse_debug_token,
    parse_phone_number,
    parse_waba,
)
from watchdog.api.graph_health import HealthStatus
from watchdog.api.graph_usage import Usage
from watchdog.api.payloads import (
    ApiErrorInfo,
    Health,
    PayloadError,
    Samples,
    parse_health,
    parse_metrics,
    parse_stats,
)


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
    # A Graph answer's `X-Business-Use-Case-Usage`, failures included (a throttled answer
    # says when access comes back).
    usage: tuple[Usage, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Observation:
    """A poll with its payload parsed: `health` for the health endpoint, `samples` for the
    metrics and stats, `phone`, `waba` or `token` for a Cloud number's Graph nodes."""

    result: PollResult
    health: Health | None = None
    samples: Samples | None = None
    phone: PhoneNumber | None = None
    waba: HealthStatus | None = None
    token: TokenInfo | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok


def observe(result: PollResult) -> Observation:
    """Parse a successful result's body; a body of the wrong shape becomes a `shape` failure."""
    if not result.ok:
        return Observation(result)
    body = result.body
    try:
        spec = result.endpoint.spec
        if spec.body == "health":
            return Observation(_without_body(result), health=parse_health(body))
        if spec.body == "graph_phone":
            return Observation(_without_body(result), phone=parse_phone_number(body))
        if spec.body == "graph_waba":
            return Observation(_without_body(result), waba=parse_waba(body))
        if spec.body == "graph_token":
            return Observation(_without_body(result), token=parse_debug_token(body))
        if spec.body == "prometheus":
            samples = parse_metrics(body)
        else:
            samples = parse_stats(body, spec.path.rsplit("/", 1)[-1])
    except PayloadError as err:
        failed = replace(result, reason=SHAPE, detail=f"unexpected answer: {err}", body=None)
        return Observation(failed)
    return Observation(_without_body(result), samples=samples)


def _without_body(result: PollResult) -> PollResult:
    # The raw body is not kept once parsed: the state holds typed values only.
    return replace(result, body=None)
