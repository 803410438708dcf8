"""`/_sim/*` of the Cloud API simulator: inspect it, switch scenarios, reset or resize the budget.

As the On-Prem admin API: a path Graph never uses, no auth (a test tool), bad input is a 400
that changes nothing. The token never appears in an answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from watchdog.simulator.admin import json_object
from watchdog.simulator.graph import GraphDeployment
from watchdog.simulator.graph_scenarios import GRAPH_DESCRIPTIONS, GraphScenario


class GraphAdmin:
    """The admin endpoints over one `GraphDeployment`."""

    def __init__(self, deployment: GraphDeployment) -> None:
        self.d = deployment

    def state(self) -> JSONResponse:
        d = self.d
        now = d.clock()
        usage = d.usage.usage(now)
        expires = d.token_expires_at()
        return JSONResponse(
            {
                "kind": "cloud",
                "scenario": d.scenario.value,
                "waba_id": d.config.waba_id,
                "business_id": d.config.business_id,
                "app_id": d.config.app_id,
                "phone_numbers": [
                    {
                        "id": n.id,
                        "display_phone_number": n.display_phone_number,
                        "scenario": d.number_scenario(n.id).value,
                    }
                    for n in d.numbers
                ],
                "token": {
                    "expires_at": int(expires),
                    "valid": d.check_token(d.config.token, now) is None,
                },
                "usage": {
                    "calls_in_window": usage.calls,
                    "allowance": usage.allowance,
                    "hourly_allowance": d.hourly_allowance,
                    "call_count": usage.call_count,
                    "estimated_time_to_regain_access": usage.estimated_time_to_regain_access,
                },
                "scenarios": {s.value: GRAPH_DESCRIPTIONS[s] for s in GraphScenario},
            }
        )

    async def scenario(self, request: Request) -> JSONResponse:
        """`{"scenario": name}` for the account, with `"phone_number_id"` for one number."""
        body = await json_object(request)
        try:
            scenario = GraphScenario(str(body.get("scenario")))
        except ValueError:
            names = ", ".join(s.value for s in GraphScenario)
            return JSONResponse({"error": f"unknown scenario; choose one of: {names}"}, 400)
        number = body.get("phone_number_id")
        if number is not None and not isinstance(number, str):
            return JSONResponse({"error": "phone_number_id must be a string"}, 400)
        try:
            self.d.set_scenario(scenario, number)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return self.state()

    async def restart(self, _: Request) -> JSONResponse:
        """The budget is full again: the calls of the past hour are forgotten."""
        self.d.restart()
        return self.state()

    async def usage(self, request: Request) -> JSONResponse:
        """`{"hourly_allowance": N}`: the budget outside the throttling scenario."""
        allowance = (await json_object(request)).get("hourly_allowance")
        if isinstance(allowance, bool) or not isinstance(allowance, int) or allowance < 1:
            return JSONResponse({"error": "hourly_allowance must be a whole number >= 1"}, 400)
        self.d.set_hourly_allowance(allowance)
        return self.state()
