"""The watchdog's own HTTP server (Starlette on uvicorn) and the wiring of its parts.

The lifespan owns the poller (scheduler and clients): it starts when the server starts and is
shut down before the process exits. Liveness and readiness never follow the monitored API;
only `/probe/...` does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from watchdog.client import ApiClient
from watchdog.collector import WatchdogCollector
from watchdog.log import Redactor, get_logger
from watchdog.page import render_page
from watchdog.scheduler import MAX_START_SPREAD, ClientFactory, Poller
from watchdog.settings import Settings
from watchdog.sharding import select_shard
from watchdog.state import State
from watchdog.status import VerdictLog, probe_live, probe_ready, status
from watchdog.targets import Target

log = get_logger(__name__)


@dataclass
class Watchdog:
    """The assembled daemon: state, poller and the registry the collector is in."""

    state: State
    poller: Poller
    registry: CollectorRegistry
    clock: Callable[[], float]


def api_clients(
    settings: Settings, redactor: Redactor | None, clock: Callable[[], float] = time.time
) -> ClientFactory:
    """A factory of API clients configured from the settings."""

    def make_client(target: Target) -> ApiClient:
        return ApiClient(target, auth_mode=settings.auth_mode, redactor=redactor, clock=clock)

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
    state = State(targets, clock=clock)
    factory = client_factory or api_clients(settings, redactor, clock)
    poller = Poller(
        state, factory, on_change=VerdictLog(state, clock), clock=clock, start_spread=start_spread
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchdogCollector(state, clock=clock))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return Watchdog(state, poller, registry, clock)


def create_app(watchdog: Watchdog) -> Starlette:
    """The ASGI app; its lifespan starts and stops the poller."""
    state = watchdog.state

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        watchdog.poller.start()
        log.info("watchdog_started", targets=[t.name for t in state.targets])
        try:
            yield
        finally:
            await watchdog.poller.shutdown()
            log.info("watchdog_stopped")

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        # Rendering thousands of series takes long enough to delay polls if done on the loop.
        body = await run_in_threadpool(encoder, watchdog.registry)
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
                return JSONResponse({"ready": False, "reason": f"unknown target {name!r}"}, 404)
            ok, reason = check(state, name, watchdog.clock())
            return JSONResponse({"ok": ok, "reason": reason}, status_code=200 if ok else 503)

        return handler

    async def api_status(_: Request) -> Response:
        return JSONResponse(status(state, watchdog.clock()))

    async def api_alerts(_: Request) -> Response:
        # The alert engine arrives with alerting; until then nothing can be firing.
        return JSONResponse({"alerts": []})

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
