"""Graph answers about a phone number and a token: Meta's shapes, deprecated and odd fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from watchdog.api.graph import (
    CLOUD_API,
    CONNECTED,
    LIMITS,
    PHONE_NUMBER_FIELDS,
    PhoneNumber,
    TokenInfo,
    limit_rank,
    parse_debug_token,
    parse_phone_number,
    throughput_rank,
)
from watchdog.api.graph_errors import GraphError
from watchdog.api.payloads import PayloadError


def roundtrip(body: Any) -> Any:
    """The body as a JSON decoder hands it over."""
    return json.loads(json.dumps(body))


HEALTHY = {
    "can_send_message": "AVAILABLE",
    "entities": [{"entity_type": "PHONE_NUMBER", "id": "1", "can_send_message": "AVAILABLE"}],
}
# Reference §2's illustrative answer (assembled from [ABOUT] [ML] [PN]), with every field asked.
NUMBER = {
    "display_phone_number": "15550783881",
    "verified_name": "Jasper's Market",
    "status": "CONNECTED",
    "quality_rating": "GREEN",
    "whatsapp_business_manager_messaging_limit": "TIER_2K",
    "throughput": {"level": "STANDARD"},
    "name_status": "APPROVED",
    "code_verification_status": "VERIFIED",
    "platform_type": "CLOUD_API",
    "is_official_business_account": False,
    "last_onboarded_time": "2025-11-04T09:12:33+0000",
    "health_status": HEALTHY,
    "id": "106540352242922",
}


def number(**changes: Any) -> PhoneNumber:
    body = {k: v for k, v in {**NUMBER, **changes}.items() if v is not ...}
    return parse_phone_number(roundtrip(body))


def test_the_fields_asked_are_the_reference_ones() -> None:
    """The one call per number asks §2's fields, health status included."""
    assert PHONE_NUMBER_FIELDS.split(",") == [
        "display_phone_number", "verified_name", "status", "quality_rating",
        "whatsapp_business_manager_messaging_limit", "throughput", "name_status",
        "code_verification_status", "platform_type", "is_official_business_account",
        "last_onboarded_time", "health_status",
    ]  # fmt: skip


def test_illustrative_answer() -> None:
    """§2's answer: every field read, the limit from its current name, throughput's level."""
    parsed = number()
    assert parsed == PhoneNumber(
        id="106540352242922",
        display_phone_number="15550783881",
        verified_name="Jasper's Market",
        status=CONNECTED,
        quality_rating="GREEN",
        messaging_limit="TIER_2K",
        throughput_level="STANDARD",
        name_status="APPROVED",
        code_verification_status="VERIFIED",
        platform_type=CLOUD_API,
        is_official_business_account=False,
        last_onboarded_time="2025-11-04T09:12:33+0000",
        health=parsed.health,
    )
    assert parsed.health is not None
    assert parsed.health.messaging == "AVAILABLE"


def test_default_fields_only() -> None:
    """Without `fields` Graph answers id, number, name and quality [PNAPI]: the rest is None."""
    parsed = parse_phone_number(
        {
            "id": "1",
            "display_phone_number": "+1 555-0100",
            "verified_name": "X",
            "quality_rating": "NA",
        }
    )
    assert (parsed.quality_rating, parsed.status, parsed.messaging_limit, parsed.health) == (
        "NA", None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("current", "deprecated", "expected"),
    [
        (..., "TIER_1K", "TIER_1K"),  # only the old field: read it
        (None, "TIER_10K", "TIER_10K"),  # the new one null: read the old one
        ("TIER_2K", None, "TIER_2K"),  # the old one null, as it is now [PYWA #221]
        ("TIER_2K", "TIER_1K", "TIER_2K"),  # both: the current one wins
        ("tier_100k", ..., "TIER_100K"),
        (..., ..., None),
    ],
)
def test_messaging_limit_prefers_the_current_field(
    current: Any, deprecated: Any, expected: str | None
) -> None:
    """`messaging_limit_tier` is deprecated: read only when its successor is missing or null."""
    parsed = number(
        whatsapp_business_manager_messaging_limit=current, messaging_limit_tier=deprecated
    )
    assert parsed.messaging_limit == expected


def test_unknown_enum_values_are_kept() -> None:
    """Values Meta has not documented stay as upper-case text, clipped; never an error."""
    parsed = number(
        status="suspended_for_review",
        quality_rating="Purple",
        whatsapp_business_manager_messaging_limit="TIER_1M",
        throughput={"level": "x" * 500},
        code_verification_status="NOT_VERIFIED",
        platform_type="on_premise",
    )
    assert parsed.status == "SUSPENDED_FOR_REVIEW"
    assert parsed.quality_rating == "PURPLE"
    assert parsed.messaging_limit == "TIER_1M"
    assert parsed.throughput_level == "X" * 64
    assert parsed.code_verification_status == "NOT_VERIFIED"
    assert parsed.platform_type == "ON_PREMISE"
    assert limit_rank(parsed.messaging_limit) is None


def test_host_platform_when_platform_type_is_missing() -> None:
    """[PNM] calls it `host_platform` (UNCONFIRMED): read when `platform_type` is absent."""
    assert number(platform_type=..., host_platform="ON_PREMISE").platform_type == "ON_PREMISE"
    assert number(host_platform="ON_PREMISE").platform_type == "CLOUD_API"


def test_wrong_types_become_none() -> None:
    """A field of the wrong type is unknown, not fatal; a bad health status leaves health None."""
    parsed = number(
        status=3,
        quality_rating=["GREEN"],
        throughput="STANDARD",
        is_official_business_account="yes",
        health_status={"entities": "x"},
        display_phone_number={"n": 1},
    )
    assert (parsed.status, parsed.quality_rating, parsed.throughput_level) == (None, None, None)
    assert (parsed.is_official_business_account, parsed.health, parsed.display_phone_number) == (
        None, None, None,
    )  # fmt: skip
    assert parsed.id == "106540352242922"


@pytest.mark.parametrize(
    ("given", "read"), [("false", False), (" FALSE ", False), ("true", True), ("no", None)]
)
def test_debug_token_is_valid_as_text(given: str, read: bool | None) -> None:
    """A boolean given as text is read as the boolean; other text stays unknown."""
    info = parse_debug_token({"data": {"is_valid": given, "type": "SYSTEM_USER"}})
    assert info.is_valid is read


@pytest.mark.parametrize(
    "body",
    [
        None,
        [NUMBER],
        "<html>502 Bad Gateway</html>",
        {},
        {"id": None, "status": 7},
        {"data": []},
        {"error": {"message": "Unsupported get request.", "code": 100, "error_subcode": 33}},
    ],
)
def test_unusable_number_answers(body: Any) -> None:
    """Not an object, or an object without an id or one usable known field: PayloadError."""
    with pytest.raises(PayloadError):
        parse_phone_number(body)


def test_error_envelope_is_named_in_the_reason() -> None:
    """The PayloadError for an error envelope says so, with the code."""
    with pytest.raises(PayloadError, match="code 190"):
        parse_phone_number({"error": {"message": "Invalid OAuth access token.", "code": 190}})


def test_id_alone_is_enough() -> None:
    """An answer with only an id (numeric or not) parses."""
    assert parse_phone_number({"id": 106540352242922}).id == "106540352242922"


def test_limit_ranks() -> None:
    """Limits rank lowest to highest, the old TIER_1K between 250 and 2K; unset or unknown: None."""
    order = ["TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"]
    assert list(LIMITS) == order
    ranks = [limit_rank(tier) for tier in order]
    known = [rank for rank in ranks if rank is not None]
    assert known == ranks
    assert known == sorted(set(known))
    assert limit_rank("TIER_2K") < limit_rank("TIER_10K")  # type: ignore[operator]
    assert limit_rank("tier_2k") == limit_rank("TIER_2K")
    for value in ("TIER_NOT_SET", "TIER_1M", "", None):
        assert limit_rank(value) is None


def test_throughput_ranks() -> None:
    """STANDARD < HIGH; NOT_APPLICABLE and unknown levels have no rank."""
    assert throughput_rank("STANDARD") < throughput_rank("HIGH")  # type: ignore[operator]
    for value in ("NOT_APPLICABLE", "LOW", None):
        assert throughput_rank(value) is None


# -- debug_token ----------------------------------------------------------------------------------

SYSTEM_USER_TOKEN = {
    "data": {
        "app_id": "138483919580948",
        "type": "SYSTEM_USER",
        "application": "WhatsApp Watchdog",
        "data_access_expires_at": 1_793_000_000,
        "expires_at": 0,
        "is_valid": True,
        "issued_at": 1_761_000_000,
        "scopes": [
            "business_management",
            "whatsapp_business_management",
            "whatsapp_business_messaging",
        ],
        "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": ["1"]}],
        "user_id": "122099",
    }
}


def test_debug_token_system_user() -> None:
    """[PERM]'s SYSTEM_USER shape: `expires_at` 0 means never, hence None; scopes kept."""
    assert parse_debug_token(roundtrip(SYSTEM_USER_TOKEN)) == TokenInfo(
        is_valid=True,
        expires_at=None,
        data_access_expires_at=1_793_000_000.0,
        type="SYSTEM_USER",
        app_id="138483919580948",
        scopes=(
            "business_management",
            "whatsapp_business_management",
            "whatsapp_business_messaging",
        ),
    )


def test_debug_token_expiring_user_token() -> None:
    """A user token that expires: its time is kept."""
    body = {"data": {"is_valid": True, "type": "USER", "expires_at": 1_767_225_600, "scopes": []}}
    info = parse_debug_token(body)
    assert (info.expires_at, info.type, info.scopes) == (1_767_225_600.0, "USER", ())


def test_debug_token_invalid_token_says_why() -> None:
    """An expired token: `is_valid` false, with Graph's error (its subcode named `subcode`)."""
    body = {
        "data": {
            "app_id": "138483919580948",
            "is_valid": False,
            "expires_at": 1_700_000_000,
            "scopes": [],
            "error": {
                "code": 190,
                "message": "Error validating access token: Session has expired.",
                "subcode": 463,
            },
        }
    }
    info = parse_debug_token(body)
    assert info.is_valid is False
    assert info.error == GraphError(
        190, 463, None, "Error validating access token: Session has expired.", None, None
    )


def test_debug_token_odd_values() -> None:
    """Negative or junk times are unknown; junk scopes dropped, the list bounded."""
    body = {
        "data": {
            "is_valid": "yes",
            "app_id": 138483919580948,
            "expires_at": -1,
            "data_access_expires_at": "soon",
            "scopes": ["a", 3, None, "b\nc", *(["s"] * 500)],
        }
    }
    info = parse_debug_token(body)
    assert (info.is_valid, info.app_id, info.expires_at, info.data_access_expires_at) == (
        None, "138483919580948", None, None,
    )  # fmt: skip
    assert info.scopes[:3] == ("a", "b c", "s")
    assert len(info.scopes) <= 64


@pytest.mark.parametrize(
    "body",
    [
        None,
        "ok",
        {},
        {"data": None},
        {"data": [SYSTEM_USER_TOKEN["data"]]},
        {"data": {}},
        {"data": {"scopes": ["x"], "expires_at": 0}},
        {
            "error": {
                "message": "Invalid OAuth access token.",
                "type": "OAuthException",
                "code": 190,
            }
        },
    ],
)
def test_debug_token_unusable(body: Any) -> None:
    """An error envelope, or an answer without a usable `data` object: PayloadError."""
    with pytest.raises(PayloadError):
        parse_debug_token(body)
