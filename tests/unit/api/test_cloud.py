"""The Cloud verdict and memory: what a number's answers mean, and what the watchdog remembers
between them (a limit that went down, the usage header)."""

from __future__ import annotations

from typing import Any

from watchdog.api.cloud import CloudMemory, Drop, cloud_verdict
from watchdog.api.graph import parse_phone_number, parse_waba
from watchdog.api.graph_usage import parse_usage_header


def entity(kind: str, ident: str, can_send: str, **extra: Any) -> dict[str, Any]:
    return {"entity_type": kind, "id": ident, "can_send_message": can_send, **extra}


def number(*entities: dict[str, Any], **fields: Any) -> Any:
    body = {
        "id": "106540352242922",
        "status": "CONNECTED",
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "whatsapp_business_manager_messaging_limit": "TIER_10K",
        "throughput": {"level": "HIGH"},
        "health_status": {
            "can_send_message": "AVAILABLE",
            "entities": list(entities) or [entity("PHONE_NUMBER", "1", "AVAILABLE")],
        },
    }
    body.update(fields)
    return parse_phone_number(body)


def test_a_healthy_number_is_up_and_says_so() -> None:
    verdict = cloud_verdict(number())
    assert (verdict.up, verdict.degraded, verdict.problems) == (True, False, ())
    assert verdict.summary == "CONNECTED, can send messages, quality GREEN, TIER_10K"


def test_a_blocked_entity_is_critical_and_named() -> None:
    verdict = cloud_verdict(
        number(entity("PHONE_NUMBER", "1", "AVAILABLE"), entity("BUSINESS", "77", "BLOCKED"))
    )
    assert not verdict.up
    assert verdict.summary == "cannot send messages: BUSINESS 77"


def test_calling_only_blocked_is_not_a_messaging_problem() -> None:
    """Meta's SIP example: overall BLOCKED while every entity can send messages."""
    verdict = cloud_verdict(
        number(
            entity("PHONE_NUMBER", "1", "AVAILABLE", can_receive_call_sip="BLOCKED"),
            health_status={
                "can_send_message": "BLOCKED",
                "entities": [
                    entity("PHONE_NUMBER", "1", "AVAILABLE", can_receive_call_sip="BLOCKED")
                ],
            },
        )
    )
    assert (verdict.up, verdict.degraded) == (True, False)


def test_a_blocked_overall_calling_may_explain_is_unknown_not_critical() -> None:
    """No entity states `can_send_message`, one states calling BLOCKED, Meta's overall value is
    BLOCKED: calling alone may explain it, so the number is not called unable to send (the
    alert rule does not page on it either); whether it can is unknown, a warning."""
    verdict = cloud_verdict(
        number(
            health_status={
                "can_send_message": "BLOCKED",
                "entities": [
                    {"entity_type": "PHONE_NUMBER", "id": "1", "can_receive_call_sip": "BLOCKED"}
                ],
            },
        )
    )
    assert (verdict.up, verdict.degraded) == (True, True)
    assert verdict.summary == "messaging UNKNOWN: PHONE_NUMBER 106540352242922"


def test_an_answer_without_health_status_does_not_say_can_send() -> None:
    """The number's fields came, its health_status did not (or not usable): nothing says it can
    send messages, so neither does the verdict."""
    health: Any
    for health in (None, "garbage", {"entities": []}):
        verdict = cloud_verdict(number(health_status=health))
        assert (verdict.up, verdict.degraded) == (True, True)
        assert "can send messages" not in verdict.summary
        assert verdict.summary == "number's health_status missing or unreadable: messaging unknown"


def test_status_and_platform_are_critical_even_when_health_says_available() -> None:
    verdict = cloud_verdict(number(status="DISCONNECTED", platform_type="ON_PREMISE"))
    assert not verdict.up
    assert verdict.problems == (
        "phone number status DISCONNECTED (not CONNECTED)",
        "platform ON_PREMISE (not CLOUD_API)",
    )


def test_unknown_status_or_platform_is_no_verdict_on_them() -> None:
    body_fields: dict[str, Any] = {"status": None, "platform_type": None}
    assert cloud_verdict(number(**body_fields)).up


def test_limited_and_red_quality_warn() -> None:
    verdict = cloud_verdict(number(entity("PHONE_NUMBER", "1", "LIMITED"), quality_rating="RED"))
    assert (verdict.up, verdict.degraded) == (True, True)
    assert verdict.problems == ("messaging limited: PHONE_NUMBER 1", "quality rating RED")


def test_yellow_quality_is_fine() -> None:
    assert not cloud_verdict(number(quality_rating="YELLOW")).degraded


def test_the_wabas_health_counts_too() -> None:
    waba = parse_waba(
        {"health_status": {"can_send_message": "BLOCKED",
                           "entities": [entity("WABA", "9", "BLOCKED")]}}
    )  # fmt: skip
    verdict = cloud_verdict(number(), waba)
    assert not verdict.up
    assert verdict.summary == "cannot send messages: WABA 9"
    assert not cloud_verdict(None, waba).up


def test_a_limit_drop_is_remembered_until_it_climbs_back() -> None:
    memory = CloudMemory()
    memory.observe(number(), 100.0)
    assert memory.drops == {}
    memory.observe(number(whatsapp_business_manager_messaging_limit="TIER_2K"), 200.0)
    assert memory.drops == {"messaging limit": Drop("messaging limit", "TIER_10K", "TIER_2K", 200)}
    # A further drop keeps the level it first fell from.
    memory.observe(number(whatsapp_business_manager_messaging_limit="TIER_250"), 300.0)
    assert memory.drops["messaging limit"].before == "TIER_10K"
    assert memory.drops["messaging limit"].after == "TIER_250"
    # Partway back is still a drop, to where it is now (since the drop's time); all the way
    # back clears it.
    memory.observe(number(whatsapp_business_manager_messaging_limit="TIER_2K"), 400.0)
    assert memory.drops == {"messaging limit": Drop("messaging limit", "TIER_10K", "TIER_2K", 300)}
    memory.observe(number(whatsapp_business_manager_messaging_limit="TIER_10K"), 500.0)
    assert memory.drops == {}


def test_a_throughput_drop_and_unranked_values() -> None:
    memory = CloudMemory()
    memory.observe(number(), 100.0)
    # NOT_APPLICABLE and TIER_NOT_SET have no rank: no verdict, the last known value stays.
    memory.observe(
        number(
            throughput={"level": "NOT_APPLICABLE"},
            whatsapp_business_manager_messaging_limit="TIER_NOT_SET",
        ),
        150.0,
    )
    assert memory.drops == {}
    memory.observe(number(throughput={"level": "STANDARD"}), 200.0)
    assert memory.drops == {"throughput": Drop("throughput", "HIGH", "STANDARD", 200.0)}


def test_a_first_answer_is_no_drop() -> None:
    memory = CloudMemory()
    memory.observe(number(whatsapp_business_manager_messaging_limit="TIER_250"), 100.0)
    assert memory.drops == {}


def test_usage_is_the_latest_header_seen() -> None:
    memory = CloudMemory()
    usage = parse_usage_header('{"1": [{"type": "whatsapp", "call_count": 81}]}')
    memory.observe_usage(usage, 10.0)
    memory.observe_usage((), 20.0)  # an answer without the header keeps the last one
    assert (memory.usage, memory.usage_at) == (usage, 10.0)
