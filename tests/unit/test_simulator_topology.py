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
    rates = Traffic(topology, nodes, "abcdefabcdef").rates(scenario)
    assert rates
    assert all(rate >= 0 for rate in rates.values())


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
