"""Unit tests of the simulator's topologies, gateway statuses and traffic rates."""

from __future__ import annotations

import random
import re

import pytest

from watchdog.simulator.scenarios import DESCRIPTIONS, Scenario
from watchdog.simulator.topology import (
    Role,
    Topology,
    affected_node,
    build_nodes,
    gateway_status,
)
from watchdog.simulator.traffic import Traffic


def statuses(
    topology: Topology, scenario: Scenario, coreapps: int = 3, shards: int = 2
) -> list[str]:
    nodes = build_nodes(topology, coreapps, shards, random.Random(0))
    return [gateway_status(topology, nodes, n, scenario) for n in nodes]


def test_every_scenario_described() -> None:
    """Every scenario has a description."""
    assert set(DESCRIPTIONS) == set(Scenario)


def test_single_node() -> None:
    """Single: one node without role, keyed host:12-hex."""
    [node] = build_nodes(Topology.SINGLE, 3, 2, random.Random(0))
    assert node.role is None
    assert re.fullmatch(r"[^:]+:[0-9a-f]{12}", node.key)


def test_nodes_deterministic_per_seed() -> None:
    """The same seed gives the same node keys; a different seed different container ids."""

    def keys(seed: int) -> list[str]:
        return [n.key for n in build_nodes(Topology.HA, 3, 2, random.Random(seed))]

    assert keys(1) == keys(1)
    assert keys(1) != keys(2)


@pytest.mark.parametrize("coreapps", [1, 2, 5])
def test_ha_one_connected(coreapps: int) -> None:
    """HA: two masters and the coreapps; only one coreapp connected when healthy."""
    nodes = build_nodes(Topology.HA, coreapps, 2, random.Random(0))
    assert [n.role for n in nodes[:2]] == [Role.PRIMARY_MASTER, Role.SECONDARY_MASTER]
    assert [n.role for n in nodes[2:]] == [Role.COREAPP] * coreapps
    assert statuses(Topology.HA, Scenario.HEALTHY, coreapps).count("connected") == 1


@pytest.mark.parametrize(("coreapps", "shards"), [(3, 2), (2, 4), (4, 4)])
def test_multiconnect_shards_connected(coreapps: int, shards: int) -> None:
    """Multiconnect: `shards` coreapps plus the primary master connected when healthy."""
    result = statuses(Topology.MULTICONNECT, Scenario.HEALTHY, coreapps, shards)
    assert result[0] == "connected"
    assert result[1] == "disconnected"
    assert result[2:].count("connected") == shards


def test_multiconnect_disconnect_hits_one_shard() -> None:
    """gateway_disconnected in multiconnect costs exactly one connected node."""
    healthy = statuses(Topology.MULTICONNECT, Scenario.HEALTHY)
    broken = statuses(Topology.MULTICONNECT, Scenario.GATEWAY_DISCONNECTED)
    assert broken.count("connected") == healthy.count("connected") - 1


def test_affected_node_is_active_coreapp() -> None:
    """Single-node faults hit an active coreapp, never a master."""
    for topology in Topology:
        nodes = build_nodes(topology, 3, 2, random.Random(0))
        node = affected_node(nodes)
        assert node.active
        assert node.role in (Role.COREAPP, None)


@pytest.mark.parametrize("scenario", list(Scenario))
@pytest.mark.parametrize("topology", list(Topology))
def test_counter_rates_never_negative(topology: Topology, scenario: Scenario) -> None:
    """No counter has a negative rate in any scenario, so counters never decrease."""
    nodes = build_nodes(topology, 3, 2, random.Random(0))
    traffic = Traffic(topology, nodes)
    core = traffic.core_rates(scenario)
    webapp = traffic.webapp_rates(scenario, "abcdefabcdef", 0.5)
    assert core
    assert webapp
    assert all(rate >= 0 for rate in [*core.values(), *webapp.values()])


def test_webapp_rates_split_by_share() -> None:
    """A Webapp serving a third of the requests counts a third of each flow's rate."""
    traffic = Traffic(Topology.SINGLE, build_nodes(Topology.SINGLE, 3, 2, random.Random(0)))
    whole = traffic.webapp_rates(Scenario.HEALTHY, "abcdefabcdef", 1.0)
    third = traffic.webapp_rates(Scenario.HEALTHY, "abcdefabcdef", 1 / 3)
    assert set(whole) == set(third)
    for key, rate in whole.items():
        if key[1] != "web_process_limit_hit":
            assert third[key] == pytest.approx(rate / 3), key


@pytest.mark.parametrize("scenario", [Scenario.PROXY_502, Scenario.PROXY_503, Scenario.PROXY_504])
def test_proxy_scenarios_reach_no_webapp(scenario: Scenario) -> None:
    """Under a proxy fault no request reaches the Webapp: its request counters stand still."""
    traffic = Traffic(Topology.HA, build_nodes(Topology.HA, 3, 2, random.Random(0)))
    rates = traffic.webapp_rates(scenario, "abcdefabcdef", 1.0)
    assert all(rate == 0 for rate in rates.values())


def test_database_down_db_calls_fail() -> None:
    """database_down: the Webapp's DB calls fail with HY000/2002 and none succeeds."""
    traffic = Traffic(Topology.SINGLE, build_nodes(Topology.SINGLE, 3, 2, random.Random(0)))
    rates = traffic.webapp_rates(Scenario.DATABASE_DOWN, "abcdefabcdef", 1.0)
    db = {k: r for k, r in rates.items() if k[1] == "api_requests_db_duration_ms_count"}
    assert db
    assert {dict(k[2])["result"] for k in db} == {"HY000/2002"}
    assert all(r > 0 for r in db.values())


@pytest.mark.parametrize("topology", list(Topology))
def test_gateway_connecting_active_senders(topology: Topology) -> None:
    """gateway_connecting: exactly the coreapps connected when healthy report connecting."""
    healthy = statuses(topology, Scenario.HEALTHY)
    nodes = build_nodes(topology, 3, 2, random.Random(0))
    connecting = statuses(topology, Scenario.GATEWAY_CONNECTING)
    for node, before, after in zip(nodes, healthy, connecting, strict=True):
        sender = node.role in (Role.COREAPP, None) and before == "connected"
        assert after == ("connecting" if sender else before), node.key


def test_master_lost_multiconnect() -> None:
    """master_lost, multiconnect: the primary master and one shard's coreapp disconnect."""
    nodes = build_nodes(Topology.MULTICONNECT, 3, 2, random.Random(0))
    healthy = statuses(Topology.MULTICONNECT, Scenario.HEALTHY)
    lost = statuses(Topology.MULTICONNECT, Scenario.MASTER_LOST)
    changed = [n for n, a, b in zip(nodes, healthy, lost, strict=True) if a != b]
    assert changed == [nodes[0], affected_node(nodes)]
    assert lost[0] == "disconnected"
    assert lost[2:].count("connected") == 1


@pytest.mark.parametrize("topology", [Topology.SINGLE, Topology.HA])
def test_master_lost_elsewhere_is_healthy(topology: Topology) -> None:
    """master_lost outside multiconnect reports what a healthy deployment does."""
    assert statuses(topology, Scenario.MASTER_LOST) == statuses(topology, Scenario.HEALTHY)


def test_healthy_queues_bounded() -> None:
    """Healthy serving nodes keep small, bounded queues however long the scenario lasts."""
    for t in (0.0, 3600.0, 86_400.0):
        gauges = {
            name: value
            for name, _, value in Traffic.node_gauges(
                Scenario.HEALTHY, t, 1_700_000_000 + t, standby=False, serving=True
            )
        }
        assert gauges["pending_messages"] < 100
        assert gauges["callback_queue_size"] < 100
