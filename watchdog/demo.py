"""`watchdog demo`: the built-in simulators and the watchdog on localhost, zero configuration.

``--kind onprem`` (the default) watches the On-Premises simulator, ``--kind cloud`` the Cloud
API (Graph) simulator, ``--kind both`` one of each side by side: a fleet half-way through its
migration.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from watchdog.app import build_watchdog
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor
from watchdog.config.fields import secret_values
from watchdog.config.settings import Settings
from watchdog.simulator import (
    Deployment,
    GraphConfig,
    GraphDeployment,
    GraphScenario,
    GraphServer,
    Scenario,
    SimulatorConfig,
    SimulatorServer,
    Topology,
)
from watchdog.simulator.graph import APP_ID, DEMO_APP_SECRET, DEMO_TOKEN, PHONE_NUMBER_ID, WABA_ID
from watchdog.web.routes import create_app
from watchdog.web.serving import bind, serve

log = get_logger("watchdog.demo")

DEMO_KEY = "wa-watchdog-demo-key"
DEMO_USER = "admin"
DEMO_PASSWORD = "Demo-passw0rd!"  # noqa: S105 - documented demo value, not a secret
# The simulated Graph's app token (`<app_id>|<app_secret>`), so that debug_token is asked the
# documented way and the demo shows the token's expiry.
DEMO_APP_TOKEN = f"{APP_ID}|{DEMO_APP_SECRET}"
ONPREM_TARGET = "demo"
CLOUD_TARGET = "demo-cloud"
# Faster than the defaults so something happens while you watch, and still inside the API's
# health budget of 10 calls per 60 s.
DEMO_INTERVALS: dict[str, Any] = {
    "health_interval": 10.0,
    "metrics_interval": 10.0,
    "stats_app_interval": 15.0,
    "stats_db_interval": 60.0,
}
# The Cloud target's polls, as fast as a Cloud target may be polled (10 s) for the number;
# the simulated WABA allows 5,000 calls an hour, so these use about 8 % of it.
CLOUD_DEMO_INTERVALS: dict[str, Any] = {
    "cloud_health_interval": 10.0,
    "cloud_waba_interval": 30.0,
    "cloud_token_interval": 60.0,
}


class DemoKind(StrEnum):
    """Which kind of target the demo watches."""

    ONPREM = "onprem"
    CLOUD = "cloud"
    BOTH = "both"


@dataclass(frozen=True)
class DemoScenarios:
    """What each simulator plays: a scenario name belongs to one kind (``healthy`` to both),
    and the simulator of the other kind stays healthy."""

    onprem: Scenario
    cloud: GraphScenario


def demo_scenarios(kind: DemoKind, name: str) -> DemoScenarios:
    """The simulators' scenarios for ``--scenario name``; ``ValueError`` (naming the kinds it
    belongs to) when the demo of that kind does not run a simulator that knows it."""
    onprem = {s.value: s for s in Scenario}
    cloud = {s.value: s for s in GraphScenario}
    known = {
        DemoKind.ONPREM: onprem.keys(),
        DemoKind.CLOUD: cloud.keys(),
        DemoKind.BOTH: onprem.keys() | cloud.keys(),
    }
    if name not in known[kind]:
        raise ValueError(f"--scenario {name} is not a scenario of --kind {kind.value}")
    return DemoScenarios(
        onprem=onprem.get(name, Scenario.HEALTHY), cloud=cloud.get(name, GraphScenario.HEALTHY)
    )


def demo_settings(
    listen: str, *, simulator_url: str | None = None, graph_url: str | None = None
) -> Settings:
    """The watchdog's settings for the simulators given: target ``demo`` for the On-Prem one,
    ``demo-cloud`` (with the simulated WABA) for the Graph one, demo credentials throughout."""
    values: dict[str, Any] = {"listen": listen, "targets": []}
    if simulator_url is not None:
        values.update(api_key=DEMO_KEY, **DEMO_INTERVALS)
        values["targets"].append({"name": ONPREM_TARGET, "url": simulator_url})
    if graph_url is not None:
        values.update(
            cloud_access_token=DEMO_TOKEN, cloud_app_token=DEMO_APP_TOKEN, **CLOUD_DEMO_INTERVALS
        )
        values["targets"].append(
            {
                "name": CLOUD_TARGET,
                "kind": "cloud",
                "url": graph_url,
                "phone_number_id": PHONE_NUMBER_ID,
                "waba_id": WABA_ID,
            }
        )
    return Settings.model_validate(values)


def run_demo(
    kind: DemoKind,
    scenarios: DemoScenarios,
    topology: Topology,
    listen: str,
    webapps: int = 1,
    *,
    redactor: Redactor | None = None,
) -> int:
    """Start the simulators ``kind`` needs and serve the watchdog until SIGTERM/SIGINT."""
    host, _, port = listen.rpartition(":")
    sock = bind(host.strip("[]"), int(port), fallback_to_free_port=True)
    bound = sock.getsockname()
    base = f"http://{host}:{bound[1]}"
    with ExitStack() as running:
        started: dict[str, Any] = {}
        simulator_url = graph_url = None
        if kind in (DemoKind.ONPREM, DemoKind.BOTH):
            deployment = Deployment(
                SimulatorConfig(
                    topology=topology,
                    scenario=scenarios.onprem,
                    webapps=webapps,
                    api_key=DEMO_KEY,
                    users={DEMO_USER: DEMO_PASSWORD},
                )
            )
            simulator_url = running.enter_context(SimulatorServer(deployment)).url
            started.update(
                probe=f"{base}/probe/{ONPREM_TARGET}/ready",
                simulator=simulator_url,
                scenario=scenarios.onprem.value,
                webapps=webapps,
                switch_scenario=f"curl -XPOST {simulator_url}/_sim/scenario "
                '-d \'{"scenario": "overloaded"}\'',
            )
        if kind in (DemoKind.CLOUD, DemoKind.BOTH):
            graph = GraphDeployment(GraphConfig(scenario=scenarios.cloud))
            graph_url = running.enter_context(GraphServer(graph)).url
            started.update(
                cloud_probe=f"{base}/probe/{CLOUD_TARGET}/ready",
                graph_simulator=graph_url,
                cloud_scenario=scenarios.cloud.value,
                switch_cloud_scenario=f"curl -XPOST {graph_url}/_sim/scenario "
                '-d \'{"scenario": "blocked"}\'',
            )
        settings = demo_settings(
            f"{host}:{bound[1]}", simulator_url=simulator_url, graph_url=graph_url
        )
        if redactor is not None:
            # The demo's key and tokens are well known, but a log line is no place for a
            # credential, demo or not.
            for secret in secret_values(settings):
                redactor.add(secret)
        watchdog = build_watchdog(settings, redactor=redactor)
        log.info(
            "demo_started",
            kind=kind.value,
            status_page=base + "/",
            metrics=base + "/metrics",
            **started,
        )
        serve(create_app(watchdog), sock)
    return 0
