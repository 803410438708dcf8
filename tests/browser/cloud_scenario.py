"""A Cloud API number behind the simulated Graph (`watchdog simulate --kind cloud`, here in a
thread), watched by one watchdog in this process beside an On-Prem deployment: a fleet in the
middle of its migration, for the browser tests of the Cloud card.

The number starts healthy; `switch` plays a Graph scenario through the simulator's admin API
(`POST /_sim/scenario`, as an operator would) and has the watchdog poll the number at once.
The number is polled as often as a Cloud target may be (10 s), with the app token, so the
token's expiry is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from tests.browser.scenarios import STARTUP_TIMEOUT, wait_for
from watchdog.app import Watchdog, build_watchdog
from watchdog.base.values import MIN_HEALTH_INTERVAL
from watchdog.config.settings import Settings
from watchdog.simulator import Deployment, MultiSimulatorServer, SimulatorConfig
from watchdog.simulator.graph import (
    APP_ID,
    DEMO_APP_SECRET,
    DEMO_TOKEN,
    PHONE_NUMBER_ID,
    WABA_ID,
    GraphConfig,
    GraphDeployment,
)
from watchdog.simulator.launch import GraphServer
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

CLOUD, ONPREM = "shop-eu", "legacy-onprem"
KEY = "browser-cloud-key-0123456789"


class CloudScenario:
    """The running Graph simulator and watchdog, and their APIs to act and wait on."""

    def __init__(self, graph: GraphServer, watchdog: Watchdog, url: str) -> None:
        self.graph = graph
        self.watchdog = watchdog
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=5)
        self.graph_client = httpx.Client(base_url=graph.url, timeout=5)

    def page_url(self, target: str | None = None) -> str:
        return self.url + "/" + ("" if target is None else f"?target={target}")

    def target(self, name: str = CLOUD) -> dict[str, Any]:
        response = self.client.get("/api/v1/status", params={"target": name})
        response.raise_for_status()
        found: dict[str, Any] = response.json()["targets"][0]
        return found

    def switch(self, scenario: str) -> None:
        """Play *scenario* on the simulated account and have the number polled now."""
        response = self.graph_client.post("/_sim/scenario", json={"scenario": scenario})
        response.raise_for_status()
        self.watchdog.poller.poll_soon(CLOUD)

    def number_health(self) -> dict[str, Any]:
        """The number's `health_status` as Graph answers it, asked directly."""
        response = self.graph_client.get(
            f"/v25.0/{PHONE_NUMBER_ID}",
            params={"fields": "health_status"},
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()["health_status"]
        return found

    def close(self) -> None:
        self.client.close()
        self.graph_client.close()


def settings(graph_url: str, onprem_url: str) -> Settings:
    return Settings.model_validate(
        {
            "api_key": KEY,
            "cloud_access_token": DEMO_TOKEN,
            "cloud_app_token": f"{APP_ID}|{DEMO_APP_SECRET}",
            "cloud_health_interval": 10.0,
            "cloud_waba_interval": 30.0,
            "cloud_token_interval": 60.0,
            "health_interval": MIN_HEALTH_INTERVAL,
            "timeout": 2.0,
            "targets": [
                {"name": ONPREM, "url": onprem_url},
                {
                    "name": CLOUD,
                    "kind": "cloud",
                    "url": graph_url,
                    "phone_number_id": PHONE_NUMBER_ID,
                    "waba_id": WABA_ID,
                },
            ],
        }
    )


@contextmanager
def cloud_running() -> Iterator[CloudScenario]:
    """The simulators and the watchdog started, every endpoint polled once; stopped on exit."""
    with ExitStack() as stack:
        graph = stack.enter_context(GraphServer(GraphDeployment(GraphConfig())))
        onprem = stack.enter_context(
            MultiSimulatorServer({ONPREM: Deployment(SimulatorConfig(api_key=KEY))})
        )
        watchdog = build_watchdog(settings(graph.url, onprem.target_url(ONPREM)), start_spread=0.2)
        web = stack.enter_context(BackgroundServer(create_app(watchdog), lifespan="on"))
        scenario = CloudScenario(graph, watchdog, web.url)
        stack.callback(scenario.close)

        def ready() -> bool:
            try:
                ready = scenario.client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False
            # Ready once every primary endpoint answered; the pages read every endpoint.
            return ready and watchdog.state.polled_once()

        wait_for(ready, "the watchdog to poll every endpoint once", STARTUP_TIMEOUT)
        yield scenario
