"""The Cloud API (Graph) simulator over real sockets: nodes, fields, auth, budget, scenarios."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import GraphSim
from watchdog.simulator import GraphConfig, GraphScenario, GraphServer

TOKEN = "EAAintegration-test-token-0123456789"
NUMBER = "106540352242922"
OTHER = "106540352242923"
WABA = "102290129340398"
BUSINESS = "506914307656634"
APP_TOKEN = "634974688087057|graph-test-secret"
ALL_FIELDS = (
    "display_phone_number,verified_name,status,quality_rating,"
    "whatsapp_business_manager_messaging_limit,messaging_limit_tier,throughput,name_status,"
    "code_verification_status,platform_type,is_official_business_account,last_onboarded_time,"
    "health_status"
)


class Graph(GraphSim):
    """A Graph simulator asked as a Cloud API client asks it."""

    def get(self, path: str, token: str | None = TOKEN, **params: str) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.get(path, headers=headers, params=params)

    def number(self, fields: str = ALL_FIELDS, node: str = NUMBER) -> dict[str, Any]:
        response = self.get(f"/v25.0/{node}", fields=fields)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def start(**config: Any) -> Graph:
    """A started simulator with the test token and two numbers, and `config` on top."""
    defaults = {
        "token": TOKEN,
        "phone_number_ids": (NUMBER, OTHER),
        "app_secret": "graph-test-secret",
    }
    return Graph.started(GraphConfig(**{**defaults, **config}))


@pytest.fixture(scope="module")
def _shared() -> Iterator[Graph]:
    graph = start()
    yield graph
    graph.stop()


@pytest.fixture
def graph(_shared: Graph) -> Graph:
    """The shared simulator, made to look fresh."""
    _shared.reset()
    return _shared


@pytest.fixture
def make_graph(_stop_later: Callable[[GraphServer], None]) -> Iterator[Callable[..., Graph]]:
    """Fresh simulators with their own configuration; all stopped afterwards."""
    made: list[Graph] = []

    def make(**config: Any) -> Graph:
        made.append(start(**config))
        return made[-1]

    yield make
    for graph in made:
        graph.client.close()
        _stop_later(graph.server)


def usage_of(response: httpx.Response) -> dict[str, Any]:
    """The one usage object of the `X-Business-Use-Case-Usage` header."""
    header = json.loads(response.headers["X-Business-Use-Case-Usage"])
    assert list(header) == [BUSINESS]
    [usage] = header[BUSINESS]
    assert set(usage) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }
    assert usage["type"] == "whatsapp_business_management"
    result: dict[str, Any] = usage
    return result


def graph_error(
    response: httpx.Response, status: int, code: int, subcode: int | None = None
) -> dict[str, Any]:
    """The answer is Graph's error envelope with this status, code and subcode."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert error.get("error_subcode") == subcode
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["fbtrace_id"]
    assert error["type"] in ("OAuthException", "GraphMethodException")
    return error


def entity(health: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [e for e in health["entities"] if e["entity_type"] == kind]
    return dict(found)


# -- nodes and fields ---------------------------------------------------------------------------


def test_healthy_number_with_every_field(graph: Graph) -> None:
    """A healthy number: every field a monitor reads, id last, the usage header."""
    response = graph.get(f"/v25.0/{NUMBER}", fields=ALL_FIELDS)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [*ALL_FIELDS.split(","), "id"]
    assert body["id"] == NUMBER
    assert body["status"] == "CONNECTED"
    assert body["quality_rating"] == "GREEN"
    assert body["whatsapp_business_manager_messaging_limit"] == "TIER_10K"
    assert body["messaging_limit_tier"] is None
    assert body["throughput"] == {"level": "HIGH"}
    assert body["platform_type"] == "CLOUD_API"
    assert body["name_status"] == "APPROVED"
    assert body["code_verification_status"] == "VERIFIED"
    assert body["is_official_business_account"] is False
    assert body["last_onboarded_time"].endswith("+0000")
    health = body["health_status"]
    assert health["can_send_message"] == "AVAILABLE"
    assert [e["entity_type"] for e in health["entities"]] == [
        "PHONE_NUMBER",
        "WABA",
        "BUSINESS",
        "APP",
    ]
    assert entity(health, "PHONE_NUMBER")["can_receive_call_sip"] == "AVAILABLE"
    assert usage_of(response)["call_count"] == 0
    assert response.headers["facebook-api-version"] == "v25.0"


def test_defaults_without_fields_and_any_version(graph: Graph) -> None:
    """Without `fields`: id, display_phone_number, verified_name, quality_rating; any version
    (or none) answers alike."""
    for path in (f"/v25.0/{NUMBER}", f"/v19.0/{NUMBER}", f"/v30.1/{NUMBER}", f"/{NUMBER}"):
        response = graph.get(path)
        assert response.status_code == 200, path
        assert set(response.json()) == {
            "id",
            "display_phone_number",
            "verified_name",
            "quality_rating",
        }
    assert graph.get(f"/v19.0/{NUMBER}").headers["facebook-api-version"] == "v19.0"
    assert graph.get(f"/{NUMBER}").headers["facebook-api-version"] == "v25.0"


def test_fields_select_and_a_bad_field_fails_the_call(graph: Graph) -> None:
    assert graph.number("status,throughput{level}") == {
        "status": "CONNECTED",
        "throughput": {"level": "HIGH"},
        "id": NUMBER,
    }
    response = graph.get(f"/v25.0/{NUMBER}", fields="status,no_such_field")
    error = graph_error(response, 400, 100)
    assert "(no_such_field)" in error["message"]
    # The call reached the WABA's node, so it counts and reports the budget.
    assert "X-Business-Use-Case-Usage" in response.headers


def test_waba_health_and_its_phone_numbers(graph: Graph) -> None:
    response = graph.get(f"/v25.0/{WABA}", fields="health_status")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == WABA
    assert [e["entity_type"] for e in body["health_status"]["entities"]] == [
        "WABA",
        "BUSINESS",
        "APP",
    ]
    assert usage_of(response)["call_count"] == 0
    listing = graph.get(f"/v25.0/{WABA}/phone_numbers", fields="status")
    assert listing.status_code == 200
    assert {n["id"] for n in listing.json()["data"]} == {NUMBER, OTHER}
    assert "X-Business-Use-Case-Usage" in listing.headers


def test_unknown_node_and_edge(graph: Graph) -> None:
    """An id Graph does not know is 100/33 with no usage header; an unknown edge is 2500."""
    response = graph.get("/v25.0/999999999", fields="health_status")
    error = graph_error(response, 400, 100, 33)
    assert error["type"] == "GraphMethodException"
    assert error["message"].startswith("Unsupported get request.")
    assert "X-Business-Use-Case-Usage" not in response.headers
    graph_error(graph.get(f"/v25.0/{NUMBER}/no_such_edge"), 400, 2500)
    graph_error(
        graph.client.post(f"/v25.0/{NUMBER}", headers={"Authorization": f"Bearer {TOKEN}"}),
        400,
        100,
        33,
    )


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "EAAwrong-token", TOKEN + "x"])
def test_missing_or_wrong_token_is_401_190_467(graph: Graph, token: str | None) -> None:
    for path in (f"/v25.0/{NUMBER}", f"/v25.0/{WABA}", "/v25.0/debug_token"):
        response = graph.get(path, token=token, input_token=TOKEN)
        graph_error(response, 401, 190, 467)
        assert response.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')
        assert "X-Business-Use-Case-Usage" not in response.headers
        assert TOKEN not in response.text


def test_the_token_may_come_as_a_query_parameter(graph: Graph) -> None:
    response = graph.get(f"/v25.0/{NUMBER}", token=None, access_token=TOKEN)
    assert response.status_code == 200


def test_debug_token_with_the_token_or_the_app_token(graph: Graph) -> None:
    for caller in (TOKEN, APP_TOKEN):
        response = graph.get("/v25.0/debug_token", token=caller, input_token=TOKEN)
        assert response.status_code == 200
        data = response.json()["data"]
        assert data["type"] == "SYSTEM_USER"
        assert data["is_valid"] is True
        assert data["expires_at"] == 0
        assert {
            "app_id",
            "data_access_expires_at",
            "issued_at",
            "scopes",
            "granular_scopes",
        } <= set(data)
        assert "X-Business-Use-Case-Usage" not in response.headers
    graph_error(graph.get("/v25.0/debug_token"), 400, 100)


def test_token_expired(graph: Graph) -> None:
    """190/463 on every call made with the token; the app token's debug_token says invalid."""
    graph.switch("token_expired")
    for path in (f"/v25.0/{NUMBER}", f"/v25.0/{WABA}", "/v25.0/debug_token"):
        error = graph_error(graph.get(path, input_token=TOKEN), 401, 190, 463)
        assert "expired" in error["message"]
    data = graph.get("/v25.0/debug_token", token=APP_TOKEN, input_token=TOKEN).json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["subcode"] == 463
    assert data["expires_at"] == int(graph.clock.now)


def test_token_expiring_in_three_days(graph: Graph) -> None:
    graph.switch("token_expiring")
    data = graph.get("/v25.0/debug_token", input_token=TOKEN).json()["data"]
    assert data["is_valid"] is True
    assert data["expires_at"] == int(graph.clock.now + 3 * 86_400)
    assert graph.get(f"/v25.0/{NUMBER}").status_code == 200


# -- the budget ---------------------------------------------------------------------------------


def test_throttling_climbs_to_100_then_80008(graph: Graph) -> None:
    """Call by call to 100 %, then 429/80008 with a regain time; an hour later, allowed again."""
    graph.switch("throttling")
    percents = [usage_of(graph.get(f"/v25.0/{NUMBER}"))["call_count"] for _ in range(10)]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    refused = graph.get(f"/v25.0/{NUMBER}", fields="health_status")
    error = graph_error(refused, 429, 80008)
    assert "too many calls" in error["message"]
    usage = usage_of(refused)
    assert usage["call_count"] == 100
    assert usage["estimated_time_to_regain_access"] == 60
    # The WABA shares the budget.
    graph_error(graph.get(f"/v25.0/{WABA}", fields="health_status"), 429, 80008)
    graph.clock.advance(3_600)
    again = graph.get(f"/v25.0/{NUMBER}")
    assert again.status_code == 200
    assert usage_of(again)["call_count"] == 10


def test_the_hourly_allowance_counts_every_management_call(graph: Graph) -> None:
    """A small allowance set at run time: number, WABA and the listing all count."""
    assert graph.admin("usage", hourly_allowance=20).status_code == 200
    graph.get(f"/v25.0/{NUMBER}")
    graph.get(f"/v25.0/{OTHER}")
    graph.get(f"/v25.0/{WABA}")
    graph.get("/v25.0/debug_token", input_token=TOKEN)  # not a WABA call
    assert usage_of(graph.get(f"/v25.0/{WABA}/phone_numbers"))["call_count"] == 20
    state = graph.client.get("/_sim/state").json()
    assert state["usage"]["calls_in_window"] == 4
    assert graph.admin("restart").json()["usage"]["calls_in_window"] == 0


def test_throttle_status_400(make_graph: Callable[..., Graph]) -> None:
    """Graph may answer 80008 with 400: the simulator can play that too."""
    graph = make_graph(
        scenario=GraphScenario.THROTTLING, throttling_allowance=1, throttle_status=400
    )
    assert graph.get(f"/v25.0/{NUMBER}").status_code == 200
    graph_error(graph.get(f"/v25.0/{NUMBER}"), 400, 80008)


# -- scenarios ----------------------------------------------------------------------------------


def test_blocked(graph: Graph) -> None:
    graph.switch("blocked")
    health = graph.number("health_status")["health_status"]
    assert health["can_send_message"] == "BLOCKED"
    phone = entity(health, "PHONE_NUMBER")
    assert phone["can_send_message"] == "BLOCKED"
    [error] = phone["errors"]
    assert error["error_code"] == 131031
    assert error["error_description"]
    assert error["possible_solution"]
    # The WABA's own health does not name the number.
    waba = graph.get(f"/v25.0/{WABA}", fields="health_status").json()["health_status"]
    assert waba["can_send_message"] == "AVAILABLE"


def test_limited(graph: Graph) -> None:
    graph.switch("limited")
    body = graph.number("health_status,name_status")
    assert body["health_status"]["can_send_message"] == "LIMITED"
    phone = entity(body["health_status"], "PHONE_NUMBER")
    assert phone["can_send_message"] == "LIMITED"
    assert phone["additional_info"][0].startswith("Your display name has not been approved")
    assert body["name_status"] == "PENDING_REVIEW"


def test_quality_red_and_disconnected(graph: Graph) -> None:
    graph.switch("quality_red")
    body = graph.number("quality_rating,status,health_status")
    assert (body["quality_rating"], body["status"]) == ("RED", "CONNECTED")
    assert body["health_status"]["can_send_message"] == "AVAILABLE"
    graph.switch("disconnected")
    body = graph.number("quality_rating,status")
    assert (body["quality_rating"], body["status"]) == ("GREEN", "DISCONNECTED")


def test_calling_blocked_is_the_sip_quirk(graph: Graph) -> None:
    """Overall BLOCKED while every entity's can_send_message is AVAILABLE."""
    graph.switch("calling_blocked")
    health = graph.number("health_status")["health_status"]
    assert health["can_send_message"] == "BLOCKED"
    assert {e["can_send_message"] for e in health["entities"]} == {"AVAILABLE"}
    phone = entity(health, "PHONE_NUMBER")
    assert phone["can_receive_call_sip"] == "BLOCKED"
    assert {e["error_code"] for e in phone["errors"]} == {138024, 138025}


def test_waba_blocked(graph: Graph) -> None:
    graph.switch("waba_blocked")
    for path in (f"/v25.0/{NUMBER}", f"/v25.0/{WABA}"):
        health = graph.get(path, fields="health_status").json()["health_status"]
        assert health["can_send_message"] == "BLOCKED"
        assert entity(health, "WABA")["errors"][0]["error_code"] == 141006


def test_limit_dropped_happens_when_switched_on(graph: Graph) -> None:
    limit = "whatsapp_business_manager_messaging_limit"
    before = graph.number(f"{limit},throughput")
    graph.switch("limit_dropped")
    after = graph.number(f"{limit},throughput")
    assert (before[limit], after[limit]) == ("TIER_10K", "TIER_2K")
    assert (before["throughput"], after["throughput"]) == ({"level": "HIGH"}, {"level": "STANDARD"})


def test_transient_503(graph: Graph) -> None:
    graph.switch("transient_503")
    for path in (f"/v25.0/{NUMBER}", f"/v25.0/{WABA}", "/v25.0/debug_token"):
        error = graph_error(graph.get(path, input_token=TOKEN), 503, 2)
        assert error["is_transient"] is True
        assert error["message"] == "Service temporarily unavailable"


def test_html_proxy(graph: Graph) -> None:
    """A proxy's HTML 502: no JSON, none of Graph's headers; the admin API still answers."""
    graph.switch("html_proxy")
    response = graph.get(f"/v25.0/{NUMBER}", fields="health_status")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    assert "X-Business-Use-Case-Usage" not in response.headers
    assert "facebook-api-version" not in response.headers
    assert graph.client.get("/_sim/state").json()["scenario"] == "html_proxy"


# -- admin --------------------------------------------------------------------------------------


def test_admin_state_and_switching(graph: Graph) -> None:
    state = graph.client.get("/_sim/state").json()
    assert state["kind"] == "cloud"
    assert state["scenario"] == "healthy"
    assert set(state["scenarios"]) == {s.value for s in GraphScenario}
    assert all(state["scenarios"].values())
    assert TOKEN not in json.dumps(state)
    assert "graph-test-secret" not in json.dumps(state)
    # Bad input changes nothing.
    assert graph.admin("scenario", scenario="no_such").status_code == 400
    assert graph.admin("scenario", scenario="throttling", phone_number_id=NUMBER).status_code == 400
    assert graph.admin("scenario", scenario="blocked", phone_number_id="1").status_code == 400
    assert graph.admin("usage", hourly_allowance=0).status_code == 400
    assert graph.admin("usage", hourly_allowance=True).status_code == 400
    assert graph.client.get("/_sim/state").json()["scenario"] == "healthy"
    # One number on its own.
    switched = graph.admin("scenario", scenario="blocked", phone_number_id=OTHER).json()
    assert {n["id"]: n["scenario"] for n in switched["phone_numbers"]} == {
        NUMBER: "healthy",
        OTHER: "blocked",
    }
    assert graph.number("health_status")["health_status"]["can_send_message"] == "AVAILABLE"
    other = graph.number("health_status", node=OTHER)["health_status"]
    assert other["can_send_message"] == "BLOCKED"
