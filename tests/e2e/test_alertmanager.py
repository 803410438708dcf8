"""Real Alertmanager receiving the watchdog's alerts: what arrives, how it resolves, restarts.

Everything is asserted through Alertmanager's own API (`GET /api/v2/alerts`) and its
`alertmanager_alerts_received_total` counter. Alertmanager 0.25 never lists an alert whose
`endsAt` has passed, whatever the filters (`active=false` included): a resolved alert is one
that disappears from the list. Firing alerts carry `endsAt` = now + 4 x the resend interval
(4 min), so an alert gone within seconds was resolved by the watchdog, not expired; the
`resolved` counter confirms Alertmanager received the resolution.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    Alertmanager,
    StartAlertmanager,
    StartWatched,
    Watched,
    wait_for,
)
from watchdog.alerts.sinks.alertmanager import AlertmanagerSink
from watchdog.simulator import Scenario, Topology

# Detection is one poll (poll_soon) plus one POST; resolving waits out the rule's 10 s window
# (the last failed poll, or the API's counters read by the first good metrics poll) and the
# next evaluation (a poll or the 5 s tick).
ARRIVE_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 25.0
# A rate-limit spike needs the API's 429 counters, which only a *successful* metrics poll reads:
# the poll `poll_soon` starts may itself get a 429, and the next one comes on the job's phase,
# one to two metrics intervals (5 s) later.
RATE_LIMIT_ARRIVE_TIMEOUT = 20.0


def epoch(text: str) -> float:
    """An RFC 3339 time as Alertmanager writes it (`2026-11-25T10:00:00.000Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def watch(
    start_watched: StartWatched,
    am: Alertmanager,
    env: Mapping[str, str] | None = None,
    topology: Topology = Topology.SINGLE,
) -> Watched:
    """The watchdog sending its alerts to `am`."""
    return start_watched({"WATCHDOG_ALERTMANAGER_URLS": am.url, **(env or {})}, topology=topology)


def wait_active(
    am: Alertmanager, alertname: str, timeout: float = ARRIVE_TIMEOUT
) -> dict[str, Any]:
    """The one alert named `alertname`, once Alertmanager has routed it (state `active`)."""
    found: list[dict[str, Any]] = []

    def active() -> bool:
        found[:] = am.alerts(alertname)
        return len(found) == 1 and found[0]["status"]["state"] == "active"

    wait_for(active, f"{alertname} active in Alertmanager", timeout)
    return found[0]


def wait_resolved(am: Alertmanager, alertname: str) -> None:
    """Alertmanager no longer lists `alertname`, and it got a resolved alert for it."""
    wait_for(lambda: not am.alerts(alertname), f"{alertname} resolved", RESOLVE_TIMEOUT)
    assert am.received("resolved") >= 1


def assert_contract(alert: dict[str, Any], alertname: str, severity: str, watched: Watched) -> None:
    """Labels exactly as the contract says; summary, description and generatorURL present."""
    assert alert["labels"] == {
        "alertname": alertname,
        "severity": severity,
        "target": watched.target,
    }
    assert set(alert["annotations"]) == {"summary", "description"}
    assert watched.target in alert["annotations"]["summary"]
    assert alert["annotations"]["description"]
    assert alert["generatorURL"] == f"{watched.url}/?target={watched.target}"
    assert alert["receivers"] == [{"name": "null"}]
    now = time.time()
    assert epoch(alert["startsAt"]) <= now + 1
    # Valid for four resend intervals (60 s each) unless the watchdog says otherwise.
    assert now + 200 < epoch(alert["endsAt"]) < now + 250


@pytest.mark.slow
def test_overloaded_arrives_with_contract_labels_and_resolves(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched
) -> None:
    """503s raise WhatsAppOverloaded in Alertmanager (contract labels, generatorURL); resolves."""
    am = start_alertmanager()
    watched = watch(start_watched, am)
    watched.wait_health_polls(1)
    assert am.alerts() == []

    watched.set_scenario(Scenario.OVERLOADED)
    alert = wait_active(am, "WhatsAppOverloaded")
    assert_contract(alert, "WhatsAppOverloaded", "critical", watched)
    assert "503" in alert["annotations"]["summary"]
    assert [a["labels"]["alertname"] for a in am.alerts()] == ["WhatsAppOverloaded"]
    # The watchdog's own view agrees on when it started firing.
    [own] = httpx.get(watched.url + "/api/v1/alerts").json()["alerts"]
    assert own["state"] == "firing"
    assert epoch(alert["startsAt"]) == pytest.approx(epoch(own["startsAt"]), abs=0.001)

    watched.set_scenario(Scenario.HEALTHY)
    wait_resolved(am, "WhatsAppOverloaded")
    assert am.alerts() == []
    [own] = httpx.get(watched.url + "/api/v1/alerts").json()["alerts"]
    assert own["state"] == "resolved"


@pytest.mark.slow
def test_rate_limit_spike_arrives_as_warning_and_resolves(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched
) -> None:
    """429s raise WhatsAppRateLimitSpike (severity warning) in Alertmanager; it then resolves."""
    am = start_alertmanager()
    watched = watch(start_watched, am)

    watched.set_scenario(Scenario.RATE_LIMITED)
    alert = wait_active(am, "WhatsAppRateLimitSpike", RATE_LIMIT_ARRIVE_TIMEOUT)
    assert_contract(alert, "WhatsAppRateLimitSpike", "warning", watched)
    assert "429" in alert["annotations"]["summary"]
    assert [a["labels"]["alertname"] for a in am.alerts()] == ["WhatsAppRateLimitSpike"]

    watched.set_scenario(Scenario.HEALTHY)
    wait_resolved(am, "WhatsAppRateLimitSpike")
    assert am.alerts() == []


@pytest.mark.slow
@pytest.mark.parametrize("topology", [Topology.SINGLE, Topology.HA])
def test_gateway_down_arrives_and_resolves(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched, topology: Topology
) -> None:
    """Disconnected gateways raise WhatsAppGatewayDown (critical, no node label); it resolves."""
    am = start_alertmanager()
    watched = watch(start_watched, am, topology=topology)

    watched.set_scenario(Scenario.GATEWAY_DISCONNECTED)
    alert = wait_active(am, "WhatsAppGatewayDown")
    assert_contract(alert, "WhatsAppGatewayDown", "critical", watched)
    assert [a["labels"]["alertname"] for a in am.alerts()] == ["WhatsAppGatewayDown"]

    watched.set_scenario(Scenario.HEALTHY)
    wait_resolved(am, "WhatsAppGatewayDown")
    assert am.alerts() == []


@pytest.mark.slow
def test_healthy_ha_with_disconnected_standbys_raises_no_gateway_down(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched
) -> None:
    """Healthy HA (one coreapp connected, standbys `disconnected`) raises no gateway alert."""
    am = start_alertmanager()
    watched = watch(start_watched, am, topology=Topology.HA)
    for _ in range(2):
        watched.watchdog.poller.poll_soon()
        watched.wait_health_polls(1)
    health = watched.watchdog.state.health(watched.target)
    assert health is not None
    statuses = sorted(str(node.status) for node in health.nodes if node.role == "coreapp")
    assert statuses == ["connected", "disconnected", "disconnected"]  # the premise

    # A later notification proves the healthy polls were evaluated and anything they raised
    # was sent: each POST carries the sink's whole set (firing, and resolved for 15 minutes).
    watched.set_scenario(Scenario.OVERLOADED)
    wait_active(am, "WhatsAppOverloaded")
    assert [a["labels"]["alertname"] for a in am.alerts()] == ["WhatsAppOverloaded"]
    assert am.received("resolved") == 0  # nor one that fired and resolved in between
    # The engine lists resolved alerts too, and GatewayDown's `for` is 0 s here: none pending.
    assert [a.name for a in watched.watchdog.engine.alerts()] == ["WhatsAppOverloaded"]


@pytest.mark.slow
def test_restarted_alertmanager_gets_the_firing_alert_back_on_the_next_resend(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched
) -> None:
    """A firing alert reappears in a restarted Alertmanager with empty storage, same startsAt."""
    am = start_alertmanager()
    watched = watch(start_watched, am)
    # Nothing changes during the outage, so only the periodic resend restores the alert. Its
    # interval (60 s) has no setting; shortened on the sink to 5 s to keep the test fast.
    [sink] = [s for s in watched.watchdog.sinks if isinstance(s, AlertmanagerSink)]
    sink.resend_interval = 5.0

    watched.set_scenario(Scenario.OVERLOADED)
    before = wait_active(am, "WhatsAppOverloaded")
    assert am.stop() == 0, am.log_tail()

    # Its storage starts empty (a fresh working directory), so whatever it lists next came
    # from the watchdog after the restart.
    fresh = start_alertmanager(port=am.port)
    after = wait_active(fresh, "WhatsAppOverloaded")
    assert after["labels"] == before["labels"]
    assert after["startsAt"] == before["startsAt"]  # the same incident, not a new one
    assert fresh.received("firing") >= 1


@pytest.mark.slow
def test_alertmanager_down_during_a_change_gets_the_whole_set_on_retry(
    start_alertmanager: StartAlertmanager, start_watched: StartWatched
) -> None:
    """A POST failing while Alertmanager restarts is retried within seconds with every alert."""
    # Default resend interval (60 s): the firing WhatsAppOverloaded comes back with the new
    # WhatsAppGatewayDown because the failed POST is retried, with the whole current set.
    am = start_alertmanager()
    # A long window keeps WhatsAppOverloaded firing after the 503s stop.
    watched = watch(start_watched, am, env={"WATCHDOG_ALERT_OVERLOADED_WINDOW": "60s"})

    watched.set_scenario(Scenario.OVERLOADED)
    before = wait_active(am, "WhatsAppOverloaded")
    assert am.stop() == 0, am.log_tail()

    [sink] = [s for s in watched.watchdog.sinks if isinstance(s, AlertmanagerSink)]

    def failures() -> int:
        return sink.stats.snapshot()[("alertmanager", "failure")]

    assert failures() == 0
    watched.set_scenario(Scenario.GATEWAY_DISCONNECTED)  # a new alert: its POST fails
    wait_for(lambda: failures() >= 1, "the failed POST", ARRIVE_TIMEOUT)
    fresh = start_alertmanager(port=am.port)

    def both() -> bool:
        return {a["labels"]["alertname"] for a in fresh.alerts()} == {
            "WhatsAppOverloaded",
            "WhatsAppGatewayDown",
        }

    # Retries back off 1 s, 2 s, 4 s ...: the new Alertmanager is caught up well before 60 s.
    wait_for(both, "both alerts in the restarted Alertmanager", ARRIVE_TIMEOUT)
    [after] = fresh.alerts("WhatsAppOverloaded")
    assert after["startsAt"] == before["startsAt"]
