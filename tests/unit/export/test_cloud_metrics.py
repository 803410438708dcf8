"""The Cloud API families (`whatsapp_cloud_*`) and the per-endpoint families of Cloud targets:
what a scrape shows for a number's fresh Graph answers, and what it leaves out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.promtool import run_promtool
from tests.unit.cloud_support import APP, NUMBER, WABA, cloud_target
from tests.unit.export.test_collector import (
    NOW,
    Clock,
    Scrape,
    healthy_state,
    poll_simulator,
    scrape,
    simulator,
    target,
)
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph import PHONE_NUMBER_FIELDS
from watchdog.api.graph_usage import parse_usage_header
from watchdog.api.results import PollResult, observe
from watchdog.export.cloud import CLOUD_FAMILIES, QUALITY_RATINGS
from watchdog.simulator.graph import BUSINESS_ID, DAY, DEMO_TOKEN, GraphConfig, GraphDeployment
from watchdog.simulator.graph_scenarios import GraphScenario
from watchdog.state import State

SHOP = cloud_target("shop")
CAN_SEND = "whatsapp_cloud_can_send_message"
QUALITY = "whatsapp_cloud_quality_rating"
LIMIT = "whatsapp_cloud_messaging_limit"
STATUS = "whatsapp_cloud_phone_status"
USAGE = "whatsapp_cloud_rate_limit_usage_percent"
EXPIRY = "whatsapp_cloud_token_expiry_timestamp_seconds"
# The usage header Graph sends (reference §4), as the simulator words it.
HEADER = json.dumps(
    {
        BUSINESS_ID: [
            {"type": "whatsapp_business_management", "call_count": 42, "total_cputime": 7,
             "total_time": 9, "estimated_time_to_regain_access": 0},
        ]
    }
)  # fmt: skip


def graph(scenario: GraphScenario = GraphScenario.HEALTHY) -> GraphDeployment:
    return GraphDeployment(GraphConfig(scenario=scenario), clock=lambda: NOW)


def phone_body(scenario: GraphScenario = GraphScenario.HEALTHY) -> Any:
    body = graph(scenario).phone_number(NUMBER, PHONE_NUMBER_FIELDS.split(","))
    assert isinstance(body, dict)
    return json.loads(json.dumps(body))


def waba_body(scenario: GraphScenario = GraphScenario.HEALTHY) -> Any:
    body = graph(scenario).waba(["health_status"])
    assert isinstance(body, dict)
    return json.loads(json.dumps(body))


def token_body(scenario: GraphScenario = GraphScenario.HEALTHY) -> Any:
    return {"data": graph(scenario).debug_token(DEMO_TOKEN, NOW)}


def answer(
    state: State,
    endpoint: Endpoint,
    body: Any = None,
    *,
    name: str = "shop",
    at: float = NOW,
    reason: str | None = None,
    status: int = 200,
    usage: str | None = HEADER,
) -> None:
    result = PollResult(
        name, endpoint, at, 0.2, status, reason, f"HTTP {status}", body=body,
        usage=parse_usage_header(usage),
    )  # fmt: skip
    assert state.record(observe(result)) is not None


def polled(
    phone: GraphScenario = GraphScenario.HEALTHY,
    waba: GraphScenario | None = None,
    token: GraphScenario | None = None,
    labels: Mapping[str, str] | None = None,
) -> State:
    """A Cloud target whose number (and WABA, token) answered once, at NOW."""
    state = State([cloud_target("shop", labels=dict(labels or {}))])
    answer(state, Endpoint.PHONE_NUMBER, phone_body(phone))
    answer(state, Endpoint.WABA, waba_body(waba or phone))
    answer(state, Endpoint.TOKEN, token_body(token or phone))
    return state


def state_set(result: Scrape, name: str, key: str, **labels: str) -> dict[str, float]:
    """`key` label -> value of the series named `name` with `labels`."""
    return {got[key]: value for got, value in result.values(name, **labels)}


def entities(result: Scrape) -> dict[tuple[str, str], str]:
    """(entity_type, entity_id) -> the status whose series is 1, checking one 1 per entity."""
    found: dict[tuple[str, str], str] = {}
    for labels, value in result.values(CAN_SEND):
        if value == 1:
            key = (labels["entity_type"], labels["entity_id"])
            assert key not in found, key
            found[key] = labels["status"]
    return found


# -- the families of a Cloud target --------------------------------------------------------------


def test_a_healthy_cloud_target_exports_its_families() -> None:
    """Per endpoint what On-Prem targets have (no re-export bookkeeping, no gateways); every
    Cloud family but the token's expiry, which a never-expiring token does not have."""
    result = scrape(polled())
    assert set(result.families) == {
        "whatsapp_up", "whatsapp_poll_duration_seconds", "whatsapp_last_success_timestamp_seconds",
        "whatsapp_poll_backoff_seconds",
        CAN_SEND, QUALITY, LIMIT, STATUS, USAGE,
    }  # fmt: skip
    up = {labels["endpoint"]: value for labels, value in result.values("whatsapp_up")}
    assert up == {"phone_number": 1.0, "waba": 1.0, "token": 1.0}
    assert (
        result.value(
            "whatsapp_last_success_timestamp_seconds", target="shop", endpoint="phone_number"
        )
        == NOW
    )
    for name in CLOUD_FAMILIES:
        if name in result.families:
            assert result.families[name].type == "gauge"


def test_can_send_message_per_entity() -> None:
    """One state set per entity of the number's and the WABA's health_status: AVAILABLE,
    LIMITED, BLOCKED, 1 for the entity's current status."""
    result = scrape(polled(GraphScenario.BLOCKED))
    assert entities(result) == {
        ("PHONE_NUMBER", NUMBER): "BLOCKED",
        ("WABA", WABA): "AVAILABLE",
        ("BUSINESS", BUSINESS_ID): "AVAILABLE",
        ("APP", APP): "AVAILABLE",
    }
    assert state_set(result, CAN_SEND, "status", entity_id=NUMBER) == {
        "AVAILABLE": 0.0, "LIMITED": 0.0, "BLOCKED": 1.0,
    }  # fmt: skip
    assert len(result.values(CAN_SEND)) == 4 * 3
    [(labels, _)] = result.values(CAN_SEND, entity_id=NUMBER, status="BLOCKED")
    assert labels == {
        "target": "shop", "entity_type": "PHONE_NUMBER", "entity_id": NUMBER, "status": "BLOCKED",
    }  # fmt: skip


def test_can_send_message_ignores_calling() -> None:
    """SIP not set up (overall BLOCKED, every can_send_message AVAILABLE) is no BLOCKED series."""
    result = scrape(polled(GraphScenario.CALLING_BLOCKED))
    assert set(entities(result).values()) == {"AVAILABLE"}
    assert result.values(CAN_SEND, status="BLOCKED", entity_type="PHONE_NUMBER") == [
        ({"target": "shop", "entity_type": "PHONE_NUMBER", "entity_id": NUMBER,
          "status": "BLOCKED"}, 0.0)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("entities_given", "status"),
    [
        ([], "BLOCKED"),
        # Calling alone may explain Meta's BLOCKED: messaging is unknown, not blocked.
        ([{"entity_type": "PHONE_NUMBER", "id": NUMBER, "can_receive_call_sip": "BLOCKED"}],
         "UNKNOWN"),
    ],
)  # fmt: skip
def test_a_health_status_without_entity_verdicts_is_the_nodes(
    entities_given: list[dict[str, str]], status: str
) -> None:
    """No entity states can_send_message: the number itself gets the state set, as the
    in-process rule judges it, so the PromQL rule pages on the same answers."""
    state = State([cloud_target("shop", waba=False)])
    body = phone_body()
    body["health_status"] = {"can_send_message": "BLOCKED", "entities": entities_given}
    answer(state, Endpoint.PHONE_NUMBER, body)
    assert entities(scrape(state)) == {("PHONE_NUMBER", NUMBER): status}


@pytest.mark.parametrize("waba_newer", [False, True])
def test_an_entity_in_both_answers_is_exported_once_the_newer_answer_wins(waba_newer: bool) -> None:
    """The WABA, business and app appear in both health statuses: one state set each, from the
    newer answer (the number's, polled every 5m, unless the WABA's came since); an entity only
    the WABA's answer names comes from it."""
    state = State([SHOP])
    waba = waba_body(GraphScenario.WABA_BLOCKED)
    waba["health_status"]["entities"].append(
        {"entity_type": "MESSAGE_TEMPLATE", "id": "777", "can_send_message": "LIMITED"}
    )
    answer(state, Endpoint.WABA, waba, at=NOW - 60 + (120 if waba_newer else 0))
    answer(state, Endpoint.PHONE_NUMBER, phone_body(GraphScenario.HEALTHY))
    result = scrape(state)
    assert entities(result) == {
        ("PHONE_NUMBER", NUMBER): "AVAILABLE",
        ("WABA", WABA): "BLOCKED" if waba_newer else "AVAILABLE",
        ("BUSINESS", BUSINESS_ID): "AVAILABLE",
        ("APP", APP): "AVAILABLE",
        ("MESSAGE_TEMPLATE", "777"): "LIMITED",
    }


def test_the_wabas_answer_alone_while_the_number_is_stale() -> None:
    """The WABA's fresh health status is exported even when the number's answer went stale."""
    state = State([SHOP])
    answer(state, Endpoint.PHONE_NUMBER, phone_body(), at=NOW - 3 * 300 - 1)
    answer(state, Endpoint.WABA, waba_body(GraphScenario.WABA_BLOCKED))
    result = scrape(state)
    assert entities(result) == {
        ("WABA", WABA): "BLOCKED",
        ("BUSINESS", BUSINESS_ID): "AVAILABLE",
        ("APP", APP): "AVAILABLE",
    }
    assert result.values(QUALITY) == []


def test_an_undocumented_status_adds_its_own_series() -> None:
    """A can_send_message or quality rating Meta has not documented shows as itself with 1."""
    body = phone_body()
    body["quality_rating"] = "purple"
    body["health_status"]["entities"][0]["can_send_message"] = "PAUSED"
    state = State([SHOP])
    answer(state, Endpoint.PHONE_NUMBER, body)
    result = scrape(state)
    assert state_set(result, CAN_SEND, "status", entity_type="PHONE_NUMBER") == {
        "AVAILABLE": 0.0, "LIMITED": 0.0, "BLOCKED": 0.0, "PAUSED": 1.0,
    }  # fmt: skip
    assert state_set(result, QUALITY, "rating") == {
        **dict.fromkeys(QUALITY_RATINGS, 0.0), "PURPLE": 1.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("scenario", "rating"),
    [(GraphScenario.HEALTHY, "GREEN"), (GraphScenario.QUALITY_RED, "RED")],
)
def test_quality_rating_state_set(scenario: GraphScenario, rating: str) -> None:
    """GREEN, YELLOW, RED, NA, UNKNOWN: 1 for the number's rating, 0 for the others."""
    result = scrape(polled(scenario))
    assert state_set(result, QUALITY, "rating", target="shop") == {
        r: float(r == rating) for r in QUALITY_RATINGS
    }
    assert QUALITY_RATINGS == ("GREEN", "YELLOW", "RED", "NA", "UNKNOWN")


@pytest.mark.parametrize(
    ("scenario", "tier"),
    [(GraphScenario.HEALTHY, "TIER_10K"), (GraphScenario.LIMIT_DROPPED, "TIER_2K")],
)
def test_messaging_limit_is_the_current_tier(scenario: GraphScenario, tier: str) -> None:
    """One series, tier = the portfolio's messaging limit, value 1."""
    result = scrape(polled(scenario))
    assert result.values(LIMIT) == [({"target": "shop", "tier": tier}, 1.0)]


@pytest.mark.parametrize(
    ("scenario", "status"),
    [(GraphScenario.HEALTHY, "CONNECTED"), (GraphScenario.DISCONNECTED, "DISCONNECTED")],
)
def test_phone_status_is_the_current_status(scenario: GraphScenario, status: str) -> None:
    """One series, status = the number's status, value 1."""
    result = scrape(polled(scenario))
    assert result.values(STATUS) == [({"target": "shop", "status": status}, 1.0)]


def test_rate_limit_usage_per_business_type_and_dimension() -> None:
    """Each percentage of the latest usage header is a series; a missing one has none, and a
    business/type repeated in the header keeps its first object."""
    header = json.dumps(
        {
            "111": [
                {"type": "whatsapp_business_management", "call_count": 85, "total_cputime": 3,
                 "total_time": 12},
                {"type": "whatsapp_business_management", "call_count": 1},
            ],
            "222": [{"type": "whatsapp", "total_time": 100, "estimated_time_to_regain_access": 5}],
        }
    )  # fmt: skip
    state = State([SHOP])
    answer(state, Endpoint.PHONE_NUMBER, phone_body(), usage=header)
    values = {
        (labels["business_id"], labels["type"], labels["dimension"]): value
        for labels, value in scrape(state).values(USAGE, target="shop")
    }
    assert values == {
        ("111", "whatsapp_business_management", "call_count"): 85.0,
        ("111", "whatsapp_business_management", "total_cputime"): 3.0,
        ("111", "whatsapp_business_management", "total_time"): 12.0,
        ("222", "whatsapp", "total_time"): 100.0,
    }


def test_rate_limit_usage_comes_from_the_latest_answer_even_a_refused_one() -> None:
    """A throttled answer's header is the latest usage; the series follows it."""
    state = polled()
    throttled = json.dumps({BUSINESS_ID: [{"type": "whatsapp", "call_count": 100}]})
    answer(
        state, Endpoint.PHONE_NUMBER, at=NOW + 60, reason="graph_throttled", status=429,
        usage=throttled,
    )  # fmt: skip
    result = scrape(state, Clock(NOW + 60))
    assert result.values(USAGE) == [
        ({"target": "shop", "business_id": BUSINESS_ID, "type": "whatsapp",
          "dimension": "call_count"}, 100.0)
    ]  # fmt: skip
    assert result.value("whatsapp_up", endpoint="phone_number") == 0
    assert result.value("whatsapp_poll_errors_total", reason="graph_throttled") == 1
    assert result.values("whatsapp_poll_failing", endpoint="phone_number")


def test_rate_limit_usage_stale_after_three_number_intervals() -> None:
    """The usage is exported while it is within 3 of the number's poll intervals (5 min)."""
    state = polled()
    assert len(scrape(state, Clock(NOW + 3 * 300)).values(USAGE)) == 3
    assert scrape(state, Clock(NOW + 3 * 300 + 1)).values(USAGE) == []


def test_token_expiry_from_debug_token() -> None:
    """A token that expires: its expires_at; one that never does (expires_at 0): no series."""
    expiring = scrape(polled(token=GraphScenario.TOKEN_EXPIRING))
    assert expiring.values(EXPIRY) == [({"target": "shop"}, NOW + 3 * DAY)]
    assert scrape(polled()).values(EXPIRY) == []


def test_token_expiry_stays_through_a_failed_check_while_fresh() -> None:
    """A failed debug_token poll leaves the last fresh answer's expiry; a stale one has none."""
    state = polled(token=GraphScenario.TOKEN_EXPIRING)
    answer(state, Endpoint.TOKEN, at=NOW + 60, reason="graph_permission", status=403)
    assert scrape(state, Clock(NOW + 60)).value(EXPIRY) == NOW + 3 * DAY
    assert scrape(state, Clock(NOW + 3 * DAY)).value(EXPIRY) == NOW + 3 * DAY
    assert scrape(state, Clock(NOW + 3 * DAY + 1)).values(EXPIRY) == []


def test_stale_answers_export_nothing_of_the_cloud() -> None:
    """Past 3 intervals of each endpoint nothing Graph said is exported; whatsapp_up and the
    last success stay, as for On-Prem targets."""
    state = polled(token=GraphScenario.TOKEN_EXPIRING)
    fresh = scrape(state, Clock(NOW + 3 * 300))
    assert {CAN_SEND, QUALITY, LIMIT, STATUS, USAGE, EXPIRY} <= set(fresh.families)
    later = scrape(state, Clock(NOW + 3 * 300 + 1))
    assert [n for n in (QUALITY, LIMIT, STATUS, USAGE) if n in later.families] == []
    # The WABA's answer (15 min) and the token's (a day) are still fresh.
    assert ("PHONE_NUMBER", NUMBER) not in entities(later)
    assert ("WABA", WABA) in entities(later)
    assert EXPIRY in later.families
    gone = scrape(state, Clock(NOW + 3 * DAY + 1))
    assert set(CLOUD_FAMILIES) & set(gone.families) == set()
    assert gone.value("whatsapp_up", endpoint="phone_number") == 1
    assert gone.value("whatsapp_last_success_timestamp_seconds", endpoint="token") == NOW


def test_a_failed_poll_keeps_exporting_the_fresh_success() -> None:
    """After a failed number poll the previous answer's families stay while fresh."""
    state = polled(GraphScenario.QUALITY_RED)
    answer(state, Endpoint.PHONE_NUMBER, at=NOW + 10, reason="graph_transient", status=503)
    result = scrape(state, Clock(NOW + 10))
    assert result.value(QUALITY, rating="RED") == 1
    assert result.value("whatsapp_up", endpoint="phone_number") == 0
    assert result.value("whatsapp_poll_failing", endpoint="phone_number") == 1


def test_an_unusable_answer_is_a_shape_failure_with_no_cloud_series() -> None:
    """A 200 whose body is not a phone number: down with reason shape, nothing else exported."""
    state = State([SHOP])
    answer(state, Endpoint.PHONE_NUMBER, {"html": "<h1>proxy</h1>"})
    result = scrape(state)
    assert result.value("whatsapp_up", endpoint="phone_number") == 0
    assert result.value("whatsapp_poll_errors_total", endpoint="phone_number", reason="shape") == 1
    assert [n for n in (CAN_SEND, QUALITY, LIMIT, STATUS) if n in result.families] == []


def test_an_on_prem_target_exports_no_cloud_family() -> None:
    """On-Prem targets, alone or beside a Cloud target, have no whatsapp_cloud_* series; a Cloud
    target has no gateway, API-info or re-export bookkeeping series."""
    alone = scrape(healthy_state())
    assert not [n for n in alone.names() if n.startswith("whatsapp_cloud_")]
    state = State([target(), SHOP])
    poll_simulator(state, "prod", simulator())
    answer(state, Endpoint.PHONE_NUMBER, phone_body())
    mixed = scrape(state)
    cloud_targets = {
        dict(labels)["target"]
        for name, labels in mixed.series
        if name.startswith("whatsapp_cloud_")
    }
    assert cloud_targets == {"shop"}
    assert {labels["target"] for labels, _ in mixed.values("whatsapp_gateway_status")} == {"prod"}
    for name in ("whatsapp_gateways_connected", "watchdog_api_restarts_total", "whatsapp_api_info"):
        assert mixed.values(name, target="shop") == [], name
    assert mixed.values("watchdog_dropped_series", target="shop") == []


def test_a_user_label_named_like_a_series_label_gives_way() -> None:
    """A target label `type`, `tier`, `rating`, `entity_type`, ... is replaced on the series
    that has a label of that name (never a duplicate), and kept on every other series."""
    clashing = ("type", "tier", "rating", "entity_type", "entity_id", "business_id", "dimension")
    labels = {**dict.fromkeys(clashing, "user"), "env": "prod"}
    result = scrape(
        polled(GraphScenario.LIMITED, token=GraphScenario.TOKEN_EXPIRING, labels=labels)
    )
    for name in CLOUD_FAMILIES:
        samples = result.values(name)
        assert samples, name
        for got, _ in samples:
            assert got["env"] == "prod"
            assert got["target"] == "shop"
    assert {got["tier"] for got, _ in result.values(LIMIT)} == {"TIER_10K"}
    assert {got["rating"] for got, _ in result.values(QUALITY)} == set(QUALITY_RATINGS)
    assert {got["type"] for got, _ in result.values(USAGE)} == {"whatsapp_business_management"}
    assert {got["business_id"] for got, _ in result.values(USAGE)} == {BUSINESS_ID}
    assert {got["dimension"] for got, _ in result.values(USAGE)} == {
        "call_count", "total_cputime", "total_time",
    }  # fmt: skip
    assert ("PHONE_NUMBER", NUMBER) in entities(result)
    # Series without such a label keep the user's.
    [(expiry, _)] = result.values(EXPIRY)
    assert {name: expiry[name] for name in clashing} == dict.fromkeys(clashing, "user")
    assert result.value(LIMIT, type="user", rating="user") == 1
    # The text exposition names each label once per series.
    for line in result.text.splitlines():
        if line.startswith("whatsapp_cloud_"):
            names = [part.split("=")[0] for part in line.split("{")[1].split("}")[0].split('",')]
            assert len(names) == len(set(names)), line


def test_help_says_what_and_where_from() -> None:
    """Each Cloud family's HELP names the Graph field or header its values come from."""
    result = scrape(polled(token=GraphScenario.TOKEN_EXPIRING))
    sources = {
        CAN_SEND: "health_status",
        QUALITY: "quality_rating",
        LIMIT: "whatsapp_business_manager_messaging_limit",
        STATUS: "status",
        USAGE: "X-Business-Use-Case-Usage",
        EXPIRY: "debug_token",
    }
    for name, source in sources.items():
        assert source in result.families[name].documentation, name


def test_promtool_accepts_the_cloud_exposition() -> None:
    """`promtool check metrics` parses the exposition of a Cloud target (every Cloud family, a
    failing poll, a clashing user label) and reports no lint problem."""
    state = polled(GraphScenario.BLOCKED, token=GraphScenario.TOKEN_EXPIRING, labels={"type": "x"})
    answer(state, Endpoint.WABA, at=NOW + 1, reason="graph_error", status=400)
    text = scrape(state, Clock(NOW + 1)).text
    assert "whatsapp_cloud_token_expiry_timestamp_seconds{" in text
    result = run_promtool("check", "metrics", stdin=text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
