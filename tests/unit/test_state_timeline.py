"""The state's history for the status page: every poll on its endpoint's timeline (a health
answer as its gateway verdict), queue gauges per node as trends, rings sized by the setting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_state import NOW, Clock, counters, failed, ok, target
from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import MAX_QUEUE_NODES, QUEUE_GAUGES, State
from watchdog.timeline import Columns

# -- the timeline and queue trends ----------------------------------------------------------------


def health_body(topology: Topology, scenario: Scenario, at: float = NOW) -> Any:
    deployment = Deployment(SimulatorConfig(topology=topology, scenario=scenario))
    answer = deployment.health(at)
    assert not isinstance(answer, ApiError)
    return {"health": answer, "meta": deployment.meta}


def timeline(state: State, endpoint: Endpoint = Endpoint.HEALTH, name: str = "prod") -> Columns:
    endpoint_state = state.get(name, endpoint)
    assert endpoint_state is not None
    return endpoint_state.timeline.since(0)


def trends(state: State, name: str = "prod") -> dict[tuple[str, str], list[float]]:
    return {key: trend.since(0)[1] for key, trend in state.queues(name).items()}


@pytest.mark.parametrize(
    ("topology", "scenario", "outcome", "mark"),
    [
        (Topology.SINGLE, Scenario.HEALTHY, "ok", "ok"),
        (Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED, "gateway down", "critical"),
        (Topology.SINGLE, Scenario.UNREGISTERED, "not registered", "warning"),
        (Topology.HA, Scenario.HEALTHY, "ok", "ok"),  # standbys disconnected is normal
        (Topology.HA, Scenario.COREAPP_DOWN, "gateway down", "critical"),
        (Topology.MULTICONNECT, Scenario.UNINITIALIZED, "not registered", "warning"),
    ],
)
def test_a_health_answer_is_recorded_as_its_gateway_verdict(
    topology: Topology, scenario: Scenario, outcome: str, mark: str
) -> None:
    """A 200 from health is not "ok" by itself: the timeline keeps what its gateways say."""
    state = State([target()])
    state.record(ok(Endpoint.HEALTH, health_body(topology, scenario)))
    columns = timeline(state)
    assert (columns.result, columns.mark, columns.status_code) == ([outcome], [mark], [200])


def test_a_shard_lost_after_being_seen_is_gateway_down_on_the_timeline() -> None:
    """The verdict on each poll uses the gateway memory: a multiconnect shard seen connected and
    then lost is down, as the alert and the page say, though the answer alone would look up."""
    state = State([target()])
    state.record(ok(Endpoint.HEALTH, health_body(Topology.MULTICONNECT, Scenario.HEALTHY)))
    lost = health_body(Topology.MULTICONNECT, Scenario.GATEWAY_DISCONNECTED, NOW + 15)
    state.record(ok(Endpoint.HEALTH, lost, at=NOW + 15))
    assert timeline(state).result == ["ok", "gateway down"]


def test_a_gateway_connecting_too_long_is_degraded_on_the_timeline() -> None:
    state = State([target()], expectation=Expectation(connecting_limit=300))
    connecting = {"health": {"gateway_status": "connecting"}, "meta": {}}
    state.record(ok(Endpoint.HEALTH, connecting, at=NOW))
    state.record(ok(Endpoint.HEALTH, connecting, at=NOW + 301))
    columns = timeline(state)
    assert (columns.result, columns.mark) == (["ok", "degraded"], ["ok", "warning"])


def test_failures_are_recorded_with_their_reason_status_and_duration() -> None:
    state = State([target()])
    state.record(failed("http_503", Endpoint.HEALTH, status=503, at=NOW, duration=0.25))
    state.record(failed("timeout", Endpoint.HEALTH, at=NOW + 15, duration=5.0))
    state.record(failed("http_429", Endpoint.HEALTH, status=429, at=NOW + 30, duration=0.01))
    state.record(ok(Endpoint.HEALTH, at=NOW + 45))
    state.record(ok(Endpoint.METRICS, at=NOW + 50))
    columns = timeline(state)
    assert columns.at == [NOW, NOW + 15, NOW + 30, NOW + 45]
    assert columns.result == ["http_503", "timeout", "http_429", "ok"]
    assert columns.mark == ["critical", "critical", "warning", "ok"]
    assert columns.status_code == [503, None, 429, 200]
    assert columns.duration_ms == [250, 5000, 10, 50]
    # Every endpoint has its own timeline; a success of another endpoint is plainly "ok".
    assert timeline(state, Endpoint.METRICS).result == ["ok"]


def test_queue_gauges_of_app_stats_per_node() -> None:
    """pending_messages and callback_queue_size of /v1/stats/app are kept per node."""
    deployment = Deployment(SimulatorConfig(topology=Topology.HA, scenario=Scenario.OVERLOADED))
    body = {"stats": {"app": deployment.stats_app(NOW)}, "meta": deployment.meta}
    state = State([target()])
    state.record(ok(Endpoint.STATS_APP, body))
    found = trends(state)
    nodes = [node.key for node in deployment.nodes]
    assert set(found) == {
        (g, n) for g in ("pending_messages", "callback_queue_size") for n in nodes
    }
    active = nodes[2]  # the active coreapp carries the backlog
    assert found[("pending_messages", active)] == [95000.0]
    assert found[("callback_queue_size", active)] == [60000.0]
    assert found[("pending_messages", nodes[3])] == [0.0]


def test_queue_series_of_one_node_add_up_and_follow_later_polls() -> None:
    """A single instance has no node label (""); series of one node with other labels are the
    node's queue together; each later poll is a new point of the trend."""

    def stats(pending: float) -> Any:
        data = [{"labels": {"type": "a"}, "value": pending}, {"labels": {"type": "b"}, "value": 2}]
        family = {"type": "gauge", "help": "", "data": data}
        return {"stats": {"app": {"pending_messages": family, "other_gauge": family}}}

    state = State([target()])
    state.record(ok(Endpoint.STATS_APP, stats(5), at=NOW))
    state.record(ok(Endpoint.STATS_APP, stats(40), at=NOW + 60))
    assert trends(state) == {("pending_messages", ""): [7.0, 42.0]}
    assert state.queues("prod")[("pending_messages", "")].since(0)[0] == [NOW, NOW + 60]


def test_queue_gauges_from_metrics_and_nodes_unseen_for_an_hour_are_dropped() -> None:
    state = State([target()])
    both = counters(("pending_messages", {"node": "web-1"}, 12.0),
                    ("pending_messages", {"node": "web-2"}, 3.0), kind="gauge")  # fmt: skip
    state.record(ok(body=both, at=NOW))
    assert trends(state) == {
        ("pending_messages", "web-1"): [12.0],
        ("pending_messages", "web-2"): [3.0],
    }
    one = counters(("pending_messages", {"node": "web-2"}, 4.0), kind="gauge")
    state.record(ok(body=one, at=NOW + 3600))
    assert set(trends(state)) == {("pending_messages", "web-1"), ("pending_messages", "web-2")}
    state.record(ok(body=one, at=NOW + 3601))
    assert trends(state) == {("pending_messages", "web-2"): [3.0, 4.0]}


def test_failed_or_queueless_polls_add_no_queue() -> None:
    state = State([target()])
    state.record(failed("http_503", Endpoint.STATS_APP, status=503))
    state.record(ok(body=counters(("requests", {"node": "w"}, 1.0))))
    state.record(ok(Endpoint.HEALTH))
    assert state.queues("prod") == {}
    assert state.queues("nope") == {}


@pytest.mark.parametrize(
    ("history", "health", "metrics", "stats_app"),
    [(86400.0, 5761, 2881, 1441), (3600.0, 241, 121, 61)],
)
def test_timeline_capacity_follows_the_history_setting_and_the_interval(
    history: float, health: int, metrics: int, stats_app: int
) -> None:
    """Each ring holds the history at its endpoint's interval (15 s, 30 s, 60 s by default)."""
    state = State([target()], history=history)
    capacities = {e: s.timeline.capacity for e, s in state.endpoints("prod").items()}
    assert capacities == {
        Endpoint.HEALTH: health, Endpoint.METRICS: metrics, Endpoint.STATS_APP: stats_app,
    }  # fmt: skip


def test_a_longer_interval_keeps_the_polls_of_the_history_window() -> None:
    """A reload from 15 s to 60 s keeps the hour of polls made at 15 s (a day's uptime after a
    reload still covers the day); polls older than the history go."""
    clock = Clock(NOW + 15 * 299 + 1)
    state = State([target(health_interval=15.0)], clock=clock, history=3600.0)
    for i in range(300):
        state.record(ok(Endpoint.HEALTH, at=NOW + 15 * i))
    kept = state.get("prod", Endpoint.HEALTH)
    assert kept is not None
    assert len(kept.timeline) == 241
    state.set_targets([target(health_interval=60.0)])
    assert state.get("prod", Endpoint.HEALTH) is kept
    in_the_hour = [NOW + 15 * i for i in range(60, 300)]  # at or after now - 3600
    assert kept.timeline.capacity == len(in_the_hour)
    assert kept.timeline.since(0).at == in_the_hour
    state.record(ok(Endpoint.HEALTH, at=NOW + 15 * 300))
    assert timeline(state).at == [*in_the_hour[1:], NOW + 15 * 300]


def test_a_shorter_history_keeps_only_the_newest() -> None:
    clock = Clock(NOW + 15 * 299 + 1)
    state = State([target(health_interval=15.0)], clock=clock, history=3600.0)
    for i in range(300):
        state.record(ok(Endpoint.HEALTH, at=NOW + 15 * i))
    clock.now += 3 * 3600  # nothing polled for three hours, then a reload
    state.set_targets([target(health_interval=60.0)])
    assert timeline(state).at == [NOW + 15 * i for i in range(239, 300)]


def test_a_removed_target_drops_its_queues() -> None:
    queue = counters(("pending_messages", {}, 9.0), kind="gauge")
    state = State([target("a"), target("b")])
    state.record(ok(body=queue, name="a"))
    state.record(ok(body=queue, name="b"))
    state.set_targets([target("b")])
    assert state.queues("a") == {}
    assert trends(state, "b") == {("pending_messages", ""): [9.0]}
    state.set_targets([target("a"), target("b")])
    assert state.queues("a") == {}  # back, but starting afresh


def test_queue_trends_are_bounded_per_target() -> None:
    """Node churn (a new pod name every restart) cannot grow the trends without bound."""
    state = State([target()])
    many = counters(
        *[(gauge, {"node": f"pod-{i:02}"}, 1.0) for i in range(40) for gauge in QUEUE_GAUGES],
        kind="gauge",
    )
    state.record(ok(body=many))
    assert len(state.queues("prod")) == MAX_QUEUE_NODES * len(QUEUE_GAUGES)


def test_an_unknown_failure_reason_is_recorded_not_raised() -> None:
    state = State([target()])
    change = state.record(failed("a_reason_from_the_future", Endpoint.HEALTH, status=401))
    assert change is not None
    assert timeline(state).result == ["other failure"]
    health = state.get("prod", Endpoint.HEALTH)
    assert health is not None
    assert health.errors["a_reason_from_the_future"] == 1


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e39, -1e39])
def test_a_queue_value_that_is_no_depth_is_not_kept(value: float) -> None:
    """An infinite or out-of-range gauge (a 32-bit trend would store it as infinity) would make
    the status JSON unservable for an hour."""
    body = {"stats": {"app": {"pending_messages": {"type": "gauge", "help": "", "data": [
        {"value": value}]}, "callback_queue_size": {"type": "gauge", "help": "", "data": [
        {"value": 7}]}}}}  # fmt: skip
    state = State([target()])
    state.record(ok(Endpoint.STATS_APP, body))
    assert trends(state) == {("callback_queue_size", ""): [7.0]}
