"""`/_sim/*`: inspect the simulator and change its scenario, Webapps, key or logins.

A path the real API never used, so it cannot collide with it; no auth, since the simulator is a
test tool. Bad input is a 400 that changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from watchdog.simulator.auth import KeyScope
from watchdog.simulator.deployment import Deployment
from watchdog.simulator.scenarios import DESCRIPTIONS, Scenario


class AdminApi:
    """The admin endpoints over one `Deployment`."""

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
        webapps = [
            {
                "index": w.index,
                "host": w.host,
                "scenario": self.d.webapp_scenario(w, now).value,
                "override": None if w.override is None else w.override.value,
                "requests_served": w.served,
            }
            for w in self.d.webapps
        ]
        credentials = self.d.credentials
        return JSONResponse(
            {
                "scenario": self.d.scenario.value,
                "effective_scenario": self.d.effective_scenario(now).value,
                "topology": self.d.config.topology.value,
                "version": self.d.config.version,
                "key_scope": self.d.key_scope.value,
                "token_lifetime": credentials.token_lifetime,
                "password_change_required": credentials.password_change_required,
                "users_to_change_password": credentials.users_to_change_password,
                "nodes": nodes,
                "webapps": webapps,
                "scenarios": {s.value: DESCRIPTIONS[s] for s in Scenario},
            }
        )

    async def scenario(self, request: Request) -> JSONResponse:
        body = await json_object(request)
        try:
            scenario = Scenario(str(body.get("scenario")))
        except ValueError:
            names = ", ".join(s.value for s in Scenario)
            return JSONResponse({"error": f"unknown scenario; choose one of: {names}"}, 400)
        webapp, problem = self._webapp(body)
        if problem is not None:
            return problem
        try:
            self.d.set_scenario(scenario, webapp)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return self.state()

    async def restart(self, request: Request) -> JSONResponse:
        # No body (or not JSON): the whole deployment restarts, as it always did.
        webapp, problem = self._webapp(await json_object(request))
        if problem is not None:
            return problem
        self.d.restart(webapp)
        return self.state()

    def _webapp(self, body: dict[str, Any]) -> tuple[int | None, JSONResponse | None]:
        """The `webapp` index of an admin request, or the 400 that refuses it."""
        webapp = body.get("webapp")
        if webapp is None:
            return None, None
        count = len(self.d.webapps)
        if isinstance(webapp, bool) or not isinstance(webapp, int) or not 0 <= webapp < count:
            return None, JSONResponse({"error": f"webapp must be an index, 0 to {count - 1}"}, 400)
        return webapp, None

    async def auth(self, request: Request) -> JSONResponse:
        body = await json_object(request)
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
        change = body.get("password_change_required", False)
        if not isinstance(change, bool):
            return JSONResponse({"error": "password_change_required must be true or false"}, 400)
        if "api_key" in body:
            self.d.credentials.set_api_key(key)
        if "token_lifetime" in body:
            self.d.credentials.token_lifetime = float(lifetime)
        if "key_scope" in body:
            self.d.key_scope = scope
        if "password_change_required" in body:
            self.d.credentials.require_password_change(change)
        return self.state()


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body if it is an object, else an empty one (admins send little)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
