"""The health status of a Graph node: Meta's examples, the calling-only BLOCKED, odd values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from watchdog.api.graph import parse_waba
from watchdog.api.graph_health import (
    MAX_ENTITIES,
    Entity,
    EntityError,
    HealthStatus,
    parse_health_status,
)
from watchdog.api.payloads import PayloadError


def roundtrip(body: Any) -> Any:
    """The body as a JSON decoder hands it over."""
    return json.loads(json.dumps(body))


# Reference §1: a phone number whose display name is not approved yet.
LIMITED_NUMBER = {
    "health_status": {
        "can_send_message": "LIMITED",
        "entities": [
            {
                "entity_type": "PHONE_NUMBER",
                "id": "106540352242922",
                "can_send_message": "LIMITED",
                "can_receive_call_sip": "AVAILABLE",
                "additional_info": [
                    "Your display name has not been approved yet. Your message limit will be "
                    "increased after the display name is approved."
                ],
            },
            {"entity_type": "WABA", "id": "102290129340398", "can_send_message": "AVAILABLE"},
            {"entity_type": "BUSINESS", "id": "506914307656634", "can_send_message": "AVAILABLE"},
            {
                "entity_type": "APP",
                "id": "334536639128826",
                "can_send_message": "AVAILABLE",
                "can_receive_call_sip": "AVAILABLE",
            },
        ],
    },
    "id": "106540352242922",
}

# Reference §1: Meta's SIP example. Calling is not set up (138024/138025), so Meta's overall value
# says BLOCKED although every entity can send messages.
SIP_NOT_SET_UP = {
    "can_send_message": "BLOCKED",
    "entities": [
        {
            "entity_type": "PHONE_NUMBER",
            "id": "106540352242922",
            "can_send_message": "AVAILABLE",
            "can_receive_call_sip": "BLOCKED",
            "errors": [
                {
                    "error_code": 138024,
                    "error_description": "SIP is not enabled for this phone number.",
                    "possible_solution": "Enable SIP in the phone number's call settings.",
                }
            ],
        },
        {"entity_type": "WABA", "id": "102290129340398", "can_send_message": "AVAILABLE"},
        {"entity_type": "BUSINESS", "id": "506914307656634", "can_send_message": "AVAILABLE"},
        {
            "entity_type": "APP",
            "id": "334536639128826",
            "can_send_message": "AVAILABLE",
            "can_receive_call_sip": "BLOCKED",
            "errors": [
                {
                    "error_code": 138025,
                    "error_description": "The app has no SIP server configured.",
                    "possible_solution": "Configure a SIP server for the app.",
                }
            ],
        },
    ],
}

# Reference §1: a WABA blocked for its payment method (141006 [PYWA tests]).
BLOCKED_WABA = {
    "health_status": {
        "can_send_message": "BLOCKED",
        "entities": [
            {
                "entity_type": "WABA",
                "id": "102290129340398",
                "can_send_message": "BLOCKED",
                "errors": [
                    {
                        "error_code": 141006,
                        "error_description": "There is an error with the payment method.",
                        "possible_solution": "Add a valid payment method to the account.",
                    }
                ],
            },
            {"entity_type": "BUSINESS", "id": "506914307656634", "can_send_message": "AVAILABLE"},
            {"entity_type": "APP", "id": "334536639128826", "can_send_message": "AVAILABLE"},
        ],
    },
    "id": "102290129340398",
}


def test_limited_number_keeps_the_reason() -> None:
    """§1's example: messaging LIMITED, the phone number named with Meta's sentence."""
    health = parse_health_status(roundtrip(LIMITED_NUMBER)["health_status"])
    assert (health.overall, health.messaging, health.calling) == ("LIMITED", "LIMITED", "AVAILABLE")
    assert [(e.entity_type, e.can_send_message) for e in health.entities] == [
        ("PHONE_NUMBER", "LIMITED"),
        ("WABA", "AVAILABLE"),
        ("BUSINESS", "AVAILABLE"),
        ("APP", "AVAILABLE"),
    ]
    [limited] = health.limited()
    assert limited.id == "106540352242922"
    assert limited.additional_info[0].startswith("Your display name has not been approved yet.")
    assert health.blocked() == ()


def test_calling_only_blocked_is_not_messaging_blocked() -> None:
    """Meta's SIP example: overall BLOCKED, every entity can send; messaging reads AVAILABLE."""
    health = parse_health_status(roundtrip(SIP_NOT_SET_UP))
    assert health.overall == "BLOCKED"
    assert health.messaging == "AVAILABLE"
    assert health.blocked() == ()
    assert health.limited() == ()
    # Calling is blocked, and a caller can show why, entity by entity.
    assert health.calling == "BLOCKED"
    sip = [
        (e.entity_type, e.can_receive_call_sip, e.errors[0].code)
        for e in health.entities
        if e.errors
    ]
    assert sip == [("PHONE_NUMBER", "BLOCKED", 138024), ("APP", "BLOCKED", 138025)]


def test_blocked_waba_names_its_errors() -> None:
    """A WABA blocked by its payment method: BLOCKED, with the code and Meta's advice."""
    health = parse_waba(roundtrip(BLOCKED_WABA))
    assert health.messaging == "BLOCKED"
    [blocked] = health.blocked()
    assert (blocked.entity_type, blocked.id) == ("WABA", "102290129340398")
    assert blocked.errors == (
        EntityError(
            141006,
            "There is an error with the payment method.",
            "Add a valid payment method to the account.",
        ),
    )


@pytest.mark.parametrize(
    ("values", "messaging"),
    [
        (["AVAILABLE", "LIMITED", "AVAILABLE"], "LIMITED"),
        (["LIMITED", "BLOCKED", "AVAILABLE"], "BLOCKED"),
        (["BLOCKED", "LIMITED"], "BLOCKED"),
        (["AVAILABLE", "AVAILABLE"], "AVAILABLE"),
        (["AVAILABLE", None], "AVAILABLE"),  # an entity that says nothing does not count
        (["AVAILABLE", "paused"], "PAUSED"),  # undocumented: shown as itself, not AVAILABLE
        (["PAUSED", "LIMITED"], "LIMITED"),
    ],
)
def test_messaging_is_the_worst_entity(values: list[str | None], messaging: str) -> None:
    """The verdict is the worst `can_send_message` of the entities, whatever Meta's overall."""
    entities = [{"entity_type": "WABA", "can_send_message": v} for v in values]
    health = parse_health_status({"can_send_message": "AVAILABLE", "entities": entities})
    assert health.messaging == messaging


@pytest.mark.parametrize(
    "entities", [None, [], "x", [1, "y"], [{"can_receive_call_sip": "AVAILABLE"}]]
)
def test_without_entity_verdicts_overall_decides(entities: Any) -> None:
    """With no entity stating `can_send_message`, Meta's overall value is the verdict."""
    health = parse_health_status({"can_send_message": "limited", "entities": entities})
    assert health.messaging == "LIMITED"


@pytest.mark.parametrize(
    ("overall", "calling", "messaging"),
    [
        # Calling alone may explain the overall value: whether messages go out is not known.
        ("BLOCKED", "BLOCKED", "UNKNOWN"),
        ("LIMITED", "LIMITED", "UNKNOWN"),
        ("LIMITED", "BLOCKED", "UNKNOWN"),
        # Worse than calling: messaging is what makes it so.
        ("BLOCKED", "LIMITED", "BLOCKED"),
        ("BLOCKED", "AVAILABLE", "BLOCKED"),
        ("AVAILABLE", "BLOCKED", "AVAILABLE"),
    ],
)
def test_an_overall_value_calling_may_explain_is_no_messaging_verdict(
    overall: str, calling: str, messaging: str
) -> None:
    """Meta's overall `can_send_message` covers calling too (reference §1): with entities that
    state only `can_receive_call_sip`, a BLOCKED overall may be calling's alone."""
    health = parse_health_status(
        {
            "can_send_message": overall,
            "entities": [{"entity_type": "PHONE_NUMBER", "can_receive_call_sip": calling}],
        }
    )
    assert health.messaging == messaging


@pytest.mark.parametrize(
    "value",
    [None, [], "BLOCKED", {}, {"entities": []}, {"can_send_message": 3}, {"entities": [{}]}],
)
def test_no_verdict_is_a_payload_error(value: Any) -> None:
    """Without any `can_send_message` (top or entities) the status is unusable."""
    with pytest.raises(PayloadError):
        parse_health_status(value)


def test_odd_entity_fields_are_kept_or_dropped() -> None:
    """Lower-case values are upper-cased, ids as numbers kept, junk sentences and errors dropped;
    a single string of additional_info is one sentence."""
    health = parse_health_status(
        {
            "entities": [
                {
                    "entity_type": "phone_number",
                    "id": 106540352242922,
                    "can_send_message": " blocked ",
                    "additional_info": "Line one\nline two",
                    "errors": [
                        {"error_code": "141010", "error_description": "Business not verified"},
                        {},
                        "junk",
                        {"error_code": -5},
                    ],
                }
            ]
        }
    )
    assert health.entities == (
        Entity(
            entity_type="PHONE_NUMBER",
            id="106540352242922",
            can_send_message="BLOCKED",
            additional_info=("Line one line two",),
            errors=(EntityError(141010, "Business not verified", None),),
        ),
    )


def test_bounds() -> None:
    """Entity count, sentences and error lists are bounded; a blocked entity past the bound still
    decides the verdict."""
    long_text = "x" * 10_000
    entity = {
        "entity_type": "A" * 1000,
        "id": "9" * 1000,
        "can_send_message": "AVAILABLE",
        "additional_info": [long_text] * 100,
        "errors": [{"error_code": 1, "error_description": long_text}] * 100,
    }
    entities = [entity] * 100 + [{"entity_type": "APP", "can_send_message": "BLOCKED"}]
    health = parse_health_status({"entities": entities})
    assert len(health.entities) == MAX_ENTITIES
    assert health.messaging == "BLOCKED"
    first = health.entities[0]
    assert len(first.entity_type or "") <= 64
    assert len(first.id or "") <= 64
    assert 0 < len(first.additional_info) <= 8
    assert all(len(line) <= 300 for line in first.additional_info)
    assert 0 < len(first.errors) <= 8
    assert all(len(e.description or "") <= 300 for e in first.errors)


@pytest.mark.parametrize(
    "body", [None, [], {}, {"health_status": None}, {"error": {"code": 100, "message": "x"}}]
)
def test_waba_unusable(body: Any) -> None:
    """A WABA answer without a usable `health_status` (an error envelope included) fails."""
    with pytest.raises(PayloadError):
        parse_waba(body)


def test_waba_healthy() -> None:
    """A WABA whose entities are all available."""
    body = {
        "health_status": {
            "can_send_message": "AVAILABLE",
            "entities": [{"entity_type": "WABA", "id": "1", "can_send_message": "AVAILABLE"}],
        },
        "id": "1",
    }
    assert parse_waba(body) == HealthStatus(
        overall="AVAILABLE",
        messaging="AVAILABLE",
        entities=(Entity("WABA", "1", "AVAILABLE"),),
    )
