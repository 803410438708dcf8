"""What a Cloud API number's answers mean: the verdict on sending messages, and what the
watchdog remembers between polls (a messaging limit or throughput level that went down, the
business use case usage).

The Cloud counterpart of `gateways.py`: one reading serves the alerts, the status page,
`watchdog check` and `/probe`. Facts: `whatsapp-cloud-api-monitoring.md` §1-§2 and the
recommendation of §9 (critical: BLOCKED, status other than CONNECTED, platform other than
CLOUD_API; warning: LIMITED, quality RED, a lower limit or throughput than before).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from watchdog.api.endpoints import GRAPH_OTHER, GRAPH_PERMISSION, GRAPH_TOKEN, Endpoint
from watchdog.api.graph import CLOUD_API, CONNECTED, PhoneNumber, limit_rank, throughput_rank
from watchdog.api.graph_health import AVAILABLE, BLOCKED, LIMITED, Entity, HealthStatus, severity
from watchdog.api.graph_usage import Usage
from watchdog.api.results import Observation, PollResult
from watchdog.base.targets import Target

__all__ = [
    "RED",
    "CloudMemory",
    "CloudVerdict",
    "Drop",
    "cloud_verdict",
    "has_app_token",
    "messaging_entities",
    "target_entities",
    "token_unchecked",
]

RED = "RED"


def messaging_entities(
    phone: PhoneNumber | None,
    waba: HealthStatus | None = None,
    *,
    phone_id: str | None = None,
    waba_id: str | None = None,
    waba_newer: bool | None = False,
) -> list[Entity]:
    """Every entity whose `can_send_message` the answers state, once, as the newer answer
    states it (`waba_newer`: the WABA's answer came after the number's; None: they are as new,
    and the worse word wins); the number's entities and its WABA's overlap (the WABA, the
    business, the app). The verdict, the alerts and `/metrics` read these.

    A health status whose entities state no `can_send_message` stands for its node itself,
    with the messaging verdict the parser took from Meta's overall value (UNKNOWN where calling
    alone may explain that value, which nothing reads as blocked or limited).
    """
    healths: list[tuple[str, str | None, HealthStatus]] = []
    if phone is not None and phone.health is not None:
        healths.append(("PHONE_NUMBER", phone.id or phone_id, phone.health))
    if waba is not None:
        healths.append(("WABA", waba_id, waba))
    if waba_newer:
        healths.reverse()
    seen: dict[tuple[str, str], Entity] = {}
    for node_type, node_id, health in healths:
        listed = [e for e in health.entities if e.can_send_message is not None]
        for entity in listed or [Entity(node_type, node_id, health.messaging)]:
            key = (entity.entity_type or "", entity.id or "")
            before = seen.get(key)
            if before is None or (waba_newer is None and _worse(entity, before)):
                seen[key] = entity
    return list(seen.values())


def _worse(entity: Entity, than: Entity) -> bool:
    return severity(entity.can_send_message or AVAILABLE) > severity(
        than.can_send_message or AVAILABLE
    )


def target_entities(
    target: Target, phone: Observation | None, waba: Observation | None
) -> list[Entity]:
    """`messaging_entities` of a target's latest good answers of the number and the WABA,
    the newer one's word first, the target's configured ids filling in."""
    waba_newer: bool | None = False
    if phone is not None and waba is not None:
        at, waba_at = phone.result.started_at, waba.result.started_at
        waba_newer = None if waba_at == at else waba_at > at
    return messaging_entities(
        phone.phone if phone is not None else None,
        waba.waba if waba is not None else None,
        phone_id=target.phone_number_id,
        waba_id=target.waba_id,
        waba_newer=waba_newer,
    )


def has_app_token(target: Target) -> bool:
    return target.app_token is not None or target.app_token_file is not None


def token_unchecked(target: Target, endpoint: Endpoint, result: PollResult) -> bool:
    """True when Graph refused `debug_token` while the watchdog inspected the access token with
    itself, having no app token: only the token's expiry stays unknown.

    Meta documents debug_token for an app token or an app developer's token (reference §3);
    whether a system user's token may inspect itself is UNCONFIRMED, and a refusal may come as
    any Graph error (100 for a missing app token, 190, 10/200). The token's own trouble shows
    on the number's poll, made with the same token, so none of these is a problem of the
    target's.
    """
    return (
        endpoint is Endpoint.TOKEN
        and not has_app_token(target)
        and result.reason in (GRAPH_TOKEN, GRAPH_PERMISSION, GRAPH_OTHER)
    )


@dataclass(frozen=True)
class CloudVerdict:
    """`up`: the number can send messages as far as Meta says; `degraded`: it can, with a
    limit or a quality problem. `problems` name what is wrong, most severe first."""

    up: bool
    degraded: bool
    summary: str
    problems: tuple[str, ...] = ()


def cloud_verdict(
    phone: PhoneNumber | None,
    waba: HealthStatus | None = None,
    entities: list[Entity] | None = None,
) -> CloudVerdict:
    """The verdict on a number's latest answer and its WABA's (either may be None), judged on
    `entities` (by default `messaging_entities` of the two)."""
    critical: list[str] = []
    warning: list[str] = []
    if phone is not None and phone.status is not None and phone.status != CONNECTED:
        critical.append(f"phone number status {phone.status} (not CONNECTED)")
    if phone is not None and phone.platform_type not in (None, CLOUD_API):
        critical.append(f"platform {phone.platform_type} (not CLOUD_API)")
    if phone is not None and phone.health is None:
        # The answer has no usable health_status (requested with every poll): nothing says the
        # number can send messages, so the page must not say so either.
        warning.append("number's health_status missing or unreadable: messaging unknown")
    if entities is None:
        entities = messaging_entities(phone, waba)
    by_value: dict[str, list[Entity]] = {}
    for entity in entities:
        if entity.can_send_message is not None and entity.can_send_message != AVAILABLE:
            by_value.setdefault(entity.can_send_message, []).append(entity)
    for value, which in by_value.items():
        if value == BLOCKED:
            critical.append(f"cannot send messages: {_names(which)}")
        elif value == LIMITED:
            warning.append(f"messaging limited: {_names(which)}")
        else:
            warning.append(f"messaging {value}: {_names(which)}")
    if phone is not None and phone.quality_rating == RED:
        warning.append("quality rating RED")
    summary = "; ".join([*critical, *warning]) or _fine(phone)
    return CloudVerdict(
        up=not critical, degraded=bool(warning), summary=summary, problems=(*critical, *warning)
    )


def _names(entities: list[Entity]) -> str:
    return ", ".join(
        f"{e.entity_type or 'entity'} {e.id}" if e.id else (e.entity_type or "entity")
        for e in entities
    )


def _fine(phone: PhoneNumber | None) -> str:
    if phone is None:
        return "can send messages"
    parts = [phone.status or "status unknown"]
    if phone.health is not None:
        parts.append("can send messages")
    if phone.quality_rating:
        parts.append(f"quality {phone.quality_rating}")
    if phone.messaging_limit:
        parts.append(phone.messaging_limit)
    return ", ".join(parts)


@dataclass(frozen=True)
class Drop:
    """A messaging limit (`what` = "messaging limit") or throughput level ("throughput") lower
    than at the poll before, since `at`."""

    what: str
    before: str
    after: str
    at: float


class CloudMemory:
    """What one Cloud target's earlier answers said that the latest one does not.

    A drop stays remembered until the value climbs back to where it was (the alert's own
    `hold` bounds how long it fires); the usage is the latest header seen on any answer.
    """

    def __init__(self) -> None:
        self.limit: str | None = None
        self.throughput: str | None = None
        self.drops: dict[str, Drop] = {}
        self.usage: tuple[Usage, ...] = ()
        self.usage_at: float | None = None

    def observe(self, phone: PhoneNumber, at: float) -> None:
        self.limit = self._compare("messaging limit", self.limit, phone.messaging_limit, at)
        self.throughput = self._compare("throughput", self.throughput, phone.throughput_level, at)

    def observe_usage(self, usage: tuple[Usage, ...], at: float) -> None:
        if usage:
            self.usage = usage
            self.usage_at = at

    def _compare(self, what: str, before: str | None, after: str | None, at: float) -> str | None:
        rank = limit_rank if what == "messaging limit" else throughput_rank
        new = rank(after)
        if new is None:
            # TIER_NOT_SET, NOT_APPLICABLE or missing: nothing to compare; the last known
            # value stays the reference.
            return before
        drop = self.drops.get(what)
        if drop is not None and new >= (rank(drop.before) or 0):
            del self.drops[what]
        elif drop is not None and after is not None and new > (rank(drop.after) or 0):
            # Part of the way back: still lower than before the drop, now at this level.
            self.drops[what] = replace(drop, after=after)
        old = rank(before)
        if old is not None and new < old and before is not None and after is not None:
            # A second drop keeps the level it fell from first.
            first = drop.before if drop is not None and what in self.drops else before
            self.drops[what] = Drop(what, first, after, at)
        return after
