"""`watchdog demo`: the built-in simulator and the watchdog on localhost, zero configuration."""

from __future__ import annotations

from typing import Any

from watchdog.app import build_watchdog
from watchdog.base.log import get_logger
from watchdog.base.targets import Target
from watchdog.config.settings import Settings
from watchdog.simulator import (
    Deployment,
    Scenario,
    SimulatorConfig,
    SimulatorServer,
    Topology,
)
from watchdog.web.routes import create_app
from watchdog.web.serving import bind, serve

log = get_logger("watchdog.demo")

DEMO_KEY = "wa-watchdog-demo-key"
DEMO_USER = "admin"
DEMO_PASSWORD = "Demo-passw0rd!"  # noqa: S105 - documented demo value, not a secret
# Faster than the defaults so something happens while you watch, and still inside the API's
# health budget of 10 calls per 60 s.
DEMO_INTERVALS: dict[str, Any] = {
    "health_interval": 10.0,
    "metrics_interval": 10.0,
    "stats_app_interval": 15.0,
    "stats_db_interval": 60.0,
}


def demo_settings(simulator_url: str, listen: str) -> Settings:
    target = Target(name="demo", url=simulator_url, api_key=DEMO_KEY, **DEMO_INTERVALS)
    return Settings.model_validate(
        {"api_key": DEMO_KEY, "listen": listen, "targets": [target], **DEMO_INTERVALS}
    )


def run_demo(scenario: Scenario, topology: Topology, listen: str, webapps: int = 1) -> int:
    deployment = Deployment(
        SimulatorConfig(
            topology=topology,
            scenario=scenario,
            webapps=webapps,
            api_key=DEMO_KEY,
            users={DEMO_USER: DEMO_PASSWORD},
        )
    )
    host, _, port = listen.rpartition(":")
    sock = bind(host.strip("[]"), int(port), fallback_to_free_port=True)
    bound = sock.getsockname()
    base = f"http://{listen.rpartition(':')[0]}:{bound[1]}"
    with SimulatorServer(deployment) as simulator:
        watchdog = build_watchdog(demo_settings(simulator.url, f"{host}:{bound[1]}"))
        log.info(
            "demo_started",
            status_page=base + "/",
            metrics=base + "/metrics",
            probe=f"{base}/probe/demo/ready",
            simulator=simulator.url,
            scenario=scenario.value,
            webapps=webapps,
            switch_scenario=f"curl -XPOST {simulator.url}/_sim/scenario "
            '-d \'{"scenario": "overloaded"}\'',
        )
        serve(create_app(watchdog), sock)
    return 0
