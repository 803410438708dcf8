"""What every alert rule is: a frozen settings model with a key, an alertname, a severity,
parameters and a check.

A rule's fields, with their defaults, are the keys of ``alerts.<key>`` in YAML and of
``WATCHDOG_ALERT_<KEY>_<PARAM>`` in the environment (`watchdog.config.alerts` reads them); its
docstring is its help text; an instance is a configured rule, which is what the engine
evaluates. The rules themselves are in `watchdog.alerts.rules` (On-Premises, and the failure
rules both kinds share) and `watchdog.alerts.cloud_rules` (the Cloud API's).

Every rule has ``enabled``, ``for`` (how long its condition must hold before it fires) and
``keep_firing_for`` (how long the condition must be clear before it resolves: hysteresis
against a flapping API); some have parameters of their own. ``for`` is a Python keyword, so
the attribute is ``for_``; the YAML key, the variable and ``effective()`` say ``for``. A rule
that sets its own ``for`` repeats the alias, since a field redeclared without it loses it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from watchdog.alerts.checks import Condition, TargetView
from watchdog.base.durations import format_duration
from watchdog.base.values import AlertDuration, Flag

__all__ = ["Rule"]

# Keys given as durations, written back with format_duration.
_DURATIONS = frozenset({"for", "keep_firing_for", "window", "connecting_for", "hold", "within"})
# The fields every rule has; the others are its parameters.
_COMMON = frozenset({"enabled", "for_", "keep_firing_for"})


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
