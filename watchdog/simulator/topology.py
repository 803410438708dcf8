"""The nodes of a deployment and the gateway status each one reports.

Facts from reference §1.2: in HA only one coreapp is connected and every other node (the
primary master included) reports `disconnected`; in multiconnect with X shards, X coreapps are
connected and the primary master is connected too. Node keys are `hostname:container-id`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from watchdog.simulator.scenarios import Scenario


class Topology(StrEnum):
    SINGLE = "single"
    HA = "ha"
    MULTICONNECT = "multiconnect"


class Role(StrEnum):
    PRIMARY_MASTER = "primary_master"
    SECONDARY_MASTER = "secondary_master"
    COREAPP = "coreapp"


@dataclass(frozen=True)
class Node:
    host: str
    container: str
    role: Role | None
    # Whether this node is connected to WhatsApp when the deployment is healthy.
    active: bool
    # Where the Webapp reaches this node's Coreapp (shows up in error details and metrics).
    address: str

    @property
    def key(self) -> str:
        return f"{self.host}:{self.container}"


def _container_id(rng: random.Random) -> str:
    # Docker's short ids: 12 lowercase hex digits, as in the docs' examples.
    return f"{rng.getrandbits(48):012x}"


def build_nodes(topology: Topology, coreapps: int, shards: int, rng: random.Random) -> list[Node]:
    """The nodes a deployment of this shape reports; deterministic for a seeded `rng`."""
    if topology is Topology.SINGLE:
        return [Node("wacore", _container_id(rng), None, True, "wacore:6252")]
    multi = topology is Topology.MULTICONNECT
    nodes = [
        Node("master-0", _container_id(rng), Role.PRIMARY_MASTER, multi, "master-0:6252"),
        Node("master-1", _container_id(rng), Role.SECONDARY_MASTER, False, "master-1:6252"),
    ]
    count = max(coreapps, shards) if multi else coreapps
    for i in range(count):
        active = i < shards if multi else i == 0
        nodes.append(
            Node(f"coreapp-{i}", _container_id(rng), Role.COREAPP, active, f"coreapp-{i}:6252")
        )
    return nodes


# Roles of the nodes that send messages: coreapps, or the single instance's only node.
SENDERS = (Role.COREAPP, None)


def affected_node(nodes: list[Node]) -> Node:
    """The node a single-node fault hits: the first active coreapp (the only one in HA)."""
    for node in nodes:
        if node.active and node.role in SENDERS:
            return node
    return nodes[0]


def gateway_status(topology: Topology, nodes: list[Node], node: Node, scenario: Scenario) -> str:
    """The `gateway_status` `node` reports under `scenario` (FLAPPING resolved by the caller)."""
    if scenario is Scenario.UNINITIALIZED:
        return "uninitialized"
    if scenario is Scenario.UNREGISTERED:
        return "unregistered"
    if scenario is Scenario.GATEWAY_DISCONNECTED:
        if topology is Topology.MULTICONNECT and node is not affected_node(nodes):
            return "connected" if node.active else "disconnected"
        return "disconnected"
    if scenario is Scenario.GATEWAY_CONNECTING and node.active and node.role in SENDERS:
        return "connecting"
    # A multiconnect deployment that lost its primary master and a shard: other topologies have
    # no shards to lose and answer as healthy.
    if (
        scenario is Scenario.MASTER_LOST
        and topology is Topology.MULTICONNECT
        and (node.role is Role.PRIMARY_MASTER or node is affected_node(nodes))
    ):
        return "disconnected"
    return "connected" if node.active else "disconnected"
