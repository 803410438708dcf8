"""Unit tests of the simulator's limiters, driven by explicit times (no sleeping)."""

from __future__ import annotations

import pytest

from watchdog.simulator.limits import ConcurrencyGate, SlidingWindow, TokenBucket

T0 = 1_700_000_000.0


def test_sliding_window_allows_up_to_limit() -> None:
    """A window accepts `limit` events and refuses the next one within the window."""
    window = SlidingWindow(10, 60)
    assert all(window.allow(T0 + i) for i in range(10))
    assert not window.allow(T0 + 10)


def test_sliding_window_slides() -> None:
    """Each accepted event frees its slot exactly `window` seconds after it happened."""
    window = SlidingWindow(2, 60)
    assert window.allow(T0)
    assert window.allow(T0 + 30)
    assert not window.allow(T0 + 59.9)
    assert window.allow(T0 + 60)
    assert not window.allow(T0 + 89)
    assert window.allow(T0 + 90)


def test_sliding_window_refusals_cost_nothing() -> None:
    """Refused events are not recorded, so hammering does not prolong the block."""
    window = SlidingWindow(1, 60)
    assert window.allow(T0)
    for i in range(1, 60):
        assert not window.allow(T0 + i)
    assert window.allow(T0 + 60)


def test_sliding_window_full_does_not_record() -> None:
    """`full` reports the state without using budget."""
    window = SlidingWindow(2, 60)
    assert not window.full(T0)
    assert not window.full(T0)
    window.allow(T0)
    assert not window.full(T0)
    window.allow(T0)
    assert window.full(T0)
    assert not window.full(T0 + 60)


def test_sliding_window_reset() -> None:
    """A full window refuses until it expires; `reset` frees it at once."""
    window = SlidingWindow(5, 60)
    for _ in range(5):
        assert window.allow(T0 + 1)
    assert window.full(T0 + 1)
    assert not window.allow(T0 + 59)
    window.reset()
    assert window.allow(T0 + 59)


def test_token_bucket_burst_then_refuse() -> None:
    """A fresh bucket allows `burst` requests at once, then refuses."""
    bucket = TokenBucket(20, 60, T0)
    assert all(bucket.allow(T0) for _ in range(60))
    assert not bucket.allow(T0)


@pytest.mark.parametrize(("elapsed", "allowed"), [(0.125, 2), (0.5, 10), (1.0, 20), (2.0, 40)])
def test_token_bucket_refills_at_rate(elapsed: float, allowed: int) -> None:
    """An empty bucket regains `rate` tokens per second."""
    bucket = TokenBucket(20, 60, T0)
    while bucket.allow(T0):
        pass
    results = [bucket.allow(T0 + elapsed) for _ in range(allowed + 1)]
    assert results == [True] * allowed + [False]


def test_token_bucket_capped_at_burst() -> None:
    """Idle time never stores more than `burst` tokens."""
    bucket = TokenBucket(20, 60, T0)
    results = [bucket.allow(T0 + 3600) for _ in range(61)]
    assert results.count(True) == 60
    assert not results[-1]


def test_token_bucket_sustained_rate() -> None:
    """From empty, requests just under the rate are all allowed and a burst above is not."""
    bucket = TokenBucket(20, 60, T0)
    while bucket.allow(T0):
        pass
    assert all(bucket.allow(T0 + (i + 1) / 16) for i in range(100))
    assert not all(bucket.allow(T0 + 100 / 16 + (i + 1) / 32) for i in range(100))


def test_concurrency_gate() -> None:
    """The gate admits `limit` requests in flight, refuses more, and frees slots on leave."""
    gate = ConcurrencyGate(2)
    assert gate.enter()
    assert gate.enter()
    assert gate.in_flight == 2
    assert not gate.enter()
    assert gate.in_flight == 2
    gate.leave()
    assert gate.in_flight == 1
    assert gate.enter()
    assert not gate.enter()
