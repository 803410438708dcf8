"""The Prometheus view of the state: metric families built afresh on every scrape.

The collector is pure: it reads the state, builds every family in one pass, and keeps nothing
between scrapes. Two kinds of families come out:

- the watchdog's own (`whatsapp_up`, `whatsapp_gateway_status`, poll durations and errors, the
  API's version, `watchdog_*` bookkeeping), labelled `target` (+ `endpoint`, `node`, ...);
- the API's own metrics and stats, re-exported from the last fresh successful poll behind a
  prefix: `/metrics` -> `whatsapp_<name>`, `/v1/stats/app` -> `whatsapp_app_<name>`,
  `/v1/stats/db` -> `whatsapp_<name>` (names already start with `db_`).

Every series of a target also carries the target's user labels. Nothing the API sends can make
a scrape fail: a family whose exposed names clash with a family already built is dropped (the
first one wins; own families come first, then stats app, stats db and `/metrics`, so the
endpoint that documents a name owns it), as are duplicate series and values a counter or
summary cannot carry; `watchdog_dropped_series` counts them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from watchdog import payloads
from watchdog.results import Endpoint
from watchdog.state import DURATION_BUCKETS, EndpointState, State
from watchdog.targets import Target

__all__ = ["GATEWAY_STATUSES", "WatchdogCollector", "reexported_name"]

# The values of `whatsapp_gateway_status`'s `status` label: the documented five, `error` for a
# node whose entry is an errors object, `unknown` for anything else.
GATEWAY_STATUSES = (*payloads.GATEWAY_STATES, "error", "unknown")

# Re-exported endpoints, in the order they claim names (see the module docstring).
_REEXPORTED = (Endpoint.STATS_APP, Endpoint.STATS_DB, Endpoint.METRICS)
_PREFIXES = {
    Endpoint.METRICS: "whatsapp_",
    Endpoint.STATS_APP: "whatsapp_app_",
    Endpoint.STATS_DB: "whatsapp_",
}
# The sample names a family of each type occupies in the exposition formats; two families may
# not share one (the OpenMetrics parser's rule, which is also what keeps Prometheus' text
# format unambiguous).
_SUFFIXES = {
    "counter": ("", "_total", "_created"),
    "gauge": ("",),
    "unknown": ("",),
    "summary": ("", "_sum", "_count", "_created"),
    "histogram": ("", "_bucket", "_sum", "_count", "_created"),
    "info": ("", "_info"),
}
# `le` values in Go's float format, which OpenMetrics requires: for bounds this small Python's
# repr is the same ("0.01", "1.0", "10.0").
_LE = (*(repr(float(b)) for b in DURATION_BUCKETS), "+Inf")

Labels = dict[str, str]


def reexported_name(endpoint: Endpoint, name: str, kind: str) -> str:
    """The family name an API metric `name` of `kind` gets (counters lose a `_total` suffix,
    which the exposition adds back)."""
    if kind == "counter":
        name = name.removesuffix("_total")
    return _PREFIXES[endpoint] + name


def _cached(help_text: str, endpoint: Endpoint) -> str:
    suffix = f"cached from the last poll of {endpoint.path}"
    return f"{help_text} ({suffix})" if help_text else suffix.capitalize()


@dataclass
class _Exposition:
    """The families of one scrape, and which exposed sample names each one occupies."""

    families: dict[str, Metric] = field(default_factory=dict)
    owners: dict[str, object] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def claim(self, family: Metric, owner: object) -> Metric | None:
        """`family` registered under `owner`, the family `owner` registered before under the
        same name, or None when the name belongs to another owner or clashes."""
        existing = self.families.get(family.name)
        if existing is not None:
            return existing if self.owners[family.name] == owner else None
        names = [family.name + suffix for suffix in _SUFFIXES[family.type]]
        if not self.taken.isdisjoint(names):
            return None
        self.taken.update(names)
        self.families[family.name] = family
        self.owners[family.name] = owner
        return family

    def own(self, family: Metric) -> Metric:
        claimed = self.claim(family, family.name)
        assert claimed is not None, f"own family {family.name} registered twice"
        return claimed

    def nonempty(self) -> list[Metric]:
        return [f for f in self.families.values() if f.samples]


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
        return _Scrape(self._clock()).build(self._state.items())


class _Scrape:
    """One scrape's worth of families, built in a single pass over the state."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.out = _Exposition()
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

    def build(self, items: Sequence[tuple[Target, Endpoint, EndpointState]]) -> list[Metric]:
        bases: dict[str, Labels] = {}
        fresh: dict[Endpoint, list[tuple[Labels, EndpointState]]] = {e: [] for e in _REEXPORTED}
        for target, endpoint, state in items:
            base = bases.get(target.name)
            if base is None:
                base = bases[target.name] = {"target": target.name, **target.labels}
            self._poll_families(base, endpoint, state)
            if endpoint is Endpoint.HEALTH:
                self._health_families(base, state)
            elif state.fresh(self.now):
                fresh[endpoint].append((base, state))
        for endpoint in _REEXPORTED:
            for base, state in fresh[endpoint]:
                self._reexport(base, endpoint, state)
        return self.out.nonempty()

    # -- the watchdog's own families ----------------------------------------------------------

    def _poll_families(self, base: Labels, endpoint: Endpoint, state: EndpointState) -> None:
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
        for reason, count in sorted(dict(state.errors).items()):
            reason_labels = {**labels, "reason": reason}
            self.errors.samples.append(
                Sample("whatsapp_poll_errors_total", reason_labels, float(count))
            )
        if endpoint is not Endpoint.HEALTH:
            resets = float(state.counter_resets)
            self.resets.samples.append(Sample("watchdog_api_restarts_total", labels, resets))

    def _health_families(self, base: Labels, state: EndpointState) -> None:
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

    # -- the API's metrics and stats ----------------------------------------------------------

    def _reexport(self, base: Labels, endpoint: Endpoint, state: EndpointState) -> None:
        groups: dict[str, list[payloads.Sample]] = {}
        for sample in state.current_samples(self.now):
            group = groups.get(sample.name)
            if group is None:
                groups[sample.name] = [sample]
            else:
                group.append(sample)
        dropped = state.duplicates
        for name, group in groups.items():
            kind = group[0].kind
            if kind == "counter":
                stem, partner = _summary_parts(name, groups)
                if stem is not None:
                    if name.endswith("_sum"):
                        dropped += self._summary(base, endpoint, stem, group, groups[partner])
                    continue
            dropped += self._plain(base, endpoint, name, kind, group)
        labels = {**base, "endpoint": endpoint.value}
        self.dropped.samples.append(Sample("watchdog_dropped_series", labels, float(dropped)))

    def _plain(
        self,
        base: Labels,
        endpoint: Endpoint,
        name: str,
        kind: payloads.Kind,
        group: list[payloads.Sample],
    ) -> int:
        """A counter, gauge or untyped API metric; returns how many series were dropped."""
        family_name = reexported_name(endpoint, name, kind)
        help_text = _cached(group[0].help, endpoint)
        family: Metric
        if kind == "counter":
            family = CounterMetricFamily(family_name, help_text)
            sample_name = family_name + "_total"
        elif kind == "gauge":
            family = GaugeMetricFamily(family_name, help_text)
            sample_name = family_name
        else:
            family = UnknownMetricFamily(family_name, help_text)
            sample_name = family_name
        claimed = self.out.claim(family, (endpoint, name, kind))
        if claimed is None:
            return len(group)
        samples = claimed.samples
        seen: set[frozenset[tuple[str, str]]] = set()
        dropped = 0
        for sample in group:
            # Per-node stats may disagree on a metric's type; counters cannot go negative.
            if sample.kind != kind or (kind == "counter" and sample.value < 0):
                dropped += 1
                continue
            labels = _labels(base, sample.labels)
            key = frozenset(labels.items())
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            samples.append(Sample(sample_name, labels, sample.value))
        return dropped

    def _summary(
        self,
        base: Labels,
        endpoint: Endpoint,
        stem: str,
        sums: list[payloads.Sample],
        counts: list[payloads.Sample],
    ) -> int:
        """A `<stem>_sum` + `<stem>_count` counter pair as one summary family."""
        family_name = _PREFIXES[endpoint] + stem
        helps = dict.fromkeys(h for h in (counts[0].help, sums[0].help) if h)
        family = SummaryMetricFamily(family_name, _cached("; ".join(helps), endpoint))
        claimed = self.out.claim(family, (endpoint, stem, "summary"))
        if claimed is None:
            return len(sums) + len(counts)
        by_labels: dict[frozenset[tuple[str, str]], list[payloads.Sample | None]] = {}
        dropped = 0
        for index, group in enumerate((sums, counts)):
            for sample in group:
                key = frozenset(sample.labels)
                pair = by_labels.setdefault(key, [None, None])
                if pair[index] is not None or sample.kind != "counter":
                    dropped += 1
                else:
                    pair[index] = sample
        samples = claimed.samples
        sum_name, count_name = family_name + "_sum", family_name + "_count"
        seen: set[frozenset[tuple[str, str]]] = set()
        for sum_sample, count_sample in by_labels.values():
            some = sum_sample or count_sample
            assert some is not None
            labels = _labels(base, some.labels)
            key = frozenset(labels.items())
            if key in seen:
                dropped += (sum_sample is not None) + (count_sample is not None)
                continue
            seen.add(key)
            # A series' _sum and _count stay adjacent (OpenMetrics groups samples by labels).
            if sum_sample is not None:
                if sum_sample.value >= 0:
                    samples.append(Sample(sum_name, labels, sum_sample.value))
                else:
                    dropped += 1
            if count_sample is not None:
                value = count_sample.value
                if value >= 0 and not math.isinf(value) and value.is_integer():
                    samples.append(Sample(count_name, labels, value))
                else:
                    dropped += 1
        return dropped


def _summary_parts(name: str, groups: dict[str, list[payloads.Sample]]) -> tuple[str | None, str]:
    """`(stem, partner)` when counter `name` is half of a `<stem>_sum`/`<stem>_count` counter
    pair present in `groups`, else `(None, "")`."""
    if name.endswith("_sum"):
        stem, partner = name[:-4], name[:-4] + "_count"
    elif name.endswith("_count"):
        stem, partner = name[:-6], name[:-6] + "_sum"
    else:
        return None, ""
    other = groups.get(partner)
    if stem and other is not None and other[0].kind == "counter":
        return stem, partner
    return None, ""


def _labels(base: Labels, api: payloads.Labels) -> Labels:
    """The target's labels plus the API's; an API label named like one of the target's is
    renamed `exported_<name>` (Prometheus' convention), repeatedly if that is taken too."""
    labels = dict(base)
    labels.update(api)
    if len(labels) == len(base) + len(api):
        return labels
    # Rare: a collision. Place the API's own names first, then the renamed ones.
    labels = dict(base)
    clashing = []
    for key, value in api:
        if key in base:
            clashing.append((key, value))
        else:
            labels[key] = value
    for key, value in clashing:
        renamed = "exported_" + key
        while renamed in labels:
            renamed = "exported_" + renamed
        labels[renamed] = value
    return labels
