"""Graph's business use case (BUC) accounting: the management calls of one app on one WABA.

What the `X-Business-Use-Case-Usage` header reports and when Graph throttles with 80008
(reference §4). The meter takes the current time as an argument, so tests drive it with a
fake clock.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

HOUR = 3600.0
# The BUC type of the WhatsApp management calls; seen only in an SDK sample (UNCONFIRMED).
USAGE_TYPE = "whatsapp_business_management"


@dataclass(frozen=True)
class Usage:
    """One snapshot of the budget: the percentages Graph reports, and the regain time."""

    calls: int
    allowance: int
    call_count: int
    total_cputime: int
    total_time: int
    estimated_time_to_regain_access: int

    @property
    def exhausted(self) -> bool:
        """The next call would be throttled."""
        return self.calls >= self.allowance

    def entry(self) -> dict[str, Any]:
        return {
            "type": USAGE_TYPE,
            "call_count": self.call_count,
            "total_cputime": self.total_cputime,
            "total_time": self.total_time,
            "estimated_time_to_regain_access": self.estimated_time_to_regain_access,
        }


class UsageMeter:
    """Calls in a rolling hour against an hourly allowance (reference §4: "rolling hour").

    Throttled calls are not recorded: whether Graph counts them is UNCONFIRMED, and counting
    them would let a client that keeps polling through the block never regain access.
    """

    def __init__(self, allowance: int, window: float = HOUR) -> None:
        if allowance < 1:
            raise ValueError("the hourly allowance must be at least 1")
        self._allowance = allowance
        self.window = window
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def allowance(self) -> int:
        return self._allowance

    def set_allowance(self, allowance: int) -> None:
        """Change the allowance; the calls already in the window stay counted."""
        if allowance < 1:
            raise ValueError("the hourly allowance must be at least 1")
        with self._lock:
            self._allowance = allowance

    def call(self, now: float) -> tuple[bool, Usage]:
        """Count one call at `now` if the budget allows it: (allowed, the usage after it)."""
        with self._lock:
            self._expire(now)
            allowed = len(self._calls) < self._allowance
            if allowed:
                self._calls.append(now)
            return allowed, self._usage(now)

    def usage(self, now: float) -> Usage:
        """The usage at `now`, without counting a call."""
        with self._lock:
            self._expire(now)
            return self._usage(now)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def _expire(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.window:
            self._calls.popleft()

    def _usage(self, now: float) -> Usage:
        calls = len(self._calls)
        # Whole percentages, rounded down, so 100 means "the next call is throttled" and never
        # "almost": Graph reports integers; how it rounds is UNCONFIRMED.
        percent = calls * 100 // self._allowance
        regain = 0
        if calls >= self._allowance:
            # Access comes back when enough calls have left the window for one more to fit;
            # Graph gives the time in minutes (reference §4), rounded up here.
            freeing = self._calls[calls - self._allowance]
            regain = max(1, math.ceil((freeing + self.window - now) / 60))
        # Graph computes the two time figures from what the calls cost; the simulator's calls
        # cost alike, so they follow the call count (a model of ours, not Graph's formula).
        return Usage(
            calls=calls,
            allowance=self._allowance,
            call_count=percent,
            total_cputime=percent // 4,
            total_time=percent // 2,
            estimated_time_to_regain_access=regain,
        )
