"""GraphClient against the Graph simulator over real sockets: every scenario as the watchdog
reads it (the observation, the Cloud verdict, the failure reason, the usage)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import GraphSim
from watchdog.api.cloud import CloudMemory, CloudVerdict, cloud_verdict
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph_usage import usage_wait, worst_percent
from watchdog.api.results import Observation, observe
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.poll.graph_client import GraphClient
from watchdog.simulator import GraphConfig

TOKEN = "EAAintegration-graph-client-0123456789"
NUMBER = "106540352242922"
WABA = "102290129340398"
BUSINESS = "506914307656634"
APP_ID = "634974688087057"
APP_SECRET = "graph-client-app-secret"
APP_TOKEN = f"{APP_ID}|{APP_SECRET}"
DAY = 86_400.0


class Graph(GraphSim):
    """The running simulator, and what it counted."""

    def calls(self) -> int:
        """The management calls the simulator counted in its window (its `/_sim/state`)."""
        state = self.client.get("/_sim/state").json()
        return int(state["usage"]["calls_in_window"])


@pytest.fixture(scope="module")
def _running() -> Iterator[Graph]:
    graph = Graph.started(GraphConfig(token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET))
    yield graph
    graph.stop()


@pytest.fixture
def graph(_running: Graph) -> Graph:
    """The shared simulator made fresh."""
    _running.reset()
    return _running


def cloud_target(graph: Graph, **overrides: Any) -> Target:
    fields: dict[str, Any] = {
        "name": "shop",
        "kind": "cloud",
        "url": graph.server.url,
        "phone_number_id": NUMBER,
        "waba_id": WABA,
        "access_token": TOKEN,
        "timeout": 5.0,
    }
    fields.update(overrides)
    return Target(**fields)


def poll(graph: Graph, *endpoints: Endpoint, **overrides: Any) -> list[Observation]:
    """Poll the endpoints in turn with one client, as the scheduler does."""

    async def run() -> list[Observation]:
        async with GraphClient(cloud_target(graph, **overrides)) as client:
            return [observe(await client.poll(endpoint)) for endpoint in endpoints]

    return asyncio.run(run())


def verdict(graph: Graph) -> tuple[Observation, Observation, CloudVerdict]:
    phone, waba = poll(graph, Endpoint.PHONE_NUMBER, Endpoint.WABA)
    assert phone.ok, phone.result.detail
    assert waba.ok, waba.result.detail
    return phone, waba, cloud_verdict(phone.phone, waba.waba)


# -- healthy ------------------------------------------------------------------------------------


def test_healthy_number_waba_and_token(graph: Graph) -> None:
    phone, waba, token = poll(graph, Endpoint.PHONE_NUMBER, Endpoint.WABA, Endpoint.TOKEN)
    number = phone.phone
    assert number is not None
    assert number.id == NUMBER
    assert (number.status, number.quality_rating, number.platform_type) == (
        "CONNECTED",
        "GREEN",
        "CLOUD_API",
    )
    assert (number.messaging_limit, number.throughput_level) == ("TIER_10K", "HIGH")
    assert number.name_status == "APPROVED"
    assert number.health is not None
    assert number.health.messaging == "AVAILABLE"
    assert {e.entity_type for e in number.health.entities} == {
        "PHONE_NUMBER",
        "WABA",
        "BUSINESS",
        "APP",
    }
    assert waba.waba is not None
    assert waba.waba.messaging == "AVAILABLE"
    assert token.token is not None
    assert (token.token.is_valid, token.token.type, token.token.expires_at) == (
        True,
        "SYSTEM_USER",
        None,  # a system user's token that never expires
    )
    assert "whatsapp_business_management" in token.token.scopes
    verdict_ = cloud_verdict(number, waba.waba)
    assert (verdict_.up, verdict_.degraded, verdict_.problems) == (True, False, ())
    # The number's and the WABA's calls count against the budget and say so; debug_token
    # is not a WABA call and carries no usage.
    assert [u.business_id for u in phone.result.usage] == [BUSINESS]
    assert [u.call_count for u in waba.result.usage] == [0]
    assert token.result.usage == ()
    assert graph.calls() == 2


def test_debug_token_with_the_app_token(graph: Graph) -> None:
    [token] = poll(graph, Endpoint.TOKEN, app_token=APP_TOKEN)
    assert token.token is not None
    assert token.token.is_valid is True
    assert token.token.app_id == APP_ID


def test_a_graph_version_of_the_target_is_used(graph: Graph) -> None:
    """The simulator answers any version; the poll succeeds at the one configured."""
    [phone] = poll(graph, Endpoint.PHONE_NUMBER, graph_version="v23.0")
    assert phone.ok, phone.result.detail


# -- messaging verdicts -------------------------------------------------------------------------


def test_blocked_number(graph: Graph) -> None:
    graph.switch("blocked")
    phone, waba, result = verdict(graph)
    assert phone.phone is not None
    assert phone.phone.health is not None
    [blocked] = phone.phone.health.blocked()
    assert (blocked.entity_type, blocked.id) == ("PHONE_NUMBER", NUMBER)
    [error] = blocked.errors
    assert error.code == 131031
    assert error.description
    assert error.possible_solution
    assert waba.waba is not None
    assert waba.waba.messaging == "AVAILABLE"  # the WABA's own health does not name the number
    assert not result.up
    assert f"PHONE_NUMBER {NUMBER}" in result.summary


def test_limited_number(graph: Graph) -> None:
    graph.switch("limited")
    phone, _, result = verdict(graph)
    assert phone.phone is not None
    assert phone.phone.health is not None
    [limited] = phone.phone.health.limited()
    assert limited.entity_type == "PHONE_NUMBER"
    assert limited.additional_info
    assert limited.additional_info[0].startswith("Your display name has not been approved")
    assert phone.phone.name_status == "PENDING_REVIEW"
    assert (result.up, result.degraded) == (True, True)


def test_quality_red(graph: Graph) -> None:
    graph.switch("quality_red")
    phone, _, result = verdict(graph)
    assert phone.phone is not None
    assert phone.phone.quality_rating == "RED"
    assert (result.up, result.degraded) == (True, True)
    assert "quality rating RED" in result.problems


def test_disconnected_number(graph: Graph) -> None:
    """health_status still says AVAILABLE: only `status` shows it, and the verdict reads it."""
    graph.switch("disconnected")
    phone, _, result = verdict(graph)
    assert phone.phone is not None
    assert phone.phone.status == "DISCONNECTED"
    assert phone.phone.health is not None
    assert phone.phone.health.messaging == "AVAILABLE"
    assert not result.up
    assert "DISCONNECTED" in result.summary


def test_calling_only_blocked_reads_available_for_messaging(graph: Graph) -> None:
    """Meta's overall BLOCKED from SIP calling alone: messages flow, nothing is wrong."""
    graph.switch("calling_blocked")
    phone, _, result = verdict(graph)
    assert phone.phone is not None
    health = phone.phone.health
    assert health is not None
    assert health.overall == "BLOCKED"
    assert health.messaging == "AVAILABLE"
    assert health.calling == "BLOCKED"
    assert health.blocked() == ()
    assert (result.up, result.degraded, result.problems) == (True, False, ())


def test_waba_blocked(graph: Graph) -> None:
    graph.switch("waba_blocked")
    phone, waba, result = verdict(graph)
    for health in (phone.phone.health if phone.phone else None, waba.waba):
        assert health is not None
        [blocked] = health.blocked()
        assert (blocked.entity_type, blocked.id) == ("WABA", WABA)
        assert [e.code for e in blocked.errors] == [141006]
    assert not result.up


def test_limit_dropped(graph: Graph) -> None:
    """Healthy, then the drop: the memory holds both drops, from the level they fell from."""
    memory = CloudMemory()
    [before] = poll(graph, Endpoint.PHONE_NUMBER)
    assert before.phone is not None
    memory.observe(before.phone, 1.0)
    graph.switch("limit_dropped")
    [after] = poll(graph, Endpoint.PHONE_NUMBER)
    assert after.phone is not None
    assert (after.phone.messaging_limit, after.phone.throughput_level) == ("TIER_2K", "STANDARD")
    memory.observe(after.phone, 2.0)
    assert {(d.what, d.before, d.after) for d in memory.drops.values()} == {
        ("messaging limit", "TIER_10K", "TIER_2K"),
        ("throughput", "HIGH", "STANDARD"),
    }
    assert cloud_verdict(after.phone).up


# -- the token ----------------------------------------------------------------------------------


def test_token_expiring_within_seven_days(graph: Graph) -> None:
    graph.switch("token_expiring")
    phone, token = poll(graph, Endpoint.PHONE_NUMBER, Endpoint.TOKEN)
    assert phone.ok
    assert token.token is not None
    assert token.token.is_valid is True
    expires = token.token.expires_at
    assert expires is not None
    assert graph.clock.now < expires <= graph.clock.now + 7 * DAY
    assert expires == pytest.approx(graph.clock.now + 3 * DAY)


def test_token_expired(graph: Graph) -> None:
    """190/463 on the number's node; debug_token with the app token says why, as data."""
    redactor = Redactor()
    graph.switch("token_expired")

    async def run() -> list[Observation]:
        target = cloud_target(graph, app_token=APP_TOKEN)
        async with GraphClient(target, redactor=redactor) as client:
            return [observe(await client.poll(e)) for e in (Endpoint.PHONE_NUMBER, Endpoint.TOKEN)]

    phone, token = asyncio.run(run())
    assert phone.result.reason == "graph_token"
    assert phone.result.status_code == 401
    error = phone.result.api_error
    assert error is not None
    assert error.code == 190
    assert error.details is not None
    assert "subcode 463" in error.details
    assert "fbtrace_id A" in error.details
    assert "expired" in phone.result.detail
    assert token.token is not None
    assert token.token.is_valid is False
    assert token.token.error is not None
    assert token.token.error.subcode == 463
    for text in (phone.result.detail, repr(phone.result), repr(token)):
        assert TOKEN not in text
        assert APP_SECRET not in text


def test_token_expired_without_an_app_token_fails_the_token_poll(graph: Graph) -> None:
    """The token cannot inspect itself once expired: the token poll says graph_token too."""
    graph.switch("token_expired")
    [token] = poll(graph, Endpoint.TOKEN)
    assert token.result.reason == "graph_token"


def test_a_wrong_token_is_graph_token_467(graph: Graph) -> None:
    [phone] = poll(graph, Endpoint.PHONE_NUMBER, access_token="EAAnot-the-right-token-0123")
    assert phone.result.reason == "graph_token"
    assert phone.result.api_error is not None
    assert "subcode 467" in (phone.result.api_error.details or "")


def test_an_unknown_number_is_a_client_error(graph: Graph) -> None:
    [phone] = poll(graph, Endpoint.PHONE_NUMBER, phone_number_id="999999999")
    assert phone.result.reason == "graph_error"
    assert phone.result.api_error is not None
    assert phone.result.api_error.code == 100


# -- the path to Graph --------------------------------------------------------------------------


def test_transient_503(graph: Graph) -> None:
    graph.switch("transient_503")
    phone, waba, token = poll(graph, Endpoint.PHONE_NUMBER, Endpoint.WABA, Endpoint.TOKEN)
    for observation in (phone, waba, token):
        assert observation.result.reason == "graph_transient"
        assert observation.result.status_code == 503
        assert observation.result.api_error is not None
        assert observation.result.api_error.code == 2


def test_html_proxy(graph: Graph) -> None:
    """A proxy's HTML 502: not Graph's error; the detail says no API error came."""
    graph.switch("html_proxy")
    [phone] = poll(graph, Endpoint.PHONE_NUMBER)
    assert phone.result.reason == "http_5xx"
    assert phone.result.status_code == 502
    assert phone.result.api_error is None
    assert phone.result.usage == ()
    assert "no API error in the answer" in phone.result.detail


def test_nothing_listening_is_connect(graph: Graph) -> None:
    [phone] = poll(graph, Endpoint.PHONE_NUMBER, url="http://127.0.0.1:9")
    assert phone.result.reason == "connect"


# -- the budget ---------------------------------------------------------------------------------


def test_throttling_usage_climbs_then_graph_throttled(graph: Graph) -> None:
    """Poll by poll the usage climbs to 100 %; the pace slows from 80 %; then 80008 with the
    time to regain access, which holds the polls off for the hour."""
    graph.switch("throttling")
    observations = poll(graph, *([Endpoint.PHONE_NUMBER] * 11))
    *allowed, refused = observations
    assert all(o.ok for o in allowed)
    percents = [worst_percent(o.result.usage) for o in allowed]
    assert percents == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    interval = 300.0
    waits = [usage_wait(o.result.usage, interval) for o in allowed]
    # At 100 % three intervals more; the regain time counts once Graph throttles.
    assert waits == [0.0] * 7 + [interval, interval, 3 * interval]
    assert allowed[-1].result.usage[0].regain_minutes == 60

    assert refused.result.reason == "graph_throttled"
    assert refused.result.status_code == 429
    assert refused.result.api_error is not None
    assert refused.result.api_error.code == 80008
    [usage] = refused.result.usage
    assert usage.call_count == 100
    assert usage.regain_minutes == 60
    assert usage_wait(refused.result.usage, interval, throttled=True) == 3600 - interval
    assert graph.calls() == 10  # the refused call is not counted

    graph.clock.advance(3_600)
    [again] = poll(graph, Endpoint.PHONE_NUMBER)
    assert again.ok
    assert worst_percent(again.result.usage) == 10
