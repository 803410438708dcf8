"""The Cloud API rules over the simulated Graph API's answers: what each one fires on, what it
says, what it must stay quiet on, and that the two kinds of target keep to their own rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from tests.unit.alerts.harness import CLOUD, T0, TARGET, Harness, names, usage
from watchdog.alerts.checks import TargetView
from watchdog.alerts.history import History
from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.rules import (
    RULES,
    AuthRejected,
    CloudBlocked,
    CloudLimitDropped,
    CloudRateLimitNear,
    TokenExpiring,
    default_rules,
)
from watchdog.api.cloud import CloudMemory
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph import parse_phone_number
from watchdog.api.results import Observation, PollResult
from watchdog.simulator import Scenario
from watchdog.simulator.graph import BUSINESS_ID, DAY, PHONE_NUMBER_ID, WABA_ID
from watchdog.simulator.graph_health import DISPLAY_NAME_PENDING
from watchdog.simulator.graph_scenarios import GraphScenario
from watchdog.state import EndpointState

PHONE = Endpoint.PHONE_NUMBER
BLOCKED = "WhatsAppCloudBlocked"
LIMITED = "WhatsAppCloudLimited"
QUALITY = "WhatsAppCloudQualityLow"
DROPPED = "WhatsAppCloudLimitDropped"
RATE_NEAR = "WhatsAppCloudRateLimitNear"
NOT_CONNECTED = "WhatsAppCloudNotConnected"
TOKEN = "WhatsAppTokenExpiring"
CLOUD_ALERTS = {BLOCKED, LIMITED, QUALITY, DROPPED, RATE_NEAR, NOT_CONNECTED, TOKEN}
# The rules that read an On-Premises deployment's health, metrics and stats.
ONPREM_ONLY = {
    "WhatsAppOverloaded",
    "WhatsAppRateLimitSpike",
    "WhatsAppGatewayDown",
    "WhatsAppGatewayDegraded",
    "WhatsAppNotRegistered",
    "WhatsAppQueueBacklog",
}


def cloud(scenario: GraphScenario = GraphScenario.HEALTHY, **rules: Any) -> Harness:
    """A Cloud target's harness playing `scenario`, every rule at its defaults."""
    h = Harness(target=CLOUD, **rules)
    h.graph.set_scenario(scenario)
    return h


def poll_all(h: Harness) -> list[Alert]:
    """One poll of each Cloud endpoint (number, WABA, token), as the simulator answers."""
    return [*h.ok(PHONE), *h.ok(Endpoint.WABA), *h.ok(Endpoint.TOKEN)]


def elapse(h: Harness, seconds: float, step: float = 60.0) -> list[Alert]:
    """Let `seconds` pass with the engine's periodic tick (every `step`), as the daemon does
    between polls; returns what it sent meanwhile."""
    before = len(h.sent)
    for _ in range(round(seconds / step)):
        h.advance(step)
        h.engine.tick()
    return h.sent[before:]


def phone_body(h: Harness, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = h.graph_body(PHONE)
    body.update(fields)
    return body


def token_body(**data: Any) -> dict[str, Any]:
    return {"data": {"app_id": "634974688087057", "type": "SYSTEM_USER", **data}}


def descriptions(alerts: list[Alert], name: str) -> list[str]:
    return [a.annotations["description"] for a in alerts if a.name == name]


# -- WhatsAppCloudBlocked -----------------------------------------------------------------------


def test_a_blocked_number_fires_with_metas_error_and_resolves_when_lifted() -> None:
    """can_send_message BLOCKED on the number's entity fires at the first answer, one critical
    alert labelled with the entity, carrying Meta's code, description and suggested solution; it
    resolves keep_firing_for (10m) after an answer without the block."""
    h = cloud(GraphScenario.BLOCKED)
    fired = poll_all(h)
    assert names(fired) == [(BLOCKED, "firing")]
    [alert] = fired
    assert alert.labels == {
        "alertname": BLOCKED,
        "severity": "critical",
        "target": "shop",
        "entity_type": "PHONE_NUMBER",
        "entity_id": PHONE_NUMBER_ID,
    }
    assert alert.annotations["summary"] == (
        f"WhatsApp PHONE_NUMBER {PHONE_NUMBER_ID} of shop cannot send messages"
    )
    description = alert.annotations["description"]
    assert "error 131031: The WhatsApp Business Account associated with this phone number " in (
        description
    )
    assert "Meta suggests: Review the account's status in WhatsApp Manager" in description
    assert "No message goes out from this number until the block is lifted" in description
    assert elapse(h, 300) == []
    h.graph.set_scenario(GraphScenario.HEALTHY)
    assert h.ok(PHONE) == []  # clear from here
    assert elapse(h, 540) == []
    assert names(elapse(h, 60)) == [(BLOCKED, "resolved")]
    assert h.sent[-1].ends_at == h.clock() == T0 + 900


def test_a_blocked_waba_named_by_both_answers_fires_once() -> None:
    """The WABA entity BLOCKED (payment method) in the number's and the WABA's health status is
    one alert, for the WABA."""
    h = cloud(GraphScenario.WABA_BLOCKED)
    fired = poll_all(h)
    assert names(fired) == [(BLOCKED, "firing")]
    assert (fired[0].labels["entity_type"], fired[0].labels["entity_id"]) == ("WABA", WABA_ID)
    description = fired[0].annotations["description"]
    assert "error 141006: There is an error with the payment method." in description
    assert "from any number of this WhatsApp Business Account" in description


def test_a_waba_blocked_only_in_the_wabas_own_answer_fires() -> None:
    """Polled alone, the WABA's answer still says its entity is blocked."""
    h = cloud(GraphScenario.WABA_BLOCKED)
    fired = h.ok(Endpoint.WABA)
    assert [(a.name, a.labels["entity_type"]) for a in fired] == [(BLOCKED, "WABA")]


def test_a_calling_only_block_does_not_fire() -> None:
    """Meta's SIP quirk: overall BLOCKED (errors 138024/138025 on can_receive_call_sip) while
    every entity can send messages. Messaging is fine: nothing fires."""
    h = cloud(GraphScenario.CALLING_BLOCKED)
    health = h.graph_body(PHONE)["health_status"]
    assert health["can_send_message"] == "BLOCKED"
    assert {e["can_send_message"] for e in health["entities"]} == {"AVAILABLE"}
    for _ in range(4):
        assert poll_all(h) == []
        h.advance(300)
    assert h.engine.alerts() == []


def test_an_overall_block_without_entities_fires_for_the_node() -> None:
    """A health status that lists no entity is judged on Meta's overall value, as the node
    itself; not when an entity states only a calling problem (that value may be calling's)."""
    h = cloud()
    fired = h.answer(PHONE, phone_body(h, health_status={"can_send_message": "BLOCKED"}))
    assert [(a.name, a.labels["entity_type"], a.labels["entity_id"]) for a in fired] == [
        (BLOCKED, "PHONE_NUMBER", PHONE_NUMBER_ID)
    ]
    assert "Meta gives no error" in fired[0].annotations["description"]
    h = cloud()
    calling = {
        "can_send_message": "BLOCKED",
        "entities": [{"entity_type": "APP", "id": "1", "can_receive_call_sip": "BLOCKED"}],
    }
    assert h.answer(PHONE, phone_body(h, health_status=calling)) == []


def test_the_wabas_newer_answer_wins_for_an_entity_both_name() -> None:
    """The number's answer says the WABA is available, the WABA's own answer, newer, that it
    is blocked: the newer answer decides, without waiting for the number's next poll."""
    h = cloud()
    h.ok(PHONE)
    h.advance(60)
    h.graph.set_scenario(GraphScenario.WABA_BLOCKED)
    fired = h.ok(Endpoint.WABA)
    assert [(a.name, a.labels["entity_type"]) for a in fired] == [(BLOCKED, "WABA")]


def test_the_numbers_answer_wins_for_an_entity_both_name() -> None:
    """The WABA's answer (polled every 15m) says its entity is blocked, the number's newer one
    that it is available again: the newer answer decides, as on /metrics and the page."""
    h = cloud(GraphScenario.WABA_BLOCKED)
    assert names(h.ok(Endpoint.WABA)) == [(BLOCKED, "firing")]
    h.graph.set_scenario(GraphScenario.HEALTHY)
    elapse(h, 300)
    h.ok(PHONE)
    assert names(elapse(h, 600)) == [(BLOCKED, "resolved")]


def test_one_failed_poll_neither_resolves_nor_pages_again() -> None:
    """Between two blocked answers, a failed poll leaves no fresh answer to judge; the alert
    stays firing through keep_firing_for and nothing is sent again. Stale answers no longer
    count: with no answer for 3 intervals the alert resolves."""
    h = cloud(GraphScenario.BLOCKED)
    assert names(h.ok(PHONE)) == [(BLOCKED, "firing")]
    elapse(h, 300)
    h.fail(PHONE, "timeout", None)
    elapse(h, 300)
    h.ok(PHONE)
    assert [(a.name, a.state) for a in h.engine.alerts() if a.name == BLOCKED] == [
        (BLOCKED, AlertState.FIRING)
    ]
    assert [a.name for a in h.sent if a.name == BLOCKED] == [BLOCKED]
    # No answer for 25 minutes: the last one goes stale after 15, the alert resolves 10 later.
    assert names([a for a in elapse(h, 24 * 60) if a.name == BLOCKED]) == []
    assert names([a for a in elapse(h, 60) if a.name == BLOCKED]) == [(BLOCKED, "resolved")]


@pytest.mark.parametrize(
    ("reason", "status", "code"),
    [("graph_throttled", 400, 80008), ("graph_transient", 503, 2), ("timeout", None, None)],
)
def test_a_failed_poll_between_blocked_answers_does_not_resolve(
    reason: str, status: int | None, code: int | None
) -> None:
    """Even without keep_firing_for, a throttled or failed poll leaves Meta's last word (the
    number is blocked) standing while it is fresh: no resolved, no second page."""
    h = cloud(GraphScenario.BLOCKED, rules=[CloudBlocked(keep_firing_for=0)])
    assert names(h.ok(PHONE)) == [(BLOCKED, "firing")]
    h.advance(300)
    h.fail(PHONE, reason, status, code, "Graph says no")
    elapse(h, 300)
    h.ok(PHONE)
    assert [a for a in names(h.sent) if a[0] == BLOCKED] == [(BLOCKED, "firing")]


def test_cloud_blocked_has_its_own_for() -> None:
    """The rule's settings apply: with `for` 5m, a block seen once is only pending."""
    h = cloud(GraphScenario.BLOCKED, rules=[CloudBlocked(for_=300)])
    assert h.ok(PHONE) == []
    assert [(a.name, a.state) for a in h.engine.alerts()] == [(BLOCKED, AlertState.PENDING)]
    h.advance(300)
    assert names(h.ok(PHONE)) == [(BLOCKED, "firing")]


# -- WhatsAppCloudLimited, WhatsAppCloudQualityLow, WhatsAppCloudNotConnected ------------------


def test_a_limited_number_warns_with_metas_information() -> None:
    h = cloud(GraphScenario.LIMITED)
    fired = poll_all(h)
    assert names(fired) == [(LIMITED, "firing")]
    assert fired[0].severity == "warning"
    assert fired[0].labels["entity_type"] == "PHONE_NUMBER"
    assert DISPLAY_NAME_PENDING in fired[0].annotations["description"]


@pytest.mark.parametrize(("rating", "fires"), [("RED", True), ("YELLOW", False), ("GREEN", False)])
def test_quality_warns_on_red_only(rating: str, fires: bool) -> None:
    h = cloud()
    fired = h.answer(PHONE, phone_body(h, quality_rating=rating))
    assert names(fired) == ([(QUALITY, "firing")] if fires else [])


def test_the_quality_red_scenario_warns() -> None:
    h = cloud(GraphScenario.QUALITY_RED)
    fired = poll_all(h)
    assert names(fired) == [(QUALITY, "firing")]
    assert "15550783881" in fired[0].annotations["description"]


def test_a_disconnected_number_is_critical() -> None:
    """status DISCONNECTED while health_status still says AVAILABLE: only `status` shows it."""
    h = cloud(GraphScenario.DISCONNECTED)
    fired = poll_all(h)
    assert names(fired) == [(NOT_CONNECTED, "firing")]
    assert fired[0].severity == "critical"
    assert "DISCONNECTED" in fired[0].annotations["summary"]
    assert "only a CONNECTED number sends and receives" in fired[0].annotations["description"]


@pytest.mark.parametrize(
    ("status", "platform", "fires"),
    [
        ("CONNECTED", "CLOUD_API", False),
        ("PENDING", "CLOUD_API", True),
        ("CONNECTED", "ON_PREMISE", True),
        ("CONNECTED", "NOT_APPLICABLE", True),
        (None, None, False),  # not in the answer: nothing known, nothing said
    ],
)
def test_not_connected_reads_status_and_platform(
    status: str | None, platform: str | None, fires: bool
) -> None:
    h = cloud()
    fired = h.answer(PHONE, phone_body(h, status=status, platform_type=platform))
    assert names(fired) == ([(NOT_CONNECTED, "firing")] if fires else [])
    if platform == "ON_PREMISE":
        assert "not CLOUD_API" in fired[0].annotations["description"]


# -- WhatsAppCloudLimitDropped ------------------------------------------------------------------


def test_a_limit_drop_warns_until_it_climbs_back() -> None:
    """TIER_10K/HIGH to TIER_2K/STANDARD: one warning naming both drops; back up, it resolves."""
    h = cloud()
    poll_all(h)
    h.graph.set_scenario(GraphScenario.LIMIT_DROPPED)
    h.advance(300)
    fired = h.ok(PHONE)
    assert names(fired) == [(DROPPED, "firing")]
    text = fired[0].annotations["summary"]
    assert "messaging limit went down from TIER_10K to TIER_2K" in text
    assert "throughput went down from HIGH to STANDARD" in text
    elapse(h, 300)
    h.graph.set_scenario(GraphScenario.HEALTHY)
    assert h.ok(PHONE) == []
    assert names(elapse(h, 600)) == [(DROPPED, "resolved")]


def test_a_limit_drop_warns_for_at_most_hold() -> None:
    """A drop that stays warns for `hold` (default 24h) after it was seen, then resolves."""
    h = cloud()
    h.ok(PHONE)
    h.graph.set_scenario(GraphScenario.LIMIT_DROPPED)
    h.advance(300)
    assert names(h.ok(PHONE)) == [(DROPPED, "firing")]
    for _ in range(round(DAY / 300) - 1):
        assert elapse(h, 300) == []
        assert h.ok(PHONE) == []
    # A day after the drop the condition is clear; keep_firing_for (10m) later it resolves.
    resolved = elapse(h, 1200)
    assert names(resolved) == [(DROPPED, "resolved")]
    drop = T0 + 300
    assert resolved[0].ends_at == drop + DAY - 60 + 600  # true at the last tick before `hold`
    short = cloud(rules=[CloudLimitDropped(hold=3600, keep_firing_for=0)])
    short.ok(PHONE)
    short.graph.set_scenario(GraphScenario.LIMIT_DROPPED)
    short.advance(300)
    assert names(short.ok(PHONE)) == [(DROPPED, "firing")]
    short.advance(3600)
    assert names(short.ok(PHONE)) == [(DROPPED, "resolved")]


def test_a_first_answer_at_a_low_limit_is_no_drop() -> None:
    h = cloud(GraphScenario.LIMIT_DROPPED)
    for _ in range(3):
        assert h.ok(PHONE) == []
        h.advance(300)


# -- WhatsAppCloudRateLimitNear -----------------------------------------------------------------


@pytest.mark.parametrize(("percent", "fires"), [(79, False), (80, True), (100, True)])
def test_usage_at_the_threshold_warns(percent: float, fires: bool) -> None:
    h = cloud()
    fired = h.ok(PHONE, usage=usage(percent))
    assert names(fired) == ([(RATE_NEAR, "firing")] if fires else [])
    if fires:
        description = fired[0].annotations["description"]
        assert f"business {BUSINESS_ID} (whatsapp_business_management): call_count " in description
        assert "total_cputime" not in description.split(".")[0]  # a quarter: under 80


def test_the_threshold_is_a_setting() -> None:
    h = cloud(rules=[CloudRateLimitNear(threshold=50)])
    fired = h.ok(PHONE, usage=usage(60))
    assert names(fired) == [(RATE_NEAR, "firing")]
    assert "at or over 50 %: " in fired[0].annotations["description"]


def test_stale_usage_does_not_warn() -> None:
    """A header older than 3 polls of the number is no longer what Graph counts."""
    h = cloud(rules=[CloudRateLimitNear(keep_firing_for=0)])
    assert names(h.ok(PHONE, usage=usage(90))) == [(RATE_NEAR, "firing")]
    h.advance(900)
    h.engine.tick()
    assert [a.state for a in h.engine.alerts()] == [AlertState.FIRING]
    h.advance(1)
    h.engine.tick()
    assert names(h.sent) == [(RATE_NEAR, "firing"), (RATE_NEAR, "resolved")]


def test_usage_falling_back_resolves_after_keep_firing_for() -> None:
    h = cloud()
    assert names(h.ok(PHONE, usage=usage(85))) == [(RATE_NEAR, "firing")]
    elapse(h, 300)
    assert h.ok(PHONE, usage=usage(40)) == []
    assert elapse(h, 540) == []
    assert names(elapse(h, 60)) == [(RATE_NEAR, "resolved")]


def test_a_throttled_poll_warns_with_the_regain_time() -> None:
    """Graph throttling the number's poll (80008) warns, naming the endpoint and when Meta lets
    calls through again; no other alert fires."""
    h = cloud()
    h.ok(PHONE, usage=usage(40))
    h.advance(300)
    fired = h.fail(PHONE, "graph_throttled", 429, 80008, "Too many calls", usage(100, regain=27))
    assert names(fired) == [(RATE_NEAR, "firing")]
    assert fired[0].annotations["summary"] == "WhatsApp Cloud API rate limit of shop is throttling"
    description = fired[0].annotations["description"]
    assert "Graph throttles the watchdog's polls (phone_number)" in description
    assert "in about 27 minutes" in description
    for _ in range(10):
        h.advance(60)
        h.engine.tick()
    assert h.firing() == {RATE_NEAR}


def test_throttling_without_a_usage_header_still_warns() -> None:
    h = cloud()
    fired = h.fail(Endpoint.WABA, "graph_throttled", 429, 4, "Application request limit reached")
    assert names(fired) == [(RATE_NEAR, "firing")]
    assert "(waba)" in fired[0].annotations["description"]


def test_an_old_throttled_token_poll_does_not_keep_warning() -> None:
    """The token is polled daily: its last poll throttled says nothing once the number answers
    again with a low usage (the allowance is the business's, and the newest answer tells)."""
    h = cloud(rules=[CloudRateLimitNear(keep_firing_for=0)])
    h.ok(PHONE, usage=usage(30))
    h.advance(60)
    assert names(h.fail(Endpoint.TOKEN, "graph_throttled", 429, 4, "limit")) == [
        (RATE_NEAR, "firing")
    ]
    h.advance(300)
    assert names(h.ok(PHONE, usage=usage(30))) == [(RATE_NEAR, "resolved")]


# -- WhatsAppTokenExpiring ----------------------------------------------------------------------


def test_a_token_that_never_expires_never_warns() -> None:
    """debug_token's expires_at 0 (a system user token's usual choice) is no expiry."""
    h = cloud()
    for _ in range(3):
        assert poll_all(h) == []
        assert TokenExpiring().check(h.view()) == []
        h.advance(DAY)


def test_a_token_expiring_in_3_days_warns() -> None:
    h = cloud(GraphScenario.TOKEN_EXPIRING)
    fired = poll_all(h)
    assert names(fired) == [(TOKEN, "firing")]
    assert fired[0].severity == "warning"
    assert fired[0].annotations["summary"] == (
        "WhatsApp Cloud access token of shop expires on 2027-01-18 08:00 UTC"
    )
    description = fired[0].annotations["description"]
    assert "(the rule warns 168h ahead)" in description
    assert "WA_CLOUD_ACCESS_TOKEN_FILE" in description


@pytest.mark.parametrize(("days", "fires"), [(8, False), (7, False), (6.9, True), (-1, True)])
def test_token_expiry_against_within(days: float, fires: bool) -> None:
    h = cloud()
    fired = h.answer(Endpoint.TOKEN, token_body(is_valid=True, expires_at=h.clock() + days * DAY))
    assert names(fired) == ([(TOKEN, "firing")] if fires else [])
    if days < 0:
        assert " expired on " in fired[0].annotations["summary"]


def test_within_is_a_setting() -> None:
    h = cloud(rules=[TokenExpiring(within=2 * DAY)])
    fired = h.answer(Endpoint.TOKEN, token_body(is_valid=True, expires_at=h.clock() + 3 * DAY))
    assert fired == []


def test_an_invalid_token_warns_that_it_is_not_valid() -> None:
    """debug_token (with the app token) says is_valid false for the expired token."""
    h = cloud(GraphScenario.TOKEN_EXPIRED, rules=[AuthRejected(enabled=False)])
    fired = h.ok(Endpoint.TOKEN)
    assert names(fired) == [(TOKEN, "firing")]
    assert fired[0].annotations["summary"] == "WhatsApp Cloud access token of shop is not valid"
    assert "(Graph error 190, subcode 463)" in fired[0].annotations["description"]


def test_a_failed_token_poll_keeps_the_warning_until_the_answer_is_stale() -> None:
    """A failed debug_token poll changes nothing Meta said about the token: the warning stays
    (even without keep_firing_for) until the last answer is older than 3 token intervals."""
    h = cloud(GraphScenario.TOKEN_EXPIRING, rules=[TokenExpiring(keep_firing_for=0)])
    assert names(h.ok(Endpoint.TOKEN)) == [(TOKEN, "firing")]
    h.advance(60)
    h.fail(Endpoint.TOKEN, "graph_transient", 503, 2, "Service temporarily unavailable")
    assert names(h.sent) == [(TOKEN, "firing")]
    # The answer came at T0: stale 3 days later.
    assert names(elapse(h, 3 * DAY - 3600 - 60, step=3600)) == []
    assert names(elapse(h, 2 * 3600, step=3600)) == [(TOKEN, "resolved")]


@pytest.mark.parametrize(
    ("app_token", "fires", "reason", "status", "code"),
    [
        (True, True, "graph_token", 400, 190),
        (True, True, "graph_error", 400, 100),
        (True, False, "graph_transient", 503, 2),
        (False, False, "graph_token", 400, 190),
        (False, False, "graph_error", 400, 100),
    ],
)
def test_a_refused_app_token_warns_that_the_expiry_is_unwatched(
    app_token: bool, fires: bool, reason: str, status: int, code: int
) -> None:
    """With an app token, debug_token refusing it leaves the expiry unwatched: a warning that
    names the app token. Without one, the token inspecting itself may be refused (Meta
    documents debug_token for app tokens): nothing to warn of."""
    app = SecretStr("634974688087057|0123456789abcdef")
    target = CLOUD.model_copy(update={"app_token": app} if app_token else {})
    h = Harness(target=target, rules=[AuthRejected(enabled=False)])
    h.graph.set_scenario(GraphScenario.HEALTHY)
    fired = h.fail(Endpoint.TOKEN, reason, status, code, "Graph says no")
    assert names(fired) == ([(TOKEN, "firing")] if fires else [])
    if fires:
        assert fired[0].annotations["summary"] == (
            "The watchdog cannot read when the access token of shop expires"
        )
        assert "app token" in fired[0].annotations["description"]


# -- WhatsAppAuthRejected on Cloud endpoints ----------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "reason", "status", "code", "fires"),
    [
        (PHONE, "graph_token", 401, 190, True),
        (PHONE, "graph_permission", 403, 200, True),
        (PHONE, "auth_config", None, None, True),
        (Endpoint.WABA, "graph_permission", 403, 200, True),
        (Endpoint.WABA, "graph_token", 401, 190, True),
        # debug_token's refusal may be the app token's and is up to a day old: the number's
        # own poll speaks for the access token.
        (Endpoint.TOKEN, "graph_token", 401, 190, False),
        (Endpoint.TOKEN, "auth_config", None, None, False),
        (Endpoint.TOKEN, "graph_permission", 403, 10, False),
    ],
)
def test_auth_rejected_on_cloud_endpoints(
    endpoint: Endpoint, reason: str, status: int | None, code: int | None, fires: bool
) -> None:
    h = cloud()
    poll_all(h)
    h.advance(60)
    fired = h.fail(endpoint, reason, status, code, "Graph says no")
    assert ("WhatsAppAuthRejected" in {a.name for a in fired}) is fires
    if not fires:
        assert fired == []


# -- each kind keeps to its rules ---------------------------------------------------------------


def test_a_healthy_cloud_number_raises_nothing() -> None:
    h = cloud()
    for _ in range(12):
        assert poll_all(h) == []
        h.advance(300)
    assert h.engine.alerts() == []


@pytest.mark.parametrize("scenario", list(GraphScenario))
def test_a_cloud_target_never_gets_an_onprem_only_alert(scenario: GraphScenario) -> None:
    """Whatever the Graph API plays, and a storm of throttled and failed polls, the rules of an
    On-Premises deployment's health, metrics and stats stay silent for a Cloud target."""
    h = cloud(scenario, rules=[r.model_copy(update={"for_": 0.0}) for r in default_rules()])
    for _ in range(3):
        poll_all(h)
        h.advance(300)
    for _ in range(6):
        h.fail(PHONE, "graph_throttled", 429, 80008, "Too many calls", usage(100, regain=5))
        h.fail(PHONE, "http_5xx", 502, None, None)
        h.advance(5)
    seen = {a.name for a in [*h.sent, *h.engine.alerts()]}
    assert not seen & ONPREM_ONLY
    assert RATE_NEAR in seen


@pytest.mark.parametrize("scenario", list(Scenario))
def test_an_onprem_target_never_gets_a_cloud_alert(scenario: Scenario) -> None:
    """Whatever an On-Premises deployment plays, no Cloud rule has anything to say."""
    h = Harness(rules=[r.model_copy(update={"for_": 0.0}) for r in default_rules()])
    h.deployment.set_scenario(scenario)
    for _ in range(8):
        for endpoint in (Endpoint.HEALTH, Endpoint.METRICS, Endpoint.STATS_APP):
            try:
                h.ok(endpoint)
            except AssertionError:  # the scenario answers with an API error
                h.fail(endpoint, "http_5xx", 500, 1014, "Connection refused: wacore:6252")
        h.fail(Endpoint.HEALTH, "http_429", 429, 1015, "Rate limiting exceeded")
        h.advance(15)
    assert not {a.name for a in [*h.sent, *h.engine.alerts()]} & CLOUD_ALERTS


def test_cloud_checks_read_nothing_of_an_onprem_target() -> None:
    """Even handed Cloud answers and memory by mistake, an On-Prem target's view has no Cloud
    endpoint state, so every Cloud rule returns nothing."""
    number = parse_phone_number(
        {"id": PHONE_NUMBER_ID, "status": "DISCONNECTED", "quality_rating": "RED"}
    )
    memory = CloudMemory()
    memory.observe_usage(usage(99), 1.0)
    state = EndpointState(interval=15.0)
    state.last = state.last_success = Observation(
        PollResult("prod", Endpoint.HEALTH, 1.0, 0.01, 200, None), phone=number
    )
    view = TargetView(TARGET, {Endpoint.HEALTH: state}, History(), now=2.0, cloud=memory)
    cloud_rules = [rule() for rule in RULES if rule().alertname in CLOUD_ALERTS]
    assert len(cloud_rules) == len(CLOUD_ALERTS)
    assert [rule.check(view) for rule in cloud_rules] == [[]] * len(cloud_rules)


# -- a blip on the way to Meta ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "status", "alert"),
    [
        ("timeout", None, "WhatsAppUnreachable"),
        ("connect", None, "WhatsAppUnreachable"),
        ("http_5xx", 502, "WhatsAppUnreachable"),
        # A captive portal's 200 page, a body cut short: not Graph's answer either.
        ("decode", 200, "WhatsAppHealthFailing"),
        ("too_large", 200, "WhatsAppHealthFailing"),
    ],
)
def test_a_cloud_poll_failing_on_the_way_pages_from_the_third_in_a_row(
    reason: str, status: int | None, alert: str
) -> None:
    """One timeout, edge error page or captive page between two 5-minute polls is no outage;
    three in a row are (reference §9). Each failed poll is followed by the engine's ticks past
    `for`."""
    h = cloud()
    h.ok(PHONE)
    for count in (1, 2):
        h.advance(300)
        h.fail(PHONE, reason, status)
        elapse(h, 120)
        assert alert not in h.firing(), count
    h.advance(300)
    h.fail(PHONE, reason, status)
    elapse(h, 120)
    assert h.firing() == {alert}


def test_an_onprem_timeout_still_pages_at_once() -> None:
    h = Harness()
    h.ok(Endpoint.HEALTH)
    h.advance(15)
    h.fail(Endpoint.HEALTH, "timeout", None)
    elapse(h, 60, step=15)
    assert h.firing() == {"WhatsAppUnreachable"}
