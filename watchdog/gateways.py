"""Is a deployment's WhatsApp gateway up? Topology-aware, from one health answer.

In HA only one coreapp is connected and every other node reports `disconnected` — normal, not a
fault; in multiconnect each shard has a connected coreapp (reference §1.2). `connecting` counts
as healthy, as the docs treat it (reference §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from watchdog.payloads import Health, NodeHealth

UP_STATES = ("connected", "connecting")
NOT_REGISTERED = ("unregistered", "uninitialized")


@dataclass(frozen=True)
class GatewayVerdict:
    up: bool
    connected: int  # coreapps (or the single instance) connected or connecting
    summary: str


def _serving(node: NodeHealth) -> bool:
    return node.error is None and node.status in UP_STATES


def gateway_verdict(health: Health, expected_connected: int = 1) -> GatewayVerdict:
    """Whether at least `expected_connected` gateways are up, with a one-line summary."""
    if health.topology == "single":
        node = health.nodes[0]
        up = _serving(node)
        return GatewayVerdict(up, int(up), f"gateway {node.known_status}")
    coreapps = [n for n in health.nodes if n.role == "coreapp"]
    connected = sum(1 for n in coreapps if _serving(n))
    failed = sum(1 for n in health.nodes if n.error is not None)
    summary = f"{connected} of {len(coreapps)} coreapps connected ({health.topology})"
    if failed:
        summary += f", {failed} node(s) not answering"
    states = {n.status for n in health.nodes if n.error is None}
    for state in NOT_REGISTERED:
        if state in states:
            summary += f", {state}"
    return GatewayVerdict(connected >= max(expected_connected, 1), connected, summary)
