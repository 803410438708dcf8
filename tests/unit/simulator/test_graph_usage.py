"""Unit tests of the Cloud API simulator's BUC accounting, driven by explicit times."""

from __future__ import annotations

import pytest

from watchdog.simulator.graph_usage import UsageMeter

T0 = 1_700_000_000.0


def test_usage_is_the_percentage_of_the_allowance_used_in_the_hour() -> None:
    """Each call raises `call_count` by its share of the allowance, rounded down."""
    meter = UsageMeter(5_000)
    for _ in range(49):
        meter.call(T0)
    assert meter.usage(T0).call_count == 0
    allowed, usage = meter.call(T0)
    assert allowed
    assert (usage.calls, usage.call_count) == (50, 1)
    assert usage.estimated_time_to_regain_access == 0


def test_usage_reaches_100_then_refuses_with_a_regain_time() -> None:
    """The call that uses the last of the allowance reports 100 and a regain time; the next is
    refused, is not counted, and reports the same."""
    meter = UsageMeter(4)
    percents = [meter.call(T0 + i * 60)[1].call_count for i in range(4)]
    assert percents == [25, 50, 75, 100]
    allowed, usage = meter.call(T0 + 600)
    assert not allowed
    assert usage.calls == 4
    assert usage.call_count == 100
    # The first call (at T0) leaves the window at T0 + 3600: 50 minutes after T0 + 600.
    assert usage.estimated_time_to_regain_access == 50
    assert usage.exhausted


def test_the_hour_rolls() -> None:
    """A call stops counting exactly one hour after it was made."""
    meter = UsageMeter(2)
    assert meter.call(T0)[0]
    assert meter.call(T0 + 1_800)[0]
    assert not meter.call(T0 + 3_599)[0]
    allowed, usage = meter.call(T0 + 3_600)
    assert allowed
    assert usage.calls == 2


def test_refused_calls_do_not_prolong_the_block() -> None:
    """Polling through a block does not push the regain time back."""
    meter = UsageMeter(1)
    meter.call(T0)
    for minute in range(1, 60):
        allowed, usage = meter.call(T0 + minute * 60)
        assert not allowed
        assert usage.estimated_time_to_regain_access == 60 - minute
    assert meter.call(T0 + 3_600)[0]


def test_a_lowered_allowance_counts_the_calls_already_made() -> None:
    """Lowering the allowance below the calls in the window throttles at once, and the regain
    time waits for enough calls to leave it."""
    meter = UsageMeter(100)
    for i in range(10):
        meter.call(T0 + i * 60)
    meter.set_allowance(5)
    allowed, usage = meter.call(T0 + 600)
    assert not allowed
    assert usage.call_count == 200
    # Six calls must leave for one more to fit: the sixth was made at T0 + 300.
    assert usage.estimated_time_to_regain_access == 55


def test_reset_and_bad_allowances() -> None:
    meter = UsageMeter(1)
    meter.call(T0)
    meter.reset()
    assert meter.call(T0)[0]
    with pytest.raises(ValueError):
        UsageMeter(0)
    with pytest.raises(ValueError):
        meter.set_allowance(0)


def test_the_header_entry_carries_the_documented_keys() -> None:
    _, usage = UsageMeter(10).call(T0)
    assert usage.entry() == {
        "type": "whatsapp_business_management",
        "call_count": 10,
        "total_cputime": 2,
        "total_time": 5,
        "estimated_time_to_regain_access": 0,
    }
