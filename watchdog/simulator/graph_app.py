"""The simulated Cloud API's HTTP surface: Graph paths, and the admin API under `/_sim/`.

`GET /v{N}.{M}/<PHONE_NUMBER_ID>?fields=...`, `GET /v{N}.{M}/<WABA_ID>?fields=...`,
`GET /v{N}.{M}/<WABA_ID>/phone_numbers` and `GET /v{N}.{M}/debug_token?input_token=...`; any
version, or none (Graph then uses the app's default). Order of checks as Graph's front door
plausibly has it: a proxy on the way, Graph's own availability, the token, the path, the
WABA's budget, then the fields.
"""

from __future__ import annotations

import json
import re
import secrets
import string

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from watchdog.simulator.graph import GraphDeployment
from watchdog.simulator.graph_admin import GraphAdmin
from watchdog.simulator.graph_errors import (
    MISSING_INPUT_TOKEN,
    UNAVAILABLE,
    GraphError,
    throttled,
    unknown_path,
    unsupported_request,
)
from watchdog.simulator.graph_scenarios import GraphScenario
from watchdog.simulator.graph_usage import Usage
from watchdog.simulator.proxy import error_page

_VERSION = re.compile(r"v\d+\.\d+")
_TRACE_ALPHABET = string.ascii_letters + string.digits
USAGE_HEADER = "X-Business-Use-Case-Usage"
ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]


class GraphApi:
    """Request handlers over one `GraphDeployment`."""

    def __init__(self, deployment: GraphDeployment) -> None:
        self.d = deployment

    async def dispatch(self, request: Request) -> Response:
        d = self.d
        now = d.clock()
        scenario = d.scenario
        if scenario is GraphScenario.HTML_PROXY:
            # The customer's egress proxy answers by itself: HTML, none of Graph's headers.
            return Response(error_page(502), status_code=502, media_type="text/html")
        version, parts = _split(request.url.path, d.config.default_version)
        headers = {"facebook-api-version": version}
        if scenario is GraphScenario.TRANSIENT_503:
            return _error(UNAVAILABLE, headers)
        token = _token(request)
        if parts == ["debug_token"] and request.method == "GET":
            return self._debug_token(request, token, now, headers)
        denied = d.check_token(token, now)
        if denied is not None:
            return _error(denied, headers)
        node = parts[0] if parts else ""
        phone, waba = d.is_phone_number(node), d.is_waba(node)
        if request.method != "GET" or not (phone or waba):
            return _error(unsupported_request(request.method, node), headers)
        edge = parts[1:]
        if edge and not (waba and edge == ["phone_numbers"]):
            return _error(unknown_path("/".join(edge)), headers)
        # Every call on the WABA's nodes counts, refused ones excepted (graph_usage.py); each
        # answer, a refusal included, says where the budget stands.
        allowed, usage = d.count_call(now)
        headers[USAGE_HEADER] = _usage_header(d.config.business_id, usage)
        if not allowed:
            return _error(throttled(d.config.throttle_status), headers)
        fields = parse_fields(request.query_params.get("fields"))
        if phone:
            answer = d.phone_number(node, fields)
        elif edge:
            answer = d.phone_numbers(fields)
        else:
            answer = d.waba(fields)
        if isinstance(answer, GraphError):
            return _error(answer, headers)
        return JSONResponse(answer, headers={**headers, "x-fb-trace-id": _trace_id()})

    def _debug_token(
        self, request: Request, token: str, now: float, headers: dict[str, str]
    ) -> Response:
        """Inspect a token. The caller proves itself with the app token (`<app_id>|<secret>`)
        or with the account's own valid token (whether Graph lets a token inspect itself is
        UNCONFIRMED; most clients do it, so the simulator allows it)."""
        d = self.d
        if not d.is_app_token(token):
            denied = d.check_token(token, now)
            if denied is not None:
                return _error(denied, headers)
        input_token = request.query_params.get("input_token")
        if not input_token:
            return _error(MISSING_INPUT_TOKEN, headers)
        data = d.debug_token(input_token, now)
        return JSONResponse({"data": data}, headers={**headers, "x-fb-trace-id": _trace_id()})


def parse_fields(text: str | None) -> list[str] | None:
    """The names in a `fields` parameter, None when it is absent or empty.

    A sub-selection (`throughput{level}`) names its field; the simulator always answers the
    whole value, which is what a client asking for every sub-field gets.
    """
    if text is None:
        return None
    names: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif depth == 0 and char == ",":
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.append(current.strip())
    chosen = [n for n in names if n]
    return chosen or None


def _split(path: str, default_version: str) -> tuple[str, list[str]]:
    """The version a path asks for (or the default) and its remaining segments."""
    parts = [p for p in path.split("/") if p]
    if parts and _VERSION.fullmatch(parts[0]):
        return parts[0], parts[1:]
    return default_version, parts


def _token(request: Request) -> str:
    """The access token: `Authorization: Bearer` (or `OAuth`), else `access_token=`."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and credential.strip():
        return credential.strip()
    return request.query_params.get("access_token", "")


def _usage_header(business_id: str, usage: Usage) -> str:
    # Keyed by the business id as the reference's `<business-id>`; whether WhatsApp keys it by
    # the business portfolio or the WABA is UNCONFIRMED.
    return json.dumps({business_id: [usage.entry()]}, separators=(",", ":"))


def _trace_id() -> str:
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


def _error(err: GraphError, headers: dict[str, str]) -> JSONResponse:
    trace = _trace_id()
    extra = {"x-fb-trace-id": trace}
    if err.code == 190:
        # Graph names the token problem in the OAuth challenge too.
        extra["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
    return JSONResponse(err.body(trace), status_code=err.status, headers={**headers, **extra})


def create_graph_app(deployment: GraphDeployment) -> Starlette:
    """The ASGI app serving one simulated Cloud API account."""
    api = GraphApi(deployment)
    admin = GraphAdmin(deployment)

    async def state(request: Request) -> Response:
        return admin.state()

    async def admin_not_found(request: Request) -> Response:
        return JSONResponse({"error": "unknown admin path"}, 404)

    routes = [
        Mount(
            "/_sim",
            routes=[
                Route("/state", state, methods=["GET"]),
                Route("/scenario", admin.scenario, methods=["POST"]),
                Route("/restart", admin.restart, methods=["POST"]),
                Route("/usage", admin.usage, methods=["POST"]),
                Route("/{rest:path}", admin_not_found, methods=ALL_METHODS),
            ],
        ),
        Route("/{path:path}", api.dispatch, methods=ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return app
