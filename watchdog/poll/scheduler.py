"""Poll jobs on an APScheduler 3 `AsyncIOScheduler`: one job per target and endpoint.

Respecting the API's limits is the scheduler's job: `max_instances=1` keeps at most one request
in flight per target and endpoint, `coalesce=True` turns a backlog of missed runs into one run,
and after a 429 or a 503 the endpoint backs off exponentially (capped) until it answers
again: the reference's advice for both is to halt and slow the pace (§5.3), and an overloaded
API should not get the watchdog's polls at the full rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watchdog.api.endpoints import GRAPH_THROTTLED, Endpoint, primary
from watchdog.api.graph_usage import usage_wait
from watchdog.api.results import Observation, PollResult, observe
from watchdog.base.log import get_logger
from watchdog.base.targets import Target
from watchdog.poll.lag import LagRecorder
from watchdog.poll.trigger import (
    MAX_START_SPREAD,
    PhasedInterval,
    first_runs,
    phase,
)
from watchdog.state import Change, State

log = get_logger(__name__)

# Backoff after 429s and 503s: the gap between polls doubles with each one in a row, from two
# intervals up to this many, so a recovery is still seen within this many intervals. An API
# answering 503 for two minutes gets under half the polls it gets when healthy
# (`benchmarks/backoff.py`).
MAX_BACKOFF_INTERVALS = 4


class Client(Protocol):
    async def poll(self, endpoint: Endpoint) -> PollResult: ...
    async def aclose(self) -> None: ...


ClientFactory = Callable[[Target], Client]
ChangeListener = Callable[[Change], None]


def backoff_seconds(interval: float, consecutive: int) -> float:
    """How long to wait, beyond the interval, after the n-th 429/503 in a row (0 for none)."""
    if consecutive <= 0:
        return 0.0
    factor = min(2**consecutive, MAX_BACKOFF_INTERVALS)
    # One interval is the normal schedule; back off for the rest.
    return float(interval * (factor - 1))


class Poller:
    """Owns the jobs and the per-target clients; writes every observation to the state."""

    def __init__(
        self,
        state: State,
        client_factory: ClientFactory,
        *,
        on_change: ChangeListener | None = None,
        clock: Callable[[], float] = time.time,
        start_spread: float = MAX_START_SPREAD,
    ) -> None:
        self.state = state
        self.start_spread = start_spread
        self._factory = client_factory
        self._on_change = on_change
        self.clock = clock
        self._clients: dict[str, Client] = {}
        # Clients of targets removed or redefined while running, closed by `close_retired`.
        self._retired: list[Client] = []
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.lag = LagRecorder()
        self._housekeeping: set[str] = set()
        self.scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        self._in_flight: set[asyncio.Task[object]] = set()

    def _submitted(self, event: JobSubmissionEvent) -> None:
        # Submission happens on the event loop right before the job runs: its delay behind
        # the due time is the schedule lag. Housekeeping jobs are not polls.
        if event.job_id in self._housekeeping or not event.scheduled_run_times:
            return
        due = event.scheduled_run_times[-1]
        self.lag.observe((datetime.now(UTC) - due).total_seconds())

    def client(self, target: Target) -> Client:
        client = self._clients.get(target.name)
        if client is None:
            client = self._factory(target)
            self._clients[target.name] = client
        return client

    def start(self) -> None:
        """Add a job per target and endpoint and start the scheduler (needs a running loop)."""
        self.add_target_jobs(self.state.targets)
        self.scheduler.start()

    def add_target_jobs(self, targets: Iterable[Target]) -> None:
        """Schedule the poll jobs of targets, together: all at start, or those a reload added
        or redefined."""
        now = datetime.now(UTC)
        jobs = [(t, e, e.interval(t)) for t in targets for e in Endpoint if e.interval(t) > 0]
        ids = [f"{target.name}/{endpoint.value}" for target, endpoint, _ in jobs]
        # Sized by the jobs added together: all of them at start, a reload's new ones later.
        offsets = first_runs(
            [(job_id, interval, endpoint is primary(target))
             for job_id, (target, endpoint, interval) in zip(ids, jobs, strict=True)],
            self.start_spread,
        )  # fmt: skip
        for job_id, (target, endpoint, interval), offset in zip(ids, jobs, offsets, strict=True):
            first = now + timedelta(seconds=offset)
            self.scheduler.add_job(
                self.poll,
                PhasedInterval(interval, phase(job_id, interval), first),
                args=(target.name, endpoint),
                id=job_id,
                name=job_id,
                max_instances=1,
                coalesce=True,
                # A run that starts late is still worth doing; a run later than a whole
                # interval is replaced by the next one.
                misfire_grace_time=max(1, int(interval)),
                replace_existing=True,
            )

    def remove_target(self, name: str) -> None:
        """Drop a target's poll jobs and backoff, and retire its client (see `close_retired`).

        Synchronous, so that a reload swaps targets without a poll seeing half of the change.
        """
        # By id (as `add_target_jobs` names them), not by a scan of every job: a reload that
        # changes all of 2,000 targets would otherwise look at 6,000 jobs 2,000 times.
        for endpoint in Endpoint:
            job = self.scheduler.get_job(f"{name}/{endpoint.value}")
            if job is not None:
                job.remove()
        client = self._clients.pop(name, None)
        if client is not None:
            self._retired.append(client)

    async def close_retired(self, grace: float = 10.0) -> None:
        """Close retired clients once the polls now in flight are done (up to `grace` s)."""
        retired = list(self._retired)
        if not retired:
            return
        current = asyncio.current_task()
        pending = {task for task in self._in_flight if not task.done() and task is not current}
        if pending:
            await asyncio.wait(pending, timeout=grace)
        for client in retired:
            # Still listed if this was cancelled while waiting (`shutdown` closes them then);
            # gone if a concurrent call closed it already.
            if client in self._retired:
                self._retired.remove(client)
                await client.aclose()

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], job_id: str) -> None:
        """Run a housekeeping coroutine on the event loop every `seconds` (after start)."""
        self._housekeeping.add(job_id)
        self.scheduler.add_job(
            job, "interval", seconds=seconds, id=job_id, max_instances=1, coalesce=True,
            replace_existing=True,
        )  # fmt: skip

    def poll_soon(self, target: str | None = None) -> None:
        """Run the jobs of `target` (or of every target) now instead of at their next time.

        Asked for explicitly, so not held back by a backoff; the next 429/503 in a row backs
        off longer as usual."""
        now = datetime.now(UTC)
        for job in self.scheduler.get_jobs():
            # Poll jobs take (target, endpoint); housekeeping jobs take no arguments.
            if len(job.args) == 2 and (target is None or job.args[0] == target):
                state = self.state.get(*job.args)
                if state is not None:
                    state.backoff_until = 0.0
                job.modify(next_run_time=now)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop scheduling, let polls in flight finish (up to `grace` s), close the clients."""
        # Pause first: APScheduler's shutdown cancels the jobs still running, and the polls
        # in flight should finish and be recorded.
        if self.scheduler.running:
            self.scheduler.pause()
        pending = {task for task in self._in_flight if not task.done()}
        if pending:
            log.info("waiting_for_polls_in_flight", polls=len(pending))
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        clients = [*self._clients.values(), *self._retired]
        self._clients, self._retired = {}, []
        for client in clients:
            await client.aclose()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    async def poll(self, target_name: str, endpoint: Endpoint) -> Observation | None:
        """One job run: poll, parse, record, notify. Never raises (the job's top level)."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        target = self.state.target(target_name)
        if target is None:
            return None
        now = self.clock()
        state = self.state.get(target_name, endpoint)
        # Half an interval of tolerance: job runs drift a little around their nominal times.
        if state is not None and now < state.backoff_until - endpoint.interval(target) / 2:
            return None
        try:
            result = await self.client(target).poll(endpoint)
            observation = observe(result)
        except Exception as exc:  # the job's top level: a bug must not stop the schedule
            log.exception("poll_crashed", target=target_name, endpoint=endpoint.value)
            observation = Observation(
                PollResult(
                    target_name,
                    endpoint,
                    now,
                    self.clock() - now,
                    None,
                    "internal",
                    f"internal error: {type(exc).__name__}",
                )
            )
        if self.state.target(target_name) != target:
            # A reload removed or redefined the target while this poll ran: the answer is the
            # old definition's (another URL, maybe), so it is not recorded.
            return None
        change = self.state.record(observation)
        self._after(target, endpoint, observation, change)
        return observation

    def _after(
        self, target: Target, endpoint: Endpoint, observation: Observation, change: Change | None
    ) -> None:
        result = observation.result
        state = self.state.get(target.name, endpoint)
        interval = endpoint.interval(target)
        wait = max(
            backoff_seconds(interval, state.consecutive_throttled if state else 0),
            # A Cloud answer says how much of the hourly allowance is used: slow down before
            # Meta throttles, and hold off until it lets calls through again.
            usage_wait(result.usage, interval, throttled=result.reason == GRAPH_THROTTLED),
        )
        if state is not None:
            # The earliest next poll: the normal interval plus the backoff.
            state.backoff_seconds = wait
            state.backoff_until = result.started_at + interval + wait if wait > 0 else 0.0
            if endpoint.spec.kind == "cloud":
                # Meta asked for this pace (throttling, usage), minutes to an hour long: the
                # answer before it is as fresh as the schedule allows, so the number is not
                # shown as unknown, nor its alerts resolved, for polls left out on purpose. An
                # On-Prem backoff lasts seconds and its answers (429, 503) have rules of their
                # own; its staleness stays three intervals.
                state.paced_seconds = wait
        fields = {
            "target": target.name,
            "endpoint": endpoint.value,
            "ok": result.ok,
            "status": result.status_code,
            "duration_ms": round(result.duration * 1000, 1),
        }
        if not result.ok:
            fields.update(reason=result.reason, detail=result.detail)
            if result.api_error is not None:
                fields.update(api_error_code=result.api_error.code)
            if wait > 0:
                fields.update(backoff_s=round(wait, 1))
        if change is not None and change.ok_changed:
            # Transitions are what people read; steady state is debug noise.
            (log.info if result.ok else log.warning)("poll_state_changed", **fields)
        else:
            log.debug("poll_finished", **fields)
        if change is not None and self._on_change is not None:
            try:
                self._on_change(change)
            except Exception:  # a listener's bug must not stop polling
                log.exception("change_listener_failed", target=target.name)
