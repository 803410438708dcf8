"""A Cloud API target's card in a real browser, beside an On-Prem target: healthy, then
blocked by Meta, as on-call sees it (`tests/browser/cloud_scenario.py`: the simulated Graph
and one watchdog in this process). The card says critical and shows the blocked entity with
Meta's error and possible solution, as Graph itself answers them; the page still loads nothing
from elsewhere and fits a phone.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.cloud_scenario import CLOUD, ONPREM, CloudScenario
from tests.browser.harness import Browsers
from tests.browser.scenarios import wait_for
from tests.html_tree import Element

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def card(page: Element, name: str = CLOUD) -> Element:
    return page.find("section", class_="target", data_target=name)


def test_a_healthy_number_beside_an_onprem_target(cloud: CloudScenario, browsers: Browsers) -> None:
    page = browsers.get().open(cloud.page_url())
    section = card(page)
    assert (section.attrs["data-kind"], section.attrs["data-level"]) == ("cloud", "ok")
    assert card(page, ONPREM).attrs["data-kind"] == "onprem"
    number = section.find("ul", data_cloud="number")
    assert number.find(data_field="status").words() == "CONNECTED"
    # With the app token, debug_token tells the simulated system user's token never expires.
    token = section.find(data_cloud="token")
    assert token.attrs["data-level"] == "ok"
    assert "never expires" in token.words()
    assert [s.attrs["data-strip"] for s in section.find_all("svg", data_strip=True)] == [
        "phone_number",
        "waba",
        "token",
    ]


def test_a_blocked_number_is_critical_with_metas_possible_solution(
    cloud: CloudScenario, browsers: Browsers
) -> None:
    cloud.switch("blocked")
    wait_for(
        lambda: cloud.target()["poll_level"] == "critical",
        f"{CLOUD} judged critical after the switch",
        timeout=10,
    )
    # What Graph itself says of the blocked entity: the card must show it in Meta's words.
    health = cloud.number_health()
    (blocked,) = [e for e in health["entities"] if e["can_send_message"] == "BLOCKED"]
    (error,) = blocked["errors"]

    browser = browsers.get()
    for url in (cloud.page_url(), cloud.page_url(CLOUD)):
        page = browser.open(url)
        section = card(page)
        verdict = section.find(class_="verdict")
        assert section.attrs["data-level"] == verdict.attrs["data-level"] == "critical"
        row = section.find(
            "tbody", data_entity=blocked["entity_type"], data_entity_id=blocked["id"]
        )
        assert (row.attrs["data-messages"], row.attrs["data-level"]) == ("BLOCKED", "critical")
        shown = row.find(class_="meta-error", data_code=str(error["error_code"]))
        assert error["error_description"] in shown.words()
        assert shown.find(class_="solution").words() == (
            f"What to do: {error['possible_solution']}"
        )
    assert page.find(id="verdict").words().startswith(f"{CLOUD}: critical")


def test_the_cloud_card_loads_nothing_else_and_fits_a_phone(
    cloud: CloudScenario, browsers: Browsers
) -> None:
    browser = browsers.get()
    assert browser.wider_than_a_phone([cloud.page_url(), cloud.page_url(CLOUD)]) == []
    requested: list[Any] = browser.record_requests()
    assert requested
    assert [url for url in requested if not url.startswith(cloud.url + "/")] == []
