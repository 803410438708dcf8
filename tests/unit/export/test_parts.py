"""Parts encoded as the polls land say, at any later scrape, exactly what a one-pass render of
the state says then: staleness, a node connecting too long and the usage header's age are
applied at the scrape, without a poll."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.unit.cloud_support import cloud_target
from tests.unit.export.test_cloud_metrics import answer, phone_body, token_body, waba_body
from tests.unit.export.test_collector import (
    ALL,
    NOW,
    OPENMETRICS_ACCEPT,
    Clock,
    generate_openmetrics,
    poll_simulator,
    target,
)
from watchdog.api.endpoints import Endpoint
from watchdog.export.collector import WatchdogCollector
from watchdog.export.exposition import Exposition
from watchdog.export.parts import Parts
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.graph_scenarios import GraphScenario
from watchdog.state import State

# Scrapes after the last poll, seconds: geometric, so every deadline is passed at some point
# (3 intervals of every endpoint, the 300 s connecting limit, a day's token interval).
AFTER = sorted({round(1.35**k) for k in range(52)})


class Compared:
    """One state, its parts kept as the poller keeps them, and a scrape of both renders."""

    def __init__(self, state: State, clock: Clock) -> None:
        self.state, self.clock = state, clock
        self.parts = Parts(state, clock)
        self.exposition = Exposition(
            self.parts, CollectorRegistry(auto_describe=False), max_age=-1.0
        )
        self.whole = CollectorRegistry(auto_describe=False)
        self.whole.register(WatchdogCollector(state, clock=clock))
        self.scrapes = 0

    def landed(self, name: str) -> None:
        """What the poller does after recording polls: hand each endpoint to the parts."""
        for endpoint in self.state.endpoints(name):
            self.parts.update(name, endpoint)

    def check(self) -> None:
        async def both() -> tuple[bytes, bytes]:
            text = await self.exposition.body("")
            om = await self.exposition.body(OPENMETRICS_ACCEPT)
            return text.content, om.content

        text, om = asyncio.run(both())
        assert text == generate_latest(self.whole), f"text at NOW+{self.clock.now - NOW:.0f}"
        assert om == generate_openmetrics(self.whole), f"OpenMetrics at NOW+{self.clock.now - NOW}"
        self.scrapes += 1


@pytest.mark.parametrize(
    ("topology", "scenario"),
    [
        (Topology.HA, Scenario.HEALTHY),
        (Topology.MULTICONNECT, Scenario.GATEWAY_CONNECTING),
        (Topology.SINGLE, Scenario.GATEWAY_CONNECTING),
        (Topology.MULTICONNECT, Scenario.MASTER_LOST),
        (Topology.HA, Scenario.FLAPPING),
        (Topology.SINGLE, Scenario.OVERLOADED),
    ],
)
def test_on_prem_parts_match_the_one_pass_render_later(
    topology: Topology, scenario: Scenario
) -> None:
    clock = Clock()
    deployment = Deployment(SimulatorConfig(topology=topology, scenario=scenario), clock=clock)
    state = State([target("a", {"env": "prod"}, **ALL), target("b")], clock=clock)
    compared = Compared(state, clock)
    # Polls every 13 s for 6 minutes, scrapes in between: the 300 s connecting limit passes
    # between a poll (299 s) and a scrape (306 s).
    for step in range(28):
        clock.now = NOW + 13 * step
        for name in ("a", "b"):
            poll_simulator(state, name, deployment, at=clock.now)
            compared.landed(name)
        clock.now += 7
        compared.check()
    last = clock.now
    for after in AFTER:
        clock.now = last + after
        compared.check()


@pytest.mark.parametrize("scenario", [GraphScenario.HEALTHY, GraphScenario.BLOCKED])
def test_cloud_parts_match_the_one_pass_render_later(scenario: GraphScenario) -> None:
    clock = Clock()
    state = State([cloud_target("shop"), target("b")], clock=clock)
    compared = Compared(state, clock)
    answer(state, Endpoint.TOKEN, token_body(scenario), at=NOW)
    answer(state, Endpoint.WABA, waba_body(scenario), at=NOW + 10)
    answer(state, Endpoint.PHONE_NUMBER, phone_body(scenario), at=NOW + 20)
    compared.landed("shop")
    clock.now = NOW + 30
    compared.check()
    # A later answer with no usage header and a refused number poll: what the memory keeps.
    answer(state, Endpoint.PHONE_NUMBER, phone_body(scenario), at=NOW + 320, usage=None)
    answer(state, Endpoint.WABA, None, at=NOW + 900, reason="http_5xx", status=503)
    compared.landed("shop")
    last = NOW + 900
    for after in AFTER:
        clock.now = last + after
        compared.check()
    assert compared.scrapes == len(AFTER) + 1


def test_series_of_a_webapp_that_stopped_answering_go_stale_on_their_own() -> None:
    """Two Webapps behind one URL answer in turn; when one stops, its series leave the scrape
    three intervals after it last answered, while the other's stay."""
    clock = Clock()
    state = State([target("a", metrics_interval=30.0)], clock=clock)
    compared = Compared(state, clock)

    def metrics(node: str) -> dict[str, object]:
        data = [{"labels": {"node": node}, "value": 1.0}]
        family = {"type": "gauge", "help": "queue", "data": data}
        return {"metrics": {"queue": family}, "meta": {}}

    for step, node in enumerate(["web-1", "web-2", "web-1", "web-2", "web-2"]):
        clock.now = NOW + 30 * step
        answer(state, Endpoint.METRICS, metrics(node), name="a", at=clock.now, usage=None)
        compared.landed("a")
        clock.now += 11
        compared.check()
    # web-1 last answered at NOW + 60: gone after NOW + 150, while web-2's answer of NOW + 120
    # stays until NOW + 210.
    for after in range(0, 120, 3):
        clock.now = NOW + 132 + after
        compared.check()
