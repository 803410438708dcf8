"""A Cloud target in the state: only its own endpoints, each answer on the timeline as its
verdict, the verdict on fresh answers, the memory of drops and usage, throttling counted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.cloud_support import NUMBER, cloud_target
from tests.unit.test_state import NOW, Clock
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph_usage import parse_usage_header
from watchdog.api.results import Observation, PollResult, observe
from watchdog.simulator.graph import GraphConfig, GraphDeployment
from watchdog.simulator.graph_scenarios import GraphScenario
from watchdog.state import State

SHOP = cloud_target("shop")
FIELDS = None  # every field the simulator knows


def phone_body(scenario: GraphScenario) -> Any:
    deployment = GraphDeployment(GraphConfig(scenario=scenario))
    body = deployment.phone_number(NUMBER, list(PHONE_FIELDS))
    assert isinstance(body, dict)
    return body


PHONE_FIELDS = (
    "id", "display_phone_number", "verified_name", "status", "quality_rating",
    "whatsapp_business_manager_messaging_limit", "throughput", "platform_type", "health_status",
)  # fmt: skip


def answer(
    body: Any, endpoint: Endpoint = Endpoint.PHONE_NUMBER, *, at: float = NOW, usage: str = ""
) -> Observation:
    result = PollResult("shop", endpoint, at, 0.2, 200, None, "HTTP 200", body=body)
    return observe(replace(result, usage=parse_usage_header(usage or None)))


def failure(reason: str, status: int | None, *, at: float = NOW, usage: str = "") -> Observation:
    result = PollResult("shop", Endpoint.PHONE_NUMBER, at, 0.2, status, reason, "failed")
    return observe(replace(result, usage=parse_usage_header(usage or None)))


def test_a_cloud_target_has_only_its_own_endpoints() -> None:
    state = State(
        [
            SHOP,
            cloud_target("nowaba", waba=False),
        ]
    )
    assert set(state.endpoints("shop")) == {Endpoint.PHONE_NUMBER, Endpoint.WABA, Endpoint.TOKEN}
    assert set(state.endpoints("nowaba")) == {Endpoint.PHONE_NUMBER, Endpoint.TOKEN}
    shop = state.get("shop", Endpoint.PHONE_NUMBER)
    assert shop is not None
    assert shop.interval == 300.0


@pytest.mark.parametrize(
    ("scenario", "mark"),
    [
        (GraphScenario.HEALTHY, ("ok", "ok")),
        (GraphScenario.BLOCKED, ("cannot send", "critical")),
        (GraphScenario.DISCONNECTED, ("cannot send", "critical")),
        (GraphScenario.LIMITED, ("degraded", "warning")),
        (GraphScenario.QUALITY_RED, ("degraded", "warning")),
        (GraphScenario.CALLING_BLOCKED, ("ok", "ok")),
    ],
)
def test_each_answer_is_on_the_timeline_as_its_verdict(
    scenario: GraphScenario, mark: tuple[str, str]
) -> None:
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(scenario)))
    endpoint = state.get("shop", Endpoint.PHONE_NUMBER)
    assert endpoint is not None
    columns = endpoint.timeline.since(0)
    assert (columns.result[0], columns.mark[0]) == mark


def test_the_verdict_reads_fresh_answers_only() -> None:
    clock = Clock()
    state = State([SHOP], clock=clock)
    assert state.cloud("shop") is None
    state.record(answer(phone_body(GraphScenario.BLOCKED)))
    verdict = state.cloud("shop")
    assert verdict is not None
    assert not verdict.up
    clock.now += 3 * 300 + 1  # three intervals without an answer: stale
    assert state.cloud("shop") is None


def test_the_wabas_answer_joins_the_verdict() -> None:
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(GraphScenario.HEALTHY)))
    deployment = GraphDeployment(GraphConfig(scenario=GraphScenario.WABA_BLOCKED))
    state.record(answer(deployment.waba(["health_status"]), Endpoint.WABA, at=NOW + 60))
    verdict = state.cloud("shop", NOW + 60)
    assert verdict is not None
    assert not verdict.up
    assert verdict.summary == "cannot send messages: WABA 102290129340398"


def test_drops_and_usage_are_remembered() -> None:
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(GraphScenario.HEALTHY)))
    state.record(
        answer(
            phone_body(GraphScenario.LIMIT_DROPPED),
            at=NOW + 300,
            usage='{"1": [{"call_count": 85}]}',
        )
    )
    memory = state.cloud_memory("shop")
    assert memory is not None
    assert set(memory.drops) >= {"messaging limit"}
    assert memory.usage_at == NOW + 300
    # A throttled failure still carries the header and counts as throttled.
    state.record(
        failure(
            "graph_throttled",
            400,
            at=NOW + 600,
            usage='{"1": [{"call_count": 100, "estimated_time_to_regain_access": 5}]}',
        )
    )
    assert memory.usage[0].regain_minutes == 5
    endpoint = state.get("shop", Endpoint.PHONE_NUMBER)
    assert endpoint is not None
    assert endpoint.consecutive_throttled == 1


def test_a_removed_target_forgets_its_memory() -> None:
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(GraphScenario.HEALTHY)))
    assert state.cloud_memory("shop") is not None
    state.set_targets([])
    assert state.cloud_memory("shop") is None


def test_throttled_is_a_warning_mark_left_out_of_uptime() -> None:
    """Like a 429: Meta's throttling says nothing of whether the number works."""
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(GraphScenario.HEALTHY)))
    state.record(failure("graph_throttled", 400, at=NOW + 300))
    endpoint = state.get("shop", Endpoint.PHONE_NUMBER)
    assert endpoint is not None
    assert endpoint.timeline.since(0).mark == ["ok", "warning"]
    assert endpoint.timeline.uptime(NOW + 300, 3600) == 100.0


@pytest.mark.parametrize(
    ("reason", "status", "backs_off"),
    [
        ("graph_throttled", 400, True),  # 80007/80008 come as 400
        ("graph_throttled", 429, True),
        ("graph_transient", 503, False),  # Meta: retry; three in a row page
        ("http_503", 503, False),  # a proxy's page in front of Graph
        ("graph_transient", 500, False),
    ],
)
def test_a_cloud_number_backs_off_on_graphs_throttling_only(
    reason: str, status: int, backs_off: bool
) -> None:
    """Graph says "slow down" with its throttling codes; its 503 is no such request, and a
    backoff would stretch the three failures that page over half an hour."""
    state = State([SHOP], clock=Clock())
    for i in range(2):
        state.record(failure(reason, status, at=NOW + 300 * i))
    endpoint = state.get("shop", Endpoint.PHONE_NUMBER)
    assert endpoint is not None
    assert endpoint.consecutive_throttled == (2 if backs_off else 0)


def test_a_pace_meta_asked_for_keeps_the_last_answer_fresh_and_graph_live() -> None:
    """Polls held back on purpose (`paced_seconds`, set by the scheduler from Meta's usage or
    throttling) are no missed polls: the last answer stays fresh, and Graph counts as having
    answered recently, that much longer."""
    state = State([SHOP], clock=Clock())
    state.record(answer(phone_body(GraphScenario.HEALTHY)))
    endpoint = state.get("shop", Endpoint.PHONE_NUMBER)
    assert endpoint is not None
    later = NOW + 3 * endpoint.interval + 60
    assert (endpoint.fresh_success(later), endpoint.answered_recently(later)) == (None, False)
    endpoint.paced_seconds = 3600.0
    assert endpoint.fresh_success(later) is endpoint.last_success
    assert endpoint.answered_recently(later)
