"""The composition root: the daemon assembled from its settings, and its running lifetime.

`build_watchdog` wires state, API clients, poller, alert engine and sinks, and the metrics
registry; `Watchdog.running` starts them (with the alert tick) and winds them down. The HTTP
surface that serves them is `watchdog.web.routes`, whose lifespan is `Watchdog.running`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from watchdog.alerts.engine import AlertEngine, notify_all
from watchdog.alerts.metrics import AlertsCollector
from watchdog.alerts.sinks import build_sinks
from watchdog.alerts.sinks.alertmanager import AlertmanagerSink
from watchdog.alerts.sinks.delivery import NotificationStats, Sink
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.config.settings import Settings
from watchdog.config.sharding import select_shard
from watchdog.export.parts import Parts
from watchdog.poll.client import ApiClient
from watchdog.poll.graph_client import GraphClient
from watchdog.poll.lag import LagCollector
from watchdog.poll.scheduler import ClientFactory, Poller
from watchdog.poll.tls import TlsContexts
from watchdog.poll.trigger import MAX_START_SPREAD
from watchdog.state import Change, State
from watchdog.web.status import VerdictLog

log = get_logger(__name__)


# Time-based alert transitions (a `for` elapsing, hysteresis ending) are checked this often
# even when no poll arrives; detection itself happens right after each poll. Each target once
# per period, in slices spread over it (`AlertEngine.tick`).
ALERT_TICK_SECONDS = 5.0
ALERT_TICK_SLICES = 5


class ReloadOnSignal(Protocol):
    """What the daemon's lifetime needs of a reloader (`watchdog.reload.Reloader` is one).

    A protocol, so that the reloader, which changes a running `Watchdog`, is not imported here.
    """

    def install(self) -> object:
        """Start reloading on SIGHUP (from the running event loop)."""
        ...

    async def close(self) -> None:
        """Stop reloading on SIGHUP and cancel a reload in progress."""
        ...


@dataclass
class Watchdog:
    """The assembled daemon: state, poller, alert engine and sinks, and the registry."""

    state: State
    poller: Poller
    registry: CollectorRegistry
    clock: Callable[[], float]
    engine: AlertEngine
    sinks: list[Sink]
    parts: Parts

    @asynccontextmanager
    async def running(self, reloader: ReloadOnSignal | None = None) -> AsyncIterator[None]:
        """Sinks, poller and alert tick (and SIGHUP reloads, if given) run inside; the lifespan
        of the HTTP app, so the poller starts with the server and stops before the process ends.
        """
        for sink in self.sinks:
            await sink.start()
        self.poller.start()

        slices = itertools.cycle(range(ALERT_TICK_SLICES))

        async def tick() -> None:
            self.engine.tick(next(slices), ALERT_TICK_SLICES)

        self.poller.every(ALERT_TICK_SECONDS / ALERT_TICK_SLICES, tick, "alert-tick")
        if reloader is not None:
            reloader.install()
        log.info("watchdog_started", targets=[t.name for t in self.state.targets])
        try:
            yield
        finally:
            if reloader is not None:
                await reloader.close()
            await self.poller.shutdown()
            # After the polls: their last transitions are queued before delivery winds down,
            # for every sink at once (each gets the same grace, not one after the other).
            await asyncio.gather(*(sink.stop() for sink in self.sinks))
            log.info("watchdog_stopped")


def api_clients(
    settings: Settings, redactor: Redactor | None, clock: Callable[[], float] = time.time
) -> ClientFactory:
    """A factory of API clients configured from the settings, sharing their TLS contexts."""
    contexts = TlsContexts()

    def make_client(target: Target) -> ApiClient | GraphClient:
        if target.kind == "cloud":
            return GraphClient(target, redactor=redactor, clock=clock, tls_contexts=contexts)
        return ApiClient(
            target,
            auth_mode=settings.auth_mode,
            redactor=redactor,
            clock=clock,
            tls_contexts=contexts,
        )

    return make_client


def build_watchdog(
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    client_factory: ClientFactory | None = None,
    clock: Callable[[], float] = time.time,
    start_spread: float = MAX_START_SPREAD,
) -> Watchdog:
    """Wire state, clients, poller and collector from the settings (no I/O yet)."""
    targets = select_shard(settings.targets, settings.shard_index, settings.shard_count)
    state = State(
        targets,
        clock=clock,
        expectation=settings.alerts.expectation(),
        history=settings.history,
    )
    factory = client_factory or api_clients(settings, redactor, clock)
    stats = NotificationStats()
    sinks = build_sinks(
        settings.alertmanager_urls,
        settings.webhook_urls,
        generator_url=settings.status_url,
        stats=stats,
        redactor=redactor,
    )
    engine = AlertEngine(
        state,
        notify_all(sink.submit for sink in sinks),
        rules=settings.alerts.rules().values(),
        clock=clock,
        refresh=notify_all(s.refresh for s in sinks if isinstance(s, AlertmanagerSink)),
    )
    verdicts = VerdictLog(state, clock)
    parts = Parts(state, clock)

    def on_change(change: Change) -> None:
        verdicts(change)
        engine.on_change(change)
        # The target's part of /metrics, encoded as each poll lands, not at the scrape; last, so
        # that a fault in the export can never keep a poll from its alerts.
        parts.update(change.target, change.endpoint)

    poller = Poller(state, factory, on_change=on_change, clock=clock, start_spread=start_spread)
    # The watchdog's own series; the targets' come from `parts`.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AlertsCollector(engine, stats))
    registry.register(LagCollector(poller.lag))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return Watchdog(state, poller, registry, clock, engine, sinks, parts)
