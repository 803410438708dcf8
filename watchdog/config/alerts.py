"""Per-rule alert settings: ``alerts.<rule>.<key>`` in YAML, ``WATCHDOG_ALERT_<RULE>_<KEY>`` in
the environment (rule and key upper-cased), the environment winning key by key.

The rules, their keys and their defaults are declared once, in `watchdog.alerts.rules`; this
module gathers them into ``Settings.alerts`` and derives the names and hints the loader
(`watchdog.config.sources`) checks the file and the environment with.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.alerts.rules import (
    RULES,
    AuthRejected,
    CloudBlocked,
    CloudLimitDropped,
    CloudLimited,
    CloudNotConnected,
    CloudQualityLow,
    CloudRateLimitNear,
    GatewayDegraded,
    GatewayDown,
    HealthFailing,
    NotRegistered,
    Overloaded,
    QueueBacklog,
    RateLimitSpike,
    Rule,
    TokenExpiring,
    Unreachable,
)
from watchdog.api.gateways import Expectation

__all__ = [
    "ALERT_ENV_PREFIX",
    "ALERT_RULES",
    "AlertSettings",
    "alert_variable",
    "alert_variable_hint",
    "alert_variables",
    "is_alert_variable",
    "rule_hint",
    "rule_key_hint",
    "rule_keys",
]

# Rule key (YAML and environment) -> the alertname its alerts carry.
ALERT_RULES: dict[str, str] = {rule.key: rule.alertname for rule in RULES}

ALERT_ENV_PREFIX = "WATCHDOG_ALERT_"
# Names close enough to the pattern to be meant for it: reported, not silently ignored.
_NEAR_PREFIXES = (ALERT_ENV_PREFIX, "WATCHDOG_ALERTS_")


class AlertSettings(BaseModel):
    """The settings of every rule; field names are the rule keys of ``ALERT_RULES``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Spelled out rather than built from RULES, so each rule's settings keep their own type for
    # the type checker (`alerts.gateway_down.expected_shards`); `_check_fields` keeps the two
    # the same.
    overloaded: Overloaded = Field(default_factory=Overloaded)
    rate_limit_spike: RateLimitSpike = Field(default_factory=RateLimitSpike)
    health_failing: HealthFailing = Field(default_factory=HealthFailing)
    gateway_down: GatewayDown = Field(default_factory=GatewayDown)
    gateway_degraded: GatewayDegraded = Field(default_factory=GatewayDegraded)
    unreachable: Unreachable = Field(default_factory=Unreachable)
    auth_rejected: AuthRejected = Field(default_factory=AuthRejected)
    not_registered: NotRegistered = Field(default_factory=NotRegistered)
    queue_backlog: QueueBacklog = Field(default_factory=QueueBacklog)
    cloud_blocked: CloudBlocked = Field(default_factory=CloudBlocked)
    cloud_limited: CloudLimited = Field(default_factory=CloudLimited)
    cloud_quality_low: CloudQualityLow = Field(default_factory=CloudQualityLow)
    cloud_limit_dropped: CloudLimitDropped = Field(default_factory=CloudLimitDropped)
    cloud_rate_limit_near: CloudRateLimitNear = Field(default_factory=CloudRateLimitNear)
    cloud_not_connected: CloudNotConnected = Field(default_factory=CloudNotConnected)
    token_expiring: TokenExpiring = Field(default_factory=TokenExpiring)

    def rule(self, name: str) -> Rule:
        """One rule's settings by its key (``"gateway_down"``); ``KeyError`` for other names."""
        if name not in ALERT_RULES:
            raise KeyError(f"unknown alert rule {name!r}{rule_hint(name)}")
        settings: Rule = getattr(self, name)
        return settings

    def rules(self) -> dict[str, Rule]:
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


def _check_fields() -> None:
    """Fail at import unless `AlertSettings` holds every rule of RULES, in order, by its key."""
    fields = [(name, field.annotation) for name, field in AlertSettings.model_fields.items()]
    declared = [(rule.key, rule) for rule in RULES]
    if fields != declared:
        raise RuntimeError(
            f"AlertSettings holds {[name for name, _ in fields]}, but RULES declares "
            f"{[key for key, _ in declared]}: list every rule, in order, typed as itself"
        )


_check_fields()

_RULE_KEYS: dict[str, tuple[str, ...]] = {rule.key: rule.keys() for rule in RULES}


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
