"""The single source of truth: the latest result of every poll, per target and endpoint.

Writers: the poll jobs (`record`). Readers: the collector, probes, status page, alert rules.
Nothing here does I/O. A lock guards the maps because readers may run in other threads (a
scrape rendered off the event loop).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from watchdog.payloads import Health, Labels
from watchdog.results import Endpoint, Observation
from watchdog.targets import Target

# Values older than this many intervals are stale: not exported, not trusted by probes.
STALE_AFTER_INTERVALS = 3
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SeriesKey = tuple[str, Labels]


@dataclass
class EndpointState:
    """Everything known about one endpoint of one target."""

    interval: float
    last: Observation | None = None
    last_success: Observation | None = None
    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    consecutive_failures: int = 0
    consecutive_429: int = 0
    # Poll durations as histogram buckets (counts per upper bound; the last is +Inf).
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0
    # Raw values of the API's counters at the last success, and how much each grew since the
    # success before it; a value that went down means the API restarted (counters reset).
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    deltas: dict[SeriesKey, float] = field(default_factory=dict)
    counter_resets: int = 0

    @property
    def last_success_at(self) -> float | None:
        return self.last_success.result.started_at if self.last_success else None

    def fresh(self, now: float) -> bool:
        """True when the last success is recent enough to be exported and trusted."""
        at = self.last_success_at
        return at is not None and now - at <= STALE_AFTER_INTERVALS * max(self.interval, 1.0)

    def answered_recently(self, now: float) -> bool:
        """True when the API answered anything (even an error) within the staleness window."""
        last = self.last
        if last is None or last.result.status_code is None:
            return False
        return now - last.result.started_at <= STALE_AFTER_INTERVALS * max(self.interval, 1.0)


@dataclass(frozen=True)
class Change:
    """What one `record` changed; the alert engine evaluates only when something did."""

    target: str
    endpoint: Endpoint
    # Success turned into failure or back (a first poll counts only when it failed).
    ok_changed: bool
    observation: Observation


class State:
    """Latest results per target and endpoint."""

    def __init__(self, targets: Sequence[Target], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        # Bumped by every change, so readers can tell whether what they derived is current.
        self.version = 0
        self._targets: dict[str, Target] = {}
        self._endpoints: dict[tuple[str, Endpoint], EndpointState] = {}
        self.set_targets(targets)

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace the target list, keeping what is known about targets that stay."""
        with self._lock:
            self.version += 1
            self._targets = {t.name: t for t in targets}
            kept: dict[tuple[str, Endpoint], EndpointState] = {}
            for target in self._targets.values():
                for endpoint in Endpoint:
                    interval = endpoint.interval(target)
                    if interval <= 0:
                        continue
                    old = self._endpoints.get((target.name, endpoint))
                    if old is not None:
                        old.interval = interval
                        kept[(target.name, endpoint)] = old
                    else:
                        kept[(target.name, endpoint)] = EndpointState(interval)
            self._endpoints = kept

    @property
    def targets(self) -> list[Target]:
        with self._lock:
            return list(self._targets.values())

    def target(self, name: str) -> Target | None:
        with self._lock:
            return self._targets.get(name)

    def endpoints(self, target: str) -> dict[Endpoint, EndpointState]:
        with self._lock:
            # Four lookups, not a scan: this runs after every poll, for thousands of targets.
            found = ((e, self._endpoints.get((target, e))) for e in Endpoint)
            return {e: s for e, s in found if s is not None}

    def get(self, target: str, endpoint: Endpoint) -> EndpointState | None:
        with self._lock:
            return self._endpoints.get((target, endpoint))

    def items(self) -> list[tuple[Target, Endpoint, EndpointState]]:
        with self._lock:
            return [
                (self._targets[t], e, s)
                for (t, e), s in self._endpoints.items()
                if t in self._targets
            ]

    def polled_once(self) -> bool:
        """True once every polled endpoint of every target has a result (readiness)."""
        with self._lock:
            return all(s.last is not None for s in self._endpoints.values())

    def health(self, target: str, now: float | None = None) -> Health | None:
        """The latest health answer of `target`, if it is fresh."""
        state = self.get(target, Endpoint.HEALTH)
        when = self.clock() if now is None else now
        if state is None or state.last_success is None or not state.fresh(when):
            return None
        return state.last_success.health

    def record(self, observation: Observation) -> Change | None:
        """Store one poll's observation; None when its target or endpoint is no longer known."""
        result = observation.result
        with self._lock:
            state = self._endpoints.get((result.target, result.endpoint))
            if state is None:
                return None
            self.version += 1
            was_ok = state.last.ok if state.last is not None else None
            state.last = observation
            state.polls += 1
            state.duration_sum += result.duration
            state.bucket_counts[_bucket(result.duration)] += 1
            if observation.ok:
                self._record_counters(state, observation)
                state.last_success = observation
                state.consecutive_failures = 0
                state.consecutive_429 = 0
            else:
                assert result.reason is not None
                state.errors[result.reason] += 1
                state.consecutive_failures += 1
                state.consecutive_429 = (
                    state.consecutive_429 + 1 if result.reason == "http_429" else 0
                )
        # A first success is not news; a first failure is.
        changed = was_ok != observation.ok if was_ok is not None else not observation.ok
        return Change(result.target, result.endpoint, changed, observation)

    @staticmethod
    def _record_counters(state: EndpointState, observation: Observation) -> None:
        samples = observation.samples
        if samples is None:
            return
        had_success = state.last_success is not None
        previous = state.counters
        current: dict[SeriesKey, float] = {}
        deltas: dict[SeriesKey, float] = {}
        reset = False
        for sample in samples.samples:
            if sample.kind != "counter":
                continue
            key = (sample.name, sample.labels)
            current[key] = sample.value
            before = previous.get(key)
            if before is None:
                # A series that appears after an earlier success started from zero since then
                # (the API omits metrics with no data); on the very first poll nothing is known.
                deltas[key] = sample.value if had_success else 0.0
            elif sample.value < before:
                reset = True
                deltas[key] = sample.value
            else:
                deltas[key] = sample.value - before
        state.counters = current
        state.deltas = deltas
        if reset:
            state.counter_resets += 1


def _bucket(duration: float) -> int:
    for index, bound in enumerate(DURATION_BUCKETS):
        if duration <= bound:
            return index
    return len(DURATION_BUCKETS)
