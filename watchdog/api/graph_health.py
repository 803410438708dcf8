"""The messaging health status Meta reports for a Graph node: a phone number, a WhatsApp
Business Account (WABA) or a template (reference §1, `whatsapp-cloud-api-monitoring.md`).

`health_status` carries an overall `can_send_message` and one entry per entity behind the node
(PHONE_NUMBER, WABA, BUSINESS, APP, MESSAGE_TEMPLATE), each AVAILABLE, LIMITED (with
`additional_info`) or BLOCKED (with `errors`). The verdict the watchdog acts on is
`HealthStatus.messaging`, derived from the entities alone: see `_verdict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from watchdog.api import graph_fields as field
from watchdog.api.payloads import PayloadError

__all__ = [
    "AVAILABILITY",
    "AVAILABLE",
    "BLOCKED",
    "LIMITED",
    "MAX_ENTITIES",
    "UNKNOWN",
    "Entity",
    "EntityError",
    "HealthStatus",
    "parse_health_status",
]

AVAILABLE: Final = "AVAILABLE"
LIMITED: Final = "LIMITED"
BLOCKED: Final = "BLOCKED"
# The values Meta documents for `can_send_message` and `can_receive_call_sip` [HS]; any other is
# kept as text (upper-cased) and ranks between LIMITED and AVAILABLE: see `_severity`.
AVAILABILITY: Final = (AVAILABLE, LIMITED, BLOCKED)
# The messaging verdict when the answer does not tell: no entity states `can_send_message` and
# Meta's overall value may be calling's (it is not worse than the entities' calling).
UNKNOWN: Final = "UNKNOWN"
# Meta lists at most five entities (PHONE_NUMBER or MESSAGE_TEMPLATE, WABA, BUSINESS, APP);
# the bounds keep a hostile answer's cost small.
MAX_ENTITIES: Final = 32
MAX_INFO: Final = 8
MAX_ERRORS: Final = 8


@dataclass(frozen=True)
class EntityError:
    """One entry of a BLOCKED entity's `errors`: the code Meta gives (141002 template not
    approved, 141006 payment method, 138024/138025 calling not set up, ...) and its advice."""

    code: int | None
    description: str | None
    possible_solution: str | None


@dataclass(frozen=True)
class Entity:
    """One entity behind the node, with its own availability for messages and for SIP calls."""

    entity_type: str | None
    id: str | None
    can_send_message: str | None
    # Only PHONE_NUMBER and APP carry it (added 2025-09-08); it says nothing about messaging.
    can_receive_call_sip: str | None = None
    # LIMITED comes with these sentences, BLOCKED with `errors` [HS].
    additional_info: tuple[str, ...] = ()
    errors: tuple[EntityError, ...] = ()


@dataclass(frozen=True)
class HealthStatus:
    """A node's `health_status`.

    `overall` is Meta's own top-level `can_send_message`, kept for display only: Meta's SIP
    example shows it BLOCKED while every entity can send messages (reference §1), so it may
    reflect calling. `messaging` is the verdict on sending messages; `calling` the worst
    `can_receive_call_sip` of the entities, None when none states it.
    """

    overall: str | None
    messaging: str
    entities: tuple[Entity, ...]
    calling: str | None = None

    def blocked(self) -> tuple[Entity, ...]:
        """The entities that cannot send messages (their `errors` say why)."""
        return tuple(e for e in self.entities if e.can_send_message == BLOCKED)

    def limited(self) -> tuple[Entity, ...]:
        """The entities whose messaging is limited (their `additional_info` says how)."""
        return tuple(e for e in self.entities if e.can_send_message == LIMITED)


def parse_health_status(value: Any) -> HealthStatus:
    """The `health_status` object of a node's answer.

    Raises PayloadError when it is not an object, or when neither its entities nor its overall
    value give a verdict on messaging.
    """
    if not isinstance(value, Mapping):
        raise PayloadError(f"health_status is not an object but {type(value).__name__}")
    overall = field.enum(value.get("can_send_message"))
    raw = value.get("entities")
    entries = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    # The verdicts read every entry, so a BLOCKED entity past the bound still counts; only the
    # entities kept for display are bounded.
    calling = _verdict(field.enum(e.get("can_receive_call_sip")) for e in entries)
    messaging = _verdict(field.enum(e.get("can_send_message")) for e in entries)
    if messaging is None:
        messaging = _from_overall(overall, calling)
    if messaging is None:
        raise PayloadError("health_status gives no can_send_message")
    return HealthStatus(
        overall=overall,
        messaging=messaging,
        entities=tuple(_entity(e) for e in entries[:MAX_ENTITIES]),
        calling=calling,
    )


def _from_overall(overall: str | None, calling: str | None) -> str | None:
    """The messaging verdict from Meta's overall value alone (no entity states messaging).

    Meta's overall value is the worst over messaging and calling: when it is no worse than what
    the entities say of calling, calling alone may explain it, and messaging is not known; a
    calling-only BLOCKED must not read as "cannot send messages" (reference §1).
    """
    if overall is None or overall == AVAILABLE or calling is None:
        return overall
    return overall if severity(overall) > severity(calling) else UNKNOWN


def _verdict(values: Iterable[str | None]) -> str | None:
    """The worst of the values given, None if there is none.

    Meta computes its overall value the same way (BLOCKED if any entity is blocked, else
    LIMITED if any is limited, else AVAILABLE [HS]), but over calling too. Computing it here
    from `can_send_message` alone keeps a calling-only problem (SIP not set up, errors
    138024/138025) from reading as "messaging blocked".
    """
    worst: str | None = None
    for value in values:
        if value is not None and (worst is None or severity(value) > severity(worst)):
            worst = value
    return worst


def severity(value: str) -> int:
    # An undocumented value is not known to be fine: it ranks above AVAILABLE so it shows up as
    # itself (UNCONFIRMED whether Meta has any other value; none is documented).
    return {AVAILABLE: 0, LIMITED: 2, BLOCKED: 3}.get(value, 1)


def _entity(entry: Mapping[str, Any]) -> Entity:
    return Entity(
        entity_type=field.enum(entry.get("entity_type")),
        id=field.node_id(entry.get("id")),
        can_send_message=field.enum(entry.get("can_send_message")),
        can_receive_call_sip=field.enum(entry.get("can_receive_call_sip")),
        additional_info=tuple(_sentences(entry.get("additional_info"))),
        errors=tuple(_errors(entry.get("errors"))),
    )


def _sentences(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    lines = (field.sentence(item) for item in items[: MAX_INFO * 4])
    return [line for line in lines if line is not None][:MAX_INFO]


def _errors(value: Any) -> list[EntityError]:
    items = value if isinstance(value, list) else [value]
    errors = []
    for item in items[: MAX_ERRORS * 4]:
        if not isinstance(item, Mapping):
            continue
        error = EntityError(
            code=field.code(item.get("error_code")),
            description=field.sentence(item.get("error_description")),
            possible_solution=field.sentence(item.get("possible_solution")),
        )
        if error != EntityError(None, None, None):
            errors.append(error)
    return errors[:MAX_ERRORS]
