"""What the Cloud target tests share: a Cloud target, and Graph answers shaped as Meta
documents them (reference §1-§4, `whatsapp-cloud-api-monitoring.md`), recorded into a state
through the real parsers (the status document, page, `check`).

The bodies follow the documentation, not the simulator: the LIMITED and the SIP (calling-only
BLOCKED) health statuses are Meta's own examples; 141006 (payment method, WABA BLOCKED) is the
documented code of a blocked WABA.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from watchdog.api.endpoints import Endpoint
from watchdog.api.graph_usage import parse_usage_header
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.state import State

T0 = 1_800_000_000.0
NAME = "shop-eu"
NUMBER = "106540352242922"
WABA = "102290129340398"
BUSINESS = "506914307656634"
APP = "634974688087057"
# The number's default poll interval is 5 min: an answer stays fresh for three of them.
INTERVAL = 300.0

DISPLAY_NAME_PENDING = (
    "Your display name has not been approved yet. Your message limit will increase after the "
    "display name is approved."
)
PAYMENT: dict[str, Any] = {
    "error_code": 141006,
    "error_description": "There is an error with the payment method.",
    "possible_solution": "Add a valid payment method to the WhatsApp Business Account.",
}
SIP: dict[str, Any] = {
    "error_code": 138024,
    "error_description": "SIP is not set up for this phone number.",
    "possible_solution": "Configure a SIP server in the phone number's calling settings.",
}


def entity(kind: str, ident: str, messages: str = "AVAILABLE", **more: Any) -> dict[str, Any]:
    return {"entity_type": kind, "id": ident, "can_send_message": messages, **more}


def entities(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The four entities of a number's health status, all AVAILABLE unless *changes* (keyed
    by entity type) replace fields of one."""
    found = [
        entity("PHONE_NUMBER", NUMBER, can_receive_call_sip="AVAILABLE"),
        entity("WABA", WABA),
        entity("BUSINESS", BUSINESS),
        entity("APP", APP, can_receive_call_sip="AVAILABLE"),
    ]
    for one in found:
        one.update(changes.get(one["entity_type"], {}))
    return found


def health(overall: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    return {"can_send_message": overall, "entities": found}


HEALTHY_PHONE: dict[str, Any] = {
    "display_phone_number": "15550783881",
    "verified_name": "Shop EU",
    "status": "CONNECTED",
    "quality_rating": "GREEN",
    "whatsapp_business_manager_messaging_limit": "TIER_10K",
    "throughput": {"level": "STANDARD"},
    "name_status": "APPROVED",
    "code_verification_status": "VERIFIED",
    "platform_type": "CLOUD_API",
    "is_official_business_account": False,
    "health_status": health("AVAILABLE", entities()),
    "id": NUMBER,
}


def phone(**fields: Any) -> dict[str, Any]:
    """The healthy number's answer with *fields* replaced."""
    body = copy.deepcopy(HEALTHY_PHONE)
    body.update(fields)
    return body


# The scenarios the verdict tells apart, as the number's answer shows them.
BLOCKED = phone(
    health_status=health(
        "BLOCKED", entities(WABA={"can_send_message": "BLOCKED", "errors": [PAYMENT]})
    )
)
LIMITED = phone(
    name_status="PENDING_REVIEW",
    health_status=health(
        "LIMITED",
        entities(
            PHONE_NUMBER={"can_send_message": "LIMITED", "additional_info": [DISPLAY_NAME_PENDING]}
        ),
    ),
)
# Meta's SIP example: overall BLOCKED, every entity can send messages.
CALLING_BLOCKED = phone(
    health_status=health(
        "BLOCKED", entities(PHONE_NUMBER={"can_receive_call_sip": "BLOCKED", "errors": [SIP]})
    )
)
DISCONNECTED = phone(status="DISCONNECTED")
QUALITY_RED = phone(quality_rating="RED")

WABA_HEALTHY = {"health_status": health("AVAILABLE", entities()[1:]), "id": WABA}
WABA_BLOCKED = {
    "health_status": health(
        "BLOCKED", entities(WABA={"can_send_message": "BLOCKED", "errors": [PAYMENT]})[1:]
    ),
    "id": WABA,
}


def token_body(**data: Any) -> dict[str, Any]:
    """A `debug_token` answer; by default a system user's token that never expires (Meta's
    example has `expires_at: 0`)."""
    return {
        "data": {
            "app_id": APP,
            "type": "SYSTEM_USER",
            "application": "Shop",
            "expires_at": 0,
            "data_access_expires_at": 0,
            "is_valid": True,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
            **data,
        }
    }


def usage_header(call_count: float, regain: float = 0, cputime: float = 12.0) -> str:
    return (
        f'{{"{BUSINESS}":[{{"type":"whatsapp_business_management","call_count":{call_count},'
        f'"total_cputime":{cputime},"total_time":30,'
        f'"estimated_time_to_regain_access":{regain}}}]}}'
    )


def cloud_target(name: str = NAME, *, waba: bool = True, **more: Any) -> Target:
    return Target(
        name=name,
        url="https://graph.example",
        kind="cloud",
        phone_number_id=NUMBER,
        waba_id=WABA if waba else None,
        **more,
    )


def cloud_state(*targets: Target) -> State:
    return State(list(targets) or [cloud_target()], clock=lambda: T0)


def record(
    state: State,
    body: Any,
    endpoint: Endpoint = Endpoint.PHONE_NUMBER,
    *,
    at: float = T0,
    name: str = NAME,
    usage: str = "",
) -> None:
    """One good answer of *endpoint*, parsed by the watchdog's own parsers."""
    result = PollResult(name, endpoint, at, 0.2, 200, None, "HTTP 200", body=body)
    state.record(observe(replace(result, usage=parse_usage_header(usage or None))))


def record_failed(
    state: State,
    reason: str,
    status_code: int | None,
    endpoint: Endpoint = Endpoint.PHONE_NUMBER,
    *,
    at: float = T0,
    name: str = NAME,
    usage: str = "",
    detail: str = "",
) -> None:
    result = PollResult(
        name, endpoint, at, 0.2, status_code, reason, detail or f"HTTP {status_code} {reason}"
    )
    state.record(observe(replace(result, usage=parse_usage_header(usage or None))))


def polled(body: Any = None, *, waba: Any = None, token: Any = None, usage: str = "") -> State:
    """A Cloud target whose number (and WABA, token) answered once at T0."""
    state = cloud_state()
    record(state, HEALTHY_PHONE if body is None else body, usage=usage)
    record(state, WABA_HEALTHY if waba is None else waba, Endpoint.WABA)
    record(state, token_body() if token is None else token, Endpoint.TOKEN)
    return state
