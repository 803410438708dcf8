"""The state: latest results per target and endpoint, counters' deltas, staleness."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.cloud_support import cloud_target
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import Observation, PollResult, observe
from watchdog.base.targets import Target
from watchdog.endpoint_state import Growth
from watchdog.state import (
    DURATION_BUCKETS,
    SERIES_MEMORY,
    STALE_AFTER_INTERVALS,
    State,
)

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def target(name: str = "prod", **kw: Any) -> Target:
    return Target(name=name, url=f"https://{name}.example", **kw)


def ok(
    endpoint: Endpoint = Endpoint.METRICS,
    body: Any = None,
    *,
    name: str = "prod",
    at: float = NOW,
    duration: float = 0.05,
) -> Observation:
    if body is None:
        body = (
            {"health": {"gateway_status": "connected"}}
            if endpoint is Endpoint.HEALTH
            else {"metrics": {}}
        )
    return observe(PollResult(name, endpoint, at, duration, 200, None, body=body))


def failed(
    reason: str,
    endpoint: Endpoint = Endpoint.METRICS,
    *,
    status: int | None = None,
    name: str = "prod",
    at: float = NOW,
    duration: float = 0.05,
) -> Observation:
    return observe(PollResult(name, endpoint, at, duration, status, reason))


def counters(*series: tuple[str, dict[str, str], float], kind: str = "counter") -> Any:
    """A /metrics body with one family per name."""
    families: dict[str, Any] = {}
    for name, labels, value in series:
        families.setdefault(name, {"type": kind, "help": "", "data": []})["data"].append(
            {"labels": labels, "value": value}
        )
    return {"metrics": families}


def deltas(state: State) -> dict[tuple[str, tuple[tuple[str, str], ...]], Growth]:
    endpoint_state = state.get("prod", Endpoint.METRICS)
    assert endpoint_state is not None
    return endpoint_state.deltas


def metrics_state(state: State) -> Any:
    endpoint_state = state.get("prod", Endpoint.METRICS)
    assert endpoint_state is not None
    return endpoint_state


# -- recording ------------------------------------------------------------------------------------


def test_endpoints_follow_intervals() -> None:
    """Each target has a state per endpoint with a non-zero interval (db stats off by default)."""
    state = State([target(), target("b", stats_db_interval=300.0, metrics_interval=0.0)])
    assert set(state.endpoints("prod")) == {Endpoint.HEALTH, Endpoint.METRICS, Endpoint.STATS_APP}
    assert set(state.endpoints("b")) == {Endpoint.HEALTH, Endpoint.STATS_APP, Endpoint.STATS_DB}
    b_db = state.get("b", Endpoint.STATS_DB)
    assert b_db is not None
    assert b_db.interval == 300.0
    assert len(state.items()) == 6


def test_record_success() -> None:
    """A success is the last result and the last success, and counts as a poll."""
    state = State([target()])
    observation = ok()
    change = state.record(observation)
    assert change is not None
    assert (change.target, change.endpoint, change.ok_changed) == ("prod", Endpoint.METRICS, False)
    es = metrics_state(state)
    assert es.last is observation
    assert es.last_success is observation
    assert es.last_success_at == NOW
    assert es.polls == 1
    assert es.consecutive_failures == 0
    assert not es.errors
    assert observation.result.body is None  # parsed bodies are not kept


def test_record_failure_keeps_last_success() -> None:
    """A failure becomes the last result; the last success stays; errors count by reason."""
    state = State([target()])
    success = ok(at=NOW)
    state.record(success)
    state.record(failed("timeout", at=NOW + 30))
    state.record(failed("http_503", status=503, at=NOW + 60))
    state.record(failed("timeout", at=NOW + 90))
    es = metrics_state(state)
    assert es.last is not None
    assert es.last.result.reason == "timeout"
    assert es.last_success is success
    assert es.errors == {"timeout": 2, "http_503": 1}
    assert es.polls == 4


def test_consecutive_counters() -> None:
    """Consecutive failures and throttled answers (429, 503) count up and reset: throttled on
    any other result."""
    state = State([target()])
    es = metrics_state(state)
    for _ in range(2):
        state.record(failed("http_429", status=429))
    state.record(failed("http_503", status=503))
    assert (es.consecutive_failures, es.consecutive_throttled) == (3, 3)
    state.record(failed("timeout"))
    assert (es.consecutive_failures, es.consecutive_throttled) == (4, 0)
    state.record(failed("http_503", status=503))
    assert (es.consecutive_failures, es.consecutive_throttled) == (5, 1)
    state.record(failed("http_5xx", status=502))
    assert (es.consecutive_failures, es.consecutive_throttled) == (6, 0)
    state.record(failed("http_429", status=429))
    state.record(ok())
    assert (es.consecutive_failures, es.consecutive_throttled) == (0, 0)


def test_change_reports_ok_flips() -> None:
    """ok_changed is true when success turns to failure or back, and on a first failure."""
    state = State([target()])
    flips = []
    for observation in (ok(), ok(), failed("timeout"), failed("timeout"), ok()):
        change = state.record(observation)
        assert change is not None
        flips.append(change.ok_changed)
    assert flips == [False, False, True, False, True]
    first_failure = State([target()]).record(failed("timeout"))
    assert first_failure is not None
    assert first_failure.ok_changed


def test_shape_failure_recorded_as_error() -> None:
    """A 200 answer of the wrong shape is recorded as a `shape` failure."""
    state = State([target()])
    state.record(ok(Endpoint.METRICS, {"unexpected": True}))
    es = metrics_state(state)
    assert es.last_success is None
    assert es.errors == {"shape": 1}


def test_record_unknown_target_or_endpoint() -> None:
    """Results for an unknown target, or for an endpoint it does not poll, are ignored."""
    state = State([target()])
    assert state.record(ok(name="gone")) is None
    assert state.record(ok(Endpoint.STATS_DB, {"stats": {"db": {}}})) is None
    assert state.get("gone", Endpoint.METRICS) is None


def test_duration_buckets() -> None:
    """Durations are counted in the first bucket whose bound they do not exceed; the sum adds."""
    state = State([target()])
    for duration in (0.0, 0.01, 0.0100001, 0.3, 10.0, 10.5, 99.0):
        state.record(failed("timeout", duration=duration))
    es = metrics_state(state)
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    expected[0] = 2  # 0 and exactly 0.01
    expected[1] = 1  # just above 0.01
    expected[DURATION_BUCKETS.index(0.5)] = 1
    expected[DURATION_BUCKETS.index(10.0)] = 1
    expected[-1] = 2  # +Inf
    assert es.bucket_counts == expected
    assert es.duration_sum == pytest.approx(0.01 + 0.0100001 + 0.3 + 10 + 10.5 + 99)


# -- counter deltas -------------------------------------------------------------------------------

A = ("result", "200"), ("node", "n1")
Key = tuple[str, tuple[tuple[str, str], ...]]


def growth(state: State) -> dict[Key, tuple[float, float]]:
    """The last poll's deltas as (amount, since) per series."""
    return {key: (g.amount, g.since) for key, g in deltas(state).items()}


def test_first_poll_adds_nothing() -> None:
    """On the first success nothing is known about growth: no deltas, the values are kept."""
    state = State([target()])
    state.record(ok(body=counters(("hits", dict(A), 10.0), ("other", {}, 3.0))))
    assert growth(state) == {}
    values = {key: seen.sample.value for key, seen in metrics_state(state).series.items()}
    assert values == {("hits", A): 10.0, ("other", ()): 3.0}


def test_normal_growth() -> None:
    """A counter that grew has the difference as delta, since its last value's time."""
    state = State([target()])
    state.record(ok(body=counters(("hits", dict(A), 10.0)), at=NOW))
    state.record(ok(body=counters(("hits", dict(A), 17.5)), at=NOW + 30))
    assert growth(state) == {("hits", A): (7.5, NOW)}
    assert metrics_state(state).counter_resets == 0


def test_reset_when_value_goes_down() -> None:
    """A counter that went down restarted from zero: delta = new value, resets + 1 per poll."""
    state = State([target()])
    state.record(ok(body=counters(("hits", dict(A), 100.0), ("b", {}, 50.0))))
    state.record(ok(body=counters(("hits", dict(A), 4.0), ("b", {}, 2.0))))
    assert growth(state) == {("hits", A): (4.0, NOW), ("b", ()): (2.0, NOW)}
    assert metrics_state(state).counter_resets == 1
    state.record(ok(body=counters(("hits", dict(A), 9.0), ("b", {}, 3.0))))
    assert growth(state) == {("hits", A): (5.0, NOW), ("b", ()): (1.0, NOW)}
    assert metrics_state(state).counter_resets == 1


def test_series_appearing_after_success() -> None:
    """A series new to a node that answered before started from zero: its delta is its value."""
    state = State([target()])
    state.record(ok(body=counters(("hits", dict(A), 1.0)), at=NOW))
    errors = ("errors", (("code", "503"), ("node", "n1")))
    body = counters(("hits", dict(A), 1.0), ("errors", {"code": "503", "node": "n1"}, 4.0))
    state.record(ok(body=body, at=NOW + 30))
    assert growth(state) == {errors: (4.0, NOW)}


def test_series_after_failures_only() -> None:
    """Failures before the first success do not count as a known earlier state."""
    state = State([target()])
    state.record(failed("timeout"))
    state.record(ok(body=counters(("hits", dict(A), 8.0))))
    assert growth(state) == {}


def test_failure_keeps_deltas() -> None:
    """A failed poll leaves counters and deltas of the last success untouched."""
    state = State([target()])
    state.record(ok(body=counters(("hits", dict(A), 1.0))))
    state.record(ok(body=counters(("hits", dict(A), 6.0))))
    state.record(failed("timeout"))
    assert growth(state) == {("hits", A): (5.0, NOW)}


def test_gauges_have_no_deltas() -> None:
    """Only counters are tracked; a gauge going down is no reset."""
    state = State([target()])
    state.record(ok(body=counters(("queue", {}, 10.0), kind="gauge")))
    state.record(ok(body=counters(("queue", {}, 1.0), kind="gauge")))
    assert growth(state) == {}
    assert metrics_state(state).counter_resets == 0


def test_labels_tell_series_apart() -> None:
    """Deltas are per series: the same name with other labels is another counter."""
    state = State([target()])
    state.record(ok(body=counters(("hits", {"r": "200"}, 5.0), ("hits", {"r": "503"}, 1.0))))
    state.record(ok(body=counters(("hits", {"r": "200"}, 9.0), ("hits", {"r": "503"}, 3.0))))
    assert growth(state) == {
        ("hits", (("r", "200"),)): (4.0, NOW),
        ("hits", (("r", "503"),)): (2.0, NOW),
    }


def webapp(node: str, value: float) -> Any:
    return counters(("api_requests_duration_ms_count", {"node": node, "result": "503"}, value))


def key_of(node: str) -> Key:
    return ("api_requests_duration_ms_count", (("node", node), ("result", "503")))


def test_webapps_behind_one_url_are_compared_with_their_own_last_values() -> None:
    """Answers alternating between Webapps: each series is compared with its own last value,
    however many polls ago; a Webapp seen for the first time adds nothing; no false reset."""
    state = State([target()])
    state.record(ok(body=webapp("web-a", 1000.0), at=NOW))
    state.record(ok(body=webapp("web-b", 5000.0), at=NOW + 30))
    assert growth(state) == {}  # web-b's lifetime total is not growth
    state.record(ok(body=webapp("web-b", 5000.0), at=NOW + 60))
    assert growth(state) == {}
    state.record(ok(body=webapp("web-a", 1003.0), at=NOW + 90))
    assert growth(state) == {key_of("web-a"): (3.0, NOW)}  # since web-a's own last value
    assert metrics_state(state).counter_resets == 0


def test_a_webapp_that_restarted_resets_only_its_series() -> None:
    """A reset is per series: one Webapp's counters going down leave the others' alone."""
    state = State([target()])
    body = counters(
        ("api_requests_duration_ms_count", {"node": "web-a", "result": "503"}, 50.0),
        ("api_requests_duration_ms_count", {"node": "web-b", "result": "503"}, 70.0),
    )
    state.record(ok(body=body, at=NOW))
    state.record(ok(body=webapp("web-a", 2.0), at=NOW + 30))
    assert growth(state) == {key_of("web-a"): (2.0, NOW)}
    state.record(ok(body=webapp("web-b", 71.0), at=NOW + 60))
    assert growth(state) == {key_of("web-b"): (1.0, NOW)}
    assert metrics_state(state).counter_resets == 1


def test_current_samples_join_webapps_and_drop_stale_series() -> None:
    """The exported series are every Webapp's latest, until 3 intervals without an update."""
    state = State([target()])
    state.record(ok(body=webapp("web-a", 1.0), at=NOW))
    state.record(ok(body=webapp("web-b", 2.0), at=NOW + 30))
    es = metrics_state(state)
    values = {s.labels: s.value for s in es.current_samples(NOW + 30)}
    assert values == {key_of("web-a")[1]: 1.0, key_of("web-b")[1]: 2.0}
    window = STALE_AFTER_INTERVALS * 30.0
    assert [s.value for s in es.current_samples(NOW + window + 1)] == [2.0]


def test_unseen_series_are_forgotten_after_an_hour() -> None:
    """A Webapp gone for longer than the series memory is forgotten; if it comes back, its
    total is not taken for growth."""
    state = State([target()])
    state.record(ok(body=webapp("web-a", 10.0), at=NOW))
    later = NOW + SERIES_MEMORY + 60
    state.record(ok(body=webapp("web-b", 1.0), at=later))
    es = metrics_state(state)
    assert set(es.series) == {key_of("web-b")}
    assert set(es.nodes) == {"web-b"}
    state.record(ok(body=webapp("web-a", 500.0), at=later + 30))
    assert growth(state) == {}


# -- staleness ------------------------------------------------------------------------------------


def test_fresh_within_three_intervals() -> None:
    """The last success is fresh up to exactly 3 intervals, stale after."""
    state = State([target()])
    state.record(ok(at=NOW))
    es = metrics_state(state)
    window = STALE_AFTER_INTERVALS * 30.0
    assert es.fresh(NOW)
    assert es.fresh(NOW + window)
    assert not es.fresh(NOW + window + 0.001)


def test_fresh_follows_last_success_not_last_result() -> None:
    """Failures after a success do not refresh it; a new success does."""
    state = State([target()])
    state.record(ok(at=NOW))
    state.record(failed("timeout", at=NOW + 80))
    es = metrics_state(state)
    assert not es.fresh(NOW + 91)
    state.record(ok(at=NOW + 85))
    assert es.fresh(NOW + 91)


def test_never_succeeded_is_not_fresh() -> None:
    """An endpoint without a success is never fresh."""
    state = State([target()])
    state.record(failed("connect"))
    assert not metrics_state(state).fresh(NOW)


def test_tiny_interval_window_at_least_three_seconds() -> None:
    """Intervals under a second count as one second for staleness."""
    state = State([target()])
    es = metrics_state(state)
    es.interval = 0.1
    state.record(ok(at=NOW))
    assert es.fresh(NOW + 3)
    assert not es.fresh(NOW + 3.5)


def test_answered_recently() -> None:
    """Any HTTP answer (even an error) is an answer; a network failure is not; old ones expire."""
    state = State([target()])
    es = metrics_state(state)
    assert not es.answered_recently(NOW)
    state.record(failed("http_503", status=503, at=NOW))
    assert es.answered_recently(NOW + 90)
    assert not es.answered_recently(NOW + 91)
    state.record(failed("timeout", status=None, at=NOW + 10))
    assert not es.answered_recently(NOW + 10)


def test_health_uses_clock() -> None:
    """State.health gives the last health answer while fresh by the injected clock."""
    clock = Clock()
    state = State([target()], clock=clock)
    assert state.health("prod") is None
    state.record(ok(Endpoint.HEALTH, at=NOW))
    health = state.health("prod")
    assert health is not None
    assert health.nodes[0].status == "connected"
    clock.now = NOW + 3 * 15 + 1
    assert state.health("prod") is None
    assert state.health("prod", now=NOW) is not None
    assert state.health("unknown") is None


# -- readiness and targets ------------------------------------------------------------------------


def test_polled_once() -> None:
    """polled_once is true only when every polled endpoint of every target has a result."""
    state = State([target("a"), target("b", metrics_interval=0.0, stats_app_interval=0.0)])
    assert not state.polled_once()
    for endpoint in (Endpoint.HEALTH, Endpoint.METRICS, Endpoint.STATS_APP):
        state.record(failed("connect", endpoint, name="a"))
    assert not state.polled_once()
    state.record(failed("http_429", Endpoint.HEALTH, status=429, name="b"))
    assert state.polled_once()


def test_ready_once_every_primary_endpoint_answered() -> None:
    """Readiness waits for every target's primary endpoint (health; a Cloud number's own
    node), not for the others, which follow them at start."""
    state = State([target("a"), target("b"), cloud_target("shop")])
    state.record(failed("connect", Endpoint.HEALTH, name="a"))
    state.record(ok(Endpoint.HEALTH, name="b"))
    assert not state.ready()
    phone = PollResult("shop", Endpoint.PHONE_NUMBER, NOW, 0.1, None, "timeout", "timed out")
    state.record(observe(phone))
    assert state.ready()
    assert not state.polled_once()


def test_set_targets_keeps_and_drops() -> None:
    """Kept targets keep their state (with new intervals), removed ones go, new ones start empty."""
    state = State([target("a"), target("b")])
    state.record(ok(name="a"))
    state.record(ok(name="b"))
    kept = state.get("a", Endpoint.METRICS)
    state.set_targets([target("a", metrics_interval=120.0, stats_app_interval=0.0), target("c")])
    assert [t.name for t in state.targets] == ["a", "c"]
    assert state.get("a", Endpoint.METRICS) is kept
    assert kept is not None
    assert kept.interval == 120.0
    assert kept.polls == 1
    assert state.get("a", Endpoint.STATS_APP) is None
    assert state.get("b", Endpoint.METRICS) is None
    assert state.target("b") is None
    new = state.get("c", Endpoint.METRICS)
    assert new is not None
    assert new.last is None
    assert state.record(ok(name="b")) is None
    assert {t.name for t, _, _ in state.items()} == {"a", "c"}


def test_a_restart_counts_once_however_late_its_series_come_back() -> None:
    """After a restart, a series that reappears polls later started from zero: its value is
    growth, not a second reset."""
    state = State([target()])
    health = ("hits", (("node", "n1"), ("method", "health")))
    other = ("hits", (("node", "n1"), ("method", "other")))
    both = counters(("hits", {"node": "n1", "method": "health"}, 50.0),
                    ("hits", {"node": "n1", "method": "other"}, 70.0))  # fmt: skip
    state.record(ok(body=both, at=NOW))
    state.record(ok(body=counters(("hits", {"node": "n1", "method": "health"}, 1.0)), at=NOW + 30))
    assert growth(state) == {health: (1.0, NOW)}
    later = counters(("hits", {"node": "n1", "method": "health"}, 2.0),
                     ("hits", {"node": "n1", "method": "other"}, 3.0))  # fmt: skip
    state.record(ok(body=later, at=NOW + 60))
    assert growth(state) == {health: (1.0, NOW + 30), other: (3.0, NOW + 30)}
    assert metrics_state(state).counter_resets == 1
