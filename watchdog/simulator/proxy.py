"""The load balancer / reverse proxy in front of the Webapps.

Every API request takes the next Webapp in turn. When that Webapp's scenario is one of the
proxy faults, the proxy answers by itself, as nginx does when its upstream fails: an HTML error
page, no JSON, no API error envelope and no `X-Request-ID` (only the Webapp sets that one), and
the Webapp never sees the request, so none of its counters move. The admin API (`/_sim/...`)
is the simulator's own and bypasses the balancer.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from watchdog.simulator.deployment import Deployment
from watchdog.simulator.scenarios import PROXY_STATUS, Scenario

# Where the app finds the index of the Webapp that serves a request.
WEBAPP_KEY = "wa_simulator.webapp"
ADMIN_PREFIX = "/_sim"

# nginx's own reason phrases and page layout (CRLF line ends included), since nginx is the
# proxy most often put in front of the Webapp.
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def error_page(status: int) -> bytes:
    """The HTML page nginx answers `status` with."""
    title = f"{status} {_REASONS[status]}"
    lines = [
        "<html>",
        f"<head><title>{title}</title></head>",
        "<body>",
        f"<center><h1>{title}</h1></center>",
        "<hr><center>nginx</center>",
        "</body>",
        "</html>",
        "",
    ]
    return "\r\n".join(lines).encode()


def _route_path(scope: Scope) -> str:
    # Under `create_multi_app`'s mounts the path still carries the deployment's prefix.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class LoadBalancerMiddleware:
    """ASGI middleware: picks the Webapp of each API request, or answers as a failing proxy."""

    def __init__(self, app: ASGIApp, deployment: Deployment) -> None:
        self.app = app
        self.deployment = deployment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or route == ADMIN_PREFIX or route.startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        d = self.deployment
        webapp = d.next_webapp()
        scenario = d.webapp_scenario(webapp, d.clock())
        status = PROXY_STATUS.get(scenario)
        if status is None:
            d.balancer.serve(webapp)
            await self.app({**scope, WEBAPP_KEY: webapp.index}, receive, send)
            return
        if scenario is Scenario.PROXY_504:
            # A gateway timeout comes after the proxy waited for the upstream (nginx's
            # proxy_read_timeout, 60 s by default); --slow-delay stands in for it.
            await asyncio.sleep(d.config.slow_delay)
        body = error_page(status)
        headers = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
