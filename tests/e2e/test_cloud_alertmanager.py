"""Real Alertmanager receiving the Cloud API alerts of a watchdog polling the Graph simulator.

One Alertmanager and one watchdog (a Cloud target on the simulator) serve every test of the
module; each test switches the simulator's scenario, has the watchdog poll at once
(`poll_soon`), waits for the alert in Alertmanager (`GET /api/v2/alerts`) with its labels and
description, switches back to healthy and waits for Alertmanager to drop it: a resolved alert
leaves the list (see `test_alertmanager.py`), and the alert's `endsAt` is minutes away, so it
was the watchdog that resolved it. The rules' `keep_firing_for` (10m by default: a Cloud number
is polled every 5 min) is 0s here, so the resolution comes with the first healthy poll.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import Alertmanager, alertmanager_binary, free_port, wait_for
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph_health import HealthStatus
from watchdog.app import Watchdog, build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import GraphConfig, GraphDeployment, GraphScenario, GraphServer
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

pytestmark = pytest.mark.slow

TOKEN = "EAAe2e-cloud-alerting-token-0123456789"
NUMBER = "106540352242922"
TARGET = "shop-eu"
# One poll (poll_soon) and one POST; the resolution the same after the healthy poll.
ARRIVE_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 15.0
FAST_CLOUD_ALERTS = {
    "WATCHDOG_CLOUD_HEALTH_INTERVAL": "10s",  # the Cloud minimum
    "WATCHDOG_TIMEOUT": "2s",
    **{
        f"WATCHDOG_ALERT_{key}_{param}": "0s"
        for key in ("CLOUD_BLOCKED", "CLOUD_LIMITED", "CLOUD_RATE_LIMIT_NEAR")
        for param in ("FOR", "KEEP_FIRING_FOR")
    },
}


@dataclass
class CloudWatched:
    """The Graph simulator, the watchdog polling it, and the Alertmanager it sends to."""

    graph: GraphServer
    watchdog: Watchdog
    url: str
    am: Alertmanager

    def polled_since(self, at: float) -> bool:
        state = self.watchdog.state.get(TARGET, Endpoint.PHONE_NUMBER)
        return state is not None and state.last is not None and state.last.result.started_at >= at

    def number_health(self) -> HealthStatus:
        """The health status of the number's last answer the watchdog recorded."""
        state = self.watchdog.state.get(TARGET, Endpoint.PHONE_NUMBER)
        assert state is not None
        assert state.last is not None
        assert state.last.phone is not None
        assert state.last.phone.health is not None
        return state.last.phone.health

    def switch(self, scenario: GraphScenario) -> None:
        """Switch the simulator (as a person would, over HTTP) and have the watchdog poll the
        number right away; returns once a poll that started after the switch is recorded."""
        at = time.time()
        response = httpx.post(f"{self.graph.url}/_sim/scenario", json={"scenario": scenario})
        assert response.status_code == 200, response.text
        self.watchdog.poller.poll_soon(TARGET)
        wait_for(lambda: self.polled_since(at), f"a poll in {scenario}")

    def restart_budget(self) -> None:
        assert httpx.post(f"{self.graph.url}/_sim/restart").status_code == 200

    def wait_active(self, alertname: str) -> list[dict[str, Any]]:
        """The alerts named `alertname`, once Alertmanager has routed at least one."""
        found: list[dict[str, Any]] = []

        def active() -> bool:
            found[:] = self.am.alerts(alertname)
            return bool(found) and all(a["status"]["state"] == "active" for a in found)

        wait_for(active, f"{alertname} active in Alertmanager", ARRIVE_TIMEOUT)
        return found

    def back_to_healthy(self, alertname: str) -> None:
        """Switch back to healthy; Alertmanager gets the resolution and drops the alert."""
        resolved = self.am.received("resolved")
        self.switch(GraphScenario.HEALTHY)
        wait_for(lambda: not self.am.alerts(alertname), f"{alertname} resolved", RESOLVE_TIMEOUT)
        assert self.am.received("resolved") > resolved


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudWatched]:
    workdir = tmp_path_factory.mktemp("cloud-alerting")
    am = Alertmanager(
        alertmanager_binary(),
        workdir,
        free_port(),
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )
    try:
        am.wait_ready()
        # Throttling lets one call through: its answer says 100 % at once.
        config = GraphConfig(token=TOKEN, throttling_allowance=1)
        with GraphServer(GraphDeployment(config)) as graph:
            target = {"name": TARGET, "kind": "cloud", "url": graph.url, "phone_number_id": NUMBER}
            config_file = workdir / "watchdog.yaml"
            config_file.write_text(yaml.safe_dump({"targets": [target]}))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            settings = load_settings(
                {
                    "WATCHDOG_CONFIG_FILE": str(config_file),
                    "WA_CLOUD_ACCESS_TOKEN": TOKEN,
                    "WATCHDOG_ALERTMANAGER_URLS": am.url,
                    "WATCHDOG_EXTERNAL_URL": url,
                    **FAST_CLOUD_ALERTS,
                }
            )
            watchdog = build_watchdog(settings, start_spread=0.2)
            with BackgroundServer(create_app(watchdog), port=port, lifespan="on"):
                wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, "watchdog ready")
                yield CloudWatched(graph, watchdog, url, am)
    finally:
        am.stop()


@pytest.fixture
def cloud(watched: CloudWatched) -> CloudWatched:
    """The shared setup, healthy with a full budget and no alert at Alertmanager, before each
    test (and after one that failed half-way, so that one failure does not fail the rest)."""
    watched.restart_budget()
    if watched.graph.deployment.scenario is not GraphScenario.HEALTHY:
        watched.switch(GraphScenario.HEALTHY)
    wait_for(lambda: watched.am.alerts() == [], "no alert left", RESOLVE_TIMEOUT)
    return watched


def assert_labels(alert: dict[str, Any], alertname: str, severity: str, **extra: str) -> None:
    assert alert["labels"] == {
        "alertname": alertname,
        "severity": severity,
        "target": TARGET,
        **extra,
    }
    assert set(alert["annotations"]) == {"summary", "description"}
    assert TARGET in alert["annotations"]["summary"]
    assert alert["generatorURL"].endswith(f"/?target={TARGET}")
    # Valid for minutes: a quick disappearance is a resolution, not an expiry.
    assert time.time() + 120 < epoch(alert["endsAt"])


def epoch(text: str) -> float:
    """An RFC 3339 time as Alertmanager writes it (`2026-11-25T10:00:00.000Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_blocked_number_pages_with_meta_s_error_and_resolves(cloud: CloudWatched) -> None:
    cloud.switch(GraphScenario.BLOCKED)
    [alert] = cloud.wait_active("WhatsAppCloudBlocked")
    assert_labels(
        alert,
        "WhatsAppCloudBlocked",
        "critical",
        entity_type="PHONE_NUMBER",
        entity_id=NUMBER,
    )
    description = alert["annotations"]["description"]
    [blocked] = cloud.number_health().blocked()
    [error] = blocked.errors
    # Meta's code, description and possible solution, as the simulator sent them.
    assert error.code == 131031
    assert "error 131031" in description
    assert error.description
    assert error.description in description
    assert error.possible_solution
    assert error.possible_solution in description
    # Only the blocked entity: the WABA, business and app can still send.
    assert [a["labels"]["entity_type"] for a in cloud.am.alerts("WhatsAppCloudBlocked")] == [
        "PHONE_NUMBER"
    ]

    cloud.back_to_healthy("WhatsAppCloudBlocked")


def test_calling_only_block_raises_nothing(cloud: CloudWatched) -> None:
    """Meta's overall BLOCKED caused by SIP calling alone: no WhatsAppCloudBlocked, not even
    for one poll. The Limited alert arriving next proves the calling poll was evaluated: one
    job polls the number, and the engine judges each poll before the next is recorded."""
    since = time.time()
    cloud.switch(GraphScenario.CALLING_BLOCKED)
    # The premise: Meta's overall verdict.
    assert cloud.number_health().overall == "BLOCKED"
    cloud.switch(GraphScenario.LIMITED)
    cloud.wait_active("WhatsAppCloudLimited")
    assert cloud.am.alerts("WhatsAppCloudBlocked") == []
    # Resolved alerts stay listed for 15 minutes: one raised and resolved since would show.
    blocked = [
        a
        for a in cloud.watchdog.engine.alerts()
        if a.name == "WhatsAppCloudBlocked" and a.active_since >= since
    ]
    assert blocked == []
    cloud.back_to_healthy("WhatsAppCloudLimited")


def test_limited_number_warns_with_additional_info_and_resolves(cloud: CloudWatched) -> None:
    cloud.switch(GraphScenario.LIMITED)
    [alert] = cloud.wait_active("WhatsAppCloudLimited")
    assert_labels(
        alert,
        "WhatsAppCloudLimited",
        "warning",
        entity_type="PHONE_NUMBER",
        entity_id=NUMBER,
    )
    # Meta's additional_info, as the simulator sent it.
    description = alert["annotations"]["description"]
    assert "Your display name has not been approved" in description

    cloud.back_to_healthy("WhatsAppCloudLimited")


def test_rate_limit_near_warns_and_resolves(cloud: CloudWatched) -> None:
    """The number's answer says 100 % of the hourly allowance (Graph lets one call through in
    this throttling scenario): a warning naming the usage; a healthy budget resolves it."""
    cloud.switch(GraphScenario.THROTTLING)
    [alert] = cloud.wait_active("WhatsAppCloudRateLimitNear")
    assert_labels(alert, "WhatsAppCloudRateLimitNear", "warning")
    description = alert["annotations"]["description"]
    assert "call_count 100 %" in description
    assert "80 %" in description

    # Back to a healthy budget: the answer's usage is low again. The throttled answer held
    # the polls off for the hour Meta named; `poll_soon` goes regardless, as a person would
    # ask for it.
    cloud.restart_budget()
    cloud.back_to_healthy("WhatsAppCloudRateLimitNear")
