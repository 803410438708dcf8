"""Real Prometheus scraping the watchdog: the exposition is accepted and the labels arrive."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import StartPrometheus, free_port, wait_for
from watchdog.app import build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, SimulatorConfig, SimulatorServer, Topology
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

KEY = "e2e-prometheus-key-0123456789"
ENDPOINTS = ("health", "metrics", "stats_app", "stats_db")


@dataclass
class Stack:
    simulator: SimulatorServer
    watchdog_address: str  # host:port of the watchdog's server


@pytest.fixture
def stack() -> Iterator[Stack]:
    """An HA simulator (target `sim`) and a port nobody listens on (target `gone`), watched."""
    deployment = Deployment(SimulatorConfig(topology=Topology.HA, api_key=KEY))
    with SimulatorServer(deployment) as simulator:
        settings = load_settings(
            {
                "WATCHDOG_TARGETS": f"sim={simulator.url},gone=http://127.0.0.1:{free_port()}",
                "WA_API_KEY": KEY,
                "WATCHDOG_STATS_DB_INTERVAL": "60s",
                "WATCHDOG_TIMEOUT": "2s",
            }
        )
        watchdog = build_watchdog(settings, start_spread=0.2)
        with BackgroundServer(create_app(watchdog), lifespan="on", name="wa-watchdog") as server:
            wait_for(lambda: httpx.get(server.url + "/readyz").status_code == 200, "readyz")
            yield Stack(simulator, f"127.0.0.1:{server.port}")


def series(result: list[dict[str, Any]]) -> dict[frozenset[tuple[str, str]], float]:
    """labels -> value of an instant-query result, without the labels Prometheus adds."""
    return {
        frozenset((k, v) for k, v in item["metric"].items() if k not in ("job", "instance")): float(
            item["value"][1]
        )
        for item in result
    }


@pytest.mark.slow
def test_prometheus_scrapes_up_and_gateway_status(
    start_prometheus: StartPrometheus, stack: Stack
) -> None:
    """Prometheus ingests whatsapp_up and whatsapp_gateway_status with the contract's labels."""
    prometheus = start_prometheus([stack.watchdog_address])

    def scraped() -> bool:
        return len(prometheus.query("whatsapp_up")) == 2 * len(ENDPOINTS)

    wait_for(scraped, "whatsapp_up in Prometheus")

    # The scrape itself succeeded: Prometheus parsed the exposition it negotiated.
    [up] = prometheus.query('up{job="watchdog"}')
    assert up["metric"]["instance"] == stack.watchdog_address
    assert up["value"][1] == "1"

    expected_up = {
        frozenset({"__name__": "whatsapp_up", "target": t, "endpoint": e}.items()): value
        for t, value in (("sim", 1.0), ("gone", 0.0))
        for e in ENDPOINTS
    }
    assert series(prometheus.query("whatsapp_up")) == expected_up

    health = httpx.get(
        stack.simulator.url + "/v1/health", headers={"Authorization": f"Apikey {KEY}"}
    ).json()["health"]
    expected_gateways = {
        frozenset(
            {
                "__name__": "whatsapp_gateway_status",
                "target": "sim",
                "node": node,
                "role": entry["role"],
                "status": entry["gateway_status"],
            }.items()
        ): 1.0
        for node, entry in health.items()
    }
    assert len(expected_gateways) == 5
    current = series(prometheus.query("whatsapp_gateway_status == 1"))
    assert current == expected_gateways
    # Every other status of every node is there too, at 0; the unreachable target has none.
    everything = series(prometheus.query("whatsapp_gateway_status"))
    assert len(everything) == 5 * 7
    assert {dict(labels)["target"] for labels in everything} == {"sim"}

    assert prometheus.stop() == 0, prometheus.log_tail()
