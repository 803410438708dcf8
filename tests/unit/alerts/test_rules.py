"""Each alert rule over real simulator answers, and the engine's lifecycle with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.alerts.harness import T0, TARGET, Clock, Harness, configured, names
from watchdog.alerts.checks import Condition, TargetView
from watchdog.alerts.engine import RESOLVED_VISIBLE, AlertEngine
from watchdog.alerts.history import MAX_WINDOW, History
from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.rules import (
    AuthRejected,
    GatewayDown,
    NotRegistered,
    Overloaded,
    QueueBacklog,
    RateLimitSpike,
    Rule,
    Unreachable,
)
from watchdog.api.diagnosis import Failure
from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.simulator import Scenario, Topology
from watchdog.state import State


def _requests(ok: int, limited: int) -> dict[str, Any]:
    data = [
        {"labels": {"node": "web", "result": "201", "method": "POST_v1_messages"}, "value": ok},
        {
            "labels": {"node": "web", "result": "429", "method": "POST_v1_messages"},
            "value": limited,
        },
    ]
    family = {"type": "counter", "help": "", "data": data}
    return {"metrics": {"api_requests_duration_ms_count": family}, "meta": {}}


METRICS_1 = _requests(100, 0)
METRICS_2 = _requests(137, 3)  # 3 of 40 requests since the first poll got 429: 7.5 %


# -- rules ------------------------------------------------------------------------------------


def test_own_503_fires_overloaded_at_once_and_resolves_after_hysteresis() -> None:
    """A 503 to the watchdog's poll fires WhatsAppOverloaded at once; it resolves only after
    the condition has been clear for keep_firing_for."""
    h = Harness(rules=[Overloaded(for_=0, keep_firing_for=120)])
    assert names(h.fail(Endpoint.HEALTH, "http_503", 503, 1016)) == [
        ("WhatsAppOverloaded", "firing")
    ]
    alert = h.sent[0]
    assert alert.labels == {
        "alertname": "WhatsAppOverloaded", "severity": "critical", "target": "prod",
    }  # fmt: skip
    assert "503" in alert.annotations["summary"]
    assert alert.annotations["description"]
    h.advance(15)
    assert h.ok(Endpoint.HEALTH) == []  # the 503 is still inside the 60 s window
    h.advance(60)
    assert h.ok(Endpoint.HEALTH) == []  # clear now, but hysteresis holds it
    h.advance(120)
    resolved = h.ok(Endpoint.HEALTH)
    assert names(resolved) == [("WhatsAppOverloaded", "resolved")]
    assert resolved[0].ends_at == h.clock.now
    assert resolved[0].starts_at == T0


def test_other_clients_503s_fire_overloaded() -> None:
    """A rise of the API's own result="503" counter (other clients) fires WhatsAppOverloaded."""
    h = Harness()
    h.ok(Endpoint.METRICS)
    h.deployment.set_scenario(Scenario.BUSY)
    h.advance(30)
    assert names(h.ok(Endpoint.METRICS)) == [("WhatsAppOverloaded", "firing")]
    assert "requests of other clients answered 503" in h.sent[0].annotations["description"]


def test_first_metrics_poll_does_not_count_old_503s() -> None:
    """Counters already high at the first poll are history, not a new incident."""
    h = Harness()
    h.deployment.set_scenario(Scenario.BUSY)
    h.advance(600)
    assert h.ok(Endpoint.METRICS) == []


@pytest.mark.parametrize(("count", "fires"), [(4, False), (5, True)])
def test_own_429s_over_threshold_fire_rate_limit_spike(count: int, fires: bool) -> None:
    """Five 429s to the watchdog's polls in 60 s fire WhatsAppRateLimitSpike; four do not."""
    h = Harness()
    for _ in range(count):
        h.fail(Endpoint.HEALTH, "http_429", 429, 1015)
        h.advance(10)
    assert ("WhatsAppRateLimitSpike" in h.firing()) is fires


def test_spread_out_429s_do_not_fire() -> None:
    """429s spread wider than the window do not add up."""
    h = Harness()
    for _ in range(6):
        h.fail(Endpoint.HEALTH, "http_429", 429, 1015)
        h.advance(20)
    assert "WhatsAppRateLimitSpike" not in h.firing()


def test_api_429_counters_fire_rate_limit_spike_and_survive_a_restart() -> None:
    """Other clients' 429s counted by the API fire the spike; a counter reset is not a drop."""
    h = Harness(rules=[Overloaded(enabled=False)])
    h.ok(Endpoint.METRICS)
    h.deployment.set_scenario(Scenario.RATE_LIMITED)
    h.advance(30)
    assert ("WhatsAppRateLimitSpike", "firing") in names(h.ok(Endpoint.METRICS))
    assert "got 429" in h.sent[-1].annotations["description"]
    h.deployment.restart()  # counters start from zero again
    h.advance(30)
    h.ok(Endpoint.METRICS)
    assert "WhatsAppRateLimitSpike" in h.firing()


def test_ratio_of_429s_fires_below_the_count_threshold() -> None:
    """A 429 share at or over `ratio` fires even when the count is under the threshold."""
    history = History()
    state = State([TARGET])
    first = observe(PollResult("prod", Endpoint.METRICS, T0, 0.01, 200, None, body=METRICS_1))
    state.record(first)
    second = observe(PollResult("prod", Endpoint.METRICS, T0 + 30, 0.01, 200, None, body=METRICS_2))
    state.record(second)
    history.record(second, state.get("prod", Endpoint.METRICS))
    view = TargetView(TARGET, {}, history, T0 + 30)
    assert RateLimitSpike(threshold=5, ratio=0.05).check(view)
    assert not RateLimitSpike(threshold=5, ratio=0.10).check(view)


@pytest.mark.parametrize(
    ("topology", "scenario", "fires"),
    [
        (Topology.SINGLE, Scenario.HEALTHY, False),
        (Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED, True),
        (Topology.HA, Scenario.HEALTHY, False),  # standbys report disconnected: normal
        (Topology.HA, Scenario.GATEWAY_DISCONNECTED, True),
        (Topology.HA, Scenario.COREAPP_DOWN, True),
        (Topology.MULTICONNECT, Scenario.HEALTHY, False),
        (Topology.MULTICONNECT, Scenario.GATEWAY_DISCONNECTED, True),  # 1 of 2 shards
        (Topology.SINGLE, Scenario.UNREGISTERED, False),  # NotRegistered says it instead
    ],
)
def test_gateway_down_is_topology_aware(
    topology: Topology, scenario: Scenario, fires: bool
) -> None:
    """GatewayDown fires when fewer gateways are connected than the topology expects."""
    h = Harness(topology, rules=[GatewayDown(for_=0)])
    h.ok(Endpoint.HEALTH)  # the first answer teaches the expected shard count
    h.deployment.set_scenario(scenario)
    h.advance(10)
    h.ok(Endpoint.HEALTH)
    assert ("WhatsAppGatewayDown" in h.firing()) is fires


def test_expected_shards_setting_overrides_what_was_seen() -> None:
    """With expected_shards=1, one disconnected shard of two does not fire."""
    rules = [GatewayDown(for_=0)]
    h = Harness(Topology.MULTICONNECT, rules=rules, expectation=Expectation(shards=1))
    h.deployment.set_scenario(Scenario.GATEWAY_DISCONNECTED)
    h.ok(Endpoint.HEALTH)
    assert "WhatsAppGatewayDown" not in h.firing()


def test_coreapp_unreachable_500_1014_is_gateway_down() -> None:
    """Health 500/1014 whose details name the Coreapp (single instance) is GatewayDown."""
    h = Harness(rules=[GatewayDown(for_=0)])
    details = "Connection refused. Please check if wacore is running: wacore:6252"
    h.fail(Endpoint.HEALTH, "http_5xx", 500, 1014, details)
    assert h.firing() == {"WhatsAppGatewayDown"}
    assert details in h.sent[0].annotations["description"]


def test_unreachable_waits_for_its_for_duration() -> None:
    """Connection failures make WhatsAppUnreachable pending, then firing after `for`."""
    h = Harness(rules=[Unreachable(for_=30)])
    assert h.fail(Endpoint.HEALTH, "connect", None) == []
    assert [a.state for a in h.engine.alerts()] == [AlertState.PENDING]
    h.advance(15)
    assert h.fail(Endpoint.HEALTH, "connect", None) == []
    h.advance(15)
    assert names(h.fail(Endpoint.HEALTH, "timeout", None)) == [("WhatsAppUnreachable", "firing")]


def test_pending_that_clears_is_dropped_silently() -> None:
    """A condition that clears before `for` sends nothing at all."""
    h = Harness(rules=[Unreachable(for_=30)])
    h.fail(Endpoint.HEALTH, "connect", None)
    h.advance(15)
    h.ok(Endpoint.HEALTH)
    assert h.sent == []
    assert h.engine.alerts() == []


@pytest.mark.parametrize(
    ("reason", "status", "code", "fires"),
    [
        ("http_401", 401, 1005, True),
        ("http_403", 403, 1005, True),
        ("http_403", 403, 1007, False),
        ("auth_config", None, None, True),
    ],
)
def test_auth_rejected(reason: str, status: int | None, code: int | None, fires: bool) -> None:
    """401, 403/1005 and unusable credentials fire WhatsAppAuthRejected."""
    h = Harness()
    h.fail(Endpoint.METRICS, reason, status, code)
    assert ("WhatsAppAuthRejected" in h.firing()) is fires


@pytest.mark.parametrize("scenario", [Scenario.UNREGISTERED, Scenario.UNINITIALIZED])
def test_not_registered_per_node(scenario: Scenario) -> None:
    """Every node reporting unregistered/uninitialized gets its own alert with a node label."""
    h = Harness(Topology.HA, rules=[NotRegistered(for_=0)])
    h.deployment.set_scenario(scenario)
    fired = h.ok(Endpoint.HEALTH)
    assert {a.labels["node"] for a in fired} == {n.key for n in h.deployment.nodes}
    assert all(a.name == "WhatsAppNotRegistered" for a in fired)


def test_queue_backlog_per_node() -> None:
    """pending_messages over the threshold on a node fires WhatsAppQueueBacklog for that node."""
    h = Harness(Topology.HA, rules=[QueueBacklog(for_=0)])
    h.ok(Endpoint.STATS_APP)
    assert h.firing() == set()
    h.deployment.set_scenario(Scenario.OVERLOADED)
    fired = h.ok(Endpoint.STATS_APP)
    assert [a.name for a in fired] == ["WhatsAppQueueBacklog"]
    assert fired[0].labels["node"] == h.deployment.nodes[2].key  # the active coreapp
    assert "pending_messages 95000 > 50000" in fired[0].annotations["description"]


# -- engine -----------------------------------------------------------------------------------


def test_flapping_within_hysteresis_pages_once() -> None:
    """An API flapping faster than keep_firing_for fires once and resolves once."""
    h = Harness(Topology.SINGLE, rules=[GatewayDown(for_=0, keep_firing_for=60)])
    for _ in range(4):
        h.deployment.set_scenario(Scenario.GATEWAY_DISCONNECTED)
        h.ok(Endpoint.HEALTH)
        h.advance(15)
        h.deployment.set_scenario(Scenario.HEALTHY)
        h.ok(Endpoint.HEALTH)
        h.advance(15)
    h.advance(60)
    h.engine.tick()
    assert names(h.sent) == [("WhatsAppGatewayDown", "firing"), ("WhatsAppGatewayDown", "resolved")]


def test_tick_resolves_without_a_poll() -> None:
    """A periodic tick applies hysteresis even when no poll arrives (e.g. during backoff)."""
    h = Harness(rules=[AuthRejected(keep_firing_for=30)])
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    h.ok(Endpoint.HEALTH)
    h.advance(31)
    h.engine.tick()
    assert names(h.sent)[-1] == ("WhatsAppAuthRejected", "resolved")


def test_new_incident_after_resolve_fires_again() -> None:
    """After resolving, the same condition is a new incident with a new start."""
    h = Harness(rules=[AuthRejected(keep_firing_for=0)])
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    h.advance(10)
    h.ok(Endpoint.HEALTH)
    h.advance(10)
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    assert names(h.sent) == [
        ("WhatsAppAuthRejected", "firing"),
        ("WhatsAppAuthRejected", "resolved"),
        ("WhatsAppAuthRejected", "firing"),
    ]
    assert h.sent[2].starts_at == T0 + 20
    assert len(h.engine.alerts()) == 1


def test_counts_include_zeros_and_follow_states() -> None:
    """counts() has every enabled rule in pending and firing, zero or not."""
    h = Harness(rules=[Unreachable(for_=30), QueueBacklog(enabled=False)])
    h.fail(Endpoint.HEALTH, "connect", None)
    counts = h.engine.counts()
    assert counts[("WhatsAppUnreachable", "critical", "pending")] == 1
    assert counts[("WhatsAppOverloaded", "critical", "firing")] == 0
    assert not any(name == "WhatsAppQueueBacklog" for name, _, _ in counts)


def test_broken_rule_does_not_stop_the_others() -> None:
    """A rule that raises is logged; the other rules still evaluate."""

    class Broken(Rule):
        key = "broken"
        alertname = "Broken"
        severity = "warning"

        def check(self, view: TargetView) -> list[Condition]:
            raise RuntimeError("bug")

    h = Harness(rules=[Broken()])
    h.fail(Endpoint.HEALTH, "http_503", 503, 1016)
    assert h.firing() == {"WhatsAppOverloaded"}


def test_removed_target_resolves_its_alerts() -> None:
    """A target removed from the configuration resolves its firing alerts."""
    h = Harness()
    h.fail(Endpoint.HEALTH, "http_503", 503, 1016)
    h.state.set_targets([])
    h.advance(1)
    h.engine.tick()
    assert names(h.engine.evaluate("prod")) == []
    assert names(h.sent) == [("WhatsAppOverloaded", "firing"), ("WhatsAppOverloaded", "resolved")]


def test_changed_description_of_a_firing_alert_is_refreshed_not_renotified() -> None:
    """New counts in a firing alert's description go to `refresh`, not as a new page."""
    refreshed: list[Alert] = []
    h = Harness(refresh=refreshed.append)
    h.fail(Endpoint.HEALTH, "http_503", 503, 1016)
    h.advance(15)
    h.fail(Endpoint.HEALTH, "http_503", 503, 1016)
    assert names(h.sent) == [("WhatsAppOverloaded", "firing")]
    assert len(refreshed) == 1
    assert "2 of the watchdog's polls" in refreshed[0].annotations["description"]
    assert refreshed[0].starts_at == T0


def test_alerts_of_many_targets_stay_apart_and_resolved_ones_expire_oldest_first() -> None:
    """Each target's alerts move on their own; resolved alerts stay visible 15 minutes."""
    clock = Clock()
    targets = [Target(name=f"t{i}", url=f"http://t{i}.test", stats_db_interval=0) for i in range(3)]
    state = State(targets, clock=clock)
    sent: list[Alert] = []
    rules = configured(Overloaded(keep_firing_for=0))
    engine = AlertEngine(state, sent.append, rules=rules, clock=clock)

    def poll(name: str, status: int) -> None:
        reason = None if status == 200 else f"http_{status}"
        error = ApiErrorInfo(1016, "title") if status == 503 else None
        body = None if status != 200 else {"health": {"gateway_status": "connected"}, "meta": {}}
        result = PollResult(
            name, Endpoint.HEALTH, clock(), 0.01, status, reason, reason or "", error, body
        )
        change = state.record(observe(result))
        assert change is not None
        engine.on_change(change)

    for name in ("t0", "t1", "t2"):
        poll(name, 503)
    assert {a.labels["target"] for a in engine.alerts()} == {"t0", "t1", "t2"}
    clock.now += 61  # out of the rule's window
    poll("t1", 200)
    by_target = {a.labels["target"]: a.state for a in engine.alerts()}
    assert by_target == {
        "t0": AlertState.FIRING,
        "t1": AlertState.RESOLVED,
        "t2": AlertState.FIRING,
    }
    clock.now += 100
    poll("t0", 200)  # resolved 100 s after t1
    clock.now += RESOLVED_VISIBLE - 50  # t1 resolved 950 s ago now (gone), t0 850 s ago
    poll("t2", 200)
    resolved = [a.labels["target"] for a in engine.alerts() if a.state is AlertState.RESOLVED]
    assert resolved == ["t0", "t2"]
    assert names(sent).count(("WhatsAppOverloaded", "resolved")) == 3
    assert engine.counts()[("WhatsAppOverloaded", "critical", "firing")] == 0


def test_ticks_in_slices_evaluate_every_target_once_per_round() -> None:
    """`tick(part, parts)` over all parts evaluates each target exactly once."""
    clock = Clock()
    targets = [Target(name=f"t{i}", url=f"http://t{i}.test") for i in range(50)]
    evaluated: list[str] = []

    class Counting(AlertEngine):
        def evaluate(self, target_name: str, now: float | None = None) -> list[Alert]:
            evaluated.append(target_name)
            return []

    engine = Counting(State(targets, clock=clock), lambda _: None, clock=clock)
    for part in range(5):
        before = len(evaluated)
        engine.tick(part, 5)
        assert 0 < len(evaluated) - before < 50  # a slice, not everything
    assert sorted(evaluated) == sorted(t.name for t in targets)
    evaluated.clear()
    engine.tick()
    assert sorted(evaluated) == sorted(t.name for t in targets)


def test_history_keeps_no_more_than_the_longest_configured_window() -> None:
    """Events older than every rule's window are dropped: memory stays flat after a window."""
    h = Harness(rules=[RateLimitSpike(window=300.0)])
    for _ in range(100):  # 50 minutes of /metrics polls every 30 s
        h.ok(Endpoint.METRICS)
        h.fail(Endpoint.HEALTH, "http_429", 429, 1015)
        h.advance(30)
    history = h.engine.history("prod")
    assert history.horizon == 300.0
    # Nothing older than the window and the poll that straddles its start is left to count.
    now, kept = h.clock.now, 300.0 + 2 * 30.0
    assert history.api_requests(now, MAX_WINDOW) == history.api_requests(now, kept) > 0
    assert history.own_failures(now, MAX_WINDOW, Failure.RATE_LIMITED) == 11
    assert history.own_failures(h.clock.now, 300.0, Failure.RATE_LIMITED) == 10
