"""An alert engine over a state with a fake clock, fed by a simulator deployment's answers: an
On-Premises deployment's, or (for a Cloud target) the simulated Graph API's."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from watchdog.alerts.checks import TargetView
from watchdog.alerts.engine import AlertEngine, Notify
from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.rules import Rule, default_rules
from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.graph import PHONE_NUMBER_FIELDS
from watchdog.api.graph_usage import Usage, parse_usage_header
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import GRAPH_URL, Target
from watchdog.simulator import Deployment, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.simulator.graph import (
    BUSINESS_ID,
    PHONE_NUMBER_ID,
    WABA_ID,
    GraphConfig,
    GraphDeployment,
)
from watchdog.state import State

T0 = 1_800_000_000.0
TARGET = Target(name="prod", url="http://prod.test", stats_db_interval=0)
# A Cloud API number with its WABA, at the default intervals (number 5m, WABA 15m, token 1 day).
CLOUD = Target(
    name="shop", url=GRAPH_URL, kind="cloud", phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Harness:
    """A state, an engine with a fake clock, a simulator deployment, and the notifications."""

    def __init__(
        self,
        topology: Topology = Topology.SINGLE,
        rules: Iterable[Rule] = (),
        expectation: Expectation | None = None,
        refresh: Notify | None = None,
        target: Target = TARGET,
    ) -> None:
        self.clock = Clock()
        self.target = target
        self.state = State([target], clock=self.clock, expectation=expectation)
        self.sent: list[Alert] = []
        self.engine = AlertEngine(
            self.state,
            self.sent.append,
            rules=configured(*rules),
            clock=self.clock,
            refresh=refresh,
        )
        self.deployment = Deployment(SimulatorConfig(topology=topology), clock=self.clock)
        self.graph = GraphDeployment(GraphConfig(), clock=self.clock)

    def body(self, endpoint: Endpoint) -> Any:
        d = self.deployment
        now = self.clock()
        if endpoint is Endpoint.HEALTH:
            answer: Any = d.health(now)
            key = "health"
        elif endpoint is Endpoint.METRICS:
            answer, key = d.metrics(now), "metrics"
        else:
            answer, key = {"app": d.stats_app(now)}, "stats"
        assert not isinstance(answer, ApiError)
        return {key: answer, "meta": d.meta}

    def graph_body(self, endpoint: Endpoint) -> Any:
        """The simulated Graph API's answer to a Cloud poll of `endpoint`, as the watchdog asks."""
        g = self.graph
        if endpoint is Endpoint.PHONE_NUMBER:
            answer = g.phone_number(PHONE_NUMBER_ID, PHONE_NUMBER_FIELDS.split(","))
        elif endpoint is Endpoint.WABA:
            answer = g.waba(["health_status"])
        else:
            return {"data": g.debug_token(g.config.token, self.clock())}
        assert isinstance(answer, dict)
        return answer

    def ok(self, endpoint: Endpoint, usage: tuple[Usage, ...] = ()) -> list[Alert]:
        cloud = endpoint.spec.kind == "cloud"
        body = self.graph_body(endpoint) if cloud else self.body(endpoint)
        return self.answer(endpoint, body, usage)

    def fail(
        self,
        endpoint: Endpoint,
        reason: str,
        status: int | None,
        code: int | None = None,
        details: str | None = None,
        usage: tuple[Usage, ...] = (),
    ) -> list[Alert]:
        error = ApiErrorInfo(code, "title", details) if code else None
        detail = f"HTTP {status} title ({code}): {details}" if details else reason
        name = self.target.name
        result = PollResult(
            name, endpoint, self.clock(), 0.01, status, reason, detail, error, usage=usage
        )
        return self._record(result)

    def answer(self, endpoint: Endpoint, body: Any, usage: tuple[Usage, ...] = ()) -> list[Alert]:
        """A 200 with `body` as the answer (and a Graph answer's usage header)."""
        name = self.target.name
        result = PollResult(name, endpoint, self.clock(), 0.01, 200, None, body=body, usage=usage)
        return self._record(result)

    def _record(self, result: PollResult) -> list[Alert]:
        before = len(self.sent)
        change = self.state.record(observe(result))
        assert change is not None
        self.engine.on_change(change)
        return self.sent[before:]

    def view(self) -> TargetView:
        """What the rules see of the target now, as the engine builds it."""
        name, now = self.target.name, self.clock()
        return TargetView(
            target=self.target,
            endpoints=self.state.endpoints(name),
            history=self.engine.history(name),
            now=now,
            gateway=self.state.gateway(name, now),
            cloud=self.state.cloud_memory(name),
        )

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    def firing(self) -> set[str]:
        return {a.name for a in self.engine.alerts() if a.state is AlertState.FIRING}


def configured(*own: Rule) -> list[Rule]:
    """Every rule at its documented defaults (`for`, windows, ...), the test's own rules in
    place of the same rules; own rules of other keys come first."""
    by_key = {rule.key: rule for rule in own}
    defaults = [by_key.pop(rule.key, rule) for rule in default_rules()]
    return [*by_key.values(), *defaults]


def usage(percent: float, regain: float = 0, business: str = BUSINESS_ID) -> tuple[Usage, ...]:
    """An X-Business-Use-Case-Usage header as the simulated Graph API writes it, parsed as the
    watchdog reads it: `percent` of the hourly allowance in call_count, less in the others."""
    entry = {
        "type": "whatsapp_business_management",
        "call_count": percent,
        "total_cputime": percent / 4,
        "total_time": percent / 2,
        "estimated_time_to_regain_access": regain,
    }
    return parse_usage_header(json.dumps({business: [entry]}))


def names(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.name, a.state.value) for a in alerts]
