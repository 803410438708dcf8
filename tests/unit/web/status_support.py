"""What the status-document tests share: a state filled with simulator answers, alerts."""

from __future__ import annotations

from typing import Any

from watchdog.alerts.model import Alert, AlertState, AlertView
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import State

T0 = 1_800_000_000.0
KEY = "unit-status-key-0123456789"
HEALTHY = {"health": {"gateway_status": "connected"}, "meta": {"version": "v2.45.1"}}


def health_body(topology: Topology, scenario: Scenario) -> dict[str, Any]:
    deployment = Deployment(SimulatorConfig(topology=topology, scenario=scenario))
    answer = deployment.health(T0)
    assert not isinstance(answer, ApiError)
    return {"health": answer, "meta": deployment.meta}


def record_ok(
    state: State,
    body: Any = None,
    at: float = T0,
    name: str = "prod",
    endpoint: Endpoint = Endpoint.HEALTH,
) -> None:
    result = PollResult(name, endpoint, at, 0.02, 200, None, body=HEALTHY if body is None else body)
    state.record(observe(result))


def record_failed(
    state: State, reason: str, status_code: int | None, at: float = T0, name: str = "prod"
) -> None:
    state.record(observe(PollResult(name, Endpoint.HEALTH, at, 0.02, status_code, reason)))


def make_state(*names: str) -> State:
    targets = [Target(name=n, url=f"http://{n}.test") for n in names or ("prod",)]
    return State(targets, clock=lambda: T0)


def alert(
    name: str,
    severity: str = "critical",
    state: AlertState = AlertState.FIRING,
    *,
    target: str = "prod",
    since: float = T0 - 600,
    starts: float | None = None,
    ends: float | None = None,
    node: str | None = None,
) -> Alert:
    labels = {"alertname": name, "severity": severity, "target": target}
    if node is not None:
        labels["node"] = node
    if state is not AlertState.PENDING and starts is None:
        starts = since
    annotations = {"summary": f"{name} summary", "description": f"{name} description"}
    return Alert(labels, annotations, state, since, starts, ends)


def views(*alerts: Alert) -> list[AlertView]:
    return [AlertView(a) for a in alerts]


def target_doc(doc: dict[str, Any], name: str = "prod") -> dict[str, Any]:
    return next(t for t in doc["targets"] if t["name"] == name)


def polled_for_two_hours(state: State, name: str = "prod") -> float:
    """Health polled every 15 s for two hours; returns `now`, a little after the last poll."""
    for i in range(480):
        record_ok(state, at=T0 + 15 * i, name=name)
    return T0 + 15 * 479 + 3
