"""`/api/v1/status` for a Cloud API target: its kind, its number, the messaging health of the
number and its WABA in Meta's words, the token, the usage and what went down; an On-Prem
target beside it keeps its document."""

from __future__ import annotations

import json

from tests.unit.cloud_support import (
    BLOCKED,
    BUSINESS,
    CALLING_BLOCKED,
    DISPLAY_NAME_PENDING,
    LIMITED,
    NAME,
    NUMBER,
    PAYMENT,
    SIP,
    T0,
    WABA,
    WABA_BLOCKED,
    cloud_state,
    cloud_target,
    phone,
    polled,
    record,
    record_failed,
    token_body,
    usage_header,
)
from tests.unit.web.status_support import record_ok, target_doc
from watchdog.api.endpoints import Endpoint
from watchdog.base.targets import Target
from watchdog.state import State
from watchdog.web.page import render_page
from watchdog.web.status import status

NOW = T0 + 5


def cloud_of(state: State, now: float = NOW) -> dict[str, object]:
    found: dict[str, object] = target_doc(status(state, now), NAME)["cloud"]
    return found


def test_both_kinds_side_by_side() -> None:
    """A fleet in migration: the On-Prem target's document is as it was, with `kind`; the
    Cloud one has no gateways, topology or queues, and its `cloud` object instead."""
    state = State([Target(name="prod", url="http://prod.test"), cloud_target()], clock=lambda: T0)
    record_ok(state, at=T0)
    record(state, phone(), usage=usage_header(42))
    document = status(state, NOW)
    onprem, cloud = target_doc(document, "prod"), target_doc(document, NAME)
    assert (onprem["kind"], onprem["cloud"]) == ("onprem", None)
    assert onprem["topology"] == "single"
    assert onprem["gateways"] is not None
    assert set(onprem["endpoints"]) == {"health", "metrics", "stats_app"}
    assert cloud["kind"] == "cloud"
    assert (cloud["topology"], cloud["gateways"], cloud["version"], cloud["api_status"]) == (
        None,
        None,
        None,
        None,
    )
    assert (cloud["queues"], cloud["nodes"]) == ([], [])
    assert set(cloud["endpoints"]) == {"phone_number", "waba", "token"}
    # Uptime is the number's: one good answer so far.
    assert cloud["uptime_percent"] == {"1h": 100.0, "24h": 100.0}
    # The WABA and the token not answered yet: nothing to warn about.
    assert (cloud["ready"], cloud["level"], document["level"]) == (True, "ok", "ok")


def test_the_number_as_meta_describes_it() -> None:
    cloud = cloud_of(polled())
    assert cloud["phone_number_id"] == NUMBER
    assert cloud["waba_id"] == WABA
    assert cloud["graph_version"] == "v25.0"
    number = cloud["phone"]
    assert isinstance(number, dict)
    assert {k: number[k] for k in (
        "display_phone_number", "verified_name", "status", "quality_rating",
        "messaging_limit", "throughput_level", "name_status", "platform_type",
        "age_seconds", "fresh",
    )} == {
        "display_phone_number": "15550783881", "verified_name": "Shop EU",
        "status": "CONNECTED", "quality_rating": "GREEN", "messaging_limit": "TIER_10K",
        "throughput_level": "STANDARD", "name_status": "APPROVED",
        "platform_type": "CLOUD_API", "age_seconds": 5.0, "fresh": True,
    }  # fmt: skip
    assert cloud["verdict"] == {
        "up": True,
        "degraded": False,
        "summary": "CONNECTED, can send messages, quality GREEN, TIER_10K",
        "problems": [],
    }


def test_a_blocked_entity_with_metas_error_and_solution() -> None:
    cloud = cloud_of(polled(BLOCKED))
    messaging = cloud["messaging"]
    assert isinstance(messaging, dict)
    assert (messaging["messaging"], messaging["overall"]) == ("BLOCKED", "BLOCKED")
    blocked = [e for e in messaging["entities"] if e["can_send_message"] == "BLOCKED"]
    assert blocked == [
        {
            "entity_type": "WABA",
            "id": WABA,
            "can_send_message": "BLOCKED",
            "can_receive_call_sip": None,
            "additional_info": [],
            "errors": [
                {
                    "code": PAYMENT["error_code"],
                    "description": PAYMENT["error_description"],
                    "possible_solution": PAYMENT["possible_solution"],
                }
            ],
        }
    ]
    assert cloud["verdict"] == {
        "up": False,
        "degraded": False,
        "summary": f"cannot send messages: WABA {WABA}",
        "problems": [f"cannot send messages: WABA {WABA}"],
    }


def test_calling_only_is_told_apart_from_messaging() -> None:
    """Meta's overall value says BLOCKED for a calling problem; the verdict on messages is
    the entities' `can_send_message`, and calling is told on its own."""
    messaging = cloud_of(polled(CALLING_BLOCKED))["messaging"]
    assert isinstance(messaging, dict)
    assert (messaging["messaging"], messaging["overall"], messaging["calling"]) == (
        "AVAILABLE",
        "BLOCKED",
        "BLOCKED",
    )
    number = messaging["entities"][0]
    assert (number["can_send_message"], number["can_receive_call_sip"]) == ("AVAILABLE", "BLOCKED")
    assert number["errors"][0]["code"] == SIP["error_code"]


def test_a_limited_entity_with_its_additional_info_and_the_wabas_health() -> None:
    cloud = cloud_of(polled(LIMITED, waba=WABA_BLOCKED))
    messaging = cloud["messaging"]
    assert isinstance(messaging, dict)
    number = messaging["entities"][0]
    assert (number["entity_type"], number["can_send_message"]) == ("PHONE_NUMBER", "LIMITED")
    assert number["additional_info"] == [DISPLAY_NAME_PENDING]
    waba = cloud["waba"]
    assert isinstance(waba, dict)
    assert (waba["messaging"], waba["fresh"], waba["age_seconds"]) == ("BLOCKED", True, 5.0)
    assert [e["entity_type"] for e in waba["entities"]] == ["WABA", "BUSINESS", "APP"]
    assert waba["entities"][0]["errors"][0]["possible_solution"] == PAYMENT["possible_solution"]


def test_the_token_never_expiring_expiring_or_not_checked() -> None:
    token = cloud_of(polled())["token"]
    assert isinstance(token, dict)
    assert {k: token[k] for k in ("expires_at", "expires_in_seconds", "is_valid", "type")} == {
        "expires_at": None,
        "expires_in_seconds": None,
        "is_valid": True,
        "type": "SYSTEM_USER",
    }
    token = cloud_of(polled(token=token_body(expires_at=int(T0) + 3 * 86400)))["token"]
    assert isinstance(token, dict)
    assert (token["expires_at"], token["expires_in_seconds"]) == (T0 + 3 * 86400, 3 * 86400 - 5)
    state = cloud_state()
    record(state, phone())
    record_failed(state, "graph_permission", 403, Endpoint.TOKEN)
    assert cloud_of(state)["token"] is None
    assert cloud_of(state)["waba"] is None


def test_the_latest_usage_with_the_regain_minutes_and_its_age() -> None:
    """Every answer's header counts, a refused one too: a throttled answer says when access
    comes back."""
    state = polled(usage=usage_header(42))
    record_failed(
        state, "graph_throttled", 429, at=T0 + 3, usage=usage_header(100, regain=12, cputime=7)
    )
    cloud = cloud_of(state)
    assert cloud["usage"] == [
        {
            "business_id": BUSINESS,
            "type": "whatsapp_business_management",
            "call_count": 100.0,
            "total_cputime": 7.0,
            "total_time": 30.0,
            "regain_minutes": 12.0,
        }
    ]
    assert (cloud["usage_at"], cloud["usage_age_seconds"]) == (T0 + 3, 2.0)
    assert cloud_of(cloud_state())["usage"] == []


def test_a_limit_that_went_down_is_listed() -> None:
    state = cloud_state()
    record(state, phone())
    record(state, phone(whatsapp_business_manager_messaging_limit="TIER_2K"), at=T0 + 300)
    cloud = cloud_of(state, T0 + 305)
    assert cloud["drops"] == [
        {
            "what": "messaging limit",
            "before": "TIER_10K",
            "after": "TIER_2K",
            "at": T0 + 300,
            "age_seconds": 5.0,
        }
    ]
    phone_doc = cloud["phone"]
    assert isinstance(phone_doc, dict)
    assert phone_doc["messaging_limit"] == "TIER_2K"


def test_a_stale_answer_is_shown_with_its_age_but_judged_no_more() -> None:
    state = polled()
    later = T0 + 3 * 300 + 1
    cloud = cloud_of(state, later)
    phone_doc = cloud["phone"]
    assert isinstance(phone_doc, dict)
    assert (phone_doc["status"], phone_doc["fresh"], phone_doc["age_seconds"]) == (
        "CONNECTED",
        False,
        later - T0,
    )
    assert cloud["verdict"] is None


def test_no_token_in_the_document_or_the_page() -> None:
    secret = "EAAsecretUnitToken0123456789abcdef"
    state = State([cloud_target(access_token=secret, app_token=f"1|{secret}")], clock=lambda: T0)
    record(state, BLOCKED)
    document = status(state, NOW)
    assert secret not in json.dumps(document)
    assert secret not in render_page(document)
