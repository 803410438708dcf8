"""Per-rule alert settings: ``alerts.<rule>.<key>`` in YAML, ``WATCHDOG_ALERT_<RULE>_<KEY>`` in
the environment (rule and key upper-cased), the environment winning key by key.

Every rule has ``enabled``, ``for`` (how long its condition must hold before it fires) and
``keep_firing_for`` (how long the condition must be clear before it resolves: hysteresis
against a flapping API); some have parameters of their own. ``for`` is a Python keyword, so
the attribute is ``for_``; the YAML key, the variable and ``effective()`` say ``for``.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.api.gateways import Expectation
from watchdog.config.durations import format_duration
from watchdog.config.values import (
    AlertDuration,
    AlertWindow,
    Count,
    ExpectedShards,
    Flag,
    Ratio,
)

__all__ = [
    "ALERT_ENV_PREFIX",
    "ALERT_RULES",
    "AlertSettings",
    "AuthRejectedSettings",
    "GatewayDegradedSettings",
    "GatewayDownSettings",
    "HealthFailingSettings",
    "NotRegisteredSettings",
    "OverloadedSettings",
    "QueueBacklogSettings",
    "RateLimitSpikeSettings",
    "RuleSettings",
    "UnreachableSettings",
    "alert_variable",
    "alert_variable_hint",
    "alert_variables",
    "is_alert_variable",
    "rule_hint",
    "rule_key_hint",
    "rule_keys",
]

# Rule key (YAML and environment) -> the alertname its alerts carry.
ALERT_RULES: dict[str, str] = {
    "overloaded": "WhatsAppOverloaded",
    "rate_limit_spike": "WhatsAppRateLimitSpike",
    "health_failing": "WhatsAppHealthFailing",
    "gateway_down": "WhatsAppGatewayDown",
    "gateway_degraded": "WhatsAppGatewayDegraded",
    "unreachable": "WhatsAppUnreachable",
    "auth_rejected": "WhatsAppAuthRejected",
    "not_registered": "WhatsAppNotRegistered",
    "queue_backlog": "WhatsAppQueueBacklog",
}

ALERT_ENV_PREFIX = "WATCHDOG_ALERT_"
# Names close enough to the pattern to be meant for it: reported, not silently ignored.
_NEAR_PREFIXES = (ALERT_ENV_PREFIX, "WATCHDOG_ALERTS_")
# Keys given as durations, written back with format_duration.
_DURATIONS = frozenset({"for", "keep_firing_for", "window", "connecting_for"})
# The fields every rule has; the others are its parameters.
_COMMON = frozenset({"enabled", "for_", "keep_firing_for"})


class RuleSettings(BaseModel):
    """What every rule has. Durations are float seconds; the subclasses set each rule's
    defaults and add its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)

    enabled: Flag = True
    for_: AlertDuration = Field(default=0.0, alias="for")
    keep_firing_for: AlertDuration = 60.0

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


class OverloadedSettings(RuleSettings):
    """``WhatsAppOverloaded``: 503 (code 1016) answers within ``window``."""

    for_: AlertDuration = Field(default=0.0, alias="for")
    keep_firing_for: AlertDuration = 120.0
    window: AlertWindow = 60.0


class RateLimitSpikeSettings(RuleSettings):
    """``WhatsAppRateLimitSpike``: at least ``threshold`` 429 answers within ``window``, or 429s
    making up at least ``ratio`` of the requests the API counted."""

    for_: AlertDuration = Field(default=0.0, alias="for")
    keep_firing_for: AlertDuration = 120.0
    window: AlertWindow = 60.0
    threshold: Count = 5
    ratio: Ratio = 0.05


class HealthFailingSettings(RuleSettings):
    """``WhatsAppHealthFailing``: health fails for a reason no other rule speaks for (1011 not
    ready, another API error, 404, an unusable answer, 429s that leave the watchdog blind).
    ``for`` is also the grace of a Webapp that is starting (it answers 1011 until ready)."""

    for_: AlertDuration = Field(default=60.0, alias="for")
    keep_firing_for: AlertDuration = 60.0


class GatewayDownSettings(RuleSettings):
    """``WhatsAppGatewayDown``: fewer connected gateways than ``expected_shards`` (0: the number
    of coreapps seen connected at the first health answer)."""

    for_: AlertDuration = Field(default=30.0, alias="for")
    keep_firing_for: AlertDuration = 60.0
    expected_shards: ExpectedShards = 0


class GatewayDegradedSettings(RuleSettings):
    """``WhatsAppGatewayDegraded``: a multiconnect primary master not connected, or a gateway
    ``connecting`` for longer than ``connecting_for``."""

    for_: AlertDuration = Field(default=60.0, alias="for")
    keep_firing_for: AlertDuration = 60.0
    connecting_for: AlertDuration = 300.0


class UnreachableSettings(RuleSettings):
    """``WhatsAppUnreachable``: the health endpoint cannot be reached."""

    for_: AlertDuration = Field(default=30.0, alias="for")
    keep_firing_for: AlertDuration = 60.0


class AuthRejectedSettings(RuleSettings):
    """``WhatsAppAuthRejected``: the API refuses the watchdog's credentials."""

    for_: AlertDuration = Field(default=0.0, alias="for")
    keep_firing_for: AlertDuration = 60.0


class NotRegisteredSettings(RuleSettings):
    """``WhatsAppNotRegistered``: a node is unregistered or still setting up."""

    for_: AlertDuration = Field(default=60.0, alias="for")
    keep_firing_for: AlertDuration = 60.0


class QueueBacklogSettings(RuleSettings):
    """``WhatsAppQueueBacklog``: a queue in the app stats above its limit."""

    for_: AlertDuration = Field(default=60.0, alias="for")
    keep_firing_for: AlertDuration = 120.0
    pending_messages: Count = 50_000
    callback_queue_size: Count = 50_000


class AlertSettings(BaseModel):
    """The settings of every rule; field names are the rule keys of ``ALERT_RULES``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    overloaded: OverloadedSettings = Field(default_factory=OverloadedSettings)
    rate_limit_spike: RateLimitSpikeSettings = Field(default_factory=RateLimitSpikeSettings)
    health_failing: HealthFailingSettings = Field(default_factory=HealthFailingSettings)
    gateway_down: GatewayDownSettings = Field(default_factory=GatewayDownSettings)
    gateway_degraded: GatewayDegradedSettings = Field(default_factory=GatewayDegradedSettings)
    unreachable: UnreachableSettings = Field(default_factory=UnreachableSettings)
    auth_rejected: AuthRejectedSettings = Field(default_factory=AuthRejectedSettings)
    not_registered: NotRegisteredSettings = Field(default_factory=NotRegisteredSettings)
    queue_backlog: QueueBacklogSettings = Field(default_factory=QueueBacklogSettings)

    def rule(self, name: str) -> RuleSettings:
        """One rule's settings by its key (``"gateway_down"``); ``KeyError`` for other names."""
        if name not in ALERT_RULES:
            raise KeyError(f"unknown alert rule {name!r}{rule_hint(name)}")
        settings: RuleSettings = getattr(self, name)
        return settings

    def rules(self) -> dict[str, RuleSettings]:
        """Every rule's settings by key, in ``ALERT_RULES`` order."""
        return {name: self.rule(name) for name in ALERT_RULES}

    def effective(self) -> dict[str, dict[str, Any]]:
        return {name: rule.effective() for name, rule in self.rules().items()}

    def expectation(self) -> Expectation:
        """What the gateways should be, for every reader of the gateway verdict."""
        return Expectation(
            shards=self.gateway_down.expected_shards,
            connecting_limit=self.gateway_degraded.connecting_for,
        )


def _rule_class(rule: str) -> type[RuleSettings]:
    annotation = AlertSettings.model_fields[rule].annotation
    assert isinstance(annotation, type)
    assert issubclass(annotation, RuleSettings)
    return annotation


_RULE_KEYS: dict[str, tuple[str, ...]] = {rule: _rule_class(rule).keys() for rule in ALERT_RULES}


def rule_keys(rule: str) -> tuple[str, ...]:
    """A rule's YAML keys: ``("enabled", "for", "keep_firing_for", "window")``."""
    return _RULE_KEYS[rule]


def alert_variable(rule: str, key: str) -> str:
    """``("rate_limit_spike", "threshold")`` -> ``WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD``."""
    return f"{ALERT_ENV_PREFIX}{rule.upper()}_{key.upper()}"


_VARIABLES: dict[str, tuple[str, str]] = {
    alert_variable(rule, key): (rule, key) for rule, keys in _RULE_KEYS.items() for key in keys
}


def alert_variables() -> dict[str, tuple[str, str]]:
    """Every alert variable -> (rule, YAML key)."""
    return dict(_VARIABLES)


def is_alert_variable(name: str) -> bool:
    """Whether ``name`` is meant as an alert variable (known or not): it is to be checked."""
    return name.startswith(_NEAR_PREFIXES)


def _upper(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(name.upper() for name in names)


def alert_variable_hint(name: str) -> str:
    """What to say after ``<name>: unknown variable`` for a ``WATCHDOG_ALERT_*`` name."""
    prefix = next((p for p in _NEAR_PREFIXES if name.startswith(p)), "")
    rest = name[len(prefix) :].upper()
    if f"{ALERT_ENV_PREFIX}{rest}" in _VARIABLES:
        # Only the case or the prefix is off.
        return f"; did you mean {ALERT_ENV_PREFIX + rest!r}?"
    for rule, keys in _RULE_KEYS.items():
        head = rule.upper()
        if rest == head:
            return (
                f"; name a parameter too: {ALERT_ENV_PREFIX}{head}_<PARAM> with PARAM one of "
                f"{_upper(keys)}"
            )
        if rest.startswith(f"{head}_"):
            close = difflib.get_close_matches(rest[len(head) + 1 :], [k.upper() for k in keys], 1)
            if close:
                return f"; did you mean {alert_variable(rule, close[0])!r}?"
            return f"; the parameters of {head} are {_upper(keys)}"
    known = [name[len(ALERT_ENV_PREFIX) :] for name in _VARIABLES]
    close = difflib.get_close_matches(rest, known, 1)
    if close:
        return f"; did you mean {ALERT_ENV_PREFIX + close[0]!r}?"
    return (
        f"; alert variables are {ALERT_ENV_PREFIX}<RULE>_<PARAM> with RULE one of "
        f"{_upper(list(ALERT_RULES))}"
    )


def rule_hint(rule: object) -> str:
    """What to say after ``unknown alert rule`` for a YAML key below ``alerts``."""
    by_alertname = {alertname: key for key, alertname in ALERT_RULES.items()}
    if rule in by_alertname:
        return f"; in the file, {rule} is called {by_alertname[str(rule)]!r}"
    close = difflib.get_close_matches(str(rule), list(ALERT_RULES), 1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known rules: {', '.join(ALERT_RULES)}"


def rule_key_hint(rule: str, key: object) -> str:
    """What to say after ``unknown key`` for a YAML key below ``alerts.<rule>``."""
    keys = list(_RULE_KEYS[rule])
    close = difflib.get_close_matches(str(key), keys, 1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys: {', '.join(keys)}"
