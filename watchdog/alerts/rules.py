"""The alert rules, each declared once: key, alertname, severity, parameters, help and check.

The On-Premises rules are here, among them the failure rules that apply to Cloud numbers too
(unreachable, health failing, credentials rejected); the Cloud API's own are in
`watchdog.alerts.cloud_rules`, what every rule is in `watchdog.alerts.rule`. What a rule checks
is in `watchdog.alerts.checks`. `RULES` lists them all.
"""

from __future__ import annotations

from pydantic import Field

from watchdog.alerts import checks
from watchdog.alerts.checks import Condition, TargetView
from watchdog.alerts.cloud_rules import (
    CLOUD_RULES,
    CloudBlocked,
    CloudLimitDropped,
    CloudLimited,
    CloudNotConnected,
    CloudQualityLow,
    CloudRateLimitNear,
    TokenExpiring,
)
from watchdog.alerts.rule import Rule
from watchdog.api.gateways import DEFAULT_CONNECTING_LIMIT, Expectation
from watchdog.base.values import AlertDuration, AlertWindow, Count, ExpectedShards, Ratio

__all__ = [
    "RULES",
    "AuthRejected",
    "CloudBlocked",
    "CloudLimitDropped",
    "CloudLimited",
    "CloudNotConnected",
    "CloudQualityLow",
    "CloudRateLimitNear",
    "GatewayDegraded",
    "GatewayDown",
    "HealthFailing",
    "NotRegistered",
    "Overloaded",
    "QueueBacklog",
    "RateLimitSpike",
    "Rule",
    "TokenExpiring",
    "Unreachable",
    "default_rules",
]


class Overloaded(Rule):
    """``WhatsAppOverloaded``: 503 (code 1016) answers within ``window``."""

    key = "overloaded"
    alertname = "WhatsAppOverloaded"
    severity = "critical"

    keep_firing_for: AlertDuration = 120.0
    window: AlertWindow = 60.0

    def check(self, view: TargetView) -> list[Condition]:
        return checks.overloaded(view, window=self.window)

    @property
    def lookback(self) -> float:
        return self.window


class RateLimitSpike(Rule):
    """``WhatsAppRateLimitSpike``: at least ``threshold`` 429 answers within ``window``, or 429s
    making up at least ``ratio`` of the requests the API counted."""

    key = "rate_limit_spike"
    alertname = "WhatsAppRateLimitSpike"
    severity = "warning"

    keep_firing_for: AlertDuration = 120.0
    window: AlertWindow = 60.0
    threshold: Count = 5
    ratio: Ratio = 0.05

    def check(self, view: TargetView) -> list[Condition]:
        return checks.rate_limit_spike(
            view, window=self.window, threshold=self.threshold, ratio=self.ratio
        )

    @property
    def lookback(self) -> float:
        return self.window


class HealthFailing(Rule):
    """``WhatsAppHealthFailing``: health (a Cloud number's own answer) fails for a reason no
    other rule speaks for (1011 not ready, another API error, 404, an unusable answer, 429s that
    leave the watchdog blind; a Graph error Meta calls temporary, or a Cloud number's unusable
    answer, only after ``transient_polls`` failures in a row; Graph throttling is
    ``cloud_rate_limit_near``'s). ``for`` is also the
    grace of a Webapp that is starting (it answers 1011 until ready)."""

    key = "health_failing"
    alertname = "WhatsAppHealthFailing"
    severity = "critical"

    for_: AlertDuration = Field(default=60.0, alias="for")
    transient_polls: Count = 3

    def check(self, view: TargetView) -> list[Condition]:
        return checks.health_failing(view, transient_polls=self.transient_polls)


# The gateway parameters say what the gateways should be: they configure the state's
# `Expectation` (`AlertSettings.expectation()`), so the status page, `check` and `/probe` judge
# the gateways as the alerts do, and no check reads them itself.


class GatewayDown(Rule):
    """``WhatsAppGatewayDown``: fewer connected gateways than ``expected_shards`` (0: the number
    of coreapps seen connected at the first health answer)."""

    key = "gateway_down"
    alertname = "WhatsAppGatewayDown"
    severity = "critical"

    for_: AlertDuration = Field(default=30.0, alias="for")
    expected_shards: ExpectedShards = Expectation().shards

    def check(self, view: TargetView) -> list[Condition]:
        return checks.gateway_down(view)


class GatewayDegraded(Rule):
    """``WhatsAppGatewayDegraded``: a multiconnect primary master not connected, or a gateway
    ``connecting`` for longer than ``connecting_for``."""

    key = "gateway_degraded"
    alertname = "WhatsAppGatewayDegraded"
    severity = "warning"

    for_: AlertDuration = Field(default=60.0, alias="for")
    connecting_for: AlertDuration = DEFAULT_CONNECTING_LIMIT

    def check(self, view: TargetView) -> list[Condition]:
        return checks.gateway_degraded(view)


class Unreachable(Rule):
    """``WhatsAppUnreachable``: the health endpoint cannot be reached (a Cloud number's Graph
    node: only after ``transient_polls`` failed polls in a row, as a blip on the way to Meta is
    no outage)."""

    key = "unreachable"
    alertname = "WhatsAppUnreachable"
    severity = "critical"

    for_: AlertDuration = Field(default=30.0, alias="for")
    transient_polls: Count = 3

    def check(self, view: TargetView) -> list[Condition]:
        return checks.unreachable(view, transient_polls=self.transient_polls)


class AuthRejected(Rule):
    """``WhatsAppAuthRejected``: the API refuses the watchdog's credentials (a Cloud target's
    token, or its permissions; not a debug_token refused for a permission, which only leaves
    the token's expiry unknown)."""

    key = "auth_rejected"
    alertname = "WhatsAppAuthRejected"
    severity = "critical"

    def check(self, view: TargetView) -> list[Condition]:
        return checks.auth_rejected(view)


class NotRegistered(Rule):
    """``WhatsAppNotRegistered``: a node is unregistered or still setting up."""

    key = "not_registered"
    alertname = "WhatsAppNotRegistered"
    severity = "warning"

    for_: AlertDuration = Field(default=60.0, alias="for")

    def check(self, view: TargetView) -> list[Condition]:
        return checks.not_registered(view)


class QueueBacklog(Rule):
    """``WhatsAppQueueBacklog``: a queue in the app stats above its limit."""

    key = "queue_backlog"
    alertname = "WhatsAppQueueBacklog"
    severity = "warning"

    for_: AlertDuration = Field(default=60.0, alias="for")
    keep_firing_for: AlertDuration = 120.0
    pending_messages: Count = 50_000
    callback_queue_size: Count = 50_000

    def check(self, view: TargetView) -> list[Condition]:
        return checks.queue_backlog(
            view,
            pending_messages=self.pending_messages,
            callback_queue_size=self.callback_queue_size,
        )


# Every rule, in the order the settings, the metrics and the documentation list them: the
# On-Premises rules (the failure rules apply to Cloud numbers too), then the Cloud API's.
RULES: tuple[type[Rule], ...] = (
    Overloaded,
    RateLimitSpike,
    HealthFailing,
    GatewayDown,
    GatewayDegraded,
    Unreachable,
    AuthRejected,
    NotRegistered,
    QueueBacklog,
    *CLOUD_RULES,
)


def default_rules() -> tuple[Rule, ...]:
    """Every rule with its documented defaults."""
    return tuple(rule() for rule in RULES)
