"""The simulator's HTTP surface: the API's monitoring endpoints, login, and an admin API.

Order of checks on an API request follows the Webapp: the load balancer in front picks the
Webapp (`proxy.py`), then routing (unknown path → 404 before any auth), the security firewall
(401/403), rate limits, then the controller, which talks to the Coreapp (where concurrency
overload, 503, arises). Admin endpoints live under `/_sim/` (`admin.py`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchdog.simulator.admin import AdminApi
from watchdog.simulator.arrivals import ArrivalLog, RecordArrivals
from watchdog.simulator.auth import KeyScope, expires_after_text, valid_new_password
from watchdog.simulator.deployment import Deployment, Families
from watchdog.simulator.errors import (
    DATABASE_UNREACHABLE,
    HEALTH_RATE_LIMITED,
    INVALID_CREDENTIALS,
    LOGIN_RATE_LIMITED,
    MISSING_CREDENTIALS,
    NO_PERMISSION,
    OVERLOADED,
    PASSWORD_CHANGE,
    PATH_NOT_FOUND,
    REQUEST_RATE_LIMITED,
    SERVICE_NOT_READY,
    UNDECODABLE_REQUEST,
    WEAK_PASSWORD,
    ApiError,
    envelope,
)
from watchdog.simulator.proxy import WEBAPP_KEY, LoadBalancerMiddleware
from watchdog.simulator.render import merge_nodes, prometheus_text
from watchdog.simulator.scenarios import Scenario

# The 2019 source prints the Prometheus body without setting a content type, so the framework
# default (Symfony's text/html) goes out. The type of later versions is UNCONFIRMED; clients
# must not rely on it, and this keeps them honest.
PROMETHEUS_CONTENT_TYPE = "text/html; charset=UTF-8"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

Build = Callable[[float], "dict[str, Any] | Families | dict[str, Families] | ApiError"]


class RequestIdMiddleware:
    """Every answer carries `X-Request-ID`: the caller's, echoed, or a new 32-hex id (§5.1)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class SimulatorApi:
    """Request handlers over one `Deployment`."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment

    def error(self, err: ApiError) -> JSONResponse:
        return JSONResponse(envelope(self.d.meta, err), status_code=err.status)

    def authenticate(
        self, request: Request, endpoint: str, now: float, scenario: Scenario
    ) -> ApiError | None:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        # The scheme word is exactly `Apikey` (reference §4.3).
        if scheme == "Apikey":
            if not self.d.credentials.check_api_key(credential):
                return INVALID_CREDENTIALS
            if endpoint != "health" and self.d.key_scope is KeyScope.HEALTH_ONLY:
                return NO_PERMISSION
            return None
        if scheme.lower() == "bearer" and credential:
            if scenario is Scenario.DATABASE_DOWN:
                # Tokens are kept in the database (a missing row means revoked, §4.1), so a
                # bearer token cannot be checked; the API key needs no database.
                return DATABASE_UNREACHABLE
            if self.d.credentials.check_token(credential, now) is None:
                return INVALID_CREDENTIALS
            return None
        return MISSING_CREDENTIALS

    async def health(self, request: Request) -> Response:
        return await self._monitor(request, "health", "GET_v1_health", self.d.health)

    async def metrics(self, request: Request) -> Response:
        webapp = _webapp(request)
        return await self._monitor(
            request, "metrics", "GET_metrics", lambda now: self.d.metrics(now, webapp)
        )

    async def stats_app(self, request: Request) -> Response:
        return await self._monitor(request, "stats_app", "GET_v1_stats_app", self.d.stats_app)

    async def stats_db(self, request: Request) -> Response:
        return await self._monitor(request, "stats_db", "GET_v1_stats_db", self.d.stats_db)

    async def _monitor(
        self, request: Request, endpoint: str, method: str, build: Build
    ) -> Response:
        started = time.perf_counter()
        response = await self._answer(request, endpoint, build)
        elapsed = (time.perf_counter() - started) * 1000
        self.d.record(method, response.status_code, elapsed, _webapp(request))
        return response

    async def _answer(self, request: Request, endpoint: str, build: Build) -> Response:
        now = self.d.clock()
        prometheus = endpoint != "health" and request.query_params.get("format") == "prometheus"
        # The answering Webapp's scenario; what the Coreapps report comes from `build`.
        scenario = self._scenario(request, now)
        denied = self.authenticate(request, endpoint, now, scenario)
        if denied is not None:
            return self.error(denied)
        if endpoint == "health":
            # Other callers (kubelets probing health directly) use up the global budget in the
            # rate-limited scenario.
            if scenario is Scenario.RATE_LIMITED or not self.d.health_budget.allow(now):
                return self.error(HEALTH_RATE_LIMITED)
        elif not self.d.allow_request(endpoint, now) or (
            scenario is Scenario.RATE_LIMITED and self.d.coin()
        ):
            return self.error(REQUEST_RATE_LIMITED)
        if not self.d.gate.enter():
            return self.error(OVERLOADED)
        try:
            if scenario is Scenario.SLOW:
                await asyncio.sleep(self.d.config.slow_delay)
            if scenario is Scenario.OVERLOADED:
                return self.error(OVERLOADED)
            # /metrics is the Webapp's own; health and stats need the database and a Coreapp.
            if endpoint != "metrics" and scenario is Scenario.DATABASE_DOWN:
                # An unhandled exception: index.php's error handler answers JSON whatever the
                # format asked for.
                return self.error(DATABASE_UNREACHABLE)
            if endpoint != "metrics" and scenario is Scenario.NOT_READY:
                # The Coreapp's own error answer, which the controller relays (in Prometheus
                # mode as an empty body).
                return self._render(endpoint, SERVICE_NOT_READY, prometheus, scenario)
            if endpoint == "health" and scenario is Scenario.HEALTH_UNUSABLE:
                # What a Webapp that finds no node in its cluster table assembles: valid JSON
                # without a single gateway status. Which real fault yields which unusable
                # shape is UNCONFIRMED; this is the one a careless client reads as "all fine".
                return JSONResponse({"health": {}, "meta": self.d.meta})
            return self._render(endpoint, build(self.d.clock()), prometheus, scenario)
        finally:
            self.d.gate.leave()

    def _render(self, endpoint: str, result: Any, prometheus: bool, scenario: Scenario) -> Response:
        if isinstance(result, ApiError):
            # In Prometheus mode a controller error yields an empty body (reference §3.1).
            return Response(b"", status_code=result.status) if prometheus else self.error(result)
        if prometheus:
            families = result if self.d.single or endpoint == "metrics" else merge_nodes(result)
            body = prometheus_text(families)
            media = PROMETHEUS_CONTENT_TYPE
        else:
            payload: dict[str, Any]
            if endpoint == "health":
                payload = {"health": result}
            elif endpoint == "metrics":
                payload = {"metrics": result}
            else:
                payload = {"stats": {endpoint.removeprefix("stats_"): result}}
            body = json.dumps({**payload, "meta": self.d.meta})
            media = "application/json"
        if scenario is Scenario.MALFORMED:
            # A body cut off half-way, as a proxy or a crashing PHP worker leaves it.
            body = body[: max(1, len(body) // 2)]
        return Response(body, media_type=media)

    async def login(self, request: Request) -> Response:
        body = await request.body()
        return self._counted(
            request, "POST_v1_users_login", lambda: self._login(request, body, self.d.clock())
        )

    async def logout(self, request: Request) -> Response:
        return self._counted(request, "POST_v1_users_logout", lambda: self._logout(request))

    def _counted(self, request: Request, method: str, answer: Callable[[], Response]) -> Response:
        started = time.perf_counter()
        response = answer()
        elapsed = (time.perf_counter() - started) * 1000
        self.d.record(method, response.status_code, elapsed, _webapp(request))
        return response

    def _scenario(self, request: Request, now: float) -> Scenario:
        """The scenario of the Webapp that serves `request`."""
        return self.d.webapp_scenario(self.d.webapps[_webapp(request)], now)

    def _login(self, request: Request, body: bytes, now: float) -> Response:
        if self._scenario(request, now) is Scenario.DATABASE_DOWN:
            # The Basic-auth firewall looks the user up in the database first.
            return self.error(DATABASE_UNREACHABLE)
        client = request.client.host if request.client else "unknown"
        if self.d.login_blocked(client, now):
            return self.error(LOGIN_RATE_LIMITED)
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return self.error(MISSING_CREDENTIALS)
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, sep, password = "", "", ""
        if not sep or not self.d.credentials.check_password(user, password):
            self.d.count_bad_login(client, now)
            return self.error(INVALID_CREDENTIALS)
        new_password = _new_password(request, body)
        if isinstance(new_password, ApiError):
            return self.error(new_password)
        # As UsersController::login: an empty or absent new password is no new password.
        if not new_password:
            if self.d.credentials.must_change_password(user):
                return self.error(PASSWORD_CHANGE)
        elif not isinstance(new_password, str) or not valid_new_password(new_password):
            return self.error(WEAK_PASSWORD)
        else:
            self.d.credentials.change_password(user, new_password)
        token = self.d.credentials.issue(user, now)

        users = [{"token": token.value, "expires_after": expires_after_text(token.expires_at)}]
        return JSONResponse({"users": users, "meta": self.d.meta})

    def _logout(self, request: Request) -> Response:
        now = self.d.clock()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.error(MISSING_CREDENTIALS)
        if self._scenario(request, now) is Scenario.DATABASE_DOWN:
            return self.error(DATABASE_UNREACHABLE)  # the token lives in the database
        if self.d.credentials.check_token(token, now) is None:
            return self.error(INVALID_CREDENTIALS)
        # Revokes only this token; the user's other tokens stay valid (reference §4.2).
        self.d.credentials.revoke(token)
        return JSONResponse({"meta": self.d.meta})


def _webapp(request: Request) -> int:
    """The index of the Webapp the load balancer gave this request to."""
    return int(request.scope.get(WEBAPP_KEY, 0))


def _new_password(request: Request, body: bytes) -> Any:
    """`new_password` from a login's JSON body, None without one, or the 400 for a bad body.

    The Webapp decodes only bodies sent as `application/json`; a body that decodes to something
    other than an object carries no parameters (index.php).
    """
    if not body or not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return UNDECODABLE_REQUEST
    return decoded.get("new_password") if isinstance(decoded, dict) else None


def create_app(deployment: Deployment) -> Starlette:
    """The ASGI app serving one simulated deployment."""
    api = SimulatorApi(deployment)
    admin = AdminApi(deployment)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            # Silex answers a known path with the wrong method with 405; body UNCONFIRMED.
            return JSONResponse(envelope(deployment.meta, PATH_NOT_FOUND), status_code=405)
        return api.error(PATH_NOT_FOUND)

    async def state(request: Request) -> Response:
        return admin.state(request)

    routes = [
        Route("/v1/health", api.health, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/v1/stats/app", api.stats_app, methods=["GET"]),
        Route("/v1/stats/db", api.stats_db, methods=["GET"]),
        Route("/v1/users/login", api.login, methods=["POST"]),
        Route("/v1/users/logout", api.logout, methods=["POST"]),
        Mount(
            "/_sim",
            routes=[
                Route("/state", state, methods=["GET"]),
                Route("/scenario", admin.scenario, methods=["POST"]),
                Route("/restart", admin.restart, methods=["POST"]),
                Route("/auth", admin.auth, methods=["POST"]),
            ],
        ),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    # No redirect from `/v1/health/` to `/v1/health` (Starlette's default 307): the reference
    # knows only 404/1006 for paths that are not routes (§2.1); redirecting is UNCONFIRMED.
    app.router.redirect_slashes = False
    app.add_middleware(RequestIdMiddleware)
    # Added last, so outermost: a proxy's own answers carry no X-Request-ID.
    app.add_middleware(LoadBalancerMiddleware, deployment=deployment)
    return app


def create_multi_app(deployments: Mapping[str, Deployment]) -> Starlette:
    """Many simulated deployments in one process, each under its own path prefix.

    `/<name>/v1/health`, `/<name>/metrics`, `/<name>/_sim/scenario`, ...: a watchdog target's
    URL may carry a path prefix, so one simulator can stand in for thousands of deployments
    (scale tests and benchmarks) without a port or a process each. `/_sim/arrivals` tells when
    each request arrived (`watchdog.simulator.arrivals`).
    """
    log = ArrivalLog()
    routes: list[BaseRoute] = [Route("/_sim/arrivals", log.endpoint, methods=["GET"])]
    routes += [Mount(f"/{name}", app=create_app(d)) for name, d in deployments.items()]
    app = Starlette(routes=routes)
    app.add_middleware(RecordArrivals, log=log)
    return app
