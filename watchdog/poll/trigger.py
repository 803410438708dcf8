"""When a poll job runs: soon after start, then every interval on a phase of its own.

Every job (one per target and endpoint) has a stable phase in [0, interval), taken from a
hash of its id, so the runs of thousands of jobs spread evenly over each interval instead of
falling due together: with the phases bunched into the first seconds, 2,000 targets made
bursts of up to 1,000 polls per second every 15 s and a schedule lag p99 of 2.5 s
(`benchmarks/README.md`).

The first run does not wait for the phase: it comes within the start spread, so results (and
readiness) come soon after start. The spread grows with the number of jobs, so a large
configuration does not start with a burst either. After any run — the first, one moved by
`poll_soon`, or one on the phase — the next is the first phase time at least one interval
later, so the schedule never puts two runs closer than the interval (the API's rate limits are
per interval) and a run off the phase returns to it. (`poll_soon` itself, and a target
redefined by a reload, start a job afresh, whenever its last run was.)
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

__all__ = [
    "FIRST_POLLS_PER_SECOND",
    "MAX_START_SPREAD",
    "PhasedInterval",
    "first_run_spread",
    "first_runs",
    "next_on_phase",
    "phase",
    "start_offset",
]

# First polls spread over at least this many seconds (at most an interval), so targets do not
# all fire at once but the watchdog is ready soon after start.
MAX_START_SPREAD = 5.0
# With more jobs than this many per second of that spread, the spread grows to one second per
# this many jobs (capped at each job's interval, so the shortest intervals start a little
# faster): one core polls a few hundred targets per second (`benchmarks/scale.py`).
FIRST_POLLS_PER_SECOND = 200.0
# Seconds of slack when a time is already on the phase: the datetimes APScheduler hands back
# are rounded to the microsecond.
_SLACK = 2e-6


def _fraction(job_id: str) -> float:
    """A stable number in [0, 1) for a job id: the same in every process and every run."""
    return (zlib.crc32(job_id.encode()) % 100_000) / 100_000


def phase(job_id: str, interval: float) -> float:
    """The job's phase: its runs are due at epoch seconds `phase + k * interval`."""
    return _fraction(job_id) * interval


def first_run_spread(jobs: int, minimum: float = MAX_START_SPREAD) -> float:
    """Seconds over which the first runs of `jobs` jobs are spread (before the interval cap)."""
    return max(minimum, jobs / FIRST_POLLS_PER_SECOND)


def first_runs(
    jobs: Sequence[tuple[str, float, bool]], minimum: float = MAX_START_SPREAD
) -> list[float]:
    """Offsets of the first runs of `jobs` (job id, interval, whether it polls the target's
    primary endpoint) added together.

    Few jobs share one spread of `minimum` seconds. Many take a second per
    `FIRST_POLLS_PER_SECOND` of them, primaries first: every target's primary endpoint (what
    readiness, probes and verdicts wait for) is polled within `primaries / rate` seconds, the
    other endpoints after them, at the same rate; 2,000 targets are ready after 10 s instead of
    the 30 s all their jobs take. A job whose interval is shorter than its place in that line
    runs within its interval instead.
    """
    total = first_run_spread(len(jobs), minimum)
    if total <= minimum:
        return [start_offset(job_id, interval, total) for job_id, interval, _ in jobs]
    primaries = sum(1 for _, _, primary in jobs if primary)
    head = primaries / FIRST_POLLS_PER_SECOND
    tail = (len(jobs) - primaries) / FIRST_POLLS_PER_SECOND
    offsets = []
    for job_id, interval, primary in jobs:
        if primary:
            offsets.append(start_offset(job_id, interval, head))
            continue
        offset = head + _fraction(job_id) * tail
        offsets.append(offset if offset < interval else start_offset(job_id, interval, interval))
    return offsets


def start_offset(job_id: str, interval: float, max_spread: float = MAX_START_SPREAD) -> float:
    """A stable offset in [0, min(interval, max_spread)) for a job's first run."""
    return _fraction(job_id) * min(interval, max_spread)


def next_on_phase(after: float, interval: float, phase_: float) -> float:
    """The first time `phase_ + k * interval` (epoch seconds) at or after `after`."""
    k = math.ceil((after - phase_ - _SLACK) / interval)
    return phase_ + k * interval


class PhasedInterval(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """APScheduler trigger: `first`, then every `interval` seconds on the job's phase."""

    def __init__(self, interval: float, phase_: float, first: datetime) -> None:
        self.interval = interval
        self.phase = phase_
        self.first = first

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.first
        after = previous_fire_time.timestamp() + self.interval
        due = next_on_phase(after, self.interval, self.phase)
        return datetime.fromtimestamp(due, tz=previous_fire_time.tzinfo)

    def __str__(self) -> str:
        return f"phased interval[{timedelta(seconds=self.interval)}, phase {self.phase:.3f} s]"
