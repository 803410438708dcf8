"""Are a deployment's WhatsApp gateways as expected? The one verdict alerts, the status page,
`watchdog check` and `/probe` all ask.

Facts (reference §1.2, §1.3): in HA only one coreapp is connected and every other node, the
primary master included, reports `disconnected` (normal, not a fault); in multiconnect with X
shards, X coreapps are connected and the primary master is connected too. `connecting` counts
as up, as the docs treat it, until it lasts longer than a limit.

One health answer cannot tell HA from a multiconnect deployment whose primary master is lost:
both show a disconnected primary master. So the verdict also uses what earlier answers showed
(`GatewayMemory`: a primary master once seen connected means multiconnect, and the coreapps
connected then are the shards expected) and the configured shard count, which applies
whatever the topology looks like now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from watchdog.api.payloads import Health, NodeHealth
from watchdog.base.durations import format_duration

UP_STATES = ("connected", "connecting")
NOT_REGISTERED = ("unregistered", "uninitialized")
DEFAULT_CONNECTING_LIMIT = 300.0


@dataclass(frozen=True)
class Expectation:
    """What the configuration says the gateways should be."""

    # Connected coreapps expected (multiconnect shards); 0 = learn it from the first answer.
    shards: int = 0
    # A gateway `connecting` for longer than this is stuck.
    connecting_limit: float = DEFAULT_CONNECTING_LIMIT


@dataclass
class GatewayMemory:
    """What earlier health answers of one target showed."""

    multiconnect: bool = False
    # Coreapps connected at the first answer that showed multiconnect.
    first_connected: int | None = None
    # Node -> when it was first seen `connecting` in the current streak.
    connecting_since: dict[str, float] = field(default_factory=dict)

    def observe(self, health: Health, at: float) -> None:
        if health.topology == "multiconnect" and not self.multiconnect:
            self.multiconnect = True
            self.first_connected = sum(1 for n in _coreapps(health) if _serving(n))
        connecting = {n.node for n in health.nodes if n.error is None and n.status == "connecting"}
        self.connecting_since = {
            node: self.connecting_since.get(node, at) for node in sorted(connecting)
        }


@dataclass(frozen=True)
class Degradation:
    """A warning about one node: `problem` is `primary_master` (a multiconnect primary master
    not connected) or `connecting` (connecting for longer than the limit)."""

    node: str
    problem: str
    text: str


@dataclass(frozen=True)
class GatewayVerdict:
    """`up`: enough gateways connected; `degraded`: warnings that do not stop messages yet."""

    up: bool
    connected: int
    expected: int
    topology: str
    summary: str
    # Coreapps (or the single instance) that are not connected, as "node (status)".
    down: tuple[str, ...] = ()
    degraded: tuple[Degradation, ...] = ()
    # Every coreapp reports unregistered/uninitialized: registration or set-up, not a fault
    # of the gateway (WhatsAppNotRegistered says so).
    not_registered: bool = False


def _serving(node: NodeHealth) -> bool:
    return node.error is None and node.status in UP_STATES


def _coreapps(health: Health) -> list[NodeHealth]:
    # A node without a role in a per-node answer is counted as a coreapp: it may carry traffic.
    return [n for n in health.nodes if n.role in ("coreapp", None)]


def _label(node: NodeHealth) -> str:
    return f"{node.node} ({'error ' + str(node.error.code) if node.error else node.known_status})"


def gateway_verdict(
    health: Health,
    expectation: Expectation | None = None,
    memory: GatewayMemory | None = None,
    now: float | None = None,
) -> GatewayVerdict:
    """The verdict on one health answer, with what earlier answers and the settings add."""
    expect = expectation or Expectation()
    stuck = _stuck(memory, expect, now)
    coreapps = _coreapps(health)
    connected = sum(1 for n in coreapps if _serving(n))
    down = tuple(_label(n) for n in coreapps if not _serving(n))
    not_registered = bool(coreapps) and all(n.status in NOT_REGISTERED for n in coreapps)
    if health.topology == "single":
        node = health.nodes[0]
        up = _serving(node)
        summary = "; ".join([f"gateway {node.known_status}", *(d.text for d in stuck)])
        return GatewayVerdict(up, int(up), 1, "single", summary, down, stuck, not_registered)
    remembered = memory is not None and memory.multiconnect
    multiconnect = health.topology == "multiconnect" or remembered or expect.shards >= 2
    topology = "multiconnect" if multiconnect else "ha"
    if expect.shards > 0:
        expected = expect.shards
    elif multiconnect and memory is not None and memory.first_connected:
        expected = memory.first_connected
    else:
        expected = 1
    degraded = list(stuck)
    if multiconnect:
        for node in health.nodes:
            if node.role == "primary_master" and not _serving(node):
                text = f"primary master {_label(node)} not connected"
                degraded.append(Degradation(node.node, "primary_master", text))
    summary = f"{connected} of {len(coreapps)} coreapps connected ({topology}, {expected} expected)"
    failed = sum(1 for n in health.nodes if n.error is not None)
    if failed:
        summary += f", {failed} node(s) not answering"
    if not_registered:
        summary += f", {coreapps[0].status}"
    if degraded:
        summary += "; " + "; ".join(d.text for d in degraded)
    return GatewayVerdict(
        connected >= expected, connected, expected, topology, summary, down, tuple(degraded),
        not_registered,
    )  # fmt: skip


def next_stuck(memory: GatewayMemory | None, expect: Expectation, now: float) -> float:
    """When a node connecting at `now` will have been connecting too long, by time alone
    (infinity: none will), so a verdict derived at `now` is known to hold until then."""
    if memory is None:
        return math.inf
    limit = expect.connecting_limit
    pending = [since + limit for since in memory.connecting_since.values() if now - since < limit]
    return min(pending, default=math.inf)


def _stuck(
    memory: GatewayMemory | None, expect: Expectation, now: float | None
) -> tuple[Degradation, ...]:
    if memory is None or now is None:
        return ()
    return tuple(
        Degradation(
            node, "connecting", f"{node} connecting for {format_duration(round(now - since))}"
        )
        for node, since in memory.connecting_since.items()
        if now - since >= expect.connecting_limit
    )
