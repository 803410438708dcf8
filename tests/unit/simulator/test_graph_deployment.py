"""Unit tests of the simulated Cloud API account: scenarios, token, fields, budget (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.simulator import GraphConfig, GraphDeployment, GraphScenario
from watchdog.simulator.graph_app import parse_fields
from watchdog.simulator.graph_errors import GraphError

T0 = 1_700_000_000.0
DAY = 86_400.0
TOKEN = "EAAunit-test-token-0123456789"
NUMBERS = ("111", "222")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(**config: Any) -> tuple[GraphDeployment, Clock]:
    clock = Clock()
    settings = GraphConfig(**{"token": TOKEN, "phone_number_ids": NUMBERS, **config})
    return GraphDeployment(settings, clock=clock), clock


def phone(d: GraphDeployment, number: str, *fields: str) -> dict[str, Any]:
    answer = d.phone_number(number, list(fields) or None)
    assert not isinstance(answer, GraphError)
    return answer


def test_token_expiring_counts_down_then_expires() -> None:
    """token_expiring: valid with expires_at 3 days after the switch, then 190/463."""
    d, clock = make()
    assert d.debug_token(TOKEN, clock.now)["expires_at"] == 0
    d.set_scenario(GraphScenario.TOKEN_EXPIRING)
    expires = d.debug_token(TOKEN, clock.now)["expires_at"]
    assert expires == int(T0 + 3 * DAY)
    assert d.check_token(TOKEN, clock.now) is None
    clock.now = T0 + 3 * DAY - 1
    assert d.check_token(TOKEN, clock.now) is None
    clock.now = T0 + 3 * DAY
    error = d.check_token(TOKEN, clock.now)
    assert error is not None
    assert (error.status, error.code, error.subcode) == (401, 190, 463)
    assert d.debug_token(TOKEN, clock.now)["is_valid"] is False


def test_debug_token_describes_a_system_user_token() -> None:
    d, clock = make()
    data = d.debug_token(TOKEN, clock.now)
    assert data["type"] == "SYSTEM_USER"
    assert data["is_valid"] is True
    assert set(data["scopes"]) >= {"whatsapp_business_management", "whatsapp_business_messaging"}
    assert {"app_id", "data_access_expires_at", "issued_at", "granular_scopes"} <= set(data)
    assert d.debug_token("someone-elses-token", clock.now)["is_valid"] is False


def test_a_wrong_token_is_190_467() -> None:
    d, clock = make()
    for token in ("", "EAAwrong", TOKEN + "x"):
        error = d.check_token(token, clock.now)
        assert error is not None
        assert (error.status, error.code, error.subcode) == (401, 190, 467)


def test_a_number_may_play_its_own_scenario() -> None:
    """One number blocked, the other healthy; the account's scenario clears overrides."""
    d, _ = make()
    d.set_scenario(GraphScenario.QUALITY_RED, "222")
    assert phone(d, "111")["quality_rating"] == "GREEN"
    assert phone(d, "222")["quality_rating"] == "RED"
    d.set_scenario(GraphScenario.DISCONNECTED)
    assert phone(d, "111", "status")["status"] == "DISCONNECTED"
    d.set_scenario(GraphScenario.HEALTHY, "111")
    assert phone(d, "111", "status")["status"] == "CONNECTED"
    assert phone(d, "222", "status")["status"] == "DISCONNECTED"
    d.set_scenario(GraphScenario.HEALTHY)
    assert d.overrides() == {}


def test_account_scenarios_cannot_be_set_on_one_number() -> None:
    d, _ = make()
    with pytest.raises(ValueError, match="whole account"):
        d.set_scenario(GraphScenario.THROTTLING, "111")
    with pytest.raises(ValueError, match="unknown phone number"):
        d.set_scenario(GraphScenario.BLOCKED, "999")
    assert d.scenario is GraphScenario.HEALTHY


def test_limit_dropped_lowers_limit_and_throughput_for_every_number() -> None:
    d, _ = make()
    fields = ("whatsapp_business_manager_messaging_limit", "throughput")
    before = [phone(d, n, *fields) for n in NUMBERS]
    d.set_scenario(GraphScenario.LIMIT_DROPPED)
    after = [phone(d, n, *fields) for n in NUMBERS]
    for old, new in zip(before, after, strict=True):
        assert (old["whatsapp_business_manager_messaging_limit"], new[fields[0]]) == (
            "TIER_10K",
            "TIER_2K",
        )
        assert (old["throughput"], new["throughput"]) == ({"level": "HIGH"}, {"level": "STANDARD"})


def test_throttling_uses_its_own_allowance_and_gives_it_back() -> None:
    d, clock = make(hourly_allowance=1_000, throttling_allowance=3)
    d.set_scenario(GraphScenario.THROTTLING)
    assert d.usage.allowance == 3
    d.set_hourly_allowance(500)
    assert d.usage.allowance == 3
    d.set_scenario(GraphScenario.HEALTHY)
    assert d.usage.allowance == 500
    assert d.count_call(clock.now)[1].calls == 1


def test_fields_select_the_keys_and_id_always_comes_last() -> None:
    d, _ = make()
    assert list(phone(d, "111")) == [
        "display_phone_number",
        "verified_name",
        "quality_rating",
        "id",
    ]
    answer = phone(d, "111", "status", "id", "messaging_limit_tier")
    assert answer == {"status": "CONNECTED", "messaging_limit_tier": None, "id": "111"}
    error = d.phone_number("111", ["status", "bogus"])
    assert isinstance(error, GraphError)
    assert (error.status, error.code) == (400, 100)
    assert "(bogus)" in error.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        (" , ", None),
        ("status", ["status"]),
        ("status, quality_rating", ["status", "quality_rating"]),
        (
            "throughput{level},health_status{can_send_message,entities}",
            ["throughput", "health_status"],
        ),
    ],
)
def test_parse_fields(text: str | None, expected: list[str] | None) -> None:
    assert parse_fields(text) == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"phone_number_ids": ()},
        {"phone_number_ids": ("1", "1")},
        {"waba_id": "111"},
        {"waba_id": "abc"},
        {"token": ""},
        {"hourly_allowance": 0},
        {"throttle_status": 503},
    ],
)
def test_bad_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make(**bad)
