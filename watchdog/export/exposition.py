"""`/metrics` bodies: every target's encoded part joined, shared by every scraper.

The targets' series are encoded as their polls are recorded (`watchdog.export.parts`); a scrape
joins the parts under one `# HELP`/`# TYPE` head per family, claims the re-exported names (the
first target to claim one wins, as in the one-pass collector), and adds the watchdog's own few
global series (alerts, schedule lag, process). The join runs on the event loop in slices
(`watchdog.base.turns`), so polls due meanwhile go out on time: a render in a worker thread
would hold the GIL for seconds at thousands of targets, and the loop with it. Only the final
concatenation and gzip run in a thread (zlib lets go of the GIL while it compresses).

A body is reused while the state's version is unchanged and it is younger than `max_age`, and
concurrent scrapes wait for the render in progress instead of starting their own; its gzip is
made once per render, for the first scraper that accepts it. The Prometheus text format (0.0.4)
and OpenMetrics 1.0.0 (the formats Prometheus asks for), with the default or UTF-8 escaping,
come from the parts; any other format or escaping is rendered from the state in one pass by
prometheus_client, as before, in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from watchdog.api.endpoints import Endpoint
from watchdog.base.targets import Target
from watchdog.base.turns import SLICE_SECONDS, Turns
from watchdog.export.collector import WatchdogCollector
from watchdog.export.lines import Encoder, Heads
from watchdog.export.parts import DROPPED, Layout, Parts, Section, dropped_line, own_families
from watchdog.export.reexport import REEXPORTED
from watchdog.export.reexport import Exposition as Claims
from watchdog.state import EndpointState

__all__ = ["MAX_AGE", "Body", "Exposition", "accepts_gzip"]

# Process metrics and staleness move with time, not only with polls: renders older than this
# are never reused.
MAX_AGE = 1.0
# gzip's fastest level: a body of a few MB per target hundred compresses about tenfold at it,
# and the scraper is on the same network, not behind a slow link.
GZIP_LEVEL = 1
# Bodies kept at most, one per content type (Prometheus asks for one).
KEPT_RENDERS = 4
_NAME_ESCAPING = (openmetrics.UNDERSCORES, openmetrics.ALLOWUTF8)


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str
    gzipped: bool


@dataclass
class _Render:
    version: int
    at: float
    body: bytes
    gzipped: bytes | None = None


def accepts_gzip(header: str) -> bool:
    """Whether an `Accept-Encoding` header admits gzip: named with a q above 0, or, when it
    is not named, `*` with a q above 0 (RFC 9110 §12.5.3)."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            weights.setdefault(coding.lower(), float(q))
        except ValueError:
            continue
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _joinable(encoder: Encoder) -> bool:
    """Whether the parts can make this format: sample lines are the same in it (legacy names,
    escaped the default or the UTF-8 way), only the heads come from `encoder`."""
    if encoder is generate_latest:
        return True
    if not isinstance(encoder, functools.partial):
        return False
    keywords = encoder.keywords
    if keywords.get("escaping") not in _NAME_ESCAPING:
        return False
    if encoder.func is generate_latest:
        return True
    return encoder.func is openmetrics.generate_latest and keywords.get("version") == "1.0.0"


class _Registry(Collector):
    """Another registry's collectors, as one collector (for the one-pass render)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


class Exposition:
    """`/metrics` for a state's targets (`parts`) and the watchdog's own series (`registry`)."""

    def __init__(
        self,
        parts: Parts,
        registry: CollectorRegistry,
        *,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        slice_seconds: float = SLICE_SECONDS,
    ) -> None:
        self.parts = parts
        self.registry = registry
        self.max_age = max_age
        self.clock = clock
        self.slice_seconds = slice_seconds
        self._own = own_families()
        self._heads = Heads()
        # The one-pass render, for formats the parts cannot make.
        self._whole = CollectorRegistry(auto_describe=False)
        self._whole.register(WatchdogCollector(parts.state, clock=parts.clock))
        self._whole.register(_Registry(registry))
        self._renders: dict[str, _Render] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.renders = 0  # how many times a body was actually rendered (for tests/benchmarks)
        self.yields = 0  # how often renders let other callbacks run (for tests)

    async def body(self, accept: str, *, gzip_ok: bool = False) -> Body:
        """The body for a scrape with this `Accept` header, gzipped if `gzip_ok`."""
        encoder, content_type = choose_encoder(accept)
        if len(self._locks) >= 4 * KEPT_RENDERS and content_type not in self._locks:
            self._locks.clear()  # at worst two renders of one type at once, never a leak
        lock = self._locks.setdefault(content_type, asyncio.Lock())
        async with lock:
            render = self._renders.get(content_type)
            version = self.parts.state.version
            if (
                render is None
                or render.version != version
                or (self.clock() - render.at > self.max_age)
            ):
                if _joinable(encoder):
                    body = await self._join(content_type, encoder)
                else:
                    body = await run_in_threadpool(encoder, self._whole)
                self.renders += 1
                render = _Render(version, self.clock(), body)
                if len(self._renders) >= KEPT_RENDERS and content_type not in self._renders:
                    # The content type carries whatever version a client asked for: a few
                    # bodies of several MB are kept, not one per version anyone sends.
                    self._renders.clear()
                self._renders[content_type] = render
            if gzip_ok and render.gzipped is None:
                render.gzipped = await run_in_threadpool(
                    gzip.compress, render.body, GZIP_LEVEL, mtime=0
                )
        if gzip_ok:
            assert render.gzipped is not None
            return Body(render.gzipped, content_type, gzipped=True)
        return Body(render.body, content_type, gzipped=False)

    async def _join(self, content_type: str, encoder: Encoder) -> bytes:
        parts = self.parts
        now = parts.clock()
        parts.scraped_at = now
        items = parts.state.items()
        parts.forget({target.name for target, _, _ in items})
        slices = Turns(self.slice_seconds)
        own: dict[str, list[bytes]] = {name: [] for name, _, _ in self._own}
        reexporting: dict[Endpoint, list[Section]] = {e: [] for e in REEXPORTED}
        clouds: dict[str, tuple[Target, dict[Endpoint, EndpointState]]] = {}
        for target, endpoint, state in items:
            section = parts.section(target, endpoint, state, now)
            for name, lines in section.own:
                own[name].append(lines)
            if endpoint.spec.kind == "cloud":
                clouds.setdefault(target.name, (target, {}))[1][endpoint] = state
            elif section.dropped_labels is not None:
                reexporting[endpoint].append(section)
            await slices.take()
        for target, endpoints in clouds.values():
            for name, lines in parts.cloud_section(target, endpoints, now).own:
                own[name].append(lines)
            await slices.take()
        families = await self._claim(reexporting, own[DROPPED], slices)
        chunks: list[bytes] = []
        heads = functools.partial(self._heads, content_type, encoder)
        for name, kind, help_text in self._own:
            if own[name]:
                chunks.append(heads(name, kind, help_text))
                chunks.extend(own[name])
        for name, (kind, help_text, found) in families.items():
            if found:
                chunks.append(heads(name, kind, help_text))
                chunks.extend(found)
        # The watchdog's own global series last, as they were registered after the targets'
        # collector (and with OpenMetrics' `# EOF`).
        chunks.append(encoder(self.registry))
        self.yields += slices.taken
        return await run_in_threadpool(b"".join, chunks)

    async def _claim(
        self, reexporting: dict[Endpoint, list[Section]], dropped: list[bytes], slices: Turns
    ) -> dict[str, tuple[str, str, list[bytes]]]:
        """The re-exported families by name, in claim order, with every winner's lines; each
        section's `watchdog_dropped_series` line goes to `dropped`."""
        claims = Claims()
        for name, kind, _ in self._own:
            claims.claims(name, kind, name)
        families: dict[str, tuple[str, str, list[bytes]]] = {}
        # What each layout's names got: the same for every section that shares it.
        outcomes: dict[Layout, tuple[bool, ...]] = {}
        for endpoint in REEXPORTED:
            for section in reexporting[endpoint]:
                won = outcomes.get(section.layout)
                if won is None:
                    won = outcomes[section.layout] = self._claims(claims, section.layout, families)
                count = section.dropped
                for (name, lines, size, bad), own in zip(section.reexported, won, strict=True):
                    if not own:
                        count += size - bad
                    elif lines:
                        families[name][2].append(lines)
                assert section.dropped_labels is not None
                if count == section.dropped:
                    dropped.append(section.dropped_line)
                else:
                    dropped.append(dropped_line(section.dropped_labels, count))
                await slices.take()
        return families

    @staticmethod
    def _claims(
        claims: Claims, layout: Layout, families: dict[str, tuple[str, str, list[bytes]]]
    ) -> tuple[bool, ...]:
        """Claim a layout's names; a family takes the help of its first claimant."""
        won = []
        for name, kind, help_text, owner in layout.families:
            own = claims.claims(name, kind, owner)
            if own and name not in families:
                families[name] = (kind, help_text, [])
            won.append(own)
        return tuple(won)
