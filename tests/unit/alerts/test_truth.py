"""Alerts that are true: every failing health answer pages (an On-Premises deployment's health,
a Cloud API number's own node), diagnoses follow what the answer shows, counters are compared
per series across Webapps, gateways are judged as configured."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.alerts.harness import CLOUD, Harness, names
from watchdog.alerts.checks import CLOUD_HEALTH_RULES, HEALTH_RULES
from watchdog.alerts.model import AlertState
from watchdog.alerts.rules import RULES, GatewayDegraded, GatewayDown, HealthFailing, Unreachable
from watchdog.api.diagnosis import Failure, diagnose
from watchdog.api.endpoints import GRAPH_REASONS, REASONS, Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.graph_errors import GraphError, graph_reason
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult
from watchdog.simulator import Topology

WACORE = "Connection refused. Please check if wacore is running: wacore:6252"
DATABASE = "Can't connect to the Database server through socket '/var/run/mysqld/mysqld.sock'"
UNREACHABLE = "WhatsAppUnreachable"
FAILING = "WhatsAppHealthFailing"
AUTH = "WhatsAppAuthRejected"
RATE_NEAR = "WhatsAppCloudRateLimitNear"

# (status, error code, details, the alerts firing) of a failed poll's answer.
Pages = dict[str, list[tuple[int | None, int | None, str | None, set[str]]]]
# The transport's and the body's failures, which no HTTP status decides, page alike for both
# kinds of target.
TRANSPORT_PAGES: Pages = {
    "timeout": [(None, None, None, {UNREACHABLE})],
    "connect": [(None, None, None, {UNREACHABLE})],
    "dns": [(None, None, None, {UNREACHABLE})],
    "tls": [(None, None, None, {UNREACHABLE})],
    "protocol": [(None, None, None, {UNREACHABLE}), (302, None, None, {UNREACHABLE})],
    "too_large": [(200, None, None, {FAILING})],
    "decode": [(200, None, None, {FAILING})],
    "shape": [(200, None, None, {FAILING})],
}  # fmt: skip

# Every reason an On-Premises poll fails with (all but the Graph API's), with the answers that
# produce it: (status, error code, details) and the alerts that must be firing after health has
# failed that way for 90 s (every rule at its default `for`, at most 60 s). A 429 is both a
# rate-limit spike and a blind watchdog.
PAGES: Pages = {
    "http_401": [(401, 1005, "Invalid credentials.", {"WhatsAppAuthRejected"}),
                 (401, None, None, {"WhatsAppAuthRejected"})],
    "http_403": [(403, 1005, "User doesn't have permission", {"WhatsAppAuthRejected"}),
                 (403, None, None, {UNREACHABLE}),  # a WAF's page, not the API
                 (403, 1007, "blocked", {FAILING})],
    "http_404": [(404, 1006, "URL path not found", {FAILING}), (404, None, None, {FAILING})],
    "http_429": [(429, 1015, "Rate limiting exceeded on health check",
                  {FAILING, "WhatsAppRateLimitSpike"}),
                 (429, None, None, {FAILING, "WhatsAppRateLimitSpike"})],
    "http_503": [(503, 1016, "System overloaded", {"WhatsAppOverloaded"}),
                 (503, None, None, {UNREACHABLE})],  # a proxy's page: not "overloaded"
    "http_4xx": [(400, 1025, "Request is not valid", {FAILING}), (405, None, None, {UNREACHABLE})],
    "http_5xx": [(500, 1014, WACORE, {"WhatsAppGatewayDown"}),
                 (500, 1014, DATABASE, {FAILING}),
                 (500, 1011, "Service not ready", {FAILING}),
                 (500, 1023, "Database error occurred", {FAILING}),
                 (500, None, None, {UNREACHABLE}),
                 (502, None, None, {UNREACHABLE}),
                 (504, None, None, {UNREACHABLE})],
    **TRANSPORT_PAGES,
    "auth_config": [(None, None, None, {"WhatsAppAuthRejected"}),
                    (401, 1024, "Password must be changed", {"WhatsAppAuthRejected"})],
    "internal": [(None, None, None, {FAILING})],
}  # fmt: skip
CASES = [(reason, *case) for reason, cases in PAGES.items() for case in cases]


def test_every_failure_reason_has_a_page() -> None:
    """The tables cover every reason a poll can fail with (On-Premises: all but the Graph API's;
    Cloud: every reason Graph answers give and the transport's), and every failure kind has
    exactly one rule that exists, for either kind of target."""
    assert set(PAGES) == set(REASONS) - set(GRAPH_REASONS)
    assert set(CLOUD_PAGES) == cloud_reasons()
    assert set(GRAPH_REASONS) <= set(CLOUD_PAGES)
    for rules in (HEALTH_RULES, CLOUD_HEALTH_RULES):
        assert set(rules) == set(Failure)
        assert set(rules.values()) <= {rule.key for rule in RULES}


@pytest.mark.parametrize(("reason", "status", "code", "details", "alerts"), CASES)
def test_every_failing_health_answer_pages(
    reason: str, status: int | None, code: int | None, details: str | None, alerts: set[str]
) -> None:
    """Health failing for 90 s with any reason fires its critical alert (and nothing else);
    the API's details travel into the description."""
    h = Harness()
    h.ok(Endpoint.HEALTH)
    for _ in range(7):
        h.advance(15)
        h.fail(Endpoint.HEALTH, reason, status, code, details)
    assert h.firing() == alerts
    critical = [a for a in h.engine.alerts() if a.severity == "critical"]
    assert critical, "a failing health must page"
    if details:
        assert any(details in a.annotations["description"] for a in critical)


# Every reason a Cloud number's poll fails with, with the answers that produce it (a Graph error
# code, or none when no envelope came back) and the alerts that must be firing after 4 failed
# polls of the number (5 minutes apart) and 90 s more. Graph throttling warns instead of paging
# (the business's hourly allowance, not the number, is used up); a Graph error Meta calls
# temporary pages from the third failure in a row, so it does here.
CLOUD_PAGES: Pages = {
    **TRANSPORT_PAGES,
    "http_404": [(404, 803, "Some of the aliases you requested do not exist", {FAILING}),
                 (404, None, None, {FAILING})],
    "http_4xx": [(400, None, None, {UNREACHABLE})],  # not Graph's envelope: something in front
    "http_5xx": [(502, None, None, {UNREACHABLE}), (504, None, None, {UNREACHABLE}),
                 (500, None, None, {UNREACHABLE}),  # a proxy's page, not Meta's failure
                 (502, 12345, "an error no group claims", {FAILING})],
    "http_503": [(503, None, None, {UNREACHABLE})],  # likewise
    "http_403": [(403, None, None, {UNREACHABLE})],  # a WAF's or egress proxy's "forbidden"
    "auth_config": [(None, None, None, {AUTH})],
    "internal": [(None, None, None, {FAILING})],
    "graph_token": [(401, 190, "Error validating access token: Session has expired", {AUTH}),
                    (400, 190, "Malformed access token", {AUTH}),
                    (401, None, None, {AUTH})],
    "graph_permission": [(403, 200, "Permissions error", {AUTH}),
                         (400, 10, "Application does not have permission", {AUTH})],
    "graph_throttled": [(429, 80008, "Too many calls to this account", {RATE_NEAR}),
                        (400, 80007, "Rate limit hit", {RATE_NEAR}),
                        (429, None, None, {RATE_NEAR})],
    "graph_transient": [(503, 2, "Service temporarily unavailable", {FAILING}),
                        (500, 131000, "Something went wrong", {FAILING}),
                        (503, 100, "an error no group claims", {FAILING})],
    "graph_error": [(200, 100, "Unsupported get request", {FAILING}),
                    (400, 100, "Unsupported get request", {FAILING}),
                    (403, 33, "Object with ID does not exist", {FAILING})],
}  # fmt: skip
CLOUD_CASES = [(reason, *case) for reason, cases in CLOUD_PAGES.items() for case in cases]


def cloud_reasons() -> set[str]:
    """What a Graph answer can fail with, by status and error code, and the failures no answer
    decides (nothing came back, an unusable body, no token, the watchdog's own error)."""
    codes = (None, 1, 2, 4, 10, 100, 190, 200, 803, 80007, 80008, 131000, 12345)
    by_answer = {
        graph_reason(status, GraphError(code, None, None, None, None, None) if code else None)
        for status in range(200, 600)
        for code in codes
    }
    return by_answer | {*TRANSPORT_PAGES, "auth_config", "internal"}


@pytest.mark.parametrize(("reason", "status", "code", "details", "alerts"), CLOUD_CASES)
def test_every_failing_cloud_number_poll_pages(
    reason: str, status: int | None, code: int | None, details: str | None, alerts: set[str]
) -> None:
    """A Cloud number's own poll failing 4 times in a row with any reason fires its alert (and
    nothing else): critical, but for Graph throttling, which warns; Meta's words travel into the
    description. The table's answers are what the Graph client makes of them."""
    if status is not None and reason not in TRANSPORT_PAGES:
        error = GraphError(code, None, None, details, None, None) if code else None
        assert graph_reason(status, error) == reason
    h = Harness(target=CLOUD)
    h.ok(Endpoint.PHONE_NUMBER)
    h.ok(Endpoint.WABA)
    h.ok(Endpoint.TOKEN)
    for _ in range(4):
        h.advance(300)
        h.fail(Endpoint.PHONE_NUMBER, reason, status, code, details)
    h.advance(90)
    h.engine.tick()
    assert h.firing() == alerts
    severities = {a.severity for a in h.engine.alerts()}
    assert severities == ({"warning"} if alerts == {RATE_NEAR} else {"critical"})
    if details and alerts != {RATE_NEAR}:
        assert any(details in a.annotations["description"] for a in h.engine.alerts())


def test_a_transient_graph_error_pages_from_the_third_failure_in_a_row() -> None:
    """graph_transient (Meta: a retry may work) stays silent for two failed polls of the number,
    also after a success between them, and fires WhatsAppHealthFailing from the third in a row,
    after its `for`."""
    h = Harness(target=CLOUD)
    h.ok(Endpoint.PHONE_NUMBER)
    for poll in (1, 2, None, 1, 2):
        h.advance(300)
        if poll is None:
            h.ok(Endpoint.PHONE_NUMBER)
            continue
        h.fail(Endpoint.PHONE_NUMBER, "graph_transient", 503, 2, "Service temporarily unavailable")
        h.advance(120)
        h.engine.tick()
        assert h.engine.alerts() == [], f"failure {poll} in a row"
    h.advance(180)
    h.fail(Endpoint.PHONE_NUMBER, "graph_transient", 503, 2, "Service temporarily unavailable")
    assert [(a.name, a.state) for a in h.engine.alerts()] == [(FAILING, AlertState.PENDING)]
    h.advance(60)
    h.engine.tick()
    assert names(h.sent) == [(FAILING, "firing")]
    alert = h.sent[0]
    assert alert.annotations["summary"] == "WhatsApp API shop has a temporary failure at Meta"
    assert alert.annotations["description"].startswith("The last 3 phone_number polls failed")
    # Fewer polls asked for: the first failure speaks.
    h = Harness(target=CLOUD, rules=[HealthFailing(for_=0, transient_polls=1)])
    fired = h.fail(Endpoint.PHONE_NUMBER, "graph_transient", 503, 2, "Service unavailable")
    assert names(fired) == [(FAILING, "firing")]


def test_a_throttled_number_does_not_page_as_failing() -> None:
    """Graph throttling the number's polls is the business's allowance used up: the watchdog
    warns (WhatsAppCloudRateLimitNear) instead of paging WhatsAppHealthFailing, as an On-Prem
    429 on health does."""
    h = Harness(target=CLOUD, rules=[HealthFailing(for_=0)])
    fired = h.fail(Endpoint.PHONE_NUMBER, "graph_throttled", 429, 80008, "Too many calls")
    assert names(fired) == [(RATE_NEAR, "firing")]
    onprem = Harness(rules=[HealthFailing(for_=0)])
    fired = onprem.fail(Endpoint.HEALTH, "http_429", 429, 1015, "Rate limiting exceeded")
    assert (FAILING, "firing") in names(fired)


def test_a_proxy_503_is_not_overload_advice() -> None:
    """A 503 without the API's envelope says "behind its proxy", never "slow down senders"."""
    h = Harness(rules=[Unreachable(for_=0)])
    h.fail(Endpoint.HEALTH, "http_503", 503)
    [alert] = h.sent
    assert alert.name == UNREACHABLE
    assert "unavailable behind its proxy/load balancer (HTTP 503)" in alert.annotations["summary"]
    assert "1016" not in alert.annotations["summary"]
    assert "senders" not in alert.annotations["description"]


def test_1014_is_worded_from_its_details() -> None:
    """A 1014 that names the database is a database error, not "cannot reach the Coreapp"."""
    h = Harness(rules=[HealthFailing(for_=0)])
    h.fail(Endpoint.HEALTH, "http_5xx", 500, 1014, DATABASE)
    [alert] = h.sent
    assert alert.name == FAILING
    assert "database error" in alert.annotations["summary"]
    assert "Coreapp" not in alert.annotations["summary"]
    assert DATABASE in alert.annotations["description"]


def test_a_starting_webapp_has_a_grace_but_one_that_never_starts_pages() -> None:
    """1011 for less than the rule's `for` (1 minute) sends nothing; longer pages."""
    h = Harness()
    for _ in range(3):
        h.fail(Endpoint.HEALTH, "http_5xx", 500, 1011, "Service not ready")
        h.advance(15)
    h.ok(Endpoint.HEALTH)
    assert h.sent == []
    for _ in range(5):
        h.advance(15)
        h.fail(Endpoint.HEALTH, "http_5xx", 500, 1011, "Service not ready")
    assert names(h.sent) == [(FAILING, "firing")]
    assert "is not ready (500, code 1011)" in h.sent[0].annotations["summary"]


def test_an_unusable_health_200_pages() -> None:
    """A 200 whose body is not a health answer fails as `shape` and pages after `for`."""
    h = Harness()
    for _ in range(6):
        h.answer(Endpoint.HEALTH, {"health": {}, "meta": {}})
        h.advance(15)
    h.answer(Endpoint.HEALTH, {"health": {}, "meta": {}})
    assert names(h.sent) == [(FAILING, "firing")]
    assert "unusable answer (shape)" in h.sent[0].annotations["summary"]


# -- several Webapps behind one URL ------------------------------------------------------------


def requests(node: str, ok: float, failed: float) -> Any:
    """A /metrics answer from one Webapp with its lifetime request counts."""
    data = [
        {"labels": {"node": node, "result": "201", "method": "POST_v1_messages"}, "value": ok},
        {"labels": {"node": node, "result": "503", "method": "POST_v1_messages"}, "value": failed},
    ]
    family = {"type": "counter", "help": "", "data": data}
    return {"metrics": {"api_requests_duration_ms_count": family}, "meta": {}}


def test_webapps_taking_turns_raise_no_false_page() -> None:
    """Two Webapps with old 503 totals answering in turn: nothing new failed, nothing fires."""
    h = Harness()
    totals = {"web-a": 1000.0, "web-b": 2000.0}
    for poll in range(20):
        node = ("web-a", "web-b")[poll % 2 if poll < 10 else (poll // 3) % 2]
        totals[node] += 0.0
        h.answer(Endpoint.METRICS, requests(node, 50_000.0 + poll * 100, totals[node]))
        h.advance(30)
    assert h.sent == []


def test_new_503s_on_one_webapp_fire_overloaded() -> None:
    """503s counted by one of several Webapps since its own last answer fire the alert."""
    h = Harness()
    h.answer(Endpoint.METRICS, requests("web-a", 100.0, 7.0))
    h.advance(30)
    h.answer(Endpoint.METRICS, requests("web-b", 100.0, 9.0))
    h.advance(30)
    assert h.sent == []
    fired = h.answer(Endpoint.METRICS, requests("web-a", 140.0, 37.0))
    assert names(fired) == [("WhatsAppOverloaded", "firing")]
    assert "counted 30 requests of other clients" in fired[0].annotations["description"]


def test_old_growth_seen_late_is_spread_over_its_span() -> None:
    """Five 503s over the 10 minutes a Webapp was not seen are not five 503s in the last
    minute: under one falls in the window, so nothing fires."""
    h = Harness()
    h.answer(Endpoint.METRICS, requests("web-a", 100.0, 0.0))
    for _ in range(20):
        h.advance(30)
        h.answer(Endpoint.METRICS, requests("web-b", 100.0, 0.0))
    h.answer(Endpoint.METRICS, requests("web-a", 900.0, 5.0))
    assert h.sent == []


# -- gateways ----------------------------------------------------------------------------------


def cluster(master: str, *coreapps: str) -> Any:
    nodes = {"master-0:m0": {"gateway_status": master, "role": "primary_master"}}
    nodes["master-1:m1"] = {"gateway_status": "disconnected", "role": "secondary_master"}
    for i, gateway in enumerate(coreapps):
        nodes[f"coreapp-{i}:c{i}"] = {"gateway_status": gateway, "role": "coreapp"}
    return {"health": nodes, "meta": {}}


def test_lost_master_and_shard_fire_down_and_degraded() -> None:
    """Multiconnect losing its primary master and a shard: GatewayDown (1 of 2 shards) and
    GatewayDegraded (the master), not silence from a topology mistaken for HA."""
    rules = [GatewayDown(for_=0), GatewayDegraded(for_=0)]
    h = Harness(Topology.MULTICONNECT, rules=rules)
    h.answer(Endpoint.HEALTH, cluster("connected", "connected", "connected", "disconnected"))
    assert h.sent == []
    h.advance(15)
    fired = h.answer(
        Endpoint.HEALTH, cluster("disconnected", "connected", "disconnected", "disconnected")
    )
    assert sorted(names(fired)) == [
        ("WhatsAppGatewayDegraded", "firing"), ("WhatsAppGatewayDown", "firing"),
    ]  # fmt: skip
    down = next(a for a in fired if a.name == "WhatsAppGatewayDown")
    assert "Expected at least 2 connected gateway(s), found 1" in down.annotations["description"]
    degraded = next(a for a in fired if a.name == "WhatsAppGatewayDegraded")
    assert "primary master master-0:m0" in degraded.annotations["description"]


def test_gateway_stuck_connecting_warns_after_its_limit() -> None:
    """A gateway `connecting` is up; past `connecting_for` it warns, and it clears when
    connected."""
    rules = [GatewayDegraded(for_=0, keep_firing_for=0)]
    h = Harness(rules=rules, expectation=Expectation(connecting_limit=120))
    connecting = {"health": {"gateway_status": "connecting"}, "meta": {}}
    for _ in range(8):
        assert h.answer(Endpoint.HEALTH, connecting) == []
        h.advance(15)
    assert names(h.answer(Endpoint.HEALTH, connecting)) == [("WhatsAppGatewayDegraded", "firing")]
    h.advance(15)
    resolved = h.answer(Endpoint.HEALTH, {"health": {"gateway_status": "connected"}, "meta": {}})
    assert names(resolved) == [("WhatsAppGatewayDegraded", "resolved")]


def test_diagnosis_never_raises_on_odd_answers() -> None:
    """Any status with any error fields is diagnosed (or None for a success)."""
    for status in (None, 100, 200, 204, 301, 399, 400, 401, 403, 404, 418, 429, 500, 503, 599):
        for error in (None, ApiErrorInfo(None, None), ApiErrorInfo(1016, "", ""),
                      ApiErrorInfo(99999, "x" * 200, "y" * 200)):  # fmt: skip
            for reason in (*REASONS, None):
                result = PollResult("t", Endpoint.HEALTH, 0.0, 0.0, status, reason, "", error)
                diagnosis = diagnose(result)
                assert (diagnosis is None) is (reason is None)


def test_no_alert_state_is_left_pending_forever_after_recovery() -> None:
    """After recovery every alert that was pending or firing resolves or is dropped."""
    h = Harness()
    for _ in range(6):
        h.fail(Endpoint.HEALTH, "http_5xx", 502)
        h.advance(15)
    for _ in range(10):
        h.ok(Endpoint.HEALTH)
        h.advance(15)
    assert all(a.state is AlertState.RESOLVED for a in h.engine.alerts())
