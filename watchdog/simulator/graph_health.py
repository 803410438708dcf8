"""`health_status`: the messaging health of a phone number or a WABA (reference §1).

The entities of a number are PHONE_NUMBER, WABA, BUSINESS and APP; a WABA's leave out
PHONE_NUMBER. Error and information texts are ours unless the reference quotes them; the codes
are the documented ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from watchdog.simulator.graph_scenarios import GraphScenario


class Availability(StrEnum):
    """`can_send_message` and `can_receive_call_sip` values, mildest first."""

    AVAILABLE = "AVAILABLE"
    LIMITED = "LIMITED"
    BLOCKED = "BLOCKED"


_RANK = {Availability.AVAILABLE: 0, Availability.LIMITED: 1, Availability.BLOCKED: 2}

# Meta's own words for a number whose display name waits for review (the "Example limited
# response" of the health-status page).
DISPLAY_NAME_PENDING = (
    "Your display name has not been approved yet. Your message limit will increase after the "
    "display name is approved."
)
# 131031 is a documented code (account locked); that it shows on the PHONE_NUMBER entity, and
# these texts, are UNCONFIRMED.
ACCOUNT_LOCKED = {
    "error_code": 131031,
    "error_description": "The WhatsApp Business Account associated with this phone number has "
    "been locked.",
    "possible_solution": "Review the account's status in WhatsApp Manager and appeal the "
    "decision or complete the required verification.",
}
# 141006 (payment method, WABA BLOCKED) is documented by a client's tests; texts UNCONFIRMED.
PAYMENT_METHOD = {
    "error_code": 141006,
    "error_description": "There is an error with the payment method. This will block "
    "business-initiated conversations.",
    "possible_solution": "Add a valid payment method to the WhatsApp Business Account.",
}
# The SIP example's codes; which entity carries them and the texts are UNCONFIRMED. Both stay on
# the PHONE_NUMBER, whose `can_receive_call_sip` they explain.
SIP_NOT_SET_UP = [
    {
        "error_code": 138024,
        "error_description": "SIP is not set up for this phone number.",
        "possible_solution": "Configure a SIP server in the phone number's calling settings.",
    },
    {
        "error_code": 138025,
        "error_description": "Calls cannot be delivered to the configured SIP server.",
        "possible_solution": "Check the SIP server's address and credentials.",
    },
]


@dataclass(frozen=True)
class Ids:
    """The ids of the nodes every `health_status` names."""

    waba: str
    business: str
    app: str


def overall(entities: list[dict[str, Any]]) -> Availability:
    """The top-level `can_send_message`: the worst value of any entity.

    Meta documents BLOCKED > LIMITED > AVAILABLE over the entities and says the calling field
    does not count, yet its SIP example shows overall BLOCKED while every `can_send_message` is
    AVAILABLE (reference §1). The simulator reproduces what the example shows: it counts
    `can_receive_call_sip` too, so a client must derive the messaging verdict from the entities.
    """
    worst = Availability.AVAILABLE
    for entity in entities:
        for key in ("can_send_message", "can_receive_call_sip"):
            value = entity.get(key)
            if value is not None and _RANK[Availability(value)] > _RANK[worst]:
                worst = Availability(value)
    return worst


def health_status(
    ids: Ids,
    account: GraphScenario,
    number: tuple[str, GraphScenario] | None = None,
) -> dict[str, Any]:
    """`health_status` of a number (`number` = its id and scenario) or of the WABA (None)."""
    entities: list[dict[str, Any]] = []
    if number is not None:
        entities.append(_phone_number(*number))
    waba = _entity("WABA", ids.waba, Availability.AVAILABLE)
    if account is GraphScenario.WABA_BLOCKED:
        waba = _entity("WABA", ids.waba, Availability.BLOCKED, errors=[PAYMENT_METHOD])
    entities.append(waba)
    entities.append(_entity("BUSINESS", ids.business, Availability.AVAILABLE))
    entities.append(_entity("APP", ids.app, Availability.AVAILABLE, sip=Availability.AVAILABLE))
    return {"can_send_message": overall(entities).value, "entities": entities}


def _phone_number(number_id: str, scenario: GraphScenario) -> dict[str, Any]:
    ok = Availability.AVAILABLE
    if scenario is GraphScenario.BLOCKED:
        return _entity(
            "PHONE_NUMBER", number_id, Availability.BLOCKED, sip=ok, errors=[ACCOUNT_LOCKED]
        )
    if scenario is GraphScenario.LIMITED:
        return _entity(
            "PHONE_NUMBER", number_id, Availability.LIMITED, sip=ok, info=[DISPLAY_NAME_PENDING]
        )
    if scenario is GraphScenario.CALLING_BLOCKED:
        return _entity(
            "PHONE_NUMBER", number_id, ok, sip=Availability.BLOCKED, errors=SIP_NOT_SET_UP
        )
    return _entity("PHONE_NUMBER", number_id, ok, sip=ok)


def _entity(
    entity_type: str,
    entity_id: str,
    send: Availability,
    *,
    sip: Availability | None = None,
    info: list[str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    # Key order as in Meta's examples.
    entity: dict[str, Any] = {
        "entity_type": entity_type,
        "id": entity_id,
        "can_send_message": send.value,
    }
    if sip is not None:
        entity["can_receive_call_sip"] = sip.value
    if info:
        entity["additional_info"] = list(info)
    if errors:
        entity["errors"] = [dict(e) for e in errors]
    return entity
