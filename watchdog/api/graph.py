"""Graph API (WhatsApp Cloud API) answers parsed into typed values: a phone number's fields, a
WhatsApp Business Account's health, an access token's description; and the rank of messaging
limits and throughput levels, to tell when one went down.

Facts and sources: `whatsapp-cloud-api-monitoring.md` (reference §1-§3). As with the
On-Premises parsers (`payloads.py`), the API is not trusted: a parser raises `PayloadError` when
the answer is unusable and otherwise keeps what it can. An enum value Meta has not documented is
kept as text (upper-cased, clipped), never an error: new values appear without warning.
The error envelope and the failure reasons are in `graph_errors.py`, the health status in
`graph_health.py`, the usage header in `graph_usage.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from watchdog.api import graph_fields as field
from watchdog.api.graph_errors import GraphError, read_error
from watchdog.api.graph_health import HealthStatus, parse_health_status
from watchdog.api.payloads import PayloadError

__all__ = [
    "CLOUD_API",
    "CONNECTED",
    "LIMITS",
    "PHONE_NUMBER_FIELDS",
    "THROUGHPUT_LEVELS",
    "PhoneNumber",
    "TokenInfo",
    "limit_rank",
    "parse_debug_token",
    "parse_phone_number",
    "parse_waba",
    "throughput_rank",
]

# The `fields` of the one call per phone number that reference §9 recommends.
PHONE_NUMBER_FIELDS: Final = (
    "display_phone_number,verified_name,status,quality_rating,"
    "whatsapp_business_manager_messaging_limit,throughput,name_status,code_verification_status,"
    "platform_type,is_official_business_account,last_onboarded_time,health_status"
)
# A number sends and receives only when CONNECTED [PN]; it is on the Cloud API when its
# platform is CLOUD_API (ON_PREMISE, NOT_APPLICABLE otherwise) [PYWA] [RESTFB].
CONNECTED: Final = "CONNECTED"
CLOUD_API: Final = "CLOUD_API"
# Messaging limits, lowest first. TIER_1K is the old tier the v23.0 reference still lists [PNM];
# since 2025-10-07 the steps are 250 → 2K → 10K → 100K → unlimited [MLC]; TIER_50 comes from
# [WH-PNQU]. TIER_NOT_SET has no rank.
LIMITS: Final = (
    "TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED",
)  # fmt: skip
# Throughput levels, lowest first; HIGH (and NOT_APPLICABLE, no rank) only per [RESTFB].
THROUGHPUT_LEVELS: Final = ("STANDARD", "HIGH")
MAX_SCOPES: Final = 64


def limit_rank(value: str | None) -> int | None:
    """The rank of a messaging limit (higher is more); None when it has none, so a caller
    compares two ranks only when both are known."""
    return _rank(LIMITS, value)


def throughput_rank(value: str | None) -> int | None:
    """The rank of a throughput level (higher is more); None for NOT_APPLICABLE or unknown."""
    return _rank(THROUGHPUT_LEVELS, value)


def _rank(order: tuple[str, ...], value: str | None) -> int | None:
    word = field.enum(value)
    return order.index(word) if word in order else None


@dataclass(frozen=True)
class PhoneNumber:
    """A business phone number as Graph describes it (reference §2); None = not in the answer
    or unusable. Enum values are upper-case text, documented ones or not."""

    id: str | None
    display_phone_number: str | None
    verified_name: str | None
    # PENDING, CONNECTED, DISCONNECTED, FLAGGED, RESTRICTED, BANNED, ... [RESTFB]
    status: str | None
    # GREEN, YELLOW, RED, NA [PNAPI]; UNKNOWN in Meta's examples [PN]
    quality_rating: str | None
    # TIER_250 ... TIER_UNLIMITED, TIER_NOT_SET (see LIMITS and `limit_rank`)
    messaging_limit: str | None
    # STANDARD, HIGH, NOT_APPLICABLE (see `throughput_rank`)
    throughput_level: str | None
    # APPROVED, AVAILABLE_WITHOUT_REVIEW, DECLINED, EXPIRED, PENDING_REVIEW, NONE [PNAPI]
    name_status: str | None
    # VERIFIED, NOT_VERIFIED, UNVERIFIED, EXPIRED: the sources disagree (reference §2)
    code_verification_status: str | None
    # CLOUD_API, ON_PREMISE, NOT_APPLICABLE
    platform_type: str | None
    is_official_business_account: bool | None
    # When Embedded Signup completed; its format is UNCONFIRMED, so it stays text.
    last_onboarded_time: str | None
    health: HealthStatus | None


def parse_phone_number(body: Any) -> PhoneNumber:
    """The answer to `GET /<version>/<PHONE_NUMBER_ID>?fields=...` (PHONE_NUMBER_FIELDS).

    Raises PayloadError when `body` is not an object with an id or at least one usable known
    field (a Graph error envelope included: read it with `graph_errors.parse_graph_error`).
    A `health_status` that cannot be read leaves `health` None and keeps the rest.
    """
    if not isinstance(body, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    limit = body.get("whatsapp_business_manager_messaging_limit")
    if limit is None:
        # `messaging_limit_tier` is deprecated (and returns null, per one report [PYWA #221]):
        # read only when its successor is missing.
        limit = body.get("messaging_limit_tier")
    throughput = body.get("throughput")
    platform = body.get("platform_type")
    if platform is None:
        # [PNM] names this field `host_platform` (UNCONFIRMED: every other source says
        # `platform_type`); whichever the answer carries is the platform.
        platform = body.get("host_platform")
    number = PhoneNumber(
        id=field.node_id(body.get("id")),
        display_phone_number=field.sentence(body.get("display_phone_number"), field.MAX_ID),
        verified_name=field.sentence(body.get("verified_name"), field.MAX_NAME),
        status=field.enum(body.get("status")),
        quality_rating=field.enum(body.get("quality_rating")),
        messaging_limit=field.enum(limit),
        throughput_level=field.enum(
            throughput.get("level") if isinstance(throughput, Mapping) else None
        ),
        name_status=field.enum(body.get("name_status")),
        code_verification_status=field.enum(body.get("code_verification_status")),
        platform_type=field.enum(platform),
        is_official_business_account=field.flag(body.get("is_official_business_account")),
        last_onboarded_time=field.sentence(body.get("last_onboarded_time"), field.MAX_ENUM),
        health=_optional_health(body.get("health_status")),
    )
    if all(getattr(number, f.name) is None for f in fields(number)):
        raise PayloadError(_nothing_known(body, "phone-number field"))
    return number


def _optional_health(value: Any) -> HealthStatus | None:
    if value is None:
        return None
    try:
        return parse_health_status(value)
    except PayloadError:
        return None


def _nothing_known(body: Mapping[str, Any], what: str) -> str:
    error = read_error(body.get("error"))
    if error is not None:
        return f"a Graph error (code {error.code}), not an answer"
    return f"no usable {what} in the answer"


def parse_waba(body: Any) -> HealthStatus:
    """The answer to `GET /<version>/<WABA_ID>?fields=health_status` (reference §1)."""
    if not isinstance(body, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    if "health_status" not in body:
        raise PayloadError(_nothing_known(body, "health_status"))
    return parse_health_status(body["health_status"])


@dataclass(frozen=True)
class TokenInfo:
    """An access token as `debug_token` describes it (reference §3, [G-DBG]).

    `expires_at`, `data_access_expires_at`: Unix seconds; None when the token does not expire
    (Graph says 0; a SYSTEM_USER token may never expire [PERM]) or when the answer omits it.
    `error`: why the token is not valid, when Graph says (`data.error`).
    """

    is_valid: bool | None
    expires_at: float | None
    data_access_expires_at: float | None
    # SYSTEM_USER, USER, PAGE, APP
    type: str | None
    app_id: str | None
    scopes: tuple[str, ...]
    error: GraphError | None = None


def parse_debug_token(body: Any) -> TokenInfo:
    """The answer to `GET /<version>/debug_token?input_token=...`: `{"data": {...}}`.

    Raises PayloadError for a Graph error envelope (the call itself failed: read it with
    `graph_errors.parse_graph_error`) and for an answer without a usable `data` object.
    """
    if not isinstance(body, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise PayloadError(_nothing_known(body, "data object"))
    scopes = data.get("scopes")
    names = (
        (field.sentence(s, 128) for s in scopes[:MAX_SCOPES]) if isinstance(scopes, list) else ()
    )
    info = TokenInfo(
        is_valid=field.flag(data.get("is_valid")),
        expires_at=field.timestamp(data.get("expires_at")),
        data_access_expires_at=field.timestamp(data.get("data_access_expires_at")),
        type=field.enum(data.get("type")),
        app_id=field.node_id(data.get("app_id")),
        scopes=tuple(name for name in names if name is not None),
        error=read_error(data.get("error")),
    )
    if info.is_valid is None and info.app_id is None and info.type is None:
        raise PayloadError("debug_token data has no is_valid, app_id or type")
    return info
