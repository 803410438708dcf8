"""An alert engine over a state with a fake clock, fed by a simulator deployment's answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from watchdog.alerts.engine import AlertEngine, Notify
from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.rules import Rule, default_rules
from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.simulator import Deployment, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import State

T0 = 1_800_000_000.0
TARGET = Target(name="prod", url="http://prod.test", stats_db_interval=0)


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
    ) -> None:
        self.clock = Clock()
        self.state = State([TARGET], clock=self.clock, expectation=expectation)
        self.sent: list[Alert] = []
        self.engine = AlertEngine(
            self.state,
            self.sent.append,
            rules=configured(*rules),
            clock=self.clock,
            refresh=refresh,
        )
        self.deployment = Deployment(SimulatorConfig(topology=topology), clock=self.clock)

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

    def ok(self, endpoint: Endpoint) -> list[Alert]:
        result = PollResult(
            "prod", endpoint, self.clock(), 0.01, 200, None, body=self.body(endpoint)
        )
        return self._record(result)

    def fail(
        self,
        endpoint: Endpoint,
        reason: str,
        status: int | None,
        code: int | None = None,
        details: str | None = None,
    ) -> list[Alert]:
        error = ApiErrorInfo(code, "title", details) if code else None
        detail = f"HTTP {status} title ({code}): {details}" if details else reason
        result = PollResult("prod", endpoint, self.clock(), 0.01, status, reason, detail, error)
        return self._record(result)

    def answer(self, endpoint: Endpoint, body: Any) -> list[Alert]:
        """A 200 with `body` as the answer."""
        return self._record(PollResult("prod", endpoint, self.clock(), 0.01, 200, None, body=body))

    def _record(self, result: PollResult) -> list[Alert]:
        before = len(self.sent)
        change = self.state.record(observe(result))
        assert change is not None
        self.engine.on_change(change)
        return self.sent[before:]

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


def names(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.name, a.state.value) for a in alerts]
