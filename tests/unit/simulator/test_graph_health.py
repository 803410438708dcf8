"""Unit tests of the Cloud API simulator's `health_status` and its overall value."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.simulator.graph_health import Availability, Ids, health_status, overall
from watchdog.simulator.graph_scenarios import GraphScenario

IDS = Ids(waba="2", business="3", app="4")


def entity(send: str, sip: str | None = None) -> dict[str, Any]:
    value = {"entity_type": "WABA", "id": "2", "can_send_message": send}
    if sip is not None:
        value["can_receive_call_sip"] = sip
    return value


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["AVAILABLE", "AVAILABLE"], Availability.AVAILABLE),
        (["AVAILABLE", "LIMITED", "AVAILABLE"], Availability.LIMITED),
        (["LIMITED", "BLOCKED", "AVAILABLE"], Availability.BLOCKED),
        (["BLOCKED", "LIMITED"], Availability.BLOCKED),
    ],
)
def test_overall_is_the_worst_entity(values: list[str], expected: Availability) -> None:
    """BLOCKED if any node is blocked, else LIMITED if any is limited, else AVAILABLE."""
    assert overall([entity(v) for v in values]) is expected


def test_overall_follows_the_sip_example_not_the_text() -> None:
    """Meta's SIP example: overall BLOCKED while every can_send_message is AVAILABLE."""
    assert overall([entity("AVAILABLE", "BLOCKED"), entity("AVAILABLE")]) is Availability.BLOCKED
    assert overall([entity("AVAILABLE", "LIMITED")]) is Availability.LIMITED


def test_a_numbers_health_names_four_entities_and_the_wabas_three() -> None:
    number = health_status(IDS, GraphScenario.HEALTHY, ("1", GraphScenario.HEALTHY))
    assert [e["entity_type"] for e in number["entities"]] == [
        "PHONE_NUMBER",
        "WABA",
        "BUSINESS",
        "APP",
    ]
    assert [e["id"] for e in number["entities"]] == ["1", "2", "3", "4"]
    assert number["can_send_message"] == "AVAILABLE"
    waba = health_status(IDS, GraphScenario.HEALTHY)
    assert [e["entity_type"] for e in waba["entities"]] == ["WABA", "BUSINESS", "APP"]
    # can_receive_call_sip only on PHONE_NUMBER and APP.
    sip = {e["entity_type"] for e in number["entities"] if "can_receive_call_sip" in e}
    assert sip == {"PHONE_NUMBER", "APP"}


def test_calling_blocked_leaves_messaging_available() -> None:
    health = health_status(IDS, GraphScenario.HEALTHY, ("1", GraphScenario.CALLING_BLOCKED))
    assert health["can_send_message"] == "BLOCKED"
    assert {e["can_send_message"] for e in health["entities"]} == {"AVAILABLE"}
    [phone] = [e for e in health["entities"] if e["entity_type"] == "PHONE_NUMBER"]
    assert phone["can_receive_call_sip"] == "BLOCKED"
    assert [e["error_code"] for e in phone["errors"]] == [138024, 138025]


def test_waba_blocked_shows_in_both_views() -> None:
    for number in (("1", GraphScenario.HEALTHY), None):
        health = health_status(IDS, GraphScenario.WABA_BLOCKED, number)
        assert health["can_send_message"] == "BLOCKED"
        [waba] = [e for e in health["entities"] if e["entity_type"] == "WABA"]
        assert waba["errors"][0]["error_code"] == 141006
        assert set(waba["errors"][0]) == {"error_code", "error_description", "possible_solution"}
