"""The API's own limits: the global health budget, request rate, bad logins, concurrency.

All limiters take the current time as an argument so tests drive them with a fake clock.
"""

from __future__ import annotations

import threading
from collections import deque


class SlidingWindow:
    """At most `limit` accepted events in any `window` seconds.

    The 2019 source keeps the health budget (10 per 60 s) and the bad-login budget (30 per hour)
    in a counter with a TTL; whether the window slides or is fixed is UNCONFIRMED. A sliding
    window is the stricter reading, so a client that respects it is safe under either. Rejected
    calls do not use up budget: otherwise a caller polling too fast would never recover.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.window:
            self._events.popleft()

    def allow(self, now: float) -> bool:
        """Record an event at `now` if the budget allows it; False means over the limit."""
        with self._lock:
            self._expire(now)
            if len(self._events) >= self.limit:
                return False
            self._events.append(now)
            return True

    def full(self, now: float) -> bool:
        """True when the next event would be refused (without recording anything)."""
        with self._lock:
            self._expire(now)
            return len(self._events) >= self.limit

    def reset(self) -> None:
        with self._lock:
            self._events.clear()


class TokenBucket:
    """Request-rate limiting: `rate` per second sustained, bursts up to `burst` (reference §5.3)."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        with self._lock:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = max(self._at, now)
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class ConcurrencyGate:
    """Concurrent rate limiting: more than `limit` requests in flight → 503/1016."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight
