"""The Cloud API's alert rules: Meta's answers about a number, its WABA and its token.

Declared like every rule (`watchdog.alerts.rule`); what each one checks is in
`watchdog.alerts.cloud_checks`. The failure rules (unreachable, health failing, credentials
rejected) are the On-Premises ones, in `watchdog.alerts.rules`: they apply to both kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from watchdog.alerts import cloud_checks
from watchdog.alerts.checks import Condition, TargetView
from watchdog.alerts.rule import Rule
from watchdog.base.durations import format_duration, parse_duration
from watchdog.base.values import AlertDuration, Count

__all__ = [
    "CLOUD_RULES",
    "CloudBlocked",
    "CloudLimitDropped",
    "CloudLimited",
    "CloudNotConnected",
    "CloudQualityLow",
    "CloudRateLimitNear",
    "TokenExpiring",
]

# The Cloud parameters reach further than the hour the other timings allow: Meta's states last
# days, a limit drop is worth a day's warning, a token's expiry a week's.
MAX_HOLD = 7 * 86400.0
MAX_WITHIN = 90 * 86400.0


def _span(maximum: float) -> Callable[[object], float]:
    def check(value: object) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= maximum:
            raise ValueError(
                f"must be more than 0s and at most {format_duration(maximum)} "
                f"(got {format_duration(seconds)})"
            )
        return seconds

    return check


def _percentage(value: int) -> int:
    # Graph may throttle from 100 % (reference §4): a threshold above it would never warn ahead.
    if value > 100:
        raise ValueError(f"must be at most 100, a percentage of the hourly allowance (got {value})")
    return value


Hold = Annotated[float, BeforeValidator(_span(MAX_HOLD))]
Within = Annotated[float, BeforeValidator(_span(MAX_WITHIN))]
Percentage = Annotated[Count, AfterValidator(_percentage)]


# The Cloud API rules judge Meta's answers: settled states (a block, a limit, a rating, a token's
# expiry date) polled minutes apart (the number every 5m, the WABA every 15m, the token daily).
# `for` is 0s: waiting would only add whole poll intervals to what Meta already decided.
# `keep_firing_for` is 10m, two polls of the number: a failed poll leaves the last good answer
# standing while it is fresh, so this only bridges an answer that changed back and forth.
_CLOUD_KEEP = 600.0


class CloudBlocked(Rule):
    """``WhatsAppCloudBlocked``: an entity behind a Cloud API number (the number, its WABA,
    business or app) cannot send messages: ``can_send_message`` BLOCKED in the number's or the
    WABA's health status. One alert per entity; a BLOCKED that concerns only calling
    (``can_receive_call_sip``) does not count."""

    key = "cloud_blocked"
    alertname = "WhatsAppCloudBlocked"
    severity = "critical"

    keep_firing_for: AlertDuration = _CLOUD_KEEP

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_blocked(view)


class CloudLimited(Rule):
    """``WhatsAppCloudLimited``: an entity behind a Cloud API number can send messages only
    with limits (``can_send_message`` LIMITED, with Meta's ``additional_info``). One alert per
    entity."""

    key = "cloud_limited"
    alertname = "WhatsAppCloudLimited"
    severity = "warning"

    keep_firing_for: AlertDuration = _CLOUD_KEEP

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_limited(view)


class CloudQualityLow(Rule):
    """``WhatsAppCloudQualityLow``: a Cloud API number's quality rating is RED."""

    key = "cloud_quality_low"
    alertname = "WhatsAppCloudQualityLow"
    severity = "warning"

    keep_firing_for: AlertDuration = _CLOUD_KEEP

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_quality_low(view)


class CloudLimitDropped(Rule):
    """``WhatsAppCloudLimitDropped``: a Cloud API number's messaging limit or throughput level
    is lower than at an earlier poll; for at most ``hold`` after the drop, or until it climbs
    back."""

    key = "cloud_limit_dropped"
    alertname = "WhatsAppCloudLimitDropped"
    severity = "warning"

    keep_firing_for: AlertDuration = _CLOUD_KEEP
    hold: Hold = 86400.0

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_limit_dropped(view, hold=self.hold)


class CloudRateLimitNear(Rule):
    """``WhatsAppCloudRateLimitNear``: a usage of the business use case rate limit (the Graph
    answers' X-Business-Use-Case-Usage) at ``threshold`` percent or more, or Graph throttling
    the watchdog's polls."""

    key = "cloud_rate_limit_near"
    alertname = "WhatsAppCloudRateLimitNear"
    severity = "warning"

    keep_firing_for: AlertDuration = _CLOUD_KEEP
    threshold: Percentage = 80

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_rate_limit_near(view, threshold=self.threshold)


class CloudNotConnected(Rule):
    """``WhatsAppCloudNotConnected``: a Cloud API number's status is not CONNECTED (it neither
    sends nor receives), or its platform is not CLOUD_API."""

    key = "cloud_not_connected"
    alertname = "WhatsAppCloudNotConnected"
    severity = "critical"

    keep_firing_for: AlertDuration = _CLOUD_KEEP

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.cloud_not_connected(view)


class TokenExpiring(Rule):
    """``WhatsAppTokenExpiring``: debug_token says a Cloud target's access token expires within
    ``within``, or is not valid. A token that never expires never warns."""

    key = "token_expiring"
    alertname = "WhatsAppTokenExpiring"
    severity = "warning"

    keep_firing_for: AlertDuration = _CLOUD_KEEP
    within: Within = 7 * 86400.0

    def check(self, view: TargetView) -> list[Condition]:
        return cloud_checks.token_expiring(view, within=self.within)


CLOUD_RULES: tuple[type[Rule], ...] = (
    CloudBlocked,
    CloudLimited,
    CloudQualityLow,
    CloudLimitDropped,
    CloudRateLimitNear,
    CloudNotConnected,
    TokenExpiring,
)
