"""The timeline: every poll's result in a bounded ring, uptime over a window, queue trends."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchdog.timeline import (
    OUTCOMES,
    TREND_POINTS,
    Columns,
    Timeline,
    Trend,
    capacity_for,
)

T0 = 1_800_000_000

# Written out here rather than imported, so the model below is the documented behaviour and
# not the module's own tables: a 429, unusable credentials and the watchdog's own bug say
# nothing about whether the API was up; set-up (not registered) and degraded are up.
UNJUDGED = {"http_429", "graph_throttled", "auth_config", "internal"}
UP = {"ok", "degraded", "not registered"}
WARNING_MARKS = {"degraded", "not registered", "http_429", "graph_throttled"}


@dataclass(frozen=True)
class Poll:
    at: int
    outcome: str
    status_code: int | None
    duration: float


def mark_of(outcome: str) -> str:
    if outcome == "ok":
        return "ok"
    return "warning" if outcome in WARNING_MARKS else "critical"


def columns_of(polls: list[Poll]) -> Columns:
    """What `since` should give for these polls, computed the plain way."""
    return Columns(
        at=[p.at for p in polls],
        result=[p.outcome for p in polls],
        mark=[mark_of(p.outcome) for p in polls],
        status_code=[p.status_code for p in polls],
        duration_ms=[min(max(round(p.duration * 1000), 0), 65535) for p in polls],
    )


def naive_uptime(polls: list[Poll], now: float, window: float) -> float | None:
    inside = [p for p in polls if p.at >= now - window]
    judged = [p for p in inside if p.outcome not in UNJUDGED]
    if not judged:
        return None
    return round(100.0 * sum(p.outcome in UP for p in judged) / len(judged), 2)


def filled(capacity: int, polls: list[Poll]) -> Timeline:
    timeline = Timeline(capacity)
    for p in polls:
        timeline.append(p.at, p.outcome, p.status_code, p.duration)
    return timeline


def series(count: int, *, step: int = 10) -> list[Poll]:
    """`count` polls `step` s apart, outcomes cycling through a mix of up, down and unjudged."""
    cycle = ["ok", "http_503", "ok", "http_429", "timeout", "degraded"]
    codes = {"ok": 200, "http_503": 503, "http_429": 429, "timeout": None, "degraded": 200}
    return [
        Poll(T0 + step * i, cycle[i % len(cycle)], codes[cycle[i % len(cycle)]], 0.01 * (i + 1))
        for i in range(count)
    ]


# -- the ring -------------------------------------------------------------------------------------


def test_a_full_ring_drops_the_oldest_and_keeps_the_order() -> None:
    """Twelve polls in a ring of five: the last five remain, oldest first."""
    polls = series(12)
    timeline = filled(5, polls)
    assert len(timeline) == 5
    assert timeline.since(0) == columns_of(polls[-5:])
    # Uptime forgets the dropped polls too: 503, ok, 429 (unjudged), timeout, degraded.
    assert timeline.uptime(polls[-1].at, 3600) == 50.0


@pytest.mark.parametrize("count", range(1, 13))
def test_since_finds_the_first_poll_at_or_after_the_start_before_and_after_the_wrap(
    count: int,
) -> None:
    """Every start (on a poll, between polls, before all, after all) at every fill of a ring
    of five, so the search crosses the wrap at each position of its head."""
    polls = series(count)
    timeline = filled(5, polls)
    kept = polls[-5:]
    for start in range(T0 - 10, T0 + 10 * count + 10, 5):
        assert timeline.since(start) == columns_of([p for p in kept if p.at >= start]), start


def test_resize_keeps_the_newest_and_recounts_uptime() -> None:
    """Shrinking a wrapped ring keeps its newest polls, and uptime is of those only; growing it
    keeps everything and lets it fill further."""
    polls = series(12)
    timeline = filled(5, polls)
    timeline.resize(3)
    assert timeline.since(0) == columns_of(polls[-3:])
    now = polls[-1].at
    # The whole ring: the running counts were recomputed for the three left.
    assert timeline.uptime(now, 3600) == naive_uptime(polls[-3:], now, 3600)
    # One poll outside the window: the other path, from the counts less the polls before it.
    assert timeline.uptime(now, 15) == naive_uptime(polls[-3:], now, 15)
    timeline.resize(8)
    assert timeline.since(0) == columns_of(polls[-3:])
    more = [Poll(now + 10 * i, "ok", 200, 0.02) for i in range(1, 7)]
    for p in more:
        timeline.append(p.at, p.outcome, p.status_code, p.duration)
    assert timeline.since(0) == columns_of((polls[-3:] + more)[-8:])
    assert timeline.uptime(more[-1].at, 3600) == naive_uptime((polls + more)[-8:], now + 60, 3600)


def test_capacity_covers_the_window_at_the_interval() -> None:
    """24 h at 15 s is 5760 polls, plus the one at the edge; never fewer than two."""
    assert capacity_for(86400, 15) == 5761
    assert capacity_for(3600, 60) == 61
    assert capacity_for(3600, 7) == 516
    assert capacity_for(3600, 0.5) == 3601  # under a second counts as a second
    assert capacity_for(10, 3600) == 2


# -- what a poll keeps ----------------------------------------------------------------------------


def test_every_outcome_round_trips_with_its_mark() -> None:
    """Each outcome comes back as itself, coloured as the verdict would judge that one poll."""
    timeline = filled(len(OUTCOMES), [Poll(T0 + i, o, 200, 0.01) for i, o in enumerate(OUTCOMES)])
    columns = timeline.since(0)
    assert columns.result == list(OUTCOMES)
    # Every failure is critical but a 429 or Graph throttling: the API answering, its budget
    # used by others.
    expected = dict.fromkeys(OUTCOMES, "critical") | {
        "ok": "ok",
        "degraded": "warning",
        "not registered": "warning",
        "http_429": "warning",
        "graph_throttled": "warning",
    }
    assert dict(zip(columns.result, columns.mark, strict=True)) == expected
    assert {"ok", "degraded", "gateway down", "not registered", "http_503"} <= set(OUTCOMES)


@pytest.mark.parametrize(
    ("status_code", "kept"),
    [(200, 200), (503, 503), (429, 429), (None, None), (0, None), (1023, 1023), (1024, None)],
)
def test_status_codes_are_kept_and_no_answer_is_none(
    status_code: int | None, kept: int | None
) -> None:
    """An HTTP status comes back as it was; no answer (None) and what is not HTTP are None."""
    timeline = filled(2, [Poll(T0, "http_5xx", status_code, 0.01)])
    assert timeline.since(0).status_code == [kept]


@pytest.mark.parametrize(
    ("duration", "ms"), [(0.0504, 50), (1.5, 1500), (65.535, 65535), (70.0, 65535), (-1.0, 0)]
)
def test_durations_are_milliseconds_capped_at_65535(duration: float, ms: int) -> None:
    timeline = filled(2, [Poll(T0, "timeout", None, duration)])
    assert timeline.since(0).duration_ms == [ms]


def test_times_are_whole_seconds() -> None:
    timeline = filled(3, [Poll(T0, "ok", 200, 0.01)])
    timeline.append(T0 + 14.9, "ok", 200, 0.01)
    assert timeline.since(0).at == [T0, T0 + 14]
    assert timeline.since(T0 + 14.5).at == []  # kept as T0 + 14: before a start of .5


# -- uptime ---------------------------------------------------------------------------------------


def test_uptime_leaves_out_polls_that_cannot_tell() -> None:
    """A 429, unusable credentials and the watchdog's own bug are neither up nor down."""
    outcomes = ["ok", "http_503", "http_429", "auth_config", "internal", "http_429"]
    polls = [Poll(T0 + i, o, None, 0.01) for i, o in enumerate(outcomes)]
    assert filled(20, polls).uptime(T0 + 10, 3600) == 50.0
    # After seven failures, most of the ring is before a window from T0: counted by a scan of
    # the window, not from the running totals. The result is the same.
    failures = [Poll(T0 - 100 + i, "timeout", None, 0.01) for i in range(7)]
    timeline = filled(20, failures + polls)
    assert timeline.uptime(T0 + 10, 10) == 50.0
    # From the running totals less the one failure before the window: 1 up of 6 + 2 judged.
    assert timeline.uptime(T0 + 10, 109.5) == 12.5
    assert timeline.uptime(T0 + 10, 7.5) is None  # only unjudged polls inside


def test_uptime_counts_degraded_and_not_registered_as_up() -> None:
    outcomes = ["degraded", "not registered", "gateway down", "ok"]
    timeline = filled(4, [Poll(T0 + i, o, 200, 0.01) for i, o in enumerate(outcomes)])
    assert timeline.uptime(T0 + 3, 3600) == 75.0


def test_uptime_is_none_when_nothing_was_judged() -> None:
    assert Timeline(5).uptime(T0, 3600) is None
    timeline = filled(5, [Poll(T0 + i, "http_429", 429, 0.01) for i in range(3)])
    assert timeline.uptime(T0 + 3, 3600) is None
    assert timeline.uptime(T0 + 4000, 3600) is None  # every poll older than the window


def test_uptime_rounds_to_two_decimals_and_follows_the_window() -> None:
    """Two of three up is 66.67 %; a window holding only the last, failed poll is 0 %."""
    timeline = filled(
        5,
        [Poll(T0, "ok", 200, 0.01), Poll(T0 + 10, "ok", 200, 0.01), Poll(T0 + 20, "dns", None, 0)],
    )
    assert timeline.uptime(T0 + 20, 3600) == 66.67
    assert timeline.uptime(T0 + 20, 5) == 0.0


# -- the property: a ring is the last `capacity` polls --------------------------------------------

appends = st.builds(
    lambda gap, outcome, status, duration: (gap, outcome, status, duration),
    st.integers(0, 40),
    st.sampled_from(OUTCOMES),
    st.none() | st.integers(100, 599),
    st.floats(0, 80, allow_nan=False),
)
operations = st.lists(st.one_of(appends, st.integers(1, 12)), max_size=60)


@given(capacity=st.integers(1, 12), ops=operations, data=st.data())
def test_the_ring_is_the_last_capacity_polls(
    capacity: int, ops: list[tuple[int, str, int | None, float] | int], data: st.DataObject
) -> None:
    """For any appends in time order and resizes (an int is a new capacity), `since` and
    `uptime` are those of a plain list of the last `capacity` polls."""
    timeline = Timeline(capacity)
    model: list[Poll] = []
    at = T0
    for op in ops:
        if isinstance(op, int):
            timeline.resize(op)
            capacity = op
        else:
            gap, outcome, status, duration = op
            at += gap
            timeline.append(at, outcome, status, duration)
            model.append(Poll(at, outcome, status, duration))
        model = model[-capacity:]
    assert len(timeline) == len(model)
    starts = st.integers(T0 - 5, at + 5)
    for start in data.draw(st.lists(starts, min_size=1, max_size=5)):
        assert timeline.since(start) == columns_of([p for p in model if p.at >= start])
    for window in data.draw(st.lists(st.integers(0, at - T0 + 10), min_size=1, max_size=5)):
        assert timeline.uptime(at, window) == naive_uptime(model, at, window)


# -- queue trends ---------------------------------------------------------------------------------


def test_trend_keeps_a_point_per_30_seconds_with_the_newest_value() -> None:
    """Polls closer than 30 s to the last point replace its value; the point keeps its time."""
    trend = Trend()
    for offset, value in [(0, 1.0), (10, 2.0), (29, 3.0), (30, 4.0), (45, 5.0), (61, 6.0)]:
        trend.add(T0 + offset, value)
    assert trend.since(0) == ([T0, T0 + 30, T0 + 61], [3.0, 5.0, 6.0])
    assert trend.last_at == T0 + 61


def test_trend_keeps_at_most_an_hour_of_points() -> None:
    trend = Trend()
    for i in range(200):
        trend.add(T0 + 30 * i, float(i))
    at, values = trend.since(0)
    assert len(at) == TREND_POINTS == 120
    assert (at[0], at[-1]) == (T0 + 30 * 80, T0 + 30 * 199)
    assert values == [float(i) for i in range(80, 200)]


def test_trend_since() -> None:
    trend = Trend()
    assert trend.since(0) == ([], [])
    assert trend.last_at == 0
    for i in range(5):
        trend.add(T0 + 60 * i, float(i))
    assert trend.since(T0 + 120) == ([T0 + 120, T0 + 180, T0 + 240], [2.0, 3.0, 4.0])
    assert trend.since(T0 + 121) == ([T0 + 180, T0 + 240], [3.0, 4.0])
    assert trend.since(T0 + 241) == ([], [])


# -- the wall clock stepped back, and reasons this table does not know ----------------------------


@pytest.mark.parametrize("capacity", [5, 100])
def test_a_clock_stepped_back_drops_the_polls_dated_after_it_and_keeps_the_order(
    capacity: int,
) -> None:
    """After NTP steps the clock back, new polls show at once (the page draws the hour by
    time); the polls dated after the new time are dropped, so every search still finds them."""
    ahead = series(12)  # T0 .. T0 + 110, wrapping a ring of 5
    timeline = filled(capacity, ahead)
    stepped = [Poll(T0 + 45, "timeout", None, 5.0), Poll(T0 + 55, "timeout", None, 5.0)]
    for p in stepped:
        timeline.append(p.at, p.outcome, p.status_code, p.duration)
    kept = [p for p in ahead[-capacity:] if p.at <= T0 + 45] + stepped
    assert timeline.since(0) == columns_of(kept[-capacity:])
    assert timeline.since(T0 + 45) == columns_of(stepped)
    assert timeline.uptime(T0 + 55, 10) == 0.0  # the new failures, not the old good polls
    assert timeline.uptime(T0 + 55, 3600) == naive_uptime(kept[-capacity:], T0 + 55, 3600)


def test_a_trend_after_a_clock_step_back_starts_again_from_the_new_time() -> None:
    trend = Trend()
    for minute in range(10):
        trend.add(T0 + 60 * minute, float(minute))
    for minute in range(3):
        trend.add(T0 + 200 + 60 * minute, 100.0 + minute)
    # The points dated after T0 + 200 are gone; T0 + 200 is within 30 s of T0 + 180, whose
    # value it takes (one point per 30 s).
    assert trend.since(0) == (
        [T0, T0 + 60, T0 + 120, T0 + 180, T0 + 260, T0 + 320],
        [0.0, 1.0, 2.0, 100.0, 101.0, 102.0],
    )


def test_a_reason_the_table_does_not_know_is_kept_as_other_failure() -> None:
    """Recording a poll never fails, whatever reason a newer kind of target brings."""
    timeline = Timeline(5)
    timeline.append(T0, "a_reason_from_the_future", 401, 0.1)
    columns = timeline.since(0)
    assert (columns.result, columns.mark, columns.status_code) == (
        ["other failure"],
        ["critical"],
        [401],
    )
    assert timeline.uptime(T0, 60) == 0.0
