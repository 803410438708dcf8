"""Recent events per target, for rules that count within a window.

Two sources, as the contract asks: the watchdog's own polls that failed (by reason), and the
growth of the API's own `api_requests_duration_ms_count{result}` counters between polls of
`/metrics` (other clients' 429s and 503s). Counter resets are already handled by the state's
deltas: after a restart the delta is the new value, never negative.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from watchdog.results import Endpoint, Observation
from watchdog.state import EndpointState

API_REQUESTS = "api_requests_duration_ms_count"
# Longest window a rule may use (settings cap `window` at 1 h); older events are dropped.
MAX_WINDOW = 3600.0


@dataclass(frozen=True)
class ApiRequests:
    """Growth of the API's request counters between two polls of `/metrics`."""

    at: float
    total: float
    by_result: dict[str, float]


class History:
    """Windowed events of one target."""

    def __init__(self, horizon: float = MAX_WINDOW) -> None:
        # Events older than this are dropped: the longest window a rule is configured with.
        # Keeping `MAX_WINDOW` whatever the rules' windows grew RSS by 9 MB in the first hour
        # at 100 targets (one entry per poll of /metrics; `benchmarks/memory.py`).
        self.horizon = horizon
        self._failures: deque[tuple[float, Endpoint, str]] = deque()
        self._requests: deque[ApiRequests] = deque()

    def record(self, observation: Observation, state: EndpointState | None) -> None:
        result = observation.result
        if not result.ok:
            assert result.reason is not None
            self._failures.append((result.started_at, result.endpoint, result.reason))
        elif result.endpoint is Endpoint.METRICS and state is not None:
            by_result: dict[str, float] = {}
            for (name, labels), delta in state.deltas.items():
                if name == API_REQUESTS and delta > 0:
                    code = dict(labels).get("result", "")
                    by_result[code] = by_result.get(code, 0.0) + delta
            self._requests.append(
                ApiRequests(result.started_at, sum(by_result.values()), by_result)
            )
        self._expire(result.started_at)

    def _expire(self, now: float) -> None:
        horizon = now - self.horizon
        while self._failures and self._failures[0][0] < horizon:
            self._failures.popleft()
        while self._requests and self._requests[0].at < horizon:
            self._requests.popleft()

    def own_failures(self, now: float, window: float, reason: str) -> int:
        """The watchdog's own polls of any endpoint that failed with `reason` in the window."""
        return sum(1 for at, _, r in self._failures if r == reason and now - at <= window)

    def api_requests(self, now: float, window: float, result: str | None = None) -> float:
        """Requests the API counted in the window: all of them, or those with `result`."""
        recent = [r for r in self._requests if now - r.at <= window]
        if result is None:
            return sum(r.total for r in recent)
        return sum(r.by_result.get(result, 0.0) for r in recent)
