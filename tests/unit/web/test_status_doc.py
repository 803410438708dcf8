"""The status document of issue #13: alerts folded into the verdicts, poll history, uptime,
queues (`/api/v1/status`'s queries are in test_status_routes.py)."""

from __future__ import annotations

import pytest

from tests.unit.web.status_support import (
    HEALTHY,
    T0,
    alert,
    health_body,
    make_state,
    polled_for_two_hours,
    record_failed,
    record_ok,
    target_doc,
    views,
)
from watchdog.alerts.model import Alert, AlertState, AlertView
from watchdog.api.endpoints import Endpoint
from watchdog.base.targets import Target
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.state import State
from watchdog.web.status import status

# -- alerts folded into the verdicts --------------------------------------------------------------


def test_a_firing_critical_alert_raises_a_target_whose_polls_are_ok() -> None:
    """The page never shows green while a critical alert fires for the target."""
    state = make_state()
    record_ok(state)
    doc = status(state, T0, alerts=views(alert("WhatsAppOverloaded")))
    prod = target_doc(doc)
    assert (prod["level"], prod["poll_level"], prod["level_alert"]) == (
        "critical",
        "ok",
        "WhatsAppOverloaded",
    )
    assert prod["alerts"] == ["WhatsAppOverloaded"]
    assert doc["level"] == "critical"


def test_a_warning_alert_does_not_lower_a_critical_poll_verdict() -> None:
    state = make_state()
    record_ok(state, health_body(Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED))
    prod = target_doc(status(state, T0, alerts=views(alert("WhatsAppQueueBacklog", "warning"))))
    assert (prod["level"], prod["poll_level"], prod["level_alert"]) == (
        "critical",
        "critical",
        None,
    )
    assert prod["alerts"] == ["WhatsAppQueueBacklog"]


def test_an_alert_as_severe_as_the_polls_is_named_as_the_reason() -> None:
    """While the polls and a firing alert agree, the verdict still names the alert: on-call
    reads its name (and its runbook) first. A milder alert at the same time is not it."""
    state = make_state()
    record_ok(state, health_body(Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED))
    firing = views(alert("WhatsAppQueueBacklog", "warning"), alert("WhatsAppGatewayDown"))
    prod = target_doc(status(state, T0, alerts=firing))
    assert (prod["level"], prod["poll_level"], prod["level_alert"]) == (
        "critical",
        "critical",
        "WhatsAppGatewayDown",
    )
    assert prod["alerts"] == ["WhatsAppGatewayDown", "WhatsAppQueueBacklog"]


@pytest.mark.parametrize(
    "view",
    [
        alert("WhatsAppUnreachable", state=AlertState.PENDING),
        alert("WhatsAppOverloaded", state=AlertState.RESOLVED, ends=T0 - 60),
        alert("WhatsAppCustom", "info"),
        alert("WhatsAppOverloaded", target="edge"),
    ],
    ids=["pending", "resolved", "info", "other-target"],
)
def test_alerts_that_do_not_raise_a_target(view: Alert) -> None:
    """Pending and resolved alerts, an `info` severity and another target's alert leave the
    verdict of the polls as it is."""
    state = make_state("prod", "edge")
    record_ok(state)
    prod = target_doc(status(state, T0, alerts=views(view)))
    assert (prod["level"], prod["poll_level"], prod["level_alert"]) == ("ok", "ok", None)
    # Only this target's firing alerts are listed with it (an info one included).
    firing_here = view.state is AlertState.FIRING and view.labels["target"] == "prod"
    assert prod["alerts"] == ([view.name] if firing_here else [])


def test_the_most_severe_then_oldest_firing_alert_names_the_level() -> None:
    state = make_state()
    record_ok(state)
    firing = [
        alert("WhatsAppQueueBacklog", "warning", since=T0 - 900),
        alert("WhatsAppOverloaded", since=T0 - 60),
        alert("WhatsAppGatewayDown", since=T0 - 300),
        alert("WhatsAppQueueBacklog", "warning", since=T0 - 800, node="coreapp-1"),
    ]
    prod = target_doc(status(state, T0, alerts=views(*firing)))
    assert (prod["level"], prod["level_alert"]) == ("critical", "WhatsAppGatewayDown")
    assert prod["alerts"] == ["WhatsAppGatewayDown", "WhatsAppOverloaded", "WhatsAppQueueBacklog"]


def test_a_warning_alert_raises_an_ok_target_to_warning() -> None:
    state = make_state()
    record_ok(state)
    prod = target_doc(status(state, T0, alerts=views(alert("WhatsAppQueueBacklog", "warning"))))
    assert (prod["level"], prod["level_alert"]) == ("warning", "WhatsAppQueueBacklog")


@pytest.mark.parametrize(
    ("edge", "overall"),
    [("critical", "critical"), ("warning", "warning"), ("ok", "unknown")],
)
def test_overall_level_is_the_worst_known_problem(edge: str, overall: str) -> None:
    """A known problem outranks not knowing: a target not polled yet (unknown) beside a
    critical one is critical overall; beside only ok ones it is unknown."""
    state = make_state("prod", "edge")  # prod is never polled: unknown
    bodies = {
        "critical": health_body(Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED),
        "warning": health_body(Topology.SINGLE, Scenario.UNREGISTERED),
        "ok": HEALTHY,
    }
    record_ok(state, bodies[edge], name="edge")
    doc = status(state, T0)
    assert [(t["name"], t["level"]) for t in doc["targets"]] == [
        ("prod", "unknown"),
        ("edge", edge),
    ]
    assert doc["level"] == overall


def test_an_alert_on_an_unpolled_target_makes_it_critical() -> None:
    state = make_state()
    prod = target_doc(status(state, T0, alerts=views(alert("WhatsAppUnreachable"))))
    assert (prod["level"], prod["poll_level"], prod["level_alert"]) == (
        "critical",
        "unknown",
        "WhatsAppUnreachable",
    )


# -- the alert lists ------------------------------------------------------------------------------


def test_alerts_are_listed_by_state_in_the_order_people_read_them() -> None:
    """Firing: most severe first, then oldest; pending: oldest first; resolved: newest first."""
    listed = [
        alert("W-old", "warning", since=T0 - 900),
        alert("C-new", since=T0 - 60),
        alert("I-oldest", "info", since=T0 - 3000),
        alert("C-old", since=T0 - 300),
        alert("C-long-pending", since=T0 - 1000, starts=T0 - 200),  # fired at T0 - 200
        alert("P-new", state=AlertState.PENDING, since=T0 - 10),
        alert("P-old", "warning", state=AlertState.PENDING, since=T0 - 20),
        alert("R-old", state=AlertState.RESOLVED, since=T0 - 900, ends=T0 - 600),
        alert("R-new", state=AlertState.RESOLVED, since=T0 - 900, ends=T0 - 100),
    ]
    doc = status(make_state(), T0, alerts=views(*listed))["alerts"]
    assert [a["alertname"] for a in doc["firing"]] == [
        "C-old", "C-long-pending", "C-new", "W-old", "I-oldest",
    ]  # fmt: skip
    assert [a["alertname"] for a in doc["pending"]] == ["P-old", "P-new"]
    assert [a["alertname"] for a in doc["resolved"]] == ["R-new", "R-old"]


def test_an_alert_doc_carries_what_the_contract_names() -> None:
    pending = alert("WhatsAppNotRegistered", "warning", AlertState.PENDING, node="core-1")
    clearing = alert("WhatsAppOverloaded", since=T0 - 300)
    doc = status(
        make_state(),
        T0,
        alerts=[AlertView(pending, for_left=12.34567), AlertView(clearing, keep_firing_left=80.0)],
    )["alerts"]
    assert doc["pending"] == [
        {
            "alertname": "WhatsAppNotRegistered",
            "severity": "warning",
            "target": "prod",
            "node": "core-1",
            "state": "pending",
            "summary": "WhatsAppNotRegistered summary",
            "description": "WhatsAppNotRegistered description",
            "labels": {
                "alertname": "WhatsAppNotRegistered",
                "severity": "warning",
                "target": "prod",
                "node": "core-1",
            },
            "fingerprint": pending.fingerprint,
            "active_since": T0 - 600,
            "starts_at": None,
            "ends_at": None,
            "for_left_seconds": 12.346,
            "keep_firing_left_seconds": None,
        }
    ]
    (firing,) = doc["firing"]
    assert (firing["node"], firing["starts_at"], firing["for_left_seconds"]) == (
        None,
        T0 - 300,
        None,
    )
    assert firing["keep_firing_left_seconds"] == 80.0


# -- history, uptime, queues ----------------------------------------------------------------------


def test_history_columns_cover_the_window_only() -> None:
    state = make_state()
    now = polled_for_two_hours(state)
    doc = status(state, now)
    assert doc["history_seconds"] == 3600
    history = target_doc(doc)["endpoints"]["health"]["history"]
    assert set(history) == {"at", "result", "mark", "status_code", "duration_ms"}
    assert len(history["at"]) == 240
    assert history["at"][0] >= now - 3600
    assert history["at"][-1] == T0 + 15 * 479
    assert history["result"][-1] == "ok"
    assert (history["mark"][-1], history["status_code"][-1], history["duration_ms"][-1]) == (
        "ok",
        200,
        20,
    )
    two_minutes = status(state, now, history=120)
    assert two_minutes["history_seconds"] == 120
    at = target_doc(two_minutes)["endpoints"]["health"]["history"]["at"]
    assert at == [T0 + 15 * i for i in range(472, 480)]
    none = target_doc(status(state, now, history=0))["endpoints"]["health"]["history"]
    assert none == {"at": [], "result": [], "mark": [], "status_code": [], "duration_ms": []}
    # Endpoints never polled have empty columns.
    assert target_doc(doc)["endpoints"]["metrics"]["history"]["at"] == []


def test_only_one_target_keeps_the_overall_level_and_every_alert() -> None:
    state = make_state("prod", "edge")
    now = polled_for_two_hours(state)
    record_ok(state, health_body(Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED), now, "edge")
    edge_alert = alert("WhatsAppGatewayDown", target="edge")
    doc = status(state, now, alerts=views(edge_alert), only="prod")
    assert [t["name"] for t in doc["targets"]] == ["prod"]
    assert doc["level"] == "critical"  # edge's
    assert [a["target"] for a in doc["alerts"]["firing"]] == ["edge"]
    assert len(target_doc(doc)["endpoints"]["health"]["history"]["at"]) == 240


def test_uptime_over_the_last_hour_and_day() -> None:
    """Health polled every minute for a day; in the last hour 10 answers were 503 and 5 were
    429 (the 429s leave the count: they say nothing about the API)."""
    state = State([Target(name="prod", url="http://prod.test", health_interval=60.0)])
    for i in range(1440):
        at = T0 + 60 * i
        if 1380 <= i < 1390:
            record_failed(state, "http_503", 503, at)
        elif 1390 <= i < 1395:
            record_failed(state, "http_429", 429, at)
        else:
            record_ok(state, at=at)
    now = T0 + 60 * 1439 + 30
    prod = target_doc(status(state, now))
    # Last hour: 60 polls, 55 judged, 45 up. Day: 1440 polls, 1435 judged, 1425 up.
    assert prod["uptime_percent"] == {"1h": 81.82, "24h": 99.3}
    assert target_doc(status(make_state(), now))["uptime_percent"] == {"1h": None, "24h": None}


def test_no_day_figure_from_less_than_a_day_of_history() -> None:
    """With `history: 1h` the ring holds an hour: a "24h" uptime from it would read a bad day as
    a good one, so there is none."""
    targets = [Target(name="prod", url="http://prod.test", health_interval=60.0)]
    state = State(targets, clock=lambda: T0, history=3600.0)
    for i in range(120):  # an hour down, then an hour up
        if i < 60:
            record_failed(state, "http_503", 503, T0 + 60 * i)
        else:
            record_ok(state, at=T0 + 60 * i)
    prod = target_doc(status(state, T0 + 60 * 119 + 30))
    assert prod["uptime_percent"] == {"1h": 100.0, "24h": None}


def test_api_status_is_carried_from_the_health_meta() -> None:
    state = make_state("prod", "edge")
    record_ok(state, health_body(Topology.HA, Scenario.HEALTHY))
    deprecated = {"health": {"gateway_status": "connected"}, "meta": {"api_status": "deprecated"}}
    record_ok(state, deprecated, name="edge")
    doc = status(state, T0)
    assert target_doc(doc)["api_status"] == "stable"
    assert target_doc(doc, "edge")["api_status"] == "deprecated"
    assert target_doc(status(make_state(), T0))["api_status"] is None


def test_queues_are_listed_per_gauge_and_node_for_the_last_hour() -> None:
    deployment = Deployment(SimulatorConfig(topology=Topology.HA, scenario=Scenario.OVERLOADED))
    body = {"stats": {"app": deployment.stats_app(T0)}, "meta": deployment.meta}
    state = make_state()
    for minutes in (0, 50, 70):
        record_ok(state, body, T0 + 60 * minutes, endpoint=Endpoint.STATS_APP)
    now = T0 + 60 * 70 + 5
    queues = target_doc(status(state, now))["queues"]
    nodes = sorted(n.key for n in deployment.nodes)
    assert [(q["gauge"], q["node"]) for q in queues] == [
        (gauge, node) for gauge in ("callback_queue_size", "pending_messages") for node in nodes
    ]
    active = next(q for q in queues if q["gauge"] == "pending_messages" and q["node"] == nodes[0])
    assert active == {
        "gauge": "pending_messages",
        "node": nodes[0],
        "value": 95000.0,
        "at": [T0 + 3000, T0 + 4200],  # the first point is more than an hour old
        "values": [95000.0, 95000.0],
    }
    # Two hours of history still draw the last hour of queues.
    assert target_doc(status(state, now, history=7200))["queues"] == queues
    # The focused history reaches no further back than it asks for.
    short = target_doc(status(state, now, history=600))["queues"]
    assert all(q["at"] == [T0 + 4200] for q in short)
