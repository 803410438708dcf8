"""The engine's alerts as people read them: how long until each one's next transition."""

from __future__ import annotations

from tests.unit.alerts.harness import T0, Harness
from watchdog.alerts.engine import RESOLVED_VISIBLE
from watchdog.alerts.model import AlertState, AlertView
from watchdog.alerts.rules import AuthRejected, Unreachable
from watchdog.api.endpoints import Endpoint


def left(views: list[AlertView]) -> list[tuple[str, AlertState, float | None, float | None]]:
    return [(v.alert.name, v.alert.state, v.for_left, v.keep_firing_left) for v in views]


UNREACHABLE = "WhatsAppUnreachable"


def test_a_pending_alert_counts_down_to_firing() -> None:
    """`for_left` is the rule's `for` less the time pending, by the clock or a given `now`."""
    h = Harness(rules=[Unreachable(for_=30, keep_firing_for=120)])
    h.fail(Endpoint.HEALTH, "connect", None)
    assert left(h.engine.views()) == [(UNREACHABLE, AlertState.PENDING, 30.0, None)]
    h.advance(12)
    assert left(h.engine.views()) == [(UNREACHABLE, AlertState.PENDING, 18.0, None)]
    assert left(h.engine.views(T0 + 25)) == [(UNREACHABLE, AlertState.PENDING, 5.0, None)]
    # Overdue but not yet evaluated: zero, never negative.
    assert left(h.engine.views(T0 + 45)) == [(UNREACHABLE, AlertState.PENDING, 0.0, None)]
    h.advance(18)
    h.fail(Endpoint.HEALTH, "timeout", None)
    assert left(h.engine.views()) == [(UNREACHABLE, AlertState.FIRING, None, None)]


def test_a_firing_alert_whose_condition_cleared_counts_down_to_resolving() -> None:
    """While its condition holds, a firing alert has no countdown; once clear, it resolves
    `keep_firing_for` after the condition was last true, and the countdown says when."""
    h = Harness(rules=[AuthRejected(keep_firing_for=120)])
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    h.advance(15)
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)  # last true at T0 + 15
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.FIRING, None, None)]
    h.advance(15)
    h.ok(Endpoint.HEALTH)  # clear from T0 + 30
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.FIRING, None, 105.0)]
    h.advance(104)
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.FIRING, None, 1.0)]
    h.advance(1)
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.FIRING, None, 0.0)]
    # Overdue but not yet evaluated: zero, never negative.
    assert left(h.engine.views(T0 + 200))[0][3] == 0.0
    h.engine.tick()
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.RESOLVED, None, None)]
    assert h.sent[-1].state is AlertState.RESOLVED
    assert h.sent[-1].ends_at == T0 + 135


def test_a_condition_back_within_the_hysteresis_stops_the_countdown() -> None:
    h = Harness(rules=[AuthRejected(keep_firing_for=120)])
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    h.advance(15)
    h.ok(Endpoint.HEALTH)  # last true at T0
    assert left(h.engine.views())[0][3] == 105.0
    h.advance(15)
    h.fail(Endpoint.HEALTH, "http_401", 401, 1005)
    assert left(h.engine.views()) == [("WhatsAppAuthRejected", AlertState.FIRING, None, None)]


def test_resolved_alerts_have_no_countdown_and_expire() -> None:
    h = Harness(rules=[AuthRejected(keep_firing_for=0), Unreachable(for_=30)])
    h.fail(Endpoint.METRICS, "http_401", 401, 1005)
    h.fail(Endpoint.HEALTH, "connect", None)
    h.advance(10)
    h.ok(Endpoint.METRICS)  # resolves at once (no hysteresis)
    views = {v.alert.name: v for v in h.engine.views()}
    assert left([views["WhatsAppAuthRejected"]]) == [
        ("WhatsAppAuthRejected", AlertState.RESOLVED, None, None)
    ]
    assert left([views[UNREACHABLE]]) == [(UNREACHABLE, AlertState.PENDING, 20.0, None)]
    # Views are the alerts of alerts(), in the same states.
    assert sorted((v.alert.name, v.alert.state) for v in h.engine.views()) == sorted(
        (a.name, a.state) for a in h.engine.alerts()
    )
    h.advance(RESOLVED_VISIBLE + 1)
    h.ok(Endpoint.HEALTH)
    assert h.engine.views() == []
