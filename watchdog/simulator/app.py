"""The simulator's HTTP surface: the API's monitoring endpoints, login, and an admin API.

Order of checks on an API request follows the Webapp: routing (unknown path → 404 before any
auth), the security firewall (401/403), rate limits, then the controller, which talks to the
Coreapp (where concurrency overload, 503, arises). Admin endpoints live under `/_sim/`, a path
the real API never used, so they cannot collide with it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
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

from watchdog.simulator.arrivals import ArrivalLog, RecordArrivals
from watchdog.simulator.auth import KeyScope, expires_after_text
from watchdog.simulator.deployment import Deployment, Families
from watchdog.simulator.errors import (
    HEALTH_RATE_LIMITED,
    INVALID_CREDENTIALS,
    LOGIN_RATE_LIMITED,
    MISSING_CREDENTIALS,
    NO_PERMISSION,
    OVERLOADED,
    PATH_NOT_FOUND,
    REQUEST_RATE_LIMITED,
    ApiError,
    envelope,
)
from watchdog.simulator.render import merge_nodes, prometheus_text
from watchdog.simulator.scenarios import DESCRIPTIONS, Scenario

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

    def authenticate(self, request: Request, endpoint: str, now: float) -> ApiError | None:
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
            if self.d.credentials.check_token(credential, now) is None:
                return INVALID_CREDENTIALS
            return None
        return MISSING_CREDENTIALS

    async def health(self, request: Request) -> Response:
        return await self._monitor(request, "health", "GET_v1_health", self.d.health)

    async def metrics(self, request: Request) -> Response:
        return await self._monitor(request, "metrics", "GET_metrics", self.d.metrics)

    async def stats_app(self, request: Request) -> Response:
        return await self._monitor(request, "stats_app", "GET_v1_stats_app", self.d.stats_app)

    async def stats_db(self, request: Request) -> Response:
        return await self._monitor(request, "stats_db", "GET_v1_stats_db", self.d.stats_db)

    async def _monitor(
        self, request: Request, endpoint: str, method: str, build: Build
    ) -> Response:
        started = time.perf_counter()
        response = await self._answer(request, endpoint, build)
        self.d.record(method, response.status_code, (time.perf_counter() - started) * 1000)
        return response

    async def _answer(self, request: Request, endpoint: str, build: Build) -> Response:
        now = self.d.clock()
        prometheus = endpoint != "health" and request.query_params.get("format") == "prometheus"
        denied = self.authenticate(request, endpoint, now)
        if denied is not None:
            return self.error(denied)
        scenario = self.d.effective_scenario(now)
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
        return self._counted("POST_v1_users_login", lambda: self._login(request, self.d.clock()))

    async def logout(self, request: Request) -> Response:
        return self._counted("POST_v1_users_logout", lambda: self._logout(request))

    def _counted(self, method: str, answer: Callable[[], Response]) -> Response:
        started = time.perf_counter()
        response = answer()
        self.d.record(method, response.status_code, (time.perf_counter() - started) * 1000)
        return response

    def _login(self, request: Request, now: float) -> Response:
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
        token = self.d.credentials.issue(user, now)

        users = [{"token": token.value, "expires_after": expires_after_text(token.expires_at)}]
        return JSONResponse({"users": users, "meta": self.d.meta})

    def _logout(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self.error(MISSING_CREDENTIALS)
        if self.d.credentials.check_token(token, self.d.clock()) is None:
            return self.error(INVALID_CREDENTIALS)
        # Revokes only this token; the user's other tokens stay valid (reference §4.2).
        self.d.credentials.revoke(token)
        return JSONResponse({"meta": self.d.meta})


class AdminApi:
    """`/_sim/*`: inspect the simulator and change its scenario, key or token lifetime."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment

    def state(self, _: Request | None = None) -> JSONResponse:
        now = self.d.clock()
        nodes = [
            {
                "key": n.key,
                "role": n.role.value if n.role else None,
                "gateway_status": self.d.node_status(n, now),
            }
            for n in self.d.nodes
        ]
        return JSONResponse(
            {
                "scenario": self.d.scenario.value,
                "effective_scenario": self.d.effective_scenario(now).value,
                "topology": self.d.config.topology.value,
                "version": self.d.config.version,
                "key_scope": self.d.key_scope.value,
                "token_lifetime": self.d.credentials.token_lifetime,
                "nodes": nodes,
                "scenarios": {s.value: DESCRIPTIONS[s] for s in Scenario},
            }
        )

    async def scenario(self, request: Request) -> JSONResponse:
        body = await _json_object(request)
        try:
            self.d.set_scenario(Scenario(str(body.get("scenario"))))
        except ValueError:
            names = ", ".join(s.value for s in Scenario)
            return JSONResponse({"error": f"unknown scenario; choose one of: {names}"}, 400)
        return self.state()

    async def restart(self, _: Request) -> JSONResponse:
        self.d.restart()
        return self.state()

    async def auth(self, request: Request) -> JSONResponse:
        body = await _json_object(request)
        # Validate everything before changing anything: a 400 leaves the state as it was.
        key = body.get("api_key")
        if key is not None and not isinstance(key, str):
            return JSONResponse({"error": "api_key must be a string or null"}, 400)
        lifetime = body.get("token_lifetime", 1.0)
        if (
            not isinstance(lifetime, int | float)
            or isinstance(lifetime, bool)
            or not math.isfinite(lifetime)
            or lifetime <= 0
        ):
            return JSONResponse({"error": "token_lifetime must be a positive number"}, 400)
        try:
            scope = KeyScope(body.get("key_scope", self.d.key_scope))
        except ValueError:
            return JSONResponse({"error": "key_scope must be 'all' or 'health_only'"}, 400)
        if "api_key" in body:
            self.d.credentials.set_api_key(key)
        if "token_lifetime" in body:
            self.d.credentials.token_lifetime = float(lifetime)
        if "key_scope" in body:
            self.d.key_scope = scope
        return self.state()


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
