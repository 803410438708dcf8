"""The single source of truth: the latest result of every poll, per target and endpoint.

Writers: the poll jobs (`record`). Readers: the collector, probes, status page, alert rules.
Nothing here does I/O. A lock guards the maps because readers may run in other threads (a
scrape rendered off the event loop).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_HISTORY",
    "DURATION_BUCKETS",
    "MAX_QUEUE_NODES",
    "QUEUE_GAUGES",
    "SERIES_MEMORY",
    "STALE_AFTER_INTERVALS",
    "THROTTLED",
    "Change",
    "EndpointState",
    "State",
]

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from watchdog.api.cloud import CloudMemory, CloudVerdict, cloud_verdict, target_entities
from watchdog.api.endpoints import GRAPH_THROTTLED, Endpoint, primary
from watchdog.api.gateways import (
    Expectation,
    GatewayMemory,
    GatewayVerdict,
    gateway_verdict,
    next_stuck,
)
from watchdog.api.payloads import Health, Labels
from watchdog.api.results import Observation
from watchdog.base.histogram import bucket_index
from watchdog.base.targets import Target
from watchdog.endpoint_state import (
    DEFAULT_HISTORY,
    DURATION_BUCKETS,
    STALE_AFTER_INTERVALS,
    EndpointState,
    Growth,
    Seen,
    SeriesKey,
)
from watchdog.timeline import (
    CANNOT_SEND,
    DEGRADED,
    DOWN,
    NOT_REGISTERED,
    OK,
    TREND_SPAN,
    Timeline,
    Trend,
    capacity_for,
)

# HTTP statuses after which a client should halt and slow its pace.
THROTTLED = (429, 503)
# How long a series or a node unseen is remembered: a counter compared with a value older than
# this would date too much growth at once (and vanished pods would pile up).
SERIES_MEMORY = 3600.0
# The API's queue gauges drawn as trends per node (reference §3.2, app stats).
QUEUE_GAUGES = ("pending_messages", "callback_queue_size")
# More nodes than this per target would be a misconfiguration or churn; their trends are dropped.
MAX_QUEUE_NODES = 32
MAX_QUEUE_VALUE = 3.0e38


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

    def __init__(
        self,
        targets: Sequence[Target],
        clock: Callable[[], float] = time.time,
        expectation: Expectation | None = None,
        history: float = DEFAULT_HISTORY,
    ) -> None:
        self.clock = clock
        self.history = history
        # What the configuration says the gateways should be (alerts.gateway_down and
        # alerts.gateway_degraded): the same for every reader of the gateway verdict.
        self.expectation = expectation or Expectation()
        self._gateways: dict[str, GatewayMemory] = {}
        self._clouds: dict[str, CloudMemory] = {}
        # Queue gauges by target, then (gauge, node).
        self._queues: dict[str, dict[tuple[str, str], Trend]] = {}
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
                    capacity = capacity_for(self.history, interval)
                    old = self._endpoints.get((target.name, endpoint))
                    if old is not None and old.interval == interval:
                        if old.timeline.capacity != capacity:  # a ring grown by a reload
                            recent = old.timeline.count_since(self.clock() - self.history)
                            old.timeline.resize(max(capacity, recent))
                        kept[(target.name, endpoint)] = old
                    elif old is not None:
                        old.interval = interval
                        # Polls made at the old, faster interval within the history stay: a
                        # day's uptime after a reload still covers the day. The ring shrinks to
                        # its new size as they age out, at the next reload or restart.
                        recent = old.timeline.count_since(self.clock() - self.history)
                        old.timeline.resize(max(capacity, recent))
                        kept[(target.name, endpoint)] = old
                    else:
                        kept[(target.name, endpoint)] = EndpointState(interval, Timeline(capacity))
            self._endpoints = kept
            self._gateways = {
                name: memory for name, memory in self._gateways.items() if name in self._targets
            }
            self._clouds = {
                name: memory for name, memory in self._clouds.items() if name in self._targets
            }
            self._queues = {
                name: trends for name, trends in self._queues.items() if name in self._targets
            }

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

    def ready(self) -> bool:
        """True once every target's primary endpoint (`api.endpoints.primary`: what probes,
        verdicts and failure alerts read) has a result; the others follow them at start."""
        with self._lock:
            for target in self._targets.values():
                state = self._endpoints.get((target.name, primary(target)))
                if state is not None and state.last is None:
                    return False
            return True

    def health(self, target: str, now: float | None = None) -> Health | None:
        """The latest health answer of `target`, if it is fresh."""
        when = self.clock() if now is None else now
        observation = self._fresh(target, Endpoint.HEALTH, when)
        return observation.health if observation is not None else None

    def gateway(self, target: str, now: float | None = None) -> GatewayVerdict | None:
        """The gateway verdict on `target`'s latest health answer, if it is fresh."""
        when = self.clock() if now is None else now
        health = self.health(target, when)
        if health is None:
            return None
        with self._lock:
            memory = self._gateways.get(target)
        return gateway_verdict(health, self.expectation, memory, when)

    def gateway_holds_until(self, target: str, now: float) -> float:
        """Until when `gateway(target, now)` holds by time alone (a node connecting too long
        changes it without a poll); infinity when only a poll can change it."""
        with self._lock:
            memory = self._gateways.get(target)
        return next_stuck(memory, self.expectation, now)

    def cloud(self, target: str, now: float | None = None) -> CloudVerdict | None:
        """The verdict on a Cloud target's latest fresh number answer (with its WABA's, when
        that is fresh too), or None without one."""
        when = self.clock() if now is None else now
        phone = self._fresh(target, Endpoint.PHONE_NUMBER, when)
        if phone is None or phone.phone is None:
            return None
        waba = self._fresh(target, Endpoint.WABA, when)
        spec = self.target(target)
        entities = target_entities(spec, phone, waba) if spec is not None else None
        return cloud_verdict(phone.phone, waba.waba if waba is not None else None, entities)

    def cloud_memory(self, target: str) -> CloudMemory | None:
        """What a Cloud target's earlier answers said: drops, the latest usage header."""
        with self._lock:
            return self._clouds.get(target)

    def _fresh(self, target: str, endpoint: Endpoint, now: float) -> Observation | None:
        state = self.get(target, endpoint)
        return state.fresh_success(now) if state is not None else None

    def queues(self, target: str) -> dict[tuple[str, str], Trend]:
        """The queue gauges of `target` per (gauge, node), as trends of the last hour."""
        with self._lock:
            return dict(self._queues.get(target, {}))

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
            state.bucket_counts[bucket_index(result.duration, DURATION_BUCKETS)] += 1
            outcome = result.reason
            if result.usage or observation.phone is not None:
                self._observe_cloud(observation)
            if observation.ok:
                self._record_counters(state, observation)
                outcome = OK
                if observation.health is not None:
                    memory = self._gateways.setdefault(result.target, GatewayMemory())
                    memory.observe(observation.health, result.started_at)
                    outcome = self._judge(observation.health, memory, result.started_at)
                elif observation.samples is not None:
                    self._record_queues(result.target, observation)
                elif observation.phone is not None:
                    outcome = _mark(cloud_verdict(observation.phone))
                elif observation.waba is not None:
                    outcome = _mark(cloud_verdict(None, observation.waba))
                state.last_success = observation
                state.consecutive_failures = 0
                state.consecutive_throttled = 0
            else:
                assert result.reason is not None
                state.errors[result.reason] += 1
                state.consecutive_failures += 1
                # Graph says "slow down" with its throttling codes only; its 503 is a transient
                # error Meta asks to retry, and three in a row page: backing off from it would
                # stretch those three polls of a Cloud number over half an hour.
                throttled = (
                    result.reason == GRAPH_THROTTLED
                    if result.endpoint.spec.kind == "cloud"
                    else result.status_code in THROTTLED
                )
                state.consecutive_throttled = state.consecutive_throttled + 1 if throttled else 0
            assert outcome is not None
            state.timeline.append(result.started_at, outcome, result.status_code, result.duration)
        # A first success is not news; a first failure is.
        changed = was_ok != observation.ok if was_ok is not None else not observation.ok
        return Change(result.target, result.endpoint, changed, observation)

    def _observe_cloud(self, observation: Observation) -> None:
        result = observation.result
        memory = self._clouds.setdefault(result.target, CloudMemory())
        memory.observe_usage(result.usage, result.started_at)
        if observation.phone is not None:
            memory.observe(observation.phone, result.started_at)

    def _judge(self, health: Health, memory: GatewayMemory, at: float) -> str:
        """What one health answer says, as its mark on the timeline."""
        verdict = gateway_verdict(health, self.expectation, memory, at)
        if not verdict.up:
            return NOT_REGISTERED if verdict.not_registered else DOWN
        return DEGRADED if verdict.degraded else OK

    def _record_queues(self, target: str, observation: Observation) -> None:
        assert observation.samples is not None
        values: dict[tuple[str, str], float] = {}
        for sample in observation.samples.samples:
            # Non-finite or beyond what the trend stores (32-bit floats): not a queue depth.
            if sample.name in QUEUE_GAUGES and abs(sample.value) <= MAX_QUEUE_VALUE:
                key = (sample.name, _node_of(sample.labels))
                # Several series of one node (other labels) add up to the node's queue.
                values[key] = values.get(key, 0.0) + sample.value
        if not values:
            return
        at = observation.result.started_at
        trends = self._queues.setdefault(target, {})
        for key, value in values.items():
            trend = trends.get(key)
            if trend is None:
                if len(trends) >= MAX_QUEUE_NODES * len(QUEUE_GAUGES):
                    continue
                trend = trends[key] = Trend()
            trend.add(at, value)
        for key in [k for k, trend in trends.items() if trend.last_at < at - TREND_SPAN]:
            del trends[key]

    @staticmethod
    def _record_counters(state: EndpointState, observation: Observation) -> None:
        samples = observation.samples
        if samples is None:
            return
        at = observation.result.started_at
        series = state.series
        nodes = state.nodes
        deltas: dict[SeriesKey, Growth] = {}
        answered: dict[str, float] = {}
        restarted: set[str] = set()
        in_answer: set[SeriesKey] = set()
        for sample in samples.samples:
            key = (sample.name, sample.labels)
            if key in in_answer:
                continue  # a duplicate in one answer: the first one stands
            in_answer.add(key)
            before = series.get(key)
            series[key] = Seen(sample, at)
            if sample.kind != "counter":
                continue
            node = _node_of(sample.labels)
            answered[node] = at
            if before is None:
                # A series new to a node that answered before started from zero since then
                # (the API omits metrics with no data). A node never seen before (the first
                # poll, another Webapp behind the same URL, a new pod) adds nothing: its
                # lifetime total is not growth.
                since = nodes.get(node)
                if since is not None and sample.value > 0:
                    deltas[key] = Growth(sample.value, since)
            elif sample.value < before.sample.value:
                restarted.add(node)  # this series' Webapp (or Coreapp) restarted
                deltas[key] = Growth(sample.value, before.at)
            elif sample.value > before.sample.value:
                deltas[key] = Growth(sample.value - before.sample.value, before.at)
        nodes.update(answered)
        state.deltas = deltas
        state.duplicates = len(samples.samples) - len(in_answer)
        if restarted:
            state.counter_resets += 1
            # What a restarted node had before is gone: a series of it that comes back later
            # started from zero since the restart, not from its old value (one restart, one
            # count, however many polls its series take to reappear).
            for key in [k for k in series if k not in in_answer and _node_of(k[1]) in restarted]:
                del series[key]
        horizon = at - max(SERIES_MEMORY, 3 * STALE_AFTER_INTERVALS * state.interval)
        if len(series) > len(samples.samples):  # something unseen this time: maybe expired
            for key in [k for k, seen in series.items() if seen.at < horizon]:
                del series[key]
            for node in [n for n, seen_at in nodes.items() if seen_at < horizon]:
                del nodes[node]


def _mark(verdict: CloudVerdict) -> str:
    """A Cloud answer's mark on the timeline."""
    if not verdict.up:
        return CANNOT_SEND
    return DEGRADED if verdict.degraded else OK


def _node_of(labels: Labels) -> str:
    for name, value in labels:
        if name == "node":
            return value
    return ""
