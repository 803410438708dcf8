"""What the Cloud API alert rules check: conditions over one Cloud target's answers at one moment.

The Cloud counterpart of the gateway and node checks in `watchdog.alerts.checks`: pure functions
of a `TargetView`, timing left to the engine. They read the latest successful answers while
they are fresh (`TargetView.recent`: a failed poll in between changes nothing Meta said), and
what the state remembers (`TargetView.cloud`: drops, the latest usage header); an On-Premises
target has neither, so it never gets a Cloud condition.
Facts: `whatsapp-cloud-api-monitoring.md` §1-§4 and the recommendation of §9.
"""

from __future__ import annotations

from datetime import UTC, datetime

from watchdog.alerts.checks import Condition, TargetView
from watchdog.api.cloud import RED, has_app_token, target_entities
from watchdog.api.endpoints import (
    GRAPH_OTHER,
    GRAPH_PERMISSION,
    GRAPH_THROTTLED,
    GRAPH_TOKEN,
    Endpoint,
    primary,
)
from watchdog.api.graph import CLOUD_API, CONNECTED, PhoneNumber
from watchdog.api.graph_health import BLOCKED, LIMITED, Entity
from watchdog.api.graph_usage import Usage
from watchdog.base.durations import format_duration

__all__ = [
    "cloud_blocked",
    "cloud_limit_dropped",
    "cloud_limited",
    "cloud_not_connected",
    "cloud_quality_low",
    "cloud_rate_limit_near",
    "token_expiring",
]

_DIMENSIONS = ("call_count", "total_cputime", "total_time")

# What a blocked entity stops, by its type (reference §1: the entities of a number's health).
_BLOCKS = {
    "PHONE_NUMBER": "No message goes out from this number",
    "WABA": "No message goes out from any number of this WhatsApp Business Account",
    "BUSINESS": "No message goes out from any number of this business portfolio",
    "APP": "No message goes out through this app",
}


def _phone(view: TargetView) -> PhoneNumber | None:
    observation = view.recent(Endpoint.PHONE_NUMBER)
    return observation.phone if observation is not None else None


def _entities(view: TargetView) -> list[Entity]:
    phone, waba = view.recent(Endpoint.PHONE_NUMBER), view.recent(Endpoint.WABA)
    return target_entities(view.target, phone, waba)


def _name(entity: Entity) -> str:
    return f"{entity.entity_type or 'entity'} {entity.id or '(no id)'}"


def _labels(entity: Entity) -> dict[str, str]:
    return {"entity_type": entity.entity_type or "", "entity_id": entity.id or ""}


def cloud_blocked(view: TargetView) -> list[Condition]:
    conditions = []
    for entity in _entities(view):
        if entity.can_send_message != BLOCKED:
            continue
        errors = "; ".join(
            f"error {e.code if e.code is not None else '(no code)'}: "
            f"{e.description or 'no description'}"
            + (f" (Meta suggests: {e.possible_solution})" if e.possible_solution else "")
            for e in entity.errors
        )
        stops = _BLOCKS.get(entity.entity_type or "", "No message goes out through it")
        conditions.append(
            Condition(
                summary=f"WhatsApp {_name(entity)} of {view.target.name} cannot send messages",
                description=(
                    f"Meta reports can_send_message BLOCKED for {_name(entity)}: "
                    f"{errors or 'Meta gives no error'}. {stops} until the block is lifted: do "
                    "what Meta suggests (a payment method, business verification, an appeal "
                    "of a policy decision in WhatsApp Manager's account quality), then wait "
                    "for the next poll; the alert resolves when it is no longer BLOCKED."
                ),
                labels=_labels(entity),
            )
        )
    return conditions


def _sentences(lines: tuple[str, ...]) -> str:
    text = " ".join(lines) or "Meta gives no additional information"
    return text if text.endswith((".", "!", "?")) else f"{text}."


def cloud_limited(view: TargetView) -> list[Condition]:
    return [
        Condition(
            summary=f"WhatsApp {_name(entity)} of {view.target.name} can send messages only "
            "with limits",
            description=(
                f"Meta reports can_send_message LIMITED for {_name(entity)}: "
                f"{_sentences(entity.additional_info)} "
                "Messages still go out, within the limit Meta sets: do what Meta's "
                "information says (often a display name waiting for approval: see the number "
                "in WhatsApp Manager), and keep sends within the limit until it is lifted."
            ),
            labels=_labels(entity),
        )
        for entity in _entities(view)
        if entity.can_send_message == LIMITED
    ]


def cloud_quality_low(view: TargetView) -> list[Condition]:
    phone = _phone(view)
    if phone is None or phone.quality_rating != RED:
        return []
    return [
        Condition(
            summary=f"WhatsApp Cloud number {view.target.name} has a RED quality rating",
            description=(
                f"Meta rates the quality of {_number(phone)}'s recent messages RED: recipients "
                "block or report them. Review the templates and campaigns of the last days, send "
                "only to people who opted in and expect them, and slow down marketing sends "
                "until the rating is back to YELLOW or GREEN (WhatsApp Manager, Insights)."
            ),
        )
    ]


def _number(phone: PhoneNumber) -> str:
    return phone.display_phone_number or phone.verified_name or phone.id or "the number"


def cloud_not_connected(view: TargetView) -> list[Condition]:
    phone = _phone(view)
    if phone is None:
        return []
    problems, shown = [], []
    if phone.status is not None and phone.status != CONNECTED:
        shown.append(f"status {phone.status}")
        problems.append(
            f"status is {phone.status}: only a CONNECTED number sends and receives messages. "
            "Check the number in WhatsApp Manager: register it "
            "(POST /<PHONE_NUMBER_ID>/register) if it was never registered or was "
            "deregistered; a ban or restriction is explained, and can be appealed, under "
            "account quality"
        )
    if phone.platform_type is not None and phone.platform_type != CLOUD_API:
        shown.append(f"platform {phone.platform_type}")
        problems.append(
            f"platform is {phone.platform_type}, not CLOUD_API: the number is registered with "
            "the On-Premises API (sunset since 2025-10-23) or with neither. Finish its "
            "migration (register it on the Cloud API), or watch it as an On-Premises target"
        )
    if not problems:
        return []
    return [
        Condition(
            summary=(
                f"WhatsApp Cloud number {view.target.name} is not connected to the Cloud API: "
                f"{', '.join(shown)}"
            ),
            description=f"{_number(phone)}: {'; '.join(problems)}.",
        )
    ]


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def cloud_limit_dropped(view: TargetView, *, hold: float) -> list[Condition]:
    memory = view.cloud
    if memory is None:
        return []
    drops = [d for d in memory.drops.values() if view.now - d.at < hold]
    if not drops:
        return []
    went = "; ".join(
        f"{d.what} went down from {d.before} to {d.after} at {_utc(d.at)}" for d in drops
    )
    return [
        Condition(
            summary=f"WhatsApp Cloud number {view.target.name}: {went}",
            description=(
                f"{went}. Since 2025-10-07 the messaging limit belongs to the business "
                "portfolio and quality no longer lowers it: check the portfolio in WhatsApp "
                "Manager (business verification, policy issues) and keep sends within the new "
                "limit; a lower throughput level means fewer messages per second, so pace "
                f"senders. The alert lasts until the value climbs back, at most "
                f"{format_duration(hold)} after the drop."
            ),
        )
    ]


def _throttled(view: TargetView) -> list[Endpoint]:
    """The Cloud endpoints Graph throttles now: the number's when its last poll was throttled
    (the watchdog is blind to it until Meta lets calls through), and whichever endpoint gave the
    latest answer, when that was throttled (the allowance is the business's, shared by all)."""
    lasts = {
        e: s.last.result
        for e, s in view.endpoints.items()
        if e.spec.kind == "cloud" and s.last is not None
    }
    if not lasts:
        return []
    latest = max(lasts, key=lambda e: lasts[e].started_at)
    candidates = dict.fromkeys((primary(view.target), latest))
    return [e for e in candidates if e in lasts and lasts[e].reason == GRAPH_THROTTLED]


def _fresh_usage(view: TargetView) -> tuple[Usage, ...]:
    """The latest usage header, unless older than 3 polls of the number: it comes with every
    Graph answer, so the number's pace says when it is old (as `/metrics` judges it)."""
    memory = view.cloud
    state = view.endpoints.get(Endpoint.PHONE_NUMBER)
    if memory is None or memory.usage_at is None or state is None:
        return ()
    if view.now - memory.usage_at > state.stale_after:
        return ()
    return memory.usage


def _near(usage: Usage, threshold: int) -> list[str]:
    return [
        f"{dimension} {value:g} %"
        for dimension in _DIMENSIONS
        if (value := getattr(usage, dimension)) is not None and value >= threshold
    ]


def cloud_rate_limit_near(view: TargetView, *, threshold: int) -> list[Condition]:
    usages = _fresh_usage(view)
    over = []
    for usage in usages:
        near = _near(usage, threshold)
        if near:
            kind = f" ({usage.type})" if usage.type else ""
            over.append(f"business {usage.business_id or '(no id)'}{kind}: {', '.join(near)}")
    throttled = _throttled(view)
    if not over and not throttled:
        return []
    regain = max((u.regain_minutes or 0.0 for u in usages), default=0.0)
    said = []
    if over:
        said.append(f"Usage of the hourly allowance at or over {threshold} %: {'; '.join(over)}.")
    if throttled:
        polls = ", ".join(e.value for e in throttled)
        said.append(
            f"Graph throttles the watchdog's polls ({polls}): until it lets them through, the "
            "watchdog cannot see the number's state."
        )
    if regain > 0:
        said.append(f"Meta lets calls through again in about {regain:g} minutes.")
    return [
        Condition(
            summary=(
                f"WhatsApp Cloud API rate limit of {view.target.name} is "
                f"{'throttling' if throttled else 'near'}"
            ),
            description=(
                f"{' '.join(said)} Graph counts management calls per app and WhatsApp Business "
                "Account in a rolling hour (5,000 for an active account) and throttles from "
                "100 % (80007/80008). The watchdog already slows its own polls: find the other "
                "heavy callers of this account (scripts, dashboards, other apps) and spread or "
                "cut their calls, or poll less often (health_interval)."
            ),
        )
    ]


def _app_token_refused(view: TargetView) -> list[Condition]:
    """debug_token refused the app token the watchdog was given: the expiry goes unwatched, so
    the token could expire without a warning."""
    state = view.endpoints.get(Endpoint.TOKEN)
    last = state.last if state is not None else None
    if last is None or last.ok or not has_app_token(view.target):
        return []
    if last.result.reason not in (GRAPH_TOKEN, GRAPH_PERMISSION, GRAPH_OTHER):
        return []
    return [
        Condition(
            summary=(
                f"The watchdog cannot read when the access token of {view.target.name} expires"
            ),
            description=(
                f"debug_token refuses the app token ({last.result.detail}), so no warning "
                "comes before the access token expires. Give the watchdog a valid app token "
                "of the app the system user's token belongs to ('<app id>|<app secret>', "
                "WA_CLOUD_APP_TOKEN_FILE or the target's app_token_file: it is re-read on "
                "change), or none at all: the token then inspects itself where Meta allows it."
            ),
        )
    ]


def token_expiring(view: TargetView, *, within: float) -> list[Condition]:
    refused = _app_token_refused(view)
    if refused:
        return refused
    observation = view.recent(Endpoint.TOKEN)
    info = observation.token if observation is not None else None
    if info is None:
        return []
    renew = (
        "Issue a new system user token in Business Manager (one that never expires, if policy "
        "allows) and write it where the watchdog reads it (WA_CLOUD_ACCESS_TOKEN_FILE or the "
        "target's access_token_file: it is re-read on change), and replace it wherever else "
        "it sends messages."
    )
    if info.is_valid is False:
        error = info.error
        code = ""
        if error is not None and error.code is not None:
            code = f" (Graph error {error.code}" + (
                f", subcode {error.subcode})" if error.subcode is not None else ")"
            )
        return [
            Condition(
                summary=f"WhatsApp Cloud access token of {view.target.name} is not valid",
                description=(
                    f"debug_token says the token is not valid{code}: every call made with it "
                    f"fails. {renew}"
                ),
            )
        ]
    if info.expires_at is None or info.expires_at - view.now >= within:
        return []  # None: the token never expires
    when = "expired" if info.expires_at <= view.now else "expires"
    return [
        Condition(
            summary=f"WhatsApp Cloud access token of {view.target.name} {when} on "
            f"{_utc(info.expires_at)}",
            description=(
                f"debug_token says the token {when} on {_utc(info.expires_at)} (the rule warns "
                f"{format_duration(within)} ahead); from then on every poll and every send "
                f"made with it fail with Graph error 190. {renew}"
            ),
        )
    ]
