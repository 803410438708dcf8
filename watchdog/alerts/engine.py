"""The alert lifecycle: inactive → pending → firing → resolved, per alert instance.

Evaluated for a target right after each of its polls is recorded (detection latency is one
poll), plus a light periodic tick so time-based transitions (`for` elapsed, hysteresis over)
happen even while an endpoint is backing off. `keep_firing_for` is the hysteresis: a firing
alert resolves only after its condition has been clear that long, so a flapping API does not
page on every flap.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from watchdog.alerts.checks import Condition, TargetView
from watchdog.alerts.cloud_rules import CLOUD_RULES
from watchdog.alerts.history import History
from watchdog.alerts.model import Alert, AlertState, AlertView, fingerprint
from watchdog.alerts.rules import Rule, default_rules
from watchdog.base.log import get_logger
from watchdog.state import Change, State

log = get_logger(__name__)

# Resolved alerts stay visible in /api/v1/alerts this long.
RESOLVED_VISIBLE = 900.0
# The longest an alert tick evaluates on the event loop before the loop gets a turn
# (issue #15: no step over 50 ms, with room for the slowdown of a busy machine).
TICK_BUDGET = 0.01


Notify = Callable[[Alert], None]


@dataclass
class _Tracked:
    alert: Alert
    last_true: float
    # Whether the last evaluation found the condition clear (a firing alert in hysteresis).
    clear: bool = False


class AlertEngine:
    """Evaluates the rules for each target and notifies on firing and resolved transitions.

    *rules* are the configured rules (`Settings.alerts.rules()`); the disabled ones are left
    out. Without them, every rule runs with its documented defaults.
    """

    def __init__(
        self,
        state: State,
        notify: Notify,
        *,
        rules: Iterable[Rule] | None = None,
        clock: Callable[[], float] = time.time,
        refresh: Notify | None = None,
    ) -> None:
        self.state = state
        self._notify = notify
        # Told when a firing alert's annotations change (counts in its description), so
        # periodic resends carry the current text; not a transition, so nobody is paged.
        self._refresh = refresh
        self.rules = [r for r in (default_rules() if rules is None else rules) if r.enabled]
        self.clock = clock
        self._horizon = max((r.lookback for r in self.rules), default=0.0)
        self._history: dict[str, History] = {}
        # Pending and firing alerts by target, then fingerprint: an evaluation touches one
        # target's alerts only, however many targets there are.
        self._active: dict[str, dict[str, _Tracked]] = {}
        # Oldest resolution first (re-inserted on every resolution), so expiry stops early. A
        # wall clock stepped back delays the expiry of the alerts before the step by as much.
        self._resolved: dict[str, Alert] = {}
        # The Cloud API's rules read a number's answers, which an On-Premises target never
        # has: skipping them there is a seventh of a tick at 2,000 targets.
        self._onprem_rules = [r for r in self.rules if not isinstance(r, CLOUD_RULES)]
        self._slices_of: tuple[frozenset[str], int] | None = None
        # True while a slice's chunks are queued on the loop (see `tick`).
        self._ticking = False
        self._slices: list[list[str]] = []

    def history(self, target: str) -> History:
        """The windowed events of *target* the rules count in (empty before its first poll)."""
        history = self._history.get(target)
        if history is None:
            history = self._history[target] = History(self._horizon)
        return history

    def on_change(self, change: Change) -> None:
        """A poll of `change.target` was recorded: update its history and evaluate it."""
        history = self.history(change.target)
        history.record(change.observation, self.state.get(change.target, change.endpoint))
        self.evaluate(change.target)

    def tick(self, part: int = 0, parts: int = 1) -> None:
        """Evaluate every target, or the `part`-th of `parts` slices of them: time-based
        transitions without a new poll.

        Thousands of targets take a good part of a second to evaluate, on the event loop; in
        slices, one every `1/parts` of the tick period, no poll waits that long. On a running
        event loop (the daemon's) a slice is evaluated in chunks of `TICK_BUDGET` seconds, each
        a step of its own behind whatever is ready: a fifth of 2,000 targets took 40 to 90 ms
        in one step. Elsewhere (`watchdog check`, tests) it is evaluated before this returns.
        """
        if self._ticking:
            # The slice before is still being evaluated (an overloaded loop): this one waits
            # for its next turn rather than pile up behind it.
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._evaluate_from(self._slice(part, parts), 0, loop)

    def _evaluate_from(
        self, names: list[str], start: int, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        began = time.perf_counter()
        self._ticking = False
        for at in range(start, len(names)):
            self.evaluate(names[at])
            more = at + 1 < len(names)
            if more and loop is not None and time.perf_counter() - began >= TICK_BUDGET:
                loop.call_soon(self._evaluate_from, names, at + 1, loop)
                self._ticking = True
                return

    def _slice(self, part: int, parts: int) -> list[str]:
        """The targets of the `part`-th slice (by a stable hash of the name), in name order.
        Kept while the targets stay the same: sorting and hashing 2,000 names on every tick
        took a tenth of its time."""
        names = {t.name for t in self.state.targets}
        # Targets that left the configuration still have alerts to resolve.
        names.update(self._active)
        key = (frozenset(names), parts)
        if key != self._slices_of:
            slices: list[list[str]] = [[] for _ in range(parts)]
            for name in sorted(names):
                slices[zlib.crc32(name.encode()) % parts].append(name)
            self._slices_of, self._slices = key, slices
        return self._slices[part]

    def evaluate(self, target_name: str, now: float | None = None) -> list[Alert]:
        """Apply the rules to one target; returns the alerts that changed state."""
        target = self.state.target(target_name)
        when = self.clock() if now is None else now
        if target is None:
            return self._forget(target_name, when)
        view = TargetView(
            target=target,
            endpoints=self.state.endpoints(target_name),
            history=self.history(target_name),
            now=when,
            gateway=self.state.gateway(target_name, when),
            cloud=self.state.cloud_memory(target_name),
        )
        holding: dict[str, tuple[Rule, Condition, dict[str, str]]] = {}
        for rule in self.rules if target.kind == "cloud" else self._onprem_rules:
            try:
                conditions = rule.check(view)
            except Exception:  # a rule's bug must not stop the others or the poller
                log.exception("alert_rule_failed", rule=rule.alertname, target=target_name)
                continue
            for condition in conditions:
                labels = {
                    "alertname": rule.alertname,
                    "severity": rule.severity,
                    "target": target_name,
                    **condition.labels,
                }
                holding[fingerprint(labels)] = (rule, condition, labels)
        changed = self._step(target_name, holding, when)
        self._expire_resolved(when)
        return changed

    def _step(
        self,
        target_name: str,
        holding: dict[str, tuple[Rule, Condition, dict[str, str]]],
        now: float,
    ) -> list[Alert]:
        changed: list[Alert] = []
        active = self._active.setdefault(target_name, {})
        for key, (rule, condition, labels) in holding.items():
            annotations = {"summary": condition.summary, "description": condition.description}
            tracked = active.get(key)
            if tracked is None:
                alert = Alert(labels, annotations, AlertState.PENDING, active_since=now)
                tracked = active[key] = _Tracked(alert, now)
                log.debug("alert_pending", alertname=rule.alertname, target=target_name)
            tracked.last_true = now
            tracked.clear = False
            refreshed = tracked.alert.state is AlertState.FIRING and (
                tracked.alert.annotations != annotations
            )
            alert = replace(tracked.alert, annotations=annotations)
            if refreshed and self._refresh is not None:
                self._deliver(self._refresh, alert)
            if alert.state is AlertState.PENDING and now - alert.active_since >= rule.for_:
                alert = replace(alert, state=AlertState.FIRING, starts_at=now)
                changed.append(alert)
            tracked.alert = alert
        for key in [k for k in active if k not in holding]:
            tracked = active[key]
            owner = self._rule(tracked.alert.name)
            keep = owner.keep_firing_for if owner else 0.0
            tracked.clear = True
            if tracked.alert.state is AlertState.PENDING:
                del active[key]
            elif now - tracked.last_true >= keep:
                del active[key]
                resolved = replace(tracked.alert, state=AlertState.RESOLVED, ends_at=now)
                self._keep_resolved(resolved)
                changed.append(resolved)
        if not active:
            del self._active[target_name]
        for alert in changed:
            if alert.state is AlertState.FIRING:
                self._resolved.pop(alert.fingerprint, None)  # a new incident replaces the old
            self._deliver(self._notify, alert)
        return changed

    @staticmethod
    def _deliver(notify: Notify, alert: Alert) -> None:
        try:
            notify(alert)
        except Exception:  # a sink's bug must not stop evaluation
            log.exception("alert_notify_failed", alertname=alert.name)

    def _rule(self, alertname: str) -> Rule | None:
        return next((r for r in self.rules if r.alertname == alertname), None)

    def _forget(self, target_name: str, now: float) -> list[Alert]:
        """A target left the configuration: resolve its alerts rather than leave them firing."""
        changed = []
        for tracked in self._active.pop(target_name, {}).values():
            if tracked.alert.state is AlertState.FIRING:
                resolved = replace(tracked.alert, state=AlertState.RESOLVED, ends_at=now)
                self._keep_resolved(resolved)
                changed.append(resolved)
                self._deliver(self._notify, resolved)
        self._history.pop(target_name, None)
        return changed

    def _keep_resolved(self, alert: Alert) -> None:
        self._resolved.pop(alert.fingerprint, None)  # to the end: the newest resolution
        self._resolved[alert.fingerprint] = alert

    def _expire_resolved(self, now: float) -> None:
        # Oldest first, so the scan ends at the first one still visible.
        while self._resolved:
            key, alert = next(iter(self._resolved.items()))
            if now - (alert.ends_at or now) <= RESOLVED_VISIBLE:
                return
            del self._resolved[key]

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts, then those resolved in the last 15 minutes."""
        active = [t.alert for alerts in self._active.values() for t in alerts.values()]
        return active + list(self._resolved.values())

    def views(self, now: float | None = None) -> list[AlertView]:
        """`alerts()` with the time left until each one's next transition, for people."""
        when = self.clock() if now is None else now
        views = []
        for tracked in (t for alerts in self._active.values() for t in alerts.values()):
            alert, rule = tracked.alert, self._rule(tracked.alert.name)
            for_left = keep_left = None
            if rule is not None and alert.state is AlertState.PENDING:
                for_left = max(0.0, rule.for_ - (when - alert.active_since))
            elif rule is not None and tracked.clear:
                keep_left = max(0.0, rule.keep_firing_for - (when - tracked.last_true))
            views.append(AlertView(alert, for_left, keep_left))
        views.extend(AlertView(alert) for alert in self._resolved.values())
        return views

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Alerts per (alertname, severity, state) for pending and firing, zeros included."""
        counts = {
            (rule.alertname, rule.severity, state.value): 0
            for rule in self.rules
            for state in (AlertState.PENDING, AlertState.FIRING)
        }
        for tracked in (t for alerts in self._active.values() for t in alerts.values()):
            alert = tracked.alert
            key = (alert.name, alert.severity, alert.state.value)
            counts[key] = counts.get(key, 0) + 1
        return counts


def notify_all(sinks: Iterable[Callable[[Alert], None]]) -> Notify:
    """One `notify` that hands each transition to every sink."""
    targets = list(sinks)

    def notify(alert: Alert) -> None:
        for submit in targets:
            submit(alert)

    return notify
