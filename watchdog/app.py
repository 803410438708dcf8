"""The watchdog's own HTTP server (Starlette on uvicorn) and the wiring of its parts.

The lifespan owns the poller (scheduler and clients): it starts when the server starts and is
shut down before the process exits. Liveness and readiness never follow the monitored API;
only `/probe/...` does.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from watchdog.alerts.engine import AlertEngine, notify_all, rule_configs
from watchdog.alerts.metrics import AlertsCollector
from watchdog.alerts.model import Alert
from watchdog.alerts.sinks.alertmanager import AlertmanagerSink
from watchdog.alerts.sinks.delivery import NotificationStats, Sink, build_sinks, rfc3339
from watchdog.config.settings import Settings
from watchdog.config.sharding import select_shard
from watchdog.config.targets import Target
from watchdog.export.collector import WatchdogCollector
from watchdog.export.exposition import Exposition
from watchdog.log import Redactor, get_logger
from watchdog.poll.client import ApiClient
from watchdog.poll.lag import LagCollector
from watchdog.poll.scheduler import ClientFactory, Poller
from watchdog.poll.tls import TlsContexts
from watchdog.poll.trigger import MAX_START_SPREAD
from watchdog.state import Change, State
from watchdog.web.page import render_page
from watchdog.web.status import VerdictLog, probe_live, probe_ready, status

if TYPE_CHECKING:
    from watchdog.reload import Reloader

log = get_logger(__name__)


# Time-based alert transitions (a `for` elapsing, hysteresis ending) are checked this often
# even when no poll arrives; detection itself happens right after each poll. Each target once
# per period, in slices spread over it (`AlertEngine.tick`).
ALERT_TICK_SECONDS = 5.0
ALERT_TICK_SLICES = 5


@dataclass
class Watchdog:
    """The assembled daemon: state, poller, alert engine and sinks, and the registry."""

    state: State
    poller: Poller
    registry: CollectorRegistry
    clock: Callable[[], float]
    engine: AlertEngine
    sinks: list[Sink]


def api_clients(
    settings: Settings, redactor: Redactor | None, clock: Callable[[], float] = time.time
) -> ClientFactory:
    """A factory of API clients configured from the settings, sharing their TLS contexts."""
    contexts = TlsContexts()

    def make_client(target: Target) -> ApiClient:
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
    state = State(targets, clock=clock, expectation=settings.alerts.expectation())
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
        config=rule_configs(settings.alerts.rules()),
        clock=clock,
        refresh=notify_all(s.refresh for s in sinks if isinstance(s, AlertmanagerSink)),
    )
    verdicts = VerdictLog(state, clock)

    def on_change(change: Change) -> None:
        verdicts(change)
        engine.on_change(change)

    poller = Poller(state, factory, on_change=on_change, clock=clock, start_spread=start_spread)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchdogCollector(state, clock=clock))
    registry.register(AlertsCollector(engine, stats))
    registry.register(LagCollector(poller.lag))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return Watchdog(state, poller, registry, clock, engine, sinks)


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else rfc3339(epoch)


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert for `/api/v1/alerts`, in Alertmanager's field names where they exist."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state.value,
        "activeSince": _time(alert.active_since),
        "startsAt": _time(alert.starts_at),
        "endsAt": _time(alert.ends_at),
        "fingerprint": alert.fingerprint,
    }


def create_app(watchdog: Watchdog, *, reloader: Reloader | None = None) -> Starlette:
    """The ASGI app; its lifespan starts and stops the poller (and SIGHUP reloads, if given)."""
    state = watchdog.state

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        for sink in watchdog.sinks:
            await sink.start()
        watchdog.poller.start()

        slices = itertools.cycle(range(ALERT_TICK_SLICES))

        async def tick() -> None:
            watchdog.engine.tick(next(slices), ALERT_TICK_SLICES)

        watchdog.poller.every(ALERT_TICK_SECONDS / ALERT_TICK_SLICES, tick, "alert-tick")
        if reloader is not None:
            reloader.install()
        log.info("watchdog_started", targets=[t.name for t in state.targets])
        try:
            yield
        finally:
            if reloader is not None:
                await reloader.close()
            await watchdog.poller.shutdown()
            # After the polls: their last transitions are queued before delivery winds down,
            # for every sink at once (each gets the same grace, not one after the other).
            await asyncio.gather(*(sink.stop() for sink in watchdog.sinks))
            log.info("watchdog_stopped")

    exposition = Exposition(watchdog.registry, state)

    async def metrics(request: Request) -> Response:
        body, content_type = await exposition.body(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    async def livez(_: Request) -> Response:
        if not watchdog.poller.running:
            return JSONResponse({"status": "scheduler not running"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if not state.polled_once():
            return JSONResponse({"status": "waiting for the first poll of every target"}, 503)
        return JSONResponse({"status": "ok"})

    def probe(
        check: Callable[[State, str, float], tuple[bool, str]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            name = request.path_params["target"]
            if state.target(name) is None:
                return JSONResponse({"ok": False, "reason": f"unknown target {name!r}"}, 404)
            ok, reason = check(state, name, watchdog.clock())
            return JSONResponse({"ok": ok, "reason": reason}, status_code=200 if ok else 503)

        return handler

    async def api_status(_: Request) -> Response:
        return JSONResponse(status(state, watchdog.clock()))

    async def api_alerts(_: Request) -> Response:
        return JSONResponse({"alerts": [alert_json(a) for a in watchdog.engine.alerts()]})

    async def page(_: Request) -> Response:
        return HTMLResponse(render_page(status(state, watchdog.clock())))

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/probe/{target}/ready", probe(probe_ready), methods=["GET"]),
        Route("/probe/{target}/live", probe(probe_live), methods=["GET"]),
        Route("/api/v1/status", api_status, methods=["GET"]),
        Route("/api/v1/alerts", api_alerts, methods=["GET"]),
        Route("/", page, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
