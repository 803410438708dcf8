"""The Graph parsers on arbitrary input: a bounded, encodable value or PayloadError, nothing else
(the usage header parser: never anything), and the messaging verdict follows only the entities."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.api.endpoints import REASONS
from watchdog.api.graph import (
    LIMITS,
    limit_rank,
    parse_debug_token,
    parse_phone_number,
    parse_waba,
    throughput_rank,
)
from watchdog.api.graph_errors import GRAPH_REASONS, describe, graph_reason, parse_graph_error
from watchdog.api.graph_health import (
    AVAILABILITY,
    BLOCKED,
    MAX_ENTITIES,
    HealthStatus,
    parse_health_status,
)
from watchdog.api.graph_usage import MAX_USAGES, parse_usage_header, worst_percent
from watchdog.api.payloads import PayloadError

surrogates = st.sampled_from(["\ud800", "a\udfffb", "\udc80x"])
# Line breaks, padding and letters that grow when upper-cased: what the one-line, clipped and
# upper-cased fields must handle.
shaped = st.sampled_from(["a\nb", " lower case ", "\t", "ß" * 40])
texts = st.text(max_size=12) | surrogates | shaped
numbers = (
    st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
)
digits = st.integers(min_value=-5, max_value=10**12).map(str)
scalars = st.none() | st.booleans() | numbers | texts | digits
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=10,
)
# Inside near-valid shapes a small odd value is enough to take every "wrong type" branch.
odd = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(texts, children, max_size=2),
    max_leaves=3,
)
availability = st.sampled_from(AVAILABILITY) | st.sampled_from(["limited", "PAUSED"]) | odd
error_codes = st.sampled_from([190, 463, 10, 200, 4, 80007, 131000, "190", "80008"]) | odd
entity = st.fixed_dictionaries(
    {},
    optional={
        "entity_type": st.sampled_from(["PHONE_NUMBER", "WABA", "BUSINESS", "APP"]) | odd,
        "id": digits | odd,
        "can_send_message": availability,
        "can_receive_call_sip": availability,
        "additional_info": st.lists(texts | odd, max_size=3) | odd,
        "errors": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "error_code": error_codes,
                    "error_description": texts | odd,
                    "possible_solution": texts | odd,
                },
            )
            | odd,
            max_size=3,
        )
        | odd,
    },
)
health_statuses = st.fixed_dictionaries(
    {},
    optional={"can_send_message": availability, "entities": st.lists(entity, max_size=5) | odd},
)
phone_numbers = st.fixed_dictionaries(
    {},
    optional={
        "id": digits | odd,
        "display_phone_number": texts | odd,
        "verified_name": texts | odd,
        "status": st.sampled_from(["CONNECTED", "FLAGGED", "connected"]) | odd,
        "quality_rating": st.sampled_from(["GREEN", "YELLOW", "RED", "NA"]) | odd,
        "whatsapp_business_manager_messaging_limit": st.sampled_from(LIMITS) | odd,
        "messaging_limit_tier": st.sampled_from(LIMITS) | odd,
        "throughput": st.fixed_dictionaries({"level": texts | odd}) | odd,
        "platform_type": st.sampled_from(["CLOUD_API", "ON_PREMISE"]) | odd,
        "host_platform": odd,
        "is_official_business_account": odd,
        "health_status": health_statuses | odd,
        "error": odd,
    },
)
error_envelopes = st.fixed_dictionaries(
    {
        "error": st.fixed_dictionaries(
            {},
            optional={
                "message": texts | odd,
                "type": texts | odd,
                "code": error_codes,
                "error_subcode": error_codes,
                "subcode": error_codes,
                "error_data": st.fixed_dictionaries({"details": texts | odd}) | odd,
                "fbtrace_id": texts | odd,
            },
        )
        | odd
    }
)
tokens = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {},
            optional={
                "is_valid": odd,
                "expires_at": numbers | digits | odd,
                "data_access_expires_at": numbers | odd,
                "type": texts | odd,
                "app_id": digits | odd,
                "scopes": st.lists(texts | odd, max_size=3) | odd,
                "error": error_envelopes.map(lambda e: e["error"]) | odd,
            },
        )
        | odd
    }
)
usage_fields = ("call_count", "total_cputime", "total_time", "estimated_time_to_regain_access")
usage_rows = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(usage_fields, numbers | digits | odd) | {"type": texts | odd},
)
usage_bodies = st.dictionaries(texts | digits, st.lists(usage_rows | odd, max_size=3) | odd)


def examples(count: int) -> settings:
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_value(value: Any) -> None:
    """Every text bounded and encodable, every number finite and non-negative, all the way down."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            check_value(getattr(value, item.name))
    elif isinstance(value, tuple):
        assert len(value) <= 64
        for item in value:
            check_value(item)
    elif isinstance(value, str):
        assert len(value) <= 300
        assert "\n" not in value
        value.encode("utf-8")
    elif isinstance(value, float):
        assert math.isfinite(value)
        assert value >= 0
    else:
        assert value is None or isinstance(value, bool | int)


def check_health(health: HealthStatus) -> None:
    check_value(health)
    assert len(health.entities) <= MAX_ENTITIES
    assert health.messaging
    if BLOCKED in (e.can_send_message for e in health.entities):
        assert health.messaging == BLOCKED


def parse_all(body: Any) -> None:
    """Every body parser on `body`: a checked value or PayloadError, nothing else."""
    with contextlib.suppress(PayloadError):
        number = parse_phone_number(body)
        check_value(number)
        limit_rank(number.messaging_limit)
        throughput_rank(number.throughput_level)
    with contextlib.suppress(PayloadError):
        check_health(parse_waba(body))
    with contextlib.suppress(PayloadError):
        check_health(parse_health_status(body))
    with contextlib.suppress(PayloadError):
        check_value(parse_debug_token(body))
    error = parse_graph_error(body)
    if error is not None:
        check_value(error)
        line = describe(error)
        assert "\n" not in line
        assert len(line) < 1000
    for status in (None, 200, 400, 401, 404, 429, 503):
        assert graph_reason(status, error) in (*GRAPH_REASONS, *REASONS)


@examples(300)
@given(body=json_values)
def test_arbitrary_json(body: Any) -> None:
    """Arbitrary JSON: every parser returns a valid value or raises PayloadError."""
    parse_all(body)


@examples(200)
@given(
    body=phone_numbers
    | health_statuses
    | tokens
    | error_envelopes
    | st.fixed_dictionaries({"health_status": health_statuses | odd})
)
def test_near_valid_answers(body: dict[str, Any]) -> None:
    """Answers of the right shape with odd values inside: valid values or PayloadError."""
    parse_all(body)


@examples(200)
@given(status=health_statuses, overall=availability, calling=availability)
def test_messaging_follows_only_can_send_message(
    status: dict[str, Any], overall: Any, calling: Any
) -> None:
    """Meta's overall value and every `can_receive_call_sip` may change: while an entity states
    `can_send_message`, the messaging verdict does not move."""
    try:
        before = parse_health_status(status)
    except PayloadError:
        return
    entities = status.get("entities")
    if not any(e.can_send_message for e in before.entities) or not isinstance(entities, list):
        return
    changed = {
        "can_send_message": overall,
        "entities": [
            {**e, "can_receive_call_sip": calling} if isinstance(e, dict) else e for e in entities
        ],
    }
    assert parse_health_status(changed).messaging == before.messaging


@examples(300)
@given(header=st.text(max_size=200) | usage_bodies.map(json.dumps) | json_values.map(json.dumps))
def test_usage_header_never_raises(header: str) -> None:
    """Any header text gives usages with bounded, finite, non-negative numbers; never raises."""
    usages = parse_usage_header(header)
    assert len(usages) <= MAX_USAGES
    check_value(usages)
    worst = worst_percent(usages)
    assert worst is None or 0 <= worst <= 10_000


@examples(100)
@given(status=st.integers(min_value=-1, max_value=1000) | st.none(), body=error_envelopes)
def test_every_status_gets_a_known_reason(status: int | None, body: dict[str, Any]) -> None:
    """Whatever the status and the error, the reason is one the watchdog knows."""
    assert graph_reason(status, parse_graph_error(body)) in (*GRAPH_REASONS, *REASONS)
