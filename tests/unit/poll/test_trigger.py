"""Poll times: a quick first run, then every interval on a stable phase spread over it."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult
from watchdog.base.targets import Target
from watchdog.poll.scheduler import Poller
from watchdog.poll.trigger import (
    FIRST_POLLS_PER_SECOND,
    MAX_START_SPREAD,
    PhasedInterval,
    first_run_spread,
    first_runs,
    next_on_phase,
    phase,
    start_offset,
)
from watchdog.state import State

START = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)


def test_start_offsets_are_stable_and_spread() -> None:
    """First runs spread over at most the start spread and are the same in every process."""
    offsets = {start_offset(f"t{i}/health", 15) for i in range(50)}
    assert all(0 <= o < MAX_START_SPREAD for o in offsets)
    assert len(offsets) > 25
    assert start_offset("prod/health", 15) == start_offset("prod/health", 15)
    assert start_offset("x/health", 0.5) < 0.5
    assert all(0 <= start_offset(f"t{i}/health", 15, 12) < 12 for i in range(50))


@pytest.mark.parametrize("interval", [6.0, 15.0, 60.0, 300.0])
def test_phases_spread_evenly_over_the_interval(interval: float) -> None:
    """2,000 jobs' phases fill every tenth of the interval within 20 % of an even share."""
    phases = [phase(f"wa-{i}/health", interval) for i in range(2000)]
    assert all(0 <= p < interval for p in phases)
    tenths = Counter(int(p / interval * 10) for p in phases)
    assert sorted(tenths) == list(range(10))
    assert all(160 <= n <= 240 for n in tenths.values()), tenths
    assert phase("prod/health", interval) == phase("prod/health", interval)


def test_next_on_phase_is_the_first_phase_time_not_before() -> None:
    assert next_on_phase(100.0, 15.0, 4.0) == 109.0
    assert next_on_phase(109.0, 15.0, 4.0) == 109.0  # already on the phase
    assert next_on_phase(109.000001, 15.0, 4.0) == 109.0  # microsecond rounding: not a new interval
    assert next_on_phase(0.000001, 0.25, 0.0) == 0.0  # at any interval, however short
    assert next_on_phase(109.01, 15.0, 4.0) == 124.0
    after = 1_795_000_000.1  # at epoch magnitudes too
    due = next_on_phase(after, 15.0, 4.0)
    assert after <= due < after + 15.0
    assert due % 15.0 == pytest.approx(4.0, abs=1e-5)


def test_first_run_spread_grows_with_the_number_of_jobs() -> None:
    assert first_run_spread(3) == MAX_START_SPREAD
    assert first_run_spread(300, minimum=0.2) == 300 / FIRST_POLLS_PER_SECOND
    assert first_run_spread(6000) == 6000 / FIRST_POLLS_PER_SECOND


def fire_times(trigger: PhasedInterval, count: int, now: datetime = START) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        times.append(previous)
    return times


def test_trigger_first_run_then_on_phase_without_drift() -> None:
    """First run at `first`; then on the phase, at least an interval later, without drift."""
    first = START + timedelta(seconds=2)
    trigger = PhasedInterval(15.0, 7.5, first)
    times = fire_times(trigger, 10_001)
    assert times[0] == first
    gap = (times[1] - times[0]).total_seconds()
    assert 15.0 <= gap < 30.0
    assert times[1].timestamp() % 15.0 == pytest.approx(7.5, abs=1e-5)
    steps = {round((b - a).total_seconds(), 6) for a, b in pairwise(times[1:])}
    assert steps == {15.0}
    assert (times[-1] - times[1]).total_seconds() == pytest.approx(15.0 * 9_999, abs=1e-5)
    assert times[-1].tzinfo is UTC


def test_a_run_off_the_phase_returns_to_it() -> None:
    """After `poll_soon` moved a run, the next run is back on the phase, an interval or more on."""
    trigger = PhasedInterval(15.0, 3.0, START)
    for offset in (0.0, 0.001, 5.0, 14.999):
        moved = datetime.fromtimestamp(1_800_000_003.0 + offset, tz=UTC)
        following = trigger.get_next_fire_time(moved, moved)
        assert following is not None
        assert 15.0 <= (following - moved).total_seconds() < 30.0
        assert following.timestamp() % 15.0 == pytest.approx(3.0, abs=1e-5)


class Idle:
    async def poll(self, endpoint: Endpoint) -> PollResult:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    async def aclose(self) -> None:
        return None


def test_poller_spreads_first_runs_with_the_job_count_and_phases_every_job() -> None:
    """At 1,000 targets (3,000 jobs) first runs spread over 15 s; every job has its own phase."""
    targets = [Target(name=f"wa-{i}", url=f"http://wa-{i}.test") for i in range(1000)]
    poller = Poller(State(targets), lambda _: Idle())

    async def scenario() -> tuple[datetime, list[tuple[str, PhasedInterval]]]:
        now = datetime.now(UTC)
        poller.start()
        jobs = [(job.id, job.trigger) for job in poller.scheduler.get_jobs()]
        # A target added later (a reload) is spread by its own jobs, not by everybody's.
        poller.add_target_jobs([Target(name="late", url="http://late.test")])
        late = poller.scheduler.get_job("late/stats_app").trigger
        assert (late.first - datetime.now(UTC)).total_seconds() < MAX_START_SPREAD
        poller.scheduler.shutdown(wait=False)
        return now, jobs

    now, jobs = asyncio.run(scenario())
    assert len(jobs) == 3000  # health, metrics, stats_app (stats_db is off by default)
    spread = 3000 / FIRST_POLLS_PER_SECOND
    firsts = {job_id: (t.first - now).total_seconds() for job_id, t in jobs}
    assert all(
        -0.1 <= s < min(t.interval, spread) + 0.1
        for (_, t), s in zip(jobs, firsts.values(), strict=True)
    )
    assert max(firsts.values()) > MAX_START_SPREAD + 5
    assert all(t.phase == phase(job_id, t.interval) for job_id, t in jobs)


def test_few_jobs_start_within_one_spread() -> None:
    """Below the rate, every job's first run is where `start_offset` puts it in one spread."""
    jobs = [(f"t{i}/{e}", 15.0 if e == "health" else 60.0, e == "health")
            for i in range(100) for e in ("health", "metrics")]  # fmt: skip
    offsets = first_runs(jobs)
    assert offsets == [start_offset(job_id, interval) for job_id, interval, _ in jobs]


def test_many_jobs_poll_every_primary_endpoint_first_at_the_same_rate() -> None:
    """At 2,000 targets the primary endpoints' first runs come within 10 s (readiness within a
    health interval), the others after them; no second has more than the rate's first runs."""
    targets = 2000
    jobs = [
        (f"t{i}/{endpoint}", interval, endpoint == "health")
        for i in range(targets)
        for endpoint, interval in (("health", 15.0), ("metrics", 30.0), ("stats_app", 60.0))
    ]
    offsets = first_runs(jobs)
    head = targets / FIRST_POLLS_PER_SECOND
    primaries = [o for o, (_, _, p) in zip(offsets, jobs, strict=True) if p]
    others = [o for o, (_, _, p) in zip(offsets, jobs, strict=True) if not p]
    assert max(primaries) < head <= min(others)
    assert max(others) < len(jobs) / FIRST_POLLS_PER_SECOND
    per_second = Counter(int(o) for o in offsets)
    # Hashed offsets: about the rate in every second, never twice it.
    assert max(per_second.values()) <= FIRST_POLLS_PER_SECOND * 1.3


def test_a_short_interval_runs_first_within_it() -> None:
    """A job whose place in the line is later than its interval runs within its interval."""
    jobs = [(f"t{i}/health", 15.0, True) for i in range(2000)]
    jobs += [(f"t{i}/metrics", 5.0, False) for i in range(2000)]
    offsets = first_runs(jobs)
    assert all(o < 5.0 for o, (_, _, p) in zip(offsets, jobs, strict=True) if not p)
