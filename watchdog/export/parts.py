"""Every target's part of `/metrics`, encoded when its polls are recorded, not at the scrape.

A part is a *section* per target and endpoint (its poll families; for health the gateway
families, for the API's metrics and stats their re-exported families), and one per Cloud target
(the `whatsapp_cloud_*` families, which read all of its endpoints). A section holds its families
as encoded sample lines (`watchdog.export.lines`), so a scrape only joins them
(`watchdog.export.exposition`). The poller rebuilds a section right after it records a poll
(`update`), which spreads the encoding over the polls; a scrape rebuilds only the sections that
are out of date: a poll recorded without `update` (or a reload), or time alone having changed
what the section says (`until`: an answer or a series going stale, a node connecting for too
long). Everything else a scrape reads as it was encoded.

Re-exported families are kept as *candidates*: whether a name is a target's own depends on the
other targets (the first to claim it wins, `watchdog.export.reexport`), so the scrape claims the
names, in the same order the one-pass collector does, and counts a lost family's series in
`watchdog_dropped_series`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client.samples import Sample

from watchdog.api.endpoints import Endpoint
from watchdog.base.targets import Target
from watchdog.export.collector import Families, Labels
from watchdog.export.lines import encode
from watchdog.export.reexport import REEXPORTED, candidates
from watchdog.state import EndpointState, State

__all__ = ["DROPPED", "Layout", "Parts", "Reexported", "Section", "own_families"]

DROPPED = "watchdog_dropped_series"
# Without a scrape for this long, polls stop encoding their parts (a watchdog whose /metrics
# nobody reads spends nothing on them); the next scrape encodes every part, in slices.
UNSCRAPED = 600.0
# Distinct layouts kept at most (a fleet has a few: one per API version and endpoint).
LAYOUTS = 10_000
# A section's key: (target, endpoint), or (target, None) for a Cloud target's own families.
Key = tuple[str, Endpoint | None]
# What a section was built from, besides the answers: a poll recorded, a backoff or pace set
# after it, an interval changed by a reload.
Mark = tuple[int, float, float, float]


def _mark(state: EndpointState) -> Mark:
    return (state.polls, state.backoff_seconds, state.paced_seconds, state.interval)


def own_families() -> list[tuple[str, str, str]]:
    """The watchdog's own families (name, type, help), in the order a scrape lists them."""
    out = Families(0.0, lambda _name, _now: None, lambda _name: None).out
    return [(f.name, f.type, f.documentation) for f in out.families.values()]


# A re-exported family of one section, encoded, before it claims its name: (name, lines, the
# series dropped if the name is another's, those dropped if it is its own: duplicates, values
# the type cannot carry). A plain tuple of strings, bytes and ints, which the garbage collector
# stops tracking: a fleet has some 30 per target, and a full collection walks every object
# still tracked.
Reexported = tuple[str, bytes, int, int]


class Layout:
    """The re-exported families of a section as the claims see them: (name, type, help, owner)
    each. Targets of one version answer with the same families, so sections share one layout
    object (`Parts` interns them) and a scrape claims each layout's names once, not once per
    target: which names a layout gets never changes later in the same claim order."""

    __slots__ = ("families",)

    def __init__(self, families: tuple[tuple[str, str, str, object], ...]) -> None:
        self.families = families


NO_FAMILIES = Layout(())


@dataclass(frozen=True)
class Section:
    """One target's endpoint (or a Cloud target's own families), encoded."""

    target: Target
    sources: tuple[EndpointState, ...]
    marks: tuple[Mark, ...]
    expectation: object
    # Time alone may change what the section says from this moment (infinity: only a poll
    # does); at it the section is encoded again, as a connecting limit counts from it.
    until: float
    own: tuple[tuple[str, bytes], ...]
    reexported: tuple[Reexported, ...] = ()
    layout: Layout = NO_FAMILIES
    # For the API's metrics and stats while fresh: the `watchdog_dropped_series` labels, the
    # series dropped within the section, and its line when every family keeps its name.
    dropped_labels: Labels | None = None
    dropped: int = 0
    dropped_line: bytes = b""

    def current(
        self, target: Target, sources: tuple[EndpointState, ...], expectation: object, now: float
    ) -> bool:
        return (
            now < self.until
            and (self.target is target or self.target == target)
            and self.expectation is expectation
            and len(sources) == len(self.sources)
            and all(a is b for a, b in zip(sources, self.sources, strict=True))
            and self.marks == tuple(_mark(s) for s in sources)
        )


def dropped_line(labels: Labels, count: int) -> bytes:
    return encode([Sample(DROPPED, labels, float(count))])


class Parts:
    """The sections of every target, kept for the scrapes (`watchdog.export.exposition`)."""

    def __init__(self, state: State, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self._sections: dict[Key, Section] = {}
        self._layouts: dict[tuple[tuple[str, str, str, object], ...], Layout] = {}
        self._built = Families(0.0, state.gateway, state.cloud_memory)
        # When a scrape last read the parts (None: never). Nobody scraping, polls encode
        # nothing: the next scrape encodes what it needs.
        self.scraped_at: float | None = None
        self.builds = 0  # sections encoded (for tests and benchmarks)

    def update(self, target: str, endpoint: Endpoint) -> None:
        """Encode the sections a poll of `target`'s `endpoint` changed (after it is recorded),
        while something scrapes; else only forget them."""
        scraped = self.scraped_at
        if scraped is None or self.clock() - scraped > UNSCRAPED:
            self._sections.pop((target, endpoint), None)
            self._sections.pop((target, None), None)
            return
        spec = self.state.target(target)
        if spec is None:
            return
        endpoints = self.state.endpoints(target)
        state = endpoints.get(endpoint)
        if state is None:
            return
        now = self.clock()
        self._sections[(target, endpoint)] = self._endpoint(spec, endpoint, state, now)
        if endpoint.spec.kind == "cloud":
            self._sections[(target, None)] = self._cloud(spec, _clouds(endpoints), now)

    def section(
        self, target: Target, endpoint: Endpoint, state: EndpointState, now: float
    ) -> Section:
        """`target`'s section of `endpoint` as of `now`, encoded again only if out of date."""
        key = (target.name, endpoint)
        found = self._sections.get(key)
        if found is None or not found.current(target, (state,), self.state.expectation, now):
            found = self._sections[key] = self._endpoint(target, endpoint, state, now)
        return found

    def cloud_section(
        self, target: Target, endpoints: Mapping[Endpoint, EndpointState], now: float
    ) -> Section:
        """A Cloud target's own families as of `now`, encoded again only if out of date."""
        key = (target.name, None)
        sources = _clouds(endpoints)
        found = self._sections.get(key)
        if found is None or not found.current(target, tuple(sources.values()), None, now):
            found = self._sections[key] = self._cloud(target, sources, now)
        return found

    def forget(self, targets: set[str]) -> None:
        """Drop the sections of targets no longer configured (after a reload)."""
        for key in [k for k in self._sections if k[0] not in targets]:
            del self._sections[key]

    # -- encoding ----------------------------------------------------------------------------

    def _families(self, now: float) -> Families:
        """The one `Families` every section is built with, emptied (a build never awaits)."""
        self.builds += 1
        self._built.restart(now)
        return self._built

    def _endpoint(
        self, target: Target, endpoint: Endpoint, state: EndpointState, now: float
    ) -> Section:
        families = self._families(now)
        base = {"target": target.name, **target.labels}
        families.poll_families(base, endpoint, state)
        until = math.inf
        found: tuple[Reexported, ...] = ()
        layout = NO_FAMILIES
        dropped: tuple[Labels | None, int, bytes] = (None, 0, b"")
        fresh = endpoint.spec.kind != "cloud" and state.fresh(now)
        if endpoint is Endpoint.HEALTH:
            families.health_families(base, state)
            families.gateway_families(base, self.state.gateway(target.name, now))
            if fresh:
                until = min(_stale_at(state), self.state.gateway_holds_until(target.name, now))
        elif fresh and endpoint in REEXPORTED:
            found, claimed, dropped, until = _reexported(base, endpoint, state, now)
            layout = self._layout(claimed)
        own = tuple(
            (name, encode(family.samples))
            for name, family in families.out.families.items()
            if family.samples
        )
        labels, count, line = dropped
        return Section(
            target, (state,), (_mark(state),), self.state.expectation, until, own, found,
            layout, labels, count, line,
        )  # fmt: skip

    def _layout(self, families: tuple[tuple[str, str, str, object], ...]) -> Layout:
        layout = self._layouts.get(families)
        if layout is None:
            if len(self._layouts) >= LAYOUTS:  # help texts and names come from outside
                self._layouts.clear()
            layout = self._layouts[families] = Layout(families)
        return layout

    def _cloud(
        self, target: Target, endpoints: dict[Endpoint, EndpointState], now: float
    ) -> Section:
        families = self._families(now)
        base = {"target": target.name, **target.labels}
        memory = self.state.cloud_memory(target.name)
        families.cloud.add(target, base, now, endpoints, memory)
        until = min((_stale_at(s) for s in endpoints.values() if s.fresh(now)), default=math.inf)
        phone = endpoints.get(Endpoint.PHONE_NUMBER)
        if memory is not None and memory.usage_at is not None and phone is not None:
            usage_stale_at = memory.usage_at + phone.stale_after
            if now <= usage_stale_at:
                until = min(until, usage_stale_at)
        own = tuple(
            (name, encode(family.samples))
            for name, family in families.out.families.items()
            if family.samples
        )
        sources = tuple(endpoints.values())
        return Section(target, sources, tuple(_mark(s) for s in sources), None, until, own)


def _clouds(endpoints: Mapping[Endpoint, EndpointState]) -> dict[Endpoint, EndpointState]:
    return {e: s for e, s in endpoints.items() if e.spec.kind == "cloud"}


def _stale_at(state: EndpointState) -> float:
    at = state.last_success_at
    return math.inf if at is None else at + state.stale_after


def _reexported(
    base: Labels, endpoint: Endpoint, state: EndpointState, now: float
) -> tuple[
    tuple[Reexported, ...],
    tuple[tuple[str, str, str, object], ...],
    tuple[Labels, int, bytes],
    float,
]:
    """The API's series of a fresh endpoint as candidates, its dropped count and line, and
    when the first of its series goes stale."""
    oldest = now - state.series_window
    seen = [s for s in list(state.series.values()) if s.at >= oldest]
    until = min(min((s.at for s in seen), default=math.inf) + state.series_window, _stale_at(state))
    found = []
    families = []
    dropped = state.duplicates
    for candidate in candidates(base, endpoint, [s.sample for s in seen]):
        family = candidate.family
        lines = encode(family.samples)
        found.append((family.name, lines, candidate.size, candidate.dropped))
        families.append((family.name, family.type, family.documentation, candidate.owner))
        dropped += candidate.dropped
    labels = {**base, "endpoint": endpoint.value}
    return tuple(found), tuple(families), (labels, dropped, dropped_line(labels, dropped)), until
