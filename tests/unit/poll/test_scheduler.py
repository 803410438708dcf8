"""The poller: jobs per target and endpoint, one in flight, 429 backoff, sharding, no crashes."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult
from watchdog.base.targets import Target
from watchdog.config.sharding import in_shard, select_shard
from watchdog.poll.lag import LagCollector, LagRecorder
from watchdog.poll.scheduler import Poller, backoff_seconds
from watchdog.state import Change, State

HEALTH_BODY = {"health": {"gateway_status": "connected"}, "meta": {"version": "v2.45.1"}}


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Answers from a script of (status, reason) per endpoint; counts calls and concurrency."""

    def __init__(self, target: Target, clock: FakeClock, reasons: list[str | None]) -> None:
        self.target = target
        self.clock = clock
        self.reasons = reasons
        self.calls: Counter[Endpoint] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.closed = False

    async def poll(self, endpoint: Endpoint) -> PollResult:
        self.calls[endpoint] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            reason = self.reasons.pop(0) if self.reasons else None
            if reason == "boom":
                raise RuntimeError("client bug")
            body = HEALTH_BODY if endpoint is Endpoint.HEALTH else {"metrics": {}}
            if reason is None:
                return PollResult(
                    self.target.name, endpoint, self.clock(), 0.01, 200, None, body=body
                )
            status = int(reason.removeprefix("http_")) if reason.startswith("http_") else None
            return PollResult(
                self.target.name, endpoint, self.clock(), 0.01, status, reason, reason
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def make_poller(
    targets: list[Target], reasons: list[str | None] | None = None
) -> tuple[Poller, FakeClock, dict[str, FakeClient], list[Change]]:
    clock = FakeClock()
    clients: dict[str, FakeClient] = {}
    changes: list[Change] = []

    def factory(target: Target) -> FakeClient:
        clients[target.name] = FakeClient(target, clock, list(reasons or []))
        return clients[target.name]

    state = State(targets, clock=clock)
    return Poller(state, factory, on_change=changes.append, clock=clock), clock, clients, changes


def test_backoff_doubles_and_is_capped() -> None:
    """After n 429s/503s in a row the gap between polls is 2^n intervals, at most 4: the extra
    wait is (2^n - 1) intervals, capped at 3."""
    assert [backoff_seconds(10, n) for n in range(6)] == [0, 10, 30, 30, 30, 30]


def test_poll_records_and_notifies() -> None:
    """A job run records the parsed observation in the state and calls the change listener."""
    target = Target(name="a", url="http://a.test")
    poller, _, _, changes = make_poller([target])
    observation = asyncio.run(poller.poll("a", Endpoint.HEALTH))
    assert observation is not None
    assert observation.ok
    state = poller.state.get("a", Endpoint.HEALTH)
    assert state is not None
    assert state.polls == 1
    assert state.last is not None
    assert state.last.health is not None
    assert [c.endpoint for c in changes] == [Endpoint.HEALTH]


@pytest.mark.parametrize("reason", ["http_429", "http_503"])
def test_backoff_after_429_or_503_skips_runs_until_success(reason: str) -> None:
    """429s and 503s in a row make the job skip runs for a growing time; a success resets it;
    other failures do not slow down; the state shows the backoff."""
    target = Target(name="a", url="http://a.test", health_interval=10)
    poller, clock, clients, _ = make_poller([target], [reason, reason, None, "timeout", None])
    state = poller.state.get("a", Endpoint.HEALTH)
    assert state is not None
    waits = []

    async def scenario() -> list[bool]:
        ran = []
        for step in range(0, 130, 10):
            clock.now = 1_800_000_000.0 + step
            before = clients["a"].calls[Endpoint.HEALTH] if "a" in clients else 0
            await poller.poll("a", Endpoint.HEALTH)
            ran.append(clients["a"].calls[Endpoint.HEALTH] > before)
            waits.append(state.backoff_seconds)
        return ran

    # t=0 throttled (wait 10 more: skip t=10), t=20 throttled (wait 30 more: skip t=30..50),
    # t=60 ok, t=70 timeout (no backoff), then normal.
    ran = asyncio.run(scenario())
    assert ran == [True, False, True, False, False, False, True, True, True, True, True, True, True]
    assert waits[:8] == [10, 10, 30, 30, 30, 30, 0, 0]
    assert state.consecutive_throttled == 0


def test_client_exception_becomes_internal_failure() -> None:
    """A client that raises does not escape the job: the poll is recorded as `internal`."""
    target = Target(name="a", url="http://a.test")
    poller, _, _, _ = make_poller([target], ["boom"])
    observation = asyncio.run(poller.poll("a", Endpoint.METRICS))
    assert observation is not None
    assert observation.result.reason == "internal"
    state = poller.state.get("a", Endpoint.METRICS)
    assert state is not None
    assert state.errors["internal"] == 1


def test_listener_exception_does_not_stop_polling() -> None:
    """A change listener that raises is logged; the poll is still recorded."""
    target = Target(name="a", url="http://a.test")
    clock = FakeClock()

    def broken(_: Change) -> None:
        raise ValueError("listener bug")

    poller = Poller(
        State([target], clock=clock),
        lambda t: FakeClient(t, clock, []),
        on_change=broken,
        clock=clock,
    )
    assert asyncio.run(poller.poll("a", Endpoint.HEALTH)) is not None
    state = poller.state.get("a", Endpoint.HEALTH)
    assert state is not None
    assert state.polls == 1


def test_unknown_target_is_ignored() -> None:
    """A job for a target that was removed does nothing."""
    poller, _, clients, _ = make_poller([Target(name="a", url="http://a.test")])
    assert asyncio.run(poller.poll("gone", Endpoint.HEALTH)) is None
    assert clients == {}


def test_jobs_per_target_and_endpoint_with_limits() -> None:
    """One job per enabled endpoint, max one instance, coalescing, interval from the target."""
    targets = [
        Target(name="a", url="http://a.test", stats_db_interval=300),
        Target(name="b", url="http://b.test", metrics_interval=0),
    ]
    poller, _, _, _ = make_poller(targets)

    async def scenario() -> dict[str, tuple[float, int, bool]]:
        poller.start()
        try:
            return {
                job.id: (job.trigger.interval, job.max_instances, job.coalesce)
                for job in poller.scheduler.get_jobs()
            }
        finally:
            await poller.shutdown()

    jobs = asyncio.run(scenario())
    assert jobs == {
        "a/health": (15.0, 1, True),
        "a/metrics": (30.0, 1, True),
        "a/stats_app": (60.0, 1, True),
        "a/stats_db": (300.0, 1, True),
        "b/health": (15.0, 1, True),
        "b/stats_app": (60.0, 1, True),
    }


def test_scheduler_runs_every_job_once_soon_after_start() -> None:
    """Started for real, every job runs within the start spread, and clients close at shutdown."""
    targets = [Target(name=f"t{i}", url=f"http://t{i}.test") for i in range(3)]
    poller, _, clients, _ = make_poller(targets)
    poller.start_spread = 0.5

    async def scenario() -> None:
        poller.start()
        deadline = asyncio.get_running_loop().time() + 5
        while not poller.state.polled_once():
            assert asyncio.get_running_loop().time() < deadline, "jobs did not all run"
            await asyncio.sleep(0.05)
        await poller.shutdown()

    asyncio.run(scenario())
    assert all(c.closed for c in clients.values())
    assert all(c.max_in_flight == 1 for c in clients.values())


@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_partition_targets(count: int) -> None:
    """Every target lands in exactly one shard, by a hash that does not depend on the process."""
    targets = [Target(name=f"wa-{i}", url=f"http://wa-{i}.test") for i in range(40)]
    shards = [select_shard(targets, i, count) for i in range(count)]
    names = sorted(t.name for shard in shards for t in shard)
    assert names == sorted(t.name for t in targets)
    assert all(shard for shard in shards)
    # CRC-32 of "wa-0" is 2555022445 everywhere; a salted hash() would move it between runs.
    assert in_shard("wa-0", 2555022445 % count, count)
    assert not in_shard("wa-0", (2555022445 + 1) % count, count)
    assert select_shard(targets, 0, 1) == targets


def test_poll_soon_skips_housekeeping_jobs() -> None:
    """poll_soon(target) reschedules that target's poll jobs and ignores argument-less jobs."""
    targets = [Target(name="a", url="http://a.test"), Target(name="b", url="http://b.test")]
    poller, _, _, _ = make_poller(targets)

    async def housekeeping() -> None:
        return None

    async def scenario() -> set[str]:
        poller.start_spread = 4.0
        poller.start()
        poller.every(5, housekeeping, "tick")
        before = {job.id: job.next_run_time for job in poller.scheduler.get_jobs()}
        poller.poll_soon("a")
        after = {job.id: job.next_run_time for job in poller.scheduler.get_jobs()}
        await poller.shutdown()
        return {job_id for job_id in after if after[job_id] != before[job_id]}

    moved = asyncio.run(scenario())
    assert moved == {"a/health", "a/metrics", "a/stats_app"}
    assert "tick" not in moved
    assert not any(job_id.startswith("b/") for job_id in moved)


def test_schedule_lag_is_recorded_for_polls_only() -> None:
    """Each poll job's start is measured against its due time; housekeeping jobs are not."""
    targets = [Target(name="a", url="http://a.test")]
    poller, _, _, _ = make_poller(targets)
    poller.start_spread = 0.2
    housekeeping_runs: list[float] = []

    async def housekeeping() -> None:
        housekeeping_runs.append(asyncio.get_running_loop().time())

    async def scenario() -> None:
        poller.start()
        poller.every(0.2, housekeeping, "tick")
        deadline = asyncio.get_running_loop().time() + 5
        while not (poller.state.polled_once() and len(housekeeping_runs) >= 2):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await poller.shutdown()

    asyncio.run(scenario())
    assert len(housekeeping_runs) >= 2  # ran, yet no lag of its own below
    assert poller.lag.count == 3  # a/health, a/metrics, a/stats_app: one run each
    assert 0 <= poller.lag.max < 1.0


def test_lag_histogram_is_exported() -> None:
    """`watchdog_schedule_lag_seconds` is a histogram with cumulative buckets."""
    recorder = LagRecorder()
    for lag in (0.001, 0.02, 0.3, 7.0):
        recorder.observe(lag)
    registry = CollectorRegistry()
    registry.register(LagCollector(recorder))
    text = generate_latest(registry).decode()
    assert 'watchdog_schedule_lag_seconds_bucket{le="0.005"} 1.0' in text
    assert 'watchdog_schedule_lag_seconds_bucket{le="0.5"} 3.0' in text
    assert 'watchdog_schedule_lag_seconds_bucket{le="+Inf"} 4.0' in text
    assert "watchdog_schedule_lag_seconds_count 4.0" in text
    assert recorder.max == 7.0
