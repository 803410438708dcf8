"""The watchdog's HTTP surface: the Starlette app, its routes and their JSON and HTML bodies.

`/livez` and `/readyz` answer for the watchdog itself and never follow the monitored API; only
`/probe/{target}/...` does. The app's lifespan runs the daemon that `watchdog.app` assembled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, request_response
from starlette.types import ASGIApp

from watchdog.alerts.model import Alert
from watchdog.alerts.sinks.delivery import rfc3339
from watchdog.base.durations import format_duration, parse_duration
from watchdog.export.exposition import Exposition, accepts_gzip
from watchdog.state import State
from watchdog.web.page import page_parts
from watchdog.web.status import (
    DEFAULT_HISTORY,
    probe_live,
    probe_ready,
    slices,
    status_in_slices,
    status_json,
)

if TYPE_CHECKING:
    from watchdog.app import ReloadOnSignal, Watchdog

__all__ = ["alert_json", "create_app"]


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


class _BadQuery(ValueError):
    pass


def _history_param(request: Request, kept: float) -> float:
    """`?history=<duration>`: how much of each endpoint's history to include (`0`: none)."""
    raw = request.query_params.get("history")
    if raw is None:
        return min(DEFAULT_HISTORY, kept)
    try:
        seconds = parse_duration(raw)
    except ValueError as err:
        raise _BadQuery(f"history: {err}") from None
    if seconds > kept:
        raise _BadQuery(
            f"history: at most {format_duration(kept)} is kept (the history setting); "
            f"got {format_duration(seconds)}"
        )
    return seconds


def _gzip(endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The endpoint's answer gzipped for clients that accept it. The page and the status JSON
    carry an hour of every endpoint: 7.3 MB of HTML at 100 targets is 0.7 MB at level 1, made in
    about 20 ms, which is what counts for someone on a phone over a VPN. (`/metrics` is left
    out: its body is shared by every scraper and compressed once per render, by `Exposition`.)"""
    return GZipMiddleware(request_response(endpoint), minimum_size=1024, compresslevel=1)


def create_app(watchdog: Watchdog, *, reloader: ReloadOnSignal | None = None) -> Starlette:
    """The ASGI app; its lifespan starts and stops the poller (and SIGHUP reloads, if given)."""
    state = watchdog.state

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with watchdog.running(reloader):
            yield

    exposition = Exposition(watchdog.parts, watchdog.registry)

    async def metrics(request: Request) -> Response:
        gzip_ok = accepts_gzip(request.headers.get("accept-encoding", ""))
        body = await exposition.body(request.headers.get("accept", ""), gzip_ok=gzip_ok)
        headers = {"Content-Type": body.content_type, "Vary": "Accept-Encoding"}
        if body.gzipped:
            headers["Content-Encoding"] = "gzip"
        return Response(body.content, headers=headers)

    async def livez(_: Request) -> Response:
        if not watchdog.poller.running:
            return JSONResponse({"status": "scheduler not running"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if not state.ready():
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

    async def document(request: Request, history: float) -> dict[str, Any] | Response:
        only = request.query_params.get("target")
        if only is not None and state.target(only) is None:
            return JSONResponse({"error": f"unknown target {only!r}"}, 404)
        now = watchdog.clock()
        views = watchdog.engine.views(now)
        return await status_in_slices(state, now, alerts=views, history=history, only=only)

    async def api_status(request: Request) -> Response:
        try:
            history = _history_param(request, state.history)
        except _BadQuery as err:
            return JSONResponse({"error": str(err)}, 400)
        found = await document(request, history)
        if isinstance(found, Response):
            return found

        async def parts() -> AsyncIterator[bytes]:
            # Encoded a target at a time, with turns for the loop between them, like the page:
            # at 2,000 targets one `json.dumps` of the whole document would hold it for seconds.
            turns = slices()
            for part in status_json(found):
                yield part
                await turns.take()

        return StreamingResponse(parts(), media_type="application/json")

    async def api_alerts(_: Request) -> Response:
        return JSONResponse({"alerts": [alert_json(a) for a in watchdog.engine.alerts()]})

    async def page(request: Request) -> Response:
        # An unknown `?target=` still gets the page (the link may be from an old alert).
        only = request.query_params.get("target")
        now = watchdog.clock()
        focus = only if only is not None and state.target(only) is not None else None
        views = watchdog.engine.views(now)
        history = min(DEFAULT_HISTORY, state.history)
        document = await status_in_slices(state, now, alerts=views, history=history, only=focus)

        async def parts() -> AsyncIterator[bytes]:
            # One target at a time, with turns for the loop between them: polls due meanwhile
            # go out on time, and no whole page of several MB is ever held in memory.
            turns = slices()
            for part in page_parts(document, focus=only):
                yield part.encode()
                await turns.take()

        return StreamingResponse(parts(), media_type="text/html; charset=utf-8")

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/probe/{target}/ready", probe(probe_ready), methods=["GET"]),
        Route("/probe/{target}/live", probe(probe_live), methods=["GET"]),
        Route("/api/v1/status", _gzip(api_status), methods=["GET"]),
        Route("/api/v1/alerts", api_alerts, methods=["GET"]),
        Route("/", _gzip(page), methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
