"""What the last hours looked like: every poll's result per endpoint, and queue depth trends.

The status page draws an hour of it as heartbeat strips and uptime; `/api/v1/status` serves it.
Kept compact because it is kept for every target: a poll costs 8 bytes (epoch second, a code
for status and outcome, milliseconds) in preallocated-on-demand `array`s, and each ring holds a
fixed number of polls, so memory is bounded by `capacity`, not by how long the watchdog runs.

Written on the event loop by the poll jobs (through `State.record`) and read on the event loop
by the status page and `/api/v1/status`, so a reader never sees half an append.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from watchdog.api.endpoints import AUTH_CONFIG, GRAPH_THROTTLED, INTERNAL, RATE_LIMITED, REASONS

# What a poll found, by index. The health endpoint's successful answers are judged by their
# gateways (a 200 can say that every gateway is down), a Cloud number's by the Cloud verdict
# (BLOCKED or not CONNECTED: "cannot send"); other endpoints' successes are "ok".
OK, DEGRADED, DOWN, NOT_REGISTERED = "ok", "degraded", "gateway down", "not registered"
CANNOT_SEND = "cannot send"
# A failure reason this table does not know (a kind of target added later) is kept as this,
# rather than refused: recording a poll must never fail.
OTHER = "other failure"
OUTCOMES: tuple[str, ...] = (OK, DEGRADED, DOWN, NOT_REGISTERED, CANNOT_SEND, OTHER, *REASONS)
_INDEX = {outcome: i for i, outcome in enumerate(OUTCOMES)}
_OUTCOME_BITS = 6
assert len(OUTCOMES) <= 1 << _OUTCOME_BITS
_OUTCOME_MASK = (1 << _OUTCOME_BITS) - 1
# Status codes are stored above the outcome in 16 bits; anything larger is not HTTP.
_MAX_STATUS = (1 << (16 - _OUTCOME_BITS)) - 1
_MAX_MS = (1 << 16) - 1

# How a mark is coloured: as the verdict would judge that one poll. A 429 is the API's shared
# budget used up by other callers, not a fault (and so is Graph's throttling); registration is
# set-up, not an outage.
_MARKS = {
    OK: "ok",
    DEGRADED: "warning",
    NOT_REGISTERED: "warning",
    RATE_LIMITED: "warning",
    GRAPH_THROTTLED: "warning",
}
MARK: tuple[str, ...] = tuple(_MARKS.get(outcome, "critical") for outcome in OUTCOMES)
# Uptime counts the polls that could tell whether the API was up. A 429, a credential the
# watchdog cannot use, or its own bug says nothing about the API, so those are left out.
_UNJUDGED = {RATE_LIMITED, GRAPH_THROTTLED, AUTH_CONFIG, INTERNAL}
_JUDGED: tuple[int, ...] = tuple(int(o not in _UNJUDGED) for o in OUTCOMES)
_UP: tuple[int, ...] = tuple(int(o in (OK, DEGRADED, NOT_REGISTERED)) for o in OUTCOMES)

BYTES_PER_POLL = 8  # the three arrays below: "I" 4 + "H" 2 + "H" 2


def capacity_for(window: float, interval: float) -> int:
    """Polls a ring keeps to cover `window` at `interval` (one more for the edge)."""
    return max(2, math.ceil(window / max(interval, 1.0)) + 1)


@dataclass(frozen=True)
class Columns:
    """A stretch of a timeline, oldest first, one list per column."""

    at: list[int]
    result: list[str]
    mark: list[str]
    status_code: list[int | None]
    duration_ms: list[int]


class Timeline:
    """A ring of the last `capacity` polls of one endpoint."""

    __slots__ = ("_at", "_code", "_head", "_judged", "_ms", "_up", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._at = array("I")
        self._code = array("H")
        self._ms = array("H")
        # Where the oldest poll is once the ring is full (the next one overwrites it).
        self._head = 0
        # Running counts over everything in the ring, so a day's uptime needs no day-long scan.
        self._judged = 0
        self._up = 0

    def __len__(self) -> int:
        return len(self._at)

    def append(self, at: float, outcome: str, status_code: int | None, duration: float) -> None:
        index = _INDEX.get(outcome, _INDEX[OTHER])
        status = status_code if status_code is not None and 0 < status_code <= _MAX_STATUS else 0
        code = status << _OUTCOME_BITS | index
        seconds = min(max(int(at), 0), 0xFFFFFFFF)
        ms = min(max(round(duration * 1000), 0), _MAX_MS)
        if self._at and seconds < self._time(len(self._at) - 1):
            self._forget_after(seconds)
        if len(self._at) < self.capacity:
            self._at.append(seconds)
            self._code.append(code)
            self._ms.append(ms)
            if len(self._at) == self.capacity:
                # Appends over-allocate by about 6 %; a full ring never grows again, so it is
                # copied once to its exact size (24 h at 100 targets: 8.1 MB, not 8.6).
                self._at, self._code, self._ms = (
                    array(c.typecode, c) for c in (self._at, self._code, self._ms)
                )
        else:
            head = self._head
            old = self._code[head] & _OUTCOME_MASK
            self._judged -= _JUDGED[old]
            self._up -= _UP[old]
            self._at[head], self._code[head], self._ms[head] = seconds, code, ms
            self._head = (head + 1) % self.capacity
        self._judged += _JUDGED[index]
        self._up += _UP[index]

    def resize(self, capacity: int) -> None:
        """Keep the newest `capacity` polls (an interval or the history setting changed)."""
        if capacity != self.capacity:
            self._keep(max(0, len(self._at) - capacity), len(self._at))
            self.capacity = capacity

    def _forget_after(self, seconds: int) -> None:
        """The wall clock stepped back: polls dated after `seconds` are dropped, so the ring
        stays in time order (every search relies on it) and new polls show at once, not only
        once the clock has caught up with the old dates."""
        self._keep(0, self._first_at_or_after(seconds + 1))

    def _keep(self, start: int, stop: int) -> None:
        """Keep the polls `start`..`stop` (logical, oldest first), unwrapped, and recount."""
        at, code, ms = (self._ordered(column) for column in (self._at, self._code, self._ms))
        self._at, self._code, self._ms = at[start:stop], code[start:stop], ms[start:stop]
        self._head = 0
        self._judged = sum(_JUDGED[c & _OUTCOME_MASK] for c in self._code)
        self._up = sum(_UP[c & _OUTCOME_MASK] for c in self._code)

    def _ordered(self, column: array[int]) -> array[int]:
        return column[self._head :] + column[: self._head]

    def _time(self, logical: int) -> int:
        return self._at[(self._head + logical) % len(self._at)]

    def _first_at_or_after(self, start: float) -> int:
        """The logical index of the first poll at or after `start` (polls are in time order)."""
        low, high = 0, len(self._at)
        while low < high:
            middle = (low + high) // 2
            if self._time(middle) < start:
                low = middle + 1
            else:
                high = middle
        return low

    def _slice(self, column: array[int], first: int, end: int | None = None) -> list[int]:
        """Logical `first`..`end` (default: the newest) of a physical column, as a list."""
        size = len(column)
        end = size if end is None else min(end, size)
        if first >= end:
            return []
        start, stop = (self._head + first) % size, (self._head + end) % size or size
        if start < stop:
            return column[start:stop].tolist()
        return column[start:].tolist() + column[:stop].tolist()

    def count_since(self, start: float) -> int:
        """How many polls are at or after `start`."""
        return len(self._at) - self._first_at_or_after(start)

    def since(self, start: float) -> Columns:
        """The polls at or after `start`, oldest first."""
        first = self._first_at_or_after(start)
        codes = self._slice(self._code, first)
        outcomes = [c & _OUTCOME_MASK for c in codes]
        return Columns(
            at=self._slice(self._at, first),
            result=[OUTCOMES[i] for i in outcomes],
            mark=[MARK[i] for i in outcomes],
            status_code=[(c >> _OUTCOME_BITS) or None for c in codes],
            duration_ms=self._slice(self._ms, first),
        )

    def uptime(self, now: float, window: float) -> float | None:
        """Percent of the polls in the last `window` that found the API up, among those that
        could tell; None when none could."""
        first = self._first_at_or_after(now - window)
        if first * 2 <= len(self._at):
            # Most of the ring is inside the window: the totals, less the few polls before it.
            older = [c & _OUTCOME_MASK for c in self._slice(self._code, 0, first)]
            judged = self._judged - sum(_JUDGED[i] for i in older)
            up = self._up - sum(_UP[i] for i in older)
        else:
            inside = [c & _OUTCOME_MASK for c in self._slice(self._code, first)]
            judged = sum(_JUDGED[i] for i in inside)
            up = sum(_UP[i] for i in inside)
        return round(100.0 * up / judged, 2) if judged else None


# Queue depth is drawn as a small trend of the last hour: at most one point per `_SPACING`, so a
# node costs the same whatever the poll interval.
TREND_SPAN = 3600.0
TREND_POINTS = 120
_SPACING = TREND_SPAN / TREND_POINTS


class Trend:
    """The last hour of one gauge of one node, thinned to a point per 30 s."""

    __slots__ = ("_at", "_values")

    def __init__(self) -> None:
        self._at = array("I")
        self._values = array("f")

    def add(self, at: float, value: float) -> None:
        seconds = min(max(int(at), 0), 0xFFFFFFFF)
        if self._at and seconds < self._at[-1]:
            # The wall clock stepped back: points dated after now go (see Timeline).
            keep = bisect_left(self._at, seconds + 1)
            del self._at[keep:]
            del self._values[keep:]
        if self._at and seconds - self._at[-1] < _SPACING:
            self._values[-1] = value  # the newest value within the spacing stands for it
            return
        self._at.append(seconds)
        self._values.append(value)
        if len(self._at) > TREND_POINTS:
            del self._at[0]
            del self._values[0]

    @property
    def last_at(self) -> int:
        return self._at[-1] if self._at else 0

    def since(self, start: float) -> tuple[list[int], list[float]]:
        first = bisect_left(self._at, math.ceil(start))
        return self._at[first:].tolist(), self._values[first:].tolist()
