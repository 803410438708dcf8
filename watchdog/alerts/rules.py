"""The alert rules, each declared once: key, alertname, severity, parameters, help and check.

A rule is a frozen settings model. Its fields, with their defaults, are the keys of
``alerts.<key>`` in YAML and of ``WATCHDOG_ALERT_<KEY>_<PARAM>`` in the environment
(`watchdog.config.alerts` reads them); its docstring is its help text; an instance is a
configured rule, which is what the engine evaluates. What a rule checks is in
`watchdog.alerts.checks`.

Every rule has ``enabled``, ``for`` (how long its condition must hold before it fires) and
``keep_firing_for`` (how long the condition must be clear before it resolves: hysteresis
against a flapping API); some have parameters of their own. ``for`` is a Python keyword, so
the attribute is ``for_``; the YAML key, the variable and ``effective()`` say ``for``. A rule
that sets its own ``for`` repeats the alias, since a field redeclared without it loses it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from watchdog.alerts import checks, cloud_checks
from watchdog.alerts.checks import Condition, TargetView
from watchdog.api.gateways import DEFAULT_CONNECTING_LIMIT, Expectation
from watchdog.base.durations import format_duration, parse_duration
from watchdog.base.values import AlertDuration, AlertWindow, Count, ExpectedShards, Flag, Ratio

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

# Keys given as durations, written back with format_duration.
_DURATIONS = frozenset({"for", "keep_firing_for", "window", "connecting_for", "hold", "within"})
# The fields every rule has; the others are its parameters.
_COMMON = frozenset({"enabled", "for_", "keep_firing_for"})

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


class Rule(BaseModel, ABC):
    """What every rule has. Durations are float seconds; the subclasses set each rule's
    defaults, add its parameters and say what it checks."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    key: ClassVar[str]  # the settings key: `alerts.<key>`, WATCHDOG_ALERT_<KEY>_*
    alertname: ClassVar[str]
    severity: ClassVar[str]

    enabled: Flag = True
    for_: AlertDuration = Field(default=0.0, alias="for")
    keep_firing_for: AlertDuration = 60.0

    @abstractmethod
    def check(self, view: TargetView) -> list[Condition]:
        """The conditions that hold for the target now."""

    @property
    def lookback(self) -> float:
        """How much of the target's history the check reads, in seconds."""
        return 0.0

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The rule's keys as written in YAML (``for``, not ``for_``), in order."""
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    @property
    def params(self) -> dict[str, Any]:
        """The rule's own parameters (everything but enabled, for, keep_firing_for)."""
        return {
            name: getattr(self, name) for name in type(self).model_fields if name not in _COMMON
        }

    def effective(self) -> dict[str, Any]:
        """Plain data keyed by YAML key, durations written like the other settings."""
        values: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            key = field.alias or name
            value = getattr(self, name)
            values[key] = format_duration(value) if key in _DURATIONS else value
        return values


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
    leave the watchdog blind; a Graph error Meta calls temporary only after ``transient_polls``
    failures in a row; Graph throttling is ``cloud_rate_limit_near``'s). ``for`` is also the
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


# The Cloud API rules judge Meta's answers: settled states (a block, a limit, a rating, a token's
# expiry date) polled minutes apart (the number every 5m, the WABA every 15m, the token daily).
# `for` is 0s: waiting would only add whole poll intervals to what Meta already decided.
# `keep_firing_for` is 10m, two polls of the number: they read only a fresh answer of a poll that
# succeeded, so one failed or late poll must not resolve an alert that the next poll fires again.
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
    CloudBlocked,
    CloudLimited,
    CloudQualityLow,
    CloudLimitDropped,
    CloudRateLimitNear,
    CloudNotConnected,
    TokenExpiring,
)


def default_rules() -> tuple[Rule, ...]:
    """Every rule with its documented defaults."""
    return tuple(rule() for rule in RULES)
