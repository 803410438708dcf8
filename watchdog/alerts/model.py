"""The alert as every part of alerting sees it: identity, lifecycle state, and what to say."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class AlertState(StrEnum):
    """Lifecycle: inactive → pending → firing → resolved (then forgotten or pending again)."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: dict[str, str]) -> str:
    """A stable identity for a label set (the same in every replica and process)."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert instance at one moment.

    `labels` always hold `alertname`, `severity`, `target` and, where it applies, `node`;
    they must be identical across watchdog replicas (no replica label) so Alertmanager
    deduplicates. `annotations` hold `summary` and `description`. Times are epoch seconds;
    `ends_at` is set once the alert resolved.
    """

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_since: float  # when the condition became true (pending started)
    starts_at: float | None = None  # when it started firing
    ends_at: float | None = None  # when it resolved
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def name(self) -> str:
        return self.labels["alertname"]

    @property
    def severity(self) -> str:
        return self.labels["severity"]


@dataclass(frozen=True)
class AlertView:
    """An alert as people read it on the status page: how long until its next transition.

    `for_left`: a pending alert fires after this many seconds if its condition holds.
    `keep_firing_left`: a firing alert whose condition is already clear resolves after this
    many seconds unless it comes back (`keep_firing_for`). None where it does not apply."""

    alert: Alert
    for_left: float | None = None
    keep_firing_left: float | None = None
