"""Recent events per target, for rules that count within a window.

Two sources, as the contract asks: the watchdog's own polls that failed (by what the failure
is, `watchdog.api.diagnosis`), and the growth of the API's own
`api_requests_duration_ms_count{result}` counters (other clients' 429s and 503s). Growth is per
series, since that series' own last value (the state's deltas): with several Webapps behind one
URL a series may last have been seen polls ago. It is spread evenly over that span, so a window
counts only the share that fell inside it: growth seen late is neither lost nor dated to now.
Counter resets are already handled by the state: after a restart the delta is the new value.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from watchdog.api.diagnosis import Failure, diagnose
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import Observation
from watchdog.state import EndpointState

API_REQUESTS = "api_requests_duration_ms_count"
# Longest window a rule may use (settings cap `window` at 1 h); older events are dropped.
MAX_WINDOW = 3600.0


@dataclass(frozen=True)
class ApiRequests:
    """Growth of the API's request counters over `[since, at]`, seen by one poll."""

    since: float
    at: float
    total: float
    by_result: dict[str, float]

    def share(self, start: float, end: float) -> float:
        """The part of this span that lies in `[start, end]`, from 0 to 1."""
        if self.at <= self.since:
            return 1.0 if start <= self.at <= end else 0.0
        overlap = min(self.at, end) - max(self.since, start)
        return max(0.0, overlap) / (self.at - self.since)


class History:
    """Windowed events of one target."""

    def __init__(self, horizon: float = MAX_WINDOW) -> None:
        # Events older than this are dropped: the longest window a rule is configured with.
        # Keeping `MAX_WINDOW` whatever the rules' windows grew RSS by 9 MB in the first hour
        # at 100 targets (one entry per poll of /metrics; `benchmarks/memory.py`).
        self.horizon = horizon
        self._failures: deque[tuple[float, Endpoint, Failure]] = deque()
        self._requests: deque[ApiRequests] = deque()

    def record(self, observation: Observation, state: EndpointState | None) -> None:
        result = observation.result
        diagnosis = diagnose(result)
        if diagnosis is not None:
            self._failures.append((result.started_at, result.endpoint, diagnosis.failure))
        elif result.endpoint is Endpoint.METRICS and state is not None:
            # One entry per span: the series of one answer may come from different Webapps.
            spans: dict[float, dict[str, float]] = {}
            for (name, labels), growth in state.deltas.items():
                if name == API_REQUESTS:
                    code = dict(labels).get("result", "")
                    by_result = spans.setdefault(growth.since, {})
                    by_result[code] = by_result.get(code, 0.0) + growth.amount
            for since, by_result in sorted(spans.items()):
                self._requests.append(
                    ApiRequests(since, result.started_at, sum(by_result.values()), by_result)
                )
        self._expire(result.started_at)

    def _expire(self, now: float) -> None:
        horizon = now - self.horizon
        while self._failures and self._failures[0][0] < horizon:
            self._failures.popleft()
        while self._requests and self._requests[0].at < horizon:
            self._requests.popleft()

    def own_failures(self, now: float, window: float, failure: Failure) -> int:
        """The watchdog's own polls of any endpoint that failed as `failure` in the window."""
        return sum(1 for at, _, f in self._failures if f is failure and now - at <= window)

    def api_requests(self, now: float, window: float, result: str | None = None) -> float:
        """Requests the API counted in the window: all of them, or those with `result`."""
        start = now - window
        total = 0.0
        for span in self._requests:
            if span.at < start:
                continue
            amount = span.total if result is None else span.by_result.get(result, 0.0)
            if amount:
                total += amount * span.share(start, now)
        return total
