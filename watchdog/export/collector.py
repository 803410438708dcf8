"""The Prometheus view of the state: metric families built afresh on every scrape.

The collector is pure: it reads the state, builds every family in one pass, and keeps nothing
between scrapes. Two kinds of families come out:

- the watchdog's own (`whatsapp_up`, `whatsapp_gateway_status`, poll durations and errors, the
  API's version, `watchdog_*` bookkeeping), labelled `target` (+ `endpoint`, `node`, ...), and
  for Cloud API targets `whatsapp_cloud_*` (`watchdog.export.cloud`);
- the API's own metrics and stats, re-exported behind a prefix (`watchdog.export.reexport`): each
  series with its latest value while fresh, whichever Webapp behind the URL reported it.

Every series of a target also carries the target's user labels. Nothing the API sends can make
a scrape fail: a family whose exposed names clash with a family already built is dropped (the
first one wins; own families come first, then stats app, stats db and `/metrics`, so the
endpoint that documents a name owns it), as are duplicate series and values a counter or
summary cannot carry; `watchdog_dropped_series` counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from watchdog.api import payloads
from watchdog.api.cloud import CloudMemory
from watchdog.api.diagnosis import diagnose
from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import GatewayVerdict
from watchdog.base.targets import Target
from watchdog.export.cloud import CloudFamilies
from watchdog.export.reexport import REEXPORTED, Exposition, reexport
from watchdog.state import DURATION_BUCKETS, EndpointState, State

__all__ = ["GATEWAY_STATUSES", "Families", "WatchdogCollector"]

# The values of `whatsapp_gateway_status`'s `status` label: the documented five, `error` for a
# node whose entry is an errors object, `unknown` for anything else.
GATEWAY_STATUSES = (*payloads.GATEWAY_STATES, "error", "unknown")

# `le` values in Go's float format, which OpenMetrics requires: for bounds this small Python's
# repr is the same ("0.01", "1.0", "10.0").
_LE = (*(repr(float(b)) for b in DURATION_BUCKETS), "+Inf")

Labels = dict[str, str]


class WatchdogCollector(Collector):
    """Renders a `State` as Prometheus metric families; register it on a `CollectorRegistry`."""

    def __init__(self, state: State, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: the families depend on what the API answered, and an
        # empty description keeps the registry from calling `collect` at registration.
        return []

    def collect(self) -> Iterable[Metric]:
        state = self._state
        return Families(self._clock(), state.gateway, state.cloud_memory).build(state.items())


class Families:
    """One scrape's worth of families, built in a single pass over the state (`build`), or
    one target's endpoint at a time (`poll_families`, `health_families`, `gateway_families`,
    `cloud.add`: what `watchdog.export.parts` keeps per target, emptying them in between with
    `restart`)."""

    def __init__(
        self,
        now: float,
        gateway: Callable[[str, float], GatewayVerdict | None],
        cloud_memory: Callable[[str], CloudMemory | None],
    ) -> None:
        self.now = now
        self._gateway = gateway
        self._cloud_memory = cloud_memory
        self.out = Exposition()
        out = self.out
        self.up = out.own(
            GaugeMetricFamily("whatsapp_up", "1 if the last poll of the endpoint succeeded, else 0")
        )
        self.gateway = out.own(
            GaugeMetricFamily(
                "whatsapp_gateway_status",
                "Gateway status of each node in the last fresh health answer: 1 for the "
                "current status, 0 for the others",
            )
        )
        self.duration = out.own(
            HistogramMetricFamily(
                "whatsapp_poll_duration_seconds", "Duration of the watchdog's polls"
            )
        )
        self.last_success = out.own(
            GaugeMetricFamily(
                "whatsapp_last_success_timestamp_seconds",
                "When the last successful poll of the endpoint started (Unix time)",
            )
        )
        self.errors = out.own(CounterMetricFamily("whatsapp_poll_errors", "Failed polls by reason"))
        self.failing = out.own(
            GaugeMetricFamily(
                "whatsapp_poll_failing",
                "1 while the last poll of the endpoint failed, labelled with what the answer "
                "shows (diagnosis); absent while it succeeds",
            )
        )
        self.connected = out.own(
            GaugeMetricFamily(
                "whatsapp_gateways_connected",
                "Coreapps (or the single instance) connected or connecting, in the last fresh "
                "health answer",
            )
        )
        self.expected = out.own(
            GaugeMetricFamily(
                "whatsapp_gateways_expected",
                "Connected gateways expected: WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS, or "
                "the shards seen when the deployment first showed multiconnect, else 1",
            )
        )
        self.degraded = out.own(
            GaugeMetricFamily(
                "whatsapp_gateway_degraded",
                "1 for a node with a problem that does not stop messages yet: problem="
                "primary_master (multiconnect primary master not connected) or connecting "
                "(connecting for longer than the limit)",
            )
        )
        self.backoff = out.own(
            GaugeMetricFamily(
                "whatsapp_poll_backoff_seconds",
                "Extra wait before the next poll after 429/503 answers (0: on schedule)",
            )
        )
        self.info = out.own(
            InfoMetricFamily(
                "whatsapp_api",
                "Version and status of the API, from the last successful health answer",
            )
        )
        self.resets = out.own(
            CounterMetricFamily(
                "watchdog_api_restarts",
                "Polls in which the API's counters went backwards (the API restarted)",
            )
        )
        self.dropped = out.own(
            GaugeMetricFamily(
                "watchdog_dropped_series",
                "Series of the last poll not re-exported: name clash with another family, "
                "duplicate labels, or a value the metric type cannot carry",
            )
        )
        # Own families too, registered before any re-export can claim their names.
        self.cloud = CloudFamilies(out)

    def restart(self, now: float) -> None:
        """Empty every family, for the families of another target's endpoint at `now`:
        cheaper than building the twenty of them again for each of thousands of polls."""
        self.now = now
        for family in self.out.families.values():
            family.samples = []

    def build(self, items: Sequence[tuple[Target, Endpoint, EndpointState]]) -> list[Metric]:
        bases: dict[str, Labels] = {}
        fresh: dict[Endpoint, list[tuple[Labels, EndpointState]]] = {e: [] for e in REEXPORTED}
        # A Cloud target's families read its endpoints together (the number's and the WABA's
        # health), so they are built once all of them are seen.
        clouds: dict[str, tuple[Target, Labels, dict[Endpoint, EndpointState]]] = {}
        for target, endpoint, state in items:
            base = bases.get(target.name)
            if base is None:
                base = bases[target.name] = {"target": target.name, **target.labels}
            self.poll_families(base, endpoint, state)
            if endpoint.spec.kind == "cloud":
                clouds.setdefault(target.name, (target, base, {}))[2][endpoint] = state
            elif endpoint is Endpoint.HEALTH:
                self.health_families(base, state)
                self.gateway_families(base, self._gateway(target.name, self.now))
            elif state.fresh(self.now):
                fresh[endpoint].append((base, state))
        for name, (spec, base, endpoints) in clouds.items():
            self.cloud.add(spec, base, self.now, endpoints, self._cloud_memory(name))
        for endpoint in REEXPORTED:
            for base, state in fresh[endpoint]:
                self._reexport(base, endpoint, state)
        return self.out.nonempty()

    # -- the watchdog's own families ----------------------------------------------------------

    def poll_families(self, base: Labels, endpoint: Endpoint, state: EndpointState) -> None:
        labels = {**base, "endpoint": endpoint.value}
        last = state.last
        if last is not None:
            self.up.samples.append(Sample("whatsapp_up", labels, 1.0 if last.ok else 0.0))
        success_at = state.last_success_at
        if success_at is not None:
            name = "whatsapp_last_success_timestamp_seconds"
            self.last_success.samples.append(Sample(name, labels, success_at))
        # Copies: a poll may be recorded in another thread while this scrape reads.
        counts = list(state.bucket_counts)
        duration_sum = state.duration_sum
        samples = self.duration.samples
        total = 0
        for le, count in zip(_LE, counts, strict=True):
            total += count
            bucket = {**labels, "le": le}
            samples.append(Sample("whatsapp_poll_duration_seconds_bucket", bucket, float(total)))
        samples.append(Sample("whatsapp_poll_duration_seconds_count", labels, float(total)))
        samples.append(Sample("whatsapp_poll_duration_seconds_sum", labels, duration_sum))
        self.backoff.samples.append(
            Sample("whatsapp_poll_backoff_seconds", labels, state.backoff_seconds)
        )
        diagnosis = diagnose(last.result) if last is not None else None
        if diagnosis is not None:
            failing = {**labels, "diagnosis": diagnosis.failure.value}
            self.failing.samples.append(Sample("whatsapp_poll_failing", failing, 1.0))
        for reason, count in sorted(dict(state.errors).items()):
            reason_labels = {**labels, "reason": reason}
            self.errors.samples.append(
                Sample("whatsapp_poll_errors_total", reason_labels, float(count))
            )
        if endpoint in REEXPORTED:  # only the API's own counters can go backwards
            resets = float(state.counter_resets)
            self.resets.samples.append(Sample("watchdog_api_restarts_total", labels, resets))

    def health_families(self, base: Labels, state: EndpointState) -> None:
        success = state.last_success
        health = success.health if success is not None else None
        if health is None:
            return
        if health.version is not None or health.api_status is not None:
            info = {**base, "version": health.version or "", "api_status": health.api_status or ""}
            self.info.samples.append(Sample("whatsapp_api_info", info, 1.0))
        if not state.fresh(self.now):
            return
        samples = self.gateway.samples
        seen: set[str] = set()
        for node in health.nodes:
            # Node keys are cut to the label length limit, so two could meet; one series each.
            if node.node in seen:
                continue
            seen.add(node.node)
            current = "error" if node.error is not None else node.known_status
            node_labels = {**base, "node": node.node, "role": node.role or ""}
            for status in GATEWAY_STATUSES:
                value = 1.0 if status == current else 0.0
                samples.append(
                    Sample("whatsapp_gateway_status", {**node_labels, "status": status}, value)
                )

    def gateway_families(self, base: Labels, verdict: GatewayVerdict | None) -> None:
        if verdict is None:
            return
        self.connected.samples.append(
            Sample("whatsapp_gateways_connected", base, float(verdict.connected))
        )
        self.expected.samples.append(
            Sample("whatsapp_gateways_expected", base, float(verdict.expected))
        )
        seen: set[tuple[str, str]] = set()
        for item in verdict.degraded:
            if (item.node, item.problem) in seen:
                continue
            seen.add((item.node, item.problem))
            labels = {**base, "node": item.node, "problem": item.problem}
            self.degraded.samples.append(Sample("whatsapp_gateway_degraded", labels, 1.0))

    # -- the API's metrics and stats ----------------------------------------------------------

    def _reexport(self, base: Labels, endpoint: Endpoint, state: EndpointState) -> None:
        dropped = reexport(self.out, base, endpoint, state.current_samples(self.now))
        labels = {**base, "endpoint": endpoint.value}
        total = float(dropped + state.duplicates)
        self.dropped.samples.append(Sample("watchdog_dropped_series", labels, total))
