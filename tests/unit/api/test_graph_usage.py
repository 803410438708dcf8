"""The business use case usage header: Graph's shape, odd values, and a header that is junk."""

from __future__ import annotations

import json

import pytest

from watchdog.api.graph_usage import (
    MAX_PERCENT,
    MAX_USAGE_WAIT,
    MAX_USAGES,
    Usage,
    parse_usage_header,
    usage_wait,
    worst_percent,
)

# [G-RL]'s shape, with the WhatsApp type an SDK sample shows.
HEADER = json.dumps(
    {
        "102290129340398": [
            {
                "type": "whatsapp_business_management",
                "call_count": 28,
                "total_cputime": 12,
                "total_time": 35,
                "estimated_time_to_regain_access": 0,
            }
        ],
        "506914307656634": [
            {
                "type": "whatsapp",
                "call_count": 100,
                "total_cputime": 4,
                "total_time": 9,
                "estimated_time_to_regain_access": 17,
            }
        ],
    }
)


def test_graph_shape() -> None:
    """Each object becomes a usage: percentages as floats, regain time in minutes."""
    assert parse_usage_header(HEADER) == (
        Usage("102290129340398", "whatsapp_business_management", 28.0, 12.0, 35.0, 0.0),
        Usage("506914307656634", "whatsapp", 100.0, 4.0, 9.0, 17.0),
    )


def test_regain_time_is_minutes() -> None:
    """`estimated_time_to_regain_access` is kept in minutes, as Graph gives it."""
    [usage] = parse_usage_header('{"1":[{"call_count":100,"estimated_time_to_regain_access":5}]}')
    assert usage.regain_minutes == 5.0


def test_worst_percent() -> None:
    """The highest of every dimension of every object: what throttles first."""
    assert worst_percent(parse_usage_header(HEADER)) == 100.0
    [first, _] = parse_usage_header(HEADER)
    assert first.percent == 35.0
    assert worst_percent([first]) == 35.0
    assert worst_percent(()) is None
    assert worst_percent([Usage("1", None, None, None, None, 3.0)]) is None


def test_odd_values() -> None:
    """Strings of digits are numbers; NaN, infinities, negatives, words and booleans are not;
    huge values are capped."""
    header = (
        '{"1":[{"call_count":"85","total_cputime":NaN,"total_time":-3,'
        '"estimated_time_to_regain_access":"soon"},'
        '{"call_count":Infinity,"total_cputime":true,"total_time":1e308,'
        '"estimated_time_to_regain_access":' + "9" * 400 + "}]}"
    )
    first, second = parse_usage_header(header)
    assert (first.call_count, first.total_cputime, first.total_time, first.regain_minutes) == (
        85.0, None, None, None,
    )  # fmt: skip
    assert (second.call_count, second.total_cputime, second.total_time) == (None, None, MAX_PERCENT)
    assert second.regain_minutes is not None
    assert second.regain_minutes <= 10_080


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "{",
        "null",
        "[]",
        '"text"',
        "{}",
        '{"1": []}',
        '{"1": [1, "x", null, {}]}',
        '{"1": [{"type": "whatsapp"}]}',  # no number at all: nothing to act on
        '{"1": {"call_count": "x"}}',
        '{"1":[{"call_count":' + "1" * 5000 + "}]}",  # past Python's int conversion limit
        "[" * 100_000 + "]" * 100_000,  # too long, and too deep if it were not
        "[" * 10_000 + "]" * 10_000,  # too deep for the decoder's recursion
        "<html>Bad Gateway</html>",
    ],
)
def test_unusable_headers_give_nothing(header: str | None) -> None:
    """A missing, non-JSON or wrongly shaped header is no usage, never an exception."""
    assert parse_usage_header(header) == ()


def test_a_single_object_instead_of_a_list() -> None:
    """A business ID mapped to one object (not a list) is still read."""
    [usage] = parse_usage_header('{"7": {"call_count": 12}}')
    assert (usage.business_id, usage.call_count) == ("7", 12.0)


def test_object_count_is_bounded() -> None:
    """At most 32 objects are kept, as Graph sends at most 32."""
    header = json.dumps({str(i): [{"call_count": i}] * 3 for i in range(40)})
    usages = parse_usage_header(header)
    assert len(usages) == MAX_USAGES
    assert [u.call_count for u in usages[:4]] == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("header", "throttled", "wait"),
    [
        (None, False, 0.0),
        ('{"1": [{"call_count": 79, "total_time": 10}]}', False, 0.0),
        ('{"1": [{"call_count": 10, "total_cputime": 80}]}', False, 300.0),
        ('{"1": [{"call_count": 99}], "2": [{"total_time": 100}]}', False, 900.0),
        # Graph throttled this call and says when calls are allowed again: wait until then.
        ('{"1": [{"call_count": 100, "estimated_time_to_regain_access": 30}]}', True, 1500.0),
        ('{"1": [{"call_count": 100, "estimated_time_to_regain_access": 1}]}', True, 900.0),
        ('{"1": [{"call_count": 5, "estimated_time_to_regain_access": 2}]}', True, 0.0),
        # A block of days: one poll an hour still sees when it ends.
        ('{"1": [{"call_count": 100, "estimated_time_to_regain_access": 4320}]}', True, 3600.0),
        # The call went through: a regain time is another use case's or business's.
        ('{"1": [{"call_count": 5}], "2": [{"estimated_time_to_regain_access": 600}]}', False, 0.0),
    ],
)
def test_polls_slow_down_before_the_allowance_runs_out(
    header: str | None, throttled: bool, wait: float
) -> None:
    """At a 5-min interval: from 80 % one extra interval, at 100 % three, and when Graph
    throttled the call, its stated regain time is waited out, for an hour at most."""
    assert usage_wait(parse_usage_header(header), 300.0, throttled=throttled) == wait


def test_a_long_interval_waits_an_hour_at_most() -> None:
    """The token's daily poll at 100 %: one hour more, not three days."""
    usages = parse_usage_header('{"1": [{"call_count": 100}]}')
    assert usage_wait(usages, 86_400.0) == MAX_USAGE_WAIT == 3600.0
