"""A Cloud API target's part of the status document: its number, the messaging health of the
number and of its WABA, the access token, the business use case usage and what went down.

`/api/v1/status` serves it as the target's `cloud` object and the status page draws it, so
both show the same. Values are Meta's as parsed (`api/graph*.py`): upper-case enum text, kept
when Meta has not documented it; the page escapes every one of them. The last answer of each
node is shown with its age even when stale; the verdict (`status.py`) reads fresh ones only.
"""

from __future__ import annotations

from typing import Any

from watchdog.api.cloud import CloudMemory
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph import PhoneNumber, TokenInfo
from watchdog.api.graph_health import Entity, HealthStatus
from watchdog.api.graph_usage import Usage
from watchdog.api.results import Observation
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.state import EndpointState, State

__all__ = ["USAGE_DIMENSIONS", "cloud_status"]

# The three shares of the hourly allowance the usage header reports (reference §4), in the
# order the page shows them; the `dimension` label of whatsapp_cloud_rate_limit_usage_percent.
USAGE_DIMENSIONS = ("call_count", "total_cputime", "total_time")
# Graph's own words about a token can quote what it was given; a shape-based pass removes
# anything that looks like a credential.
_REDACT = Redactor()


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def _answer(
    endpoints: dict[Endpoint, EndpointState], endpoint: Endpoint, now: float
) -> tuple[Observation | None, dict[str, Any]]:
    """The endpoint's last good answer and when it came (`at`, `age_seconds`, `fresh`)."""
    state = endpoints.get(endpoint)
    if state is None or state.last_success is None:
        return None, {}
    at = state.last_success.result.started_at
    return state.last_success, {"at": at, "age_seconds": _age(now, at), "fresh": state.fresh(now)}


def cloud_status(state: State, target: Target, now: float) -> dict[str, Any]:
    """The `cloud` object of a Cloud target in `/api/v1/status`."""
    endpoints = state.endpoints(target.name)
    verdict = state.cloud(target.name, now)
    phone, phone_when = _answer(endpoints, Endpoint.PHONE_NUMBER, now)
    waba, waba_when = _answer(endpoints, Endpoint.WABA, now)
    token, token_when = _answer(endpoints, Endpoint.TOKEN, now)
    number = phone.phone if phone is not None else None
    memory = state.cloud_memory(target.name) or CloudMemory()
    return {
        "phone_number_id": target.phone_number_id,
        "waba_id": target.waba_id,
        "graph_version": target.graph_version,
        "verdict": (
            {
                "up": verdict.up,
                "degraded": verdict.degraded,
                "summary": verdict.summary,
                "problems": list(verdict.problems),
            }
            if verdict is not None
            else None
        ),
        "phone": _phone(number, phone_when) if number is not None else None,
        "messaging": _health(number.health) if number and number.health else None,
        "waba": ({**_health(waba.waba), **waba_when} if waba is not None and waba.waba else None),
        "token": (
            _token(token.token, token_when, now) if token is not None and token.token else None
        ),
        "usage": [_usage(u) for u in memory.usage],
        "usage_at": memory.usage_at,
        "usage_age_seconds": _age(now, memory.usage_at),
        "drops": [
            {
                "what": drop.what,
                "before": drop.before,
                "after": drop.after,
                "at": drop.at,
                "age_seconds": _age(now, drop.at),
            }
            for drop in memory.drops.values()
        ],
    }


def _phone(number: PhoneNumber, when: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": number.id,
        "display_phone_number": number.display_phone_number,
        "verified_name": number.verified_name,
        "status": number.status,
        "quality_rating": number.quality_rating,
        "messaging_limit": number.messaging_limit,
        "throughput_level": number.throughput_level,
        "name_status": number.name_status,
        "code_verification_status": number.code_verification_status,
        "platform_type": number.platform_type,
        "is_official_business_account": number.is_official_business_account,
        **when,
    }


def _health(health: HealthStatus) -> dict[str, Any]:
    """`messaging` is the verdict on sending messages, from the entities; `overall` is Meta's
    own top-level value, which may reflect calling (reference §1)."""
    return {
        "messaging": health.messaging,
        "overall": health.overall,
        "calling": health.calling,
        "entities": [_entity(e) for e in health.entities],
    }


def _entity(entity: Entity) -> dict[str, Any]:
    return {
        "entity_type": entity.entity_type,
        "id": entity.id,
        "can_send_message": entity.can_send_message,
        "can_receive_call_sip": entity.can_receive_call_sip,
        "additional_info": list(entity.additional_info),
        "errors": [
            {
                "code": error.code,
                "description": error.description,
                "possible_solution": error.possible_solution,
            }
            for error in entity.errors
        ],
    }


def _token(token: TokenInfo, when: dict[str, Any], now: float) -> dict[str, Any]:
    """What `debug_token` said. `expires_at` None: the token does not expire (Graph's 0), or
    the answer did not say; never the token itself."""
    error = token.error
    return {
        "is_valid": token.is_valid,
        "type": token.type,
        "expires_at": token.expires_at,
        "expires_in_seconds": (
            None if token.expires_at is None else round(token.expires_at - now, 3)
        ),
        "data_access_expires_at": token.data_access_expires_at,
        "scopes": list(token.scopes),
        "error": (
            {
                "code": error.code,
                "subcode": error.subcode,
                "message": _REDACT.redact_text(error.message) if error.message else None,
            }
            if error is not None
            else None
        ),
        **when,
    }


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "business_id": usage.business_id,
        "type": usage.type,
        **{dimension: getattr(usage, dimension) for dimension in USAGE_DIMENSIONS},
        "regain_minutes": usage.regain_minutes,
    }
