"""The API's own metrics and stats re-exported behind a prefix, into one scrape's families.

`/metrics` -> `whatsapp_<name>`, `/v1/stats/app` -> `whatsapp_app_<name>`, `/v1/stats/db` ->
`whatsapp_<name>` (names already start with `db_`); a `<x>_sum`/`<x>_count` counter pair becomes
one summary family `<x>`. Nothing the API sends can make a scrape fail: a family whose exposed
names clash with one already built is dropped (the first one wins), as are duplicate series and
values a counter or summary cannot carry; the caller counts them in `watchdog_dropped_series`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.samples import Sample

from watchdog.api import payloads
from watchdog.api.endpoints import Endpoint

__all__ = ["REEXPORTED", "Candidate", "Exposition", "candidates", "reexport", "reexported_name"]

Labels = dict[str, str]

# Re-exported endpoints, in the order they claim names (see the module docstring).
REEXPORTED = tuple(
    sorted((e for e in Endpoint if e.spec.prefix is not None), key=lambda e: e.spec.claim)
)
_PREFIXES = {endpoint: endpoint.spec.prefix or "" for endpoint in REEXPORTED}
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
class Exposition:
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
        if not self.claims(family.name, family.type, owner):
            return None
        self.families[family.name] = family
        return family

    def claims(self, name: str, kind: str, owner: object) -> bool:
        """Whether a family `name` of `kind` is `owner`'s: claimed now, or by `owner` before."""
        known = self.owners.get(name)
        if known is not None:
            return bool(known == owner)
        names = [name + suffix for suffix in _SUFFIXES[kind]]
        if not self.taken.isdisjoint(names):
            return False
        self.taken.update(names)
        self.owners[name] = owner
        return True

    def own(self, family: Metric) -> Metric:
        claimed = self.claim(family, family.name)
        assert claimed is not None, f"own family {family.name} registered twice"
        return claimed

    def nonempty(self) -> list[Metric]:
        return [f for f in self.families.values() if f.samples]


@dataclass
class Candidate:
    """One re-exported family of one target's endpoint, before it claims its name: `size`
    series are dropped if the name is not its own, `dropped` of them if it is."""

    family: Metric
    owner: object
    size: int
    dropped: int


def reexport(
    out: Exposition, base: Labels, endpoint: Endpoint, samples: Iterable[payloads.Sample]
) -> int:
    """Add the API's samples of one endpoint of one target; returns how many were dropped."""
    dropped = 0
    for candidate in candidates(base, endpoint, samples):
        claimed = out.claim(candidate.family, candidate.owner)
        if claimed is None:
            dropped += candidate.size
            continue
        if claimed is not candidate.family:
            claimed.samples.extend(candidate.family.samples)
        dropped += candidate.dropped
    return dropped


def candidates(
    base: Labels, endpoint: Endpoint, samples: Iterable[payloads.Sample]
) -> list[Candidate]:
    """The families the API's samples of one endpoint of one target make, in claim order."""
    groups: dict[str, list[payloads.Sample]] = {}
    for sample in samples:
        group = groups.get(sample.name)
        if group is None:
            groups[sample.name] = [sample]
        else:
            group.append(sample)
    found: list[Candidate] = []
    for name, group in groups.items():
        kind = group[0].kind
        if kind == "counter":
            stem, partner = _summary_parts(name, groups)
            if stem is not None:
                if name.endswith("_sum"):
                    found.append(
                        _summary(base, endpoint, stem=stem, sums=group, counts=groups[partner])
                    )
                continue
        found.append(_plain(base, endpoint, name=name, kind=kind, group=group))
    return found


def _plain(
    base: Labels,
    endpoint: Endpoint,
    *,
    name: str,
    kind: payloads.Kind,
    group: list[payloads.Sample],
) -> Candidate:
    """A counter, gauge or untyped API metric."""
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
    samples = family.samples
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
    return Candidate(family, (endpoint, name, kind), len(group), dropped)


def _summary(
    base: Labels,
    endpoint: Endpoint,
    *,
    stem: str,
    sums: list[payloads.Sample],
    counts: list[payloads.Sample],
) -> Candidate:
    """A `<stem>_sum` + `<stem>_count` counter pair as one summary family."""
    family_name = _PREFIXES[endpoint] + stem
    helps = dict.fromkeys(h for h in (counts[0].help, sums[0].help) if h)
    family = SummaryMetricFamily(family_name, _cached("; ".join(helps), endpoint))
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
    samples = family.samples
    sum_name, count_name = family_name + "_sum", family_name + "_count"
    seen: set[frozenset[tuple[str, str]]] = set()
    for sum_sample, count_sample in by_labels.values():
        some = sum_sample or count_sample
        if some is None:  # neither half a counter (Webapps disagree on the type): dropped above
            continue
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
    owner = (endpoint, stem, "summary")
    return Candidate(family, owner, len(sums) + len(counts), dropped)


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
