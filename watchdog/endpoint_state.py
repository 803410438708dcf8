"""What is known about one endpoint of one target: its last answers, every series of the API
it reported, poll counts and durations, backoff and pace, and when its answer stops being fresh.

`watchdog.state.State` keeps one per target and endpoint and is its only writer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from watchdog.api.payloads import Labels, Sample
from watchdog.api.results import Observation
from watchdog.timeline import Timeline, capacity_for

# Values older than this many intervals are stale: not exported, not trusted by probes.
STALE_AFTER_INTERVALS = 3
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SeriesKey = tuple[str, Labels]
# How far back every poll's result is kept for the status page (`history` setting).
DEFAULT_HISTORY = 86400.0


@dataclass(frozen=True)
class Seen:
    sample: Sample
    at: float


@dataclass(frozen=True)
class Growth:
    """A counter series' growth, between `since` (its previous value) and the poll."""

    amount: float
    since: float


@dataclass
class EndpointState:
    """Everything known about one endpoint of one target."""

    interval: float
    # Every poll's result, as far back as the `history` setting reaches.
    timeline: Timeline = field(default_factory=lambda: Timeline(capacity_for(DEFAULT_HISTORY, 1)))
    last: Observation | None = None
    last_success: Observation | None = None
    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    consecutive_failures: int = 0
    # Consecutive answers that ask the client to slow down: 429, and 503 (reference §5.3:
    # on both, "stop and slow down").
    consecutive_throttled: int = 0
    # Poll durations as histogram buckets (counts per upper bound; the last is +Inf).
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0
    # Every series of the API's metrics or stats with its latest value and when that was seen.
    # Kept per series, not per answer: behind one URL several Webapps may answer in turn, each
    # with its own `node` label, so one answer holds only some of the series.
    series: dict[SeriesKey, Seen] = field(default_factory=dict)
    # How much each counter grew in the last success, since that series' own last value.
    deltas: dict[SeriesKey, Growth] = field(default_factory=dict)
    # `node` labels (or "" for answers without one) -> when an answer last came from them.
    nodes: dict[str, float] = field(default_factory=dict)
    counter_resets: int = 0
    # Samples of the last success that repeated a series of the same answer (not kept).
    duplicates: int = 0
    # Polls held back after 429/503 answers: until when, and the extra wait that decided it.
    backoff_until: float = 0.0
    backoff_seconds: float = 0.0
    # How much later than its interval a Cloud endpoint is polled on purpose (Meta's usage or
    # throttling): its last answer stays fresh that much longer, as no poll was missed.
    paced_seconds: float = 0.0

    @property
    def last_detail(self) -> str:
        """What the last poll's answer said (one line, secrets redacted by the client)."""
        return self.last.result.detail if self.last is not None else ""

    @property
    def last_success_at(self) -> float | None:
        return self.last_success.result.started_at if self.last_success else None

    @property
    def stale_after(self) -> float:
        """How old an answer may be and still be trusted: 3 intervals, and the pace the
        watchdog chose on purpose (`paced_seconds`)."""
        return STALE_AFTER_INTERVALS * max(self.interval, 1.0) + self.paced_seconds

    def fresh(self, now: float) -> bool:
        """True when the last success is recent enough to be exported and trusted."""
        at = self.last_success_at
        return at is not None and now - at <= self.stale_after

    def fresh_success(self, now: float) -> Observation | None:
        """The last successful answer while it is fresh, whatever later polls found: what the
        API last said stands until an answer says otherwise or it is too old to trust."""
        return self.last_success if self.fresh(now) else None

    @property
    def series_window(self) -> float:
        """How long one series of the API's metrics or stats stays fresh after it was seen."""
        return STALE_AFTER_INTERVALS * max(self.interval, 1.0)

    def current_samples(self, now: float) -> list[Sample]:
        """The API's series that are fresh at `now`, each with its latest value (from whichever
        Webapp last reported it: one answer may hold only one Webapp's series)."""
        oldest = now - self.series_window
        # A copy first: a poll may be recorded in another thread while a scrape reads.
        return [seen.sample for seen in list(self.series.values()) if seen.at >= oldest]

    def answered_recently(self, now: float) -> bool:
        """True when the API answered anything (even an error) within the staleness window."""
        last = self.last
        if last is None or last.result.status_code is None:
            return False
        return now - last.result.started_at <= self.stale_after
