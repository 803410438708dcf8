"""Three deployments an on-call person tells apart on the status page, behind one simulator,
watched by one watchdog in this process: shared by the browser tests and `docs/screenshots.py`.

- `healthy-ha`: high availability (one coreapp connected, the others standing by), healthy.
- `overloaded`: healthy until `overload()`, then 503/1016 on every endpoint until `recover()`.
- `flapping`: healthy, then alternating with a disconnected gateway every health interval,
  switched half-way between two of the watchdog's health polls so that each poll lands in
  the middle of a half: a strip that alternates poll by poll, never by a hair.

Timings are short so the whole story takes seconds: the shortest health interval the watchdog
accepts, metrics and stats every 1-2 s, WhatsAppOverloaded over a 10 s window resolving 8 s
after it clears, WhatsAppGatewayDown firing at the first down answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import httpx

from watchdog.app import Watchdog, build_watchdog
from watchdog.base.values import MIN_HEALTH_INTERVAL
from watchdog.config.settings import load_settings
from watchdog.simulator import (
    Deployment,
    MultiSimulatorServer,
    Scenario,
    SimulatorConfig,
    Topology,
)
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

HEALTHY, OVERLOADED, FLAPPING = "healthy-ha", "overloaded", "flapping"
TARGETS = (HEALTHY, OVERLOADED, FLAPPING)
KEY = "browser-test-key-0123456789"

HEALTH_INTERVAL = MIN_HEALTH_INTERVAL
OVERLOADED_WINDOW = 10.0  # the shortest window the rule accepts
OVERLOADED_KEEP_FIRING_FOR = 8.0
SETTINGS = {
    "WATCHDOG_HEALTH_INTERVAL": f"{HEALTH_INTERVAL:g}s",
    "WATCHDOG_METRICS_INTERVAL": "1s",
    "WATCHDOG_STATS_APP_INTERVAL": "2s",
    "WATCHDOG_STATS_DB_INTERVAL": "2s",
    "WATCHDOG_TIMEOUT": "2s",
    "WATCHDOG_ALERT_OVERLOADED_WINDOW": f"{OVERLOADED_WINDOW:g}s",
    "WATCHDOG_ALERT_OVERLOADED_KEEP_FIRING_FOR": f"{OVERLOADED_KEEP_FIRING_FOR:g}s",
    "WATCHDOG_ALERT_GATEWAY_DOWN_FOR": "0s",
}
STARTUP_TIMEOUT = 15.0

T = TypeVar("T")


class ScenarioError(RuntimeError):
    """The deployments or the watchdog did not get where a scenario needs them in time."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float) -> T:
    """Call `check` every 0.2 s until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def _deployments() -> dict[str, Deployment]:
    def config(topology: Topology = Topology.SINGLE) -> SimulatorConfig:
        # The test polls health on top of the schedule (`poll_soon`); the real budget of 10
        # calls per 60 s would answer that with 429s.
        return SimulatorConfig(
            topology=topology, api_key=KEY, health_limit=1000, flap_period=HEALTH_INTERVAL
        )

    return {
        HEALTHY: Deployment(config(Topology.HA)),
        OVERLOADED: Deployment(config()),
        FLAPPING: Deployment(config()),
    }


class Scenarios:
    """The running deployments and watchdog, and the status API to wait on."""

    def __init__(self, server: MultiSimulatorServer, watchdog: Watchdog, url: str) -> None:
        self.server = server
        self.watchdog = watchdog
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=5)
        self.flapping_since: float | None = None
        self._stop = threading.Event()
        self._flap_error: BaseException | None = None
        self._flapper = threading.Thread(target=self._flap_between_polls, daemon=True)

    def page_url(self, target: str | None = None) -> str:
        """The status page, or the focus view of one target."""
        return self.url + "/" + ("" if target is None else f"?target={target}")

    def status(self, target: str | None = None) -> dict[str, Any]:
        params = {} if target is None else {"target": target}
        response = self.client.get("/api/v1/status", params=params)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def target(self, name: str) -> dict[str, Any]:
        """The target's part of a fresh status document."""
        targets: list[dict[str, Any]] = self.status(name)["targets"]
        return targets[0]

    def alerts(self) -> list[dict[str, Any]]:
        """`/api/v1/alerts`: every pending, firing and recently resolved alert."""
        response = self.client.get("/api/v1/alerts")
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["alerts"]
        return alerts

    def alert_state(self, alertname: str, target: str) -> str | None:
        """The state of the target's alert `alertname` in `/api/v1/alerts`, if listed."""
        for alert in self.alerts():
            labels = alert["labels"]
            if labels.get("alertname") == alertname and labels.get("target") == target:
                return str(alert["state"])
        return None

    def switch(self, target: str, scenario: Scenario) -> None:
        """Switch the deployment and have the watchdog poll it right away."""
        self.server.deployments[target].set_scenario(scenario)
        self.watchdog.poller.poll_soon(target)

    def overload(self) -> None:
        self.switch(OVERLOADED, Scenario.OVERLOADED)

    def recover(self) -> None:
        self.switch(OVERLOADED, Scenario.HEALTHY)

    def wait_flapping(self, timeout: float = 3 * HEALTH_INTERVAL) -> float:
        """Until the flapping deployment has been switched; the time it was."""

        def switched() -> float | None:
            if self._flap_error is not None:
                raise ScenarioError(f"switching {FLAPPING}: {self._flap_error}")
            return self.flapping_since

        return wait_for(switched, f"{FLAPPING} to start flapping", timeout)

    def start_flapping(self) -> None:
        self._flapper.start()

    def _flap_between_polls(self) -> None:
        try:
            # The first health poll comes within the start spread; from the second on, polls
            # keep one phase, which is what the switch is timed against.
            def second_poll() -> float | None:
                health = self.target(FLAPPING)["endpoints"]["health"]
                if health["polls"] < 2:
                    return None
                return time.time() - float(health["last_poll_age_seconds"])

            last = wait_for(second_poll, f"a second health poll of {FLAPPING}", 3 * HEALTH_INTERVAL)
            at = last + HEALTH_INTERVAL / 2
            while at < time.time() + 0.2:
                at += HEALTH_INTERVAL
            if self._stop.wait(at - time.time()):
                return
            self.server.deployments[FLAPPING].set_scenario(Scenario.FLAPPING)
            self.flapping_since = time.time()
        except BaseException as exc:  # reported by wait_flapping, in the test's thread
            self._flap_error = exc

    def close(self) -> None:
        self._stop.set()
        if self._flapper.is_alive():
            self._flapper.join(timeout=5)
        self.client.close()


@contextmanager
def running() -> Iterator[Scenarios]:
    """The simulator and the watchdog started, every target polled once, the overload on and
    the flapping timed; everything stopped on exit."""
    with ExitStack() as stack:
        server = stack.enter_context(MultiSimulatorServer(_deployments()))
        targets = ",".join(f"{name}={server.target_url(name)}" for name in TARGETS)
        settings = load_settings({"WATCHDOG_TARGETS": targets, "WA_API_KEY": KEY, **SETTINGS})
        watchdog = build_watchdog(settings, start_spread=0.2)
        web = stack.enter_context(BackgroundServer(create_app(watchdog), lifespan="on"))
        scenarios = Scenarios(server, watchdog, web.url)
        stack.callback(scenarios.close)

        def ready() -> bool:
            try:
                ready = scenarios.client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False
            # Ready once every primary endpoint answered; the pages read every endpoint.
            return ready and watchdog.state.polled_once()

        wait_for(ready, "the watchdog to poll every target once", STARTUP_TIMEOUT)
        scenarios.overload()
        scenarios.start_flapping()
        yield scenarios
