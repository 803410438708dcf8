"""Several Webapps behind one URL, and the backoff after 503, with the watchdog's own server.

The watchdog polls deployments of one multi-deployment simulator (`/_sim/arrivals` says when
each request arrived, `/_sim/state` how many requests each Webapp served) and sends its alerts
to a webhook receiver of the test. Nothing here bounds how long anything takes: the waits have
timeouts only so that a broken watchdog fails instead of hanging.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.receivers import WebhookReceiver
from watchdog.app import build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, MultiSimulatorServer, Scenario, SimulatorConfig
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

KEY = "webapps-backoff-test-key-0123"
# Generous limits: these tests poll far more often than a real deployment allows, and a 429
# would back off the healthy target too.
LIMITS: dict[str, Any] = {"health_limit": 100_000, "request_rate": 1000.0, "request_burst": 1000.0}
HEALTH_INTERVAL = 6.0  # the shortest the watchdog accepts
ALERTNAME = "WhatsAppOverloaded"


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)


@dataclass
class Watching:
    """The simulator, the watchdog's server and the webhook receiver, running."""

    sim: MultiSimulatorServer
    url: str
    hook: WebhookReceiver

    def sent(self) -> list[tuple[str, dict[str, str], str]]:
        """Every alert of every webhook message so far, as (status, labels, startsAt)."""
        return [
            (alert["status"], alert["labels"], alert["startsAt"])
            for message in self.hook.messages()
            for alert in message.alerts
        ]

    def scenario(self, name: str, scenario: Scenario, webapp: int | None = None) -> None:
        body: dict[str, Any] = {"scenario": scenario.value}
        if webapp is not None:
            body["webapp"] = webapp
        response = httpx.post(self.sim.target_url(name) + "/_sim/scenario", json=body)
        assert response.status_code == 200, response.text

    def webapps(self, name: str) -> list[dict[str, Any]]:
        """`/_sim/state`'s Webapps of a deployment: host, scenario, requests_served."""
        state = httpx.get(self.sim.target_url(name) + "/_sim/state").json()
        return list(state["webapps"])

    def arrivals(self, name: str, path: str, since: float = 0.0) -> list[float]:
        """When the requests for `path` of deployment `name` reached the simulator."""
        answer = httpx.get(self.sim.url + "/_sim/arrivals", params={"since": since}).json()
        return [at for at, arrived in answer["arrivals"] if arrived == f"/{name}{path}"]

    def status(self, name: str) -> dict[str, Any]:
        document = httpx.get(self.url + "/api/v1/status").json()
        found: dict[str, Any] = next(t for t in document["targets"] if t["name"] == name)
        return found

    def health(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.status(name)["endpoints"]["health"]
        return found

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        text = httpx.get(self.url + "/metrics").text
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def backoff_metric(self, name: str) -> float:
        [value] = [
            v
            for n, labels, v in self.metrics()
            if n == "whatsapp_poll_backoff_seconds"
            and labels == {"target": name, "endpoint": "health"}
        ]
        return value

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/api/v1/alerts").json()["alerts"])


@contextmanager
def watching(deployments: dict[str, Deployment], **env: str) -> Iterator[Watching]:
    """The watchdog polling every deployment (a target each, named like it), webhook to us."""
    with WebhookReceiver() as hook, MultiSimulatorServer(deployments) as sim:
        settings = load_settings(
            {
                "WATCHDOG_TARGETS": ",".join(f"{n}={sim.target_url(n)}" for n in deployments),
                "WA_API_KEY": KEY,
                "WATCHDOG_HEALTH_INTERVAL": f"{HEALTH_INTERVAL:g}s",
                "WATCHDOG_STATS_APP_INTERVAL": "0",
                "WATCHDOG_WEBHOOK_URLS": hook.url + "/hook",
                **env,
            }
        )
        watchdog = build_watchdog(settings, start_spread=0.2)
        app = create_app(watchdog)
        with BackgroundServer(app, lifespan="on", name="wa-watchdog") as server:
            url = f"http://127.0.0.1:{server.port}"
            wait_for(
                lambda: (
                    httpx.get(url + "/readyz").status_code == 200 and watchdog.state.polled_once()
                ),
                10,
                "ready",
            )
            yield Watching(sim, url, hook)


def webapps(count: int, clock: Callable[[], float] = time.time) -> Deployment:
    return Deployment(SimulatorConfig(api_key=KEY, webapps=count, **LIMITS), clock=clock)


def test_healthy_webapps_taking_turns_alert_nothing_and_export_every_node() -> None:
    """Three healthy Webapps with old 503s in their counters: no alert, every node exported."""
    # Ten minutes of overload before the watchdog started: every Webapp's lifetime counters
    # hold 503s, which are not news to a watchdog that never saw those Webapps before.
    shift = [0.0]
    deployment = webapps(3, clock=lambda: time.time() + shift[0])
    deployment.set_scenario(Scenario.OVERLOADED)
    shift[0] = 600.0
    deployment.set_scenario(Scenario.HEALTHY)
    with watching({"wa": deployment}, WATCHDOG_METRICS_INTERVAL="1s") as w:
        hosts = [webapp["host"] for webapp in w.webapps("wa")]

        def every_webapp_answered_metrics_twice() -> bool:
            # Round robin over health and metrics polls: what a Webapp served beyond every
            # health request that arrived (read after) were /metrics requests.
            served = min(int(webapp["requests_served"]) for webapp in w.webapps("wa"))
            return served - len(w.arrivals("wa", "/v1/health")) >= 2

        wait_for(every_webapp_answered_metrics_twice, 40, "each Webapp answered /metrics twice")
        # ... and the watchdog has recorded every answer that arrived.
        arrived = len(w.arrivals("wa", "/metrics"))
        wait_for(lambda: w.status("wa")["endpoints"]["metrics"]["polls"] >= arrived, 10, "recorded")

        assert w.sent() == []
        assert w.alerts() == []
        nodes = {
            labels.get("node")
            for name, labels, _ in w.metrics()
            if name == "whatsapp_api_requests_duration_ms_count" and labels["target"] == "wa"
        }
        assert nodes == set(hosts)


def test_one_overloaded_webapp_of_three_fires_once_and_stays_firing() -> None:
    """One Webapp of three answering 503: WhatsAppOverloaded fires once and never resolves."""
    # No hysteresis and a short window: the alert stays firing only if the condition holds at
    # every evaluation, i.e. the other Webapps' answers do not clear it.
    env = {
        "WATCHDOG_METRICS_INTERVAL": "1s",
        "WATCHDOG_ALERT_OVERLOADED_WINDOW": "20s",
        "WATCHDOG_ALERT_OVERLOADED_KEEP_FIRING_FOR": "0s",
    }
    with watching({"wa": webapps(3)}, **env) as w:
        w.scenario("wa", Scenario.OVERLOADED, webapp=1)

        def fired() -> bool:
            return any(status == "firing" for status, _, _ in w.sent())

        wait_for(fired, 30, "the alert fired")
        served = [webapp["requests_served"] for webapp in w.webapps("wa")]

        def each_answered_four_more() -> bool:
            now = [webapp["requests_served"] for webapp in w.webapps("wa")]
            return all(n >= before + 4 for n, before in zip(now, served, strict=True))

        wait_for(each_answered_four_more, 40, "every Webapp answered four more polls")

        sent = [(status, labels["alertname"], labels["target"]) for status, labels, _ in w.sent()]
        assert sent == [("firing", ALERTNAME, "wa")]
        _, labels, starts = w.sent()[0]
        assert "node" not in labels  # one alert for the deployment, not one per Webapp
        [alert] = w.alerts()
        assert alert["state"] == "firing"
        assert alert["startsAt"] == starts  # the same incident, not a new one


def test_a_deployment_answering_503_is_polled_less_until_it_recovers() -> None:
    """503s space health polls 2, then 4 intervals apart (healthy: 1), backoff shown till healed."""
    with watching({"over": webapps(1), "ok": webapps(1)}, WATCHDOG_METRICS_INTERVAL="0") as w:
        # Right after the first poll of every target: the next is an interval away.
        switched = time.time()
        w.scenario("over", Scenario.OVERLOADED)
        wait_for(lambda: w.health("over")["status_code"] == 503, 3 * HEALTH_INTERVAL, "a 503")
        assert w.health("over")["backoff_seconds"] > 0
        assert w.backoff_metric("over") > 0
        assert w.health("ok")["backoff_seconds"] == 0
        assert w.backoff_metric("ok") == 0

        failed = w.health("over")["polls"]
        wait_for(lambda: w.health("over")["polls"] > failed, 6 * HEALTH_INTERVAL, "another poll")
        assert w.health("over")["status_code"] == 503
        w.scenario("over", Scenario.HEALTHY)
        cap = 4  # MAX_BACKOFF_INTERVALS: the recovery is seen within this many intervals
        wait_for(lambda: w.health("over")["ok"], (cap + 1) * HEALTH_INTERVAL, "seen healthy")
        assert w.health("over")["backoff_seconds"] == 0
        assert w.backoff_metric("over") == 0

        polls = w.arrivals("over", "/v1/health", since=switched)
        assert len(polls) >= 3
        first, second, healthy = polls[:3]
        assert second - first >= 1.5 * HEALTH_INTERVAL  # after one 503: 2 intervals
        assert healthy - second >= 1.5 * HEALTH_INTERVAL  # after two: 4
        assert healthy - second > second - first + HEALTH_INTERVAL / 2  # the gaps grow
        polled = w.arrivals("ok", "/v1/health", since=first)
        polled = [at for at in polled if at <= healthy]
        assert len(polled) >= 2
        assert all(b - a < 1.5 * HEALTH_INTERVAL for a, b in itertools.pairwise(polled))
