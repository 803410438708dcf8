"""The status page in a real browser, as on-call uses it: the alert that fires and the verdict
it holds up, recovery, a flapping gateway at a glance, tooltips, no request leaving the
machine, no JavaScript, a phone's width, dark mode.

One simulator and one watchdog serve the whole module (`tests/browser/scenarios.py`): three
targets, one overloaded then recovering, one flapping, one healthy; one headless Chromium
(and a second one with JavaScript off) looks at them. The tests run in file order, which is
the order of the story: the overload fires, then it recovers.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.harness import Browser, Browsers, luminance
from tests.browser.scenarios import (
    FLAPPING,
    HEALTH_INTERVAL,
    HEALTHY,
    OVERLOADED,
    OVERLOADED_KEEP_FIRING_FOR,
    OVERLOADED_WINDOW,
    TARGETS,
    Scenarios,
    wait_for,
)
from tests.html_tree import Element

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ALERT = "WhatsAppOverloaded"
# An attribute value that leaves the page's origin: a scheme (`https:`, `data:`) or `//host`.
ABSOLUTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//|\\\\)", re.IGNORECASE)
URL_ATTRIBUTES = ("href", "src", "srcset", "action", "formaction", "xlink:href", "poster", "data")


# --- reading the page -----------------------------------------------------------------------


def alert_rows(page: Element, alertname: str, target: str) -> list[Element]:
    section = page.find("section", id="alerts")
    return section.find_all(data_alert=alertname, data_target=target)


def target_section(page: Element, name: str) -> Element:
    return page.find("section", class_="target", data_target=name)


def marks(section: Element, endpoint: str) -> list[Element]:
    """The strip's marks, left to right."""
    strip = section.find("svg", data_strip=endpoint)
    return sorted(strip.find_all("rect", class_="mark"), key=lambda r: float(r.attrs["x"]))


def mark_kinds(section: Element, endpoint: str) -> list[str]:
    return [
        next(c for c in r.attrs["class"].split() if c.startswith("m-"))
        for r in marks(section, endpoint)
    ]


def changes(values: list[str]) -> int:
    return sum(1 for a, b in itertools.pairwise(values) if a != b)


def firing(document: dict[str, Any], alertname: str, target: str) -> dict[str, Any] | None:
    for alert in document["alerts"]["firing"]:
        if alert["alertname"] == alertname and alert["target"] == target:
            found: dict[str, Any] = alert
            return found
    return None


def wait_overload_firing(scenarios: Scenarios) -> None:
    wait_for(
        lambda: scenarios.alert_state(ALERT, OVERLOADED) == "firing",
        f"{ALERT} firing for {OVERLOADED}",
        timeout=2 * HEALTH_INTERVAL,
    )


def titles(history: dict[str, list[Any]]) -> list[str]:
    """What each poll's mark should say: its time, result, status code and latency."""
    columns = ("at", "result", "status_code", "duration_ms")
    return [
        f"{time.strftime('%H:%M:%S', time.gmtime(at))} UTC · {result} · "
        f"{'no answer' if code is None else code} · {ms} ms"
        for at, result, code, ms in zip(*(history[c] for c in columns), strict=True)
    ]


def accessible_names(browser: Browser, target: str, endpoint: str) -> list[tuple[str, str]]:
    """(accessible name, title) of each mark of a strip, left to right, read from the live
    page; read again from a reload if the page refreshed itself meanwhile."""
    css = f'section[data-target="{target}"] svg[data-strip="{endpoint}"] rect.mark'
    for _ in range(3):
        try:
            rects = browser.driver.find_elements(By.CSS_SELECTOR, css)
            found = [
                (
                    float(rect.get_attribute("x") or "nan"),
                    rect.accessible_name,
                    rect.find_element(By.TAG_NAME, "title").get_attribute("textContent") or "",
                )
                for rect in rects
            ]
        except StaleElementReferenceException:
            browser.driver.refresh()
            continue
        return [(name, title) for _, name, title in sorted(found)]
    raise AssertionError("the page kept reloading while its marks were read")


# --- the story --------------------------------------------------------------------------------


def test_overloaded_target_shows_its_firing_alert_and_a_critical_verdict(
    scenarios: Scenarios, browsers: Browsers
) -> None:
    """An overloaded API: the alert is listed as firing and links to its target; the target
    and the page say critical; the link opens that target alone, with a way back."""
    browser = browsers.get()
    wait_overload_firing(scenarios)
    page = browser.open(scenarios.page_url())
    rows = alert_rows(page, ALERT, OVERLOADED)
    assert [row.attrs["data-state"] for row in rows] == ["firing"], rows
    assert rows[0].find("a", href=f"?target={OVERLOADED}")
    section = target_section(page, OVERLOADED)
    verdict = section.find(class_="verdict")
    assert section.attrs["data-level"] == verdict.attrs["data-level"] == "critical"
    # The verdict names the alert that says so, though the polls say critical as well.
    assert "critical" in verdict.words()
    assert ALERT in verdict.words()
    assert page.find(id="verdict").attrs["data-level"] == "critical"

    link = f'#alerts [data-alert="{ALERT}"][data-target="{OVERLOADED}"] a'
    browser.driver.find_element(By.CSS_SELECTOR, link).click()
    WebDriverWait(browser.driver, 10).until(
        lambda driver: (
            driver.current_url == scenarios.page_url(OVERLOADED)
            and driver.execute_script("return document.readyState") == "complete"
        )
    )
    focus = browser.dom()
    assert [s.attrs["data-target"] for s in focus.find_all("section", class_="target")] == [
        OVERLOADED
    ]
    # The banner answers for the target opened, not for every target.
    assert focus.find(id="verdict").attrs["data-level"] == "critical"
    assert focus.find(id="verdict").words().startswith(f"{OVERLOADED}: critical")
    back = focus.find("a", href="./")
    browser.driver.find_element(By.LINK_TEXT, back.words()).click()
    WebDriverWait(browser.driver, 10).until(lambda d: d.current_url == scenarios.page_url())


def test_recovered_target_stays_critical_while_its_alert_keeps_firing_then_turns_ok(
    scenarios: Scenarios, browsers: Browsers
) -> None:
    """Back to healthy: while the alert keeps firing, its target stays critical and names it,
    though its last poll is ok; once the alert resolves, the target is ok and the alert is
    listed as resolved."""
    browser = browsers.get()
    wait_overload_firing(scenarios)
    scenarios.recover()

    def keeps_firing() -> bool:
        document = scenarios.status(OVERLOADED)
        alert = firing(document, ALERT, OVERLOADED)
        return (
            document["targets"][0]["poll_level"] == "ok"
            and alert is not None
            and alert["keep_firing_left_seconds"] is not None
        )

    wait_for(keeps_firing, f"{ALERT} firing with its condition clear", OVERLOADED_WINDOW + 10)
    page = browser.open(scenarios.page_url(OVERLOADED))
    assert [r.attrs["data-state"] for r in alert_rows(page, ALERT, OVERLOADED)] == ["firing"]
    section = target_section(page, OVERLOADED)
    verdict = section.find(class_="verdict")
    assert section.attrs["data-level"] == verdict.attrs["data-level"] == "critical"
    assert ALERT in verdict.words()
    assert mark_kinds(section, "health")[-1] == "m-ok"

    wait_for(
        lambda: scenarios.alert_state(ALERT, OVERLOADED) == "resolved",
        f"{ALERT} resolved",
        OVERLOADED_KEEP_FIRING_FOR + 10,
    )
    page = browser.open(scenarios.page_url(OVERLOADED))
    assert [r.attrs["data-state"] for r in alert_rows(page, ALERT, OVERLOADED)] == ["resolved"]
    section = target_section(page, OVERLOADED)
    verdict = section.find(class_="verdict")
    assert section.attrs["data-level"] == verdict.attrs["data-level"] == "ok"
    assert ALERT not in verdict.words()


def test_flapping_gateway_shows_as_alternating_marks(
    scenarios: Scenarios, browsers: Browsers
) -> None:
    """A gateway that comes and goes: its health strip alternates ok and critical marks."""
    browser = browsers.get()
    scenarios.wait_flapping()

    def alternated() -> bool:
        history = scenarios.target(FLAPPING)["endpoints"]["health"]["history"]
        return changes(history["mark"]) >= 2

    wait_for(alternated, f"{FLAPPING}'s health to change twice", 4 * HEALTH_INTERVAL)
    kinds = mark_kinds(target_section(browser.open(scenarios.page_url()), FLAPPING), "health")
    assert {"m-ok", "m-critical"} <= set(kinds), kinds
    assert changes(kinds) >= 2, kinds


def test_each_mark_says_when_its_poll_ran_and_what_it_found(
    scenarios: Scenarios, browsers: Browsers
) -> None:
    """Every mark's tooltip is its poll's time (UTC), result, status code and latency, as
    `/api/v1/status` has it, and is what a screen reader announces for the mark."""
    browser = browsers.get()
    scenarios.wait_flapping()
    opened = time.time()
    page = browser.open(scenarios.page_url())
    document = scenarios.status()
    checked = 0
    for target in document["targets"]:
        section = target_section(page, target["name"])
        for endpoint, doc in target["endpoints"].items():
            expected = titles(doc["history"])
            shown = [r.find("title").text() for r in marks(section, endpoint)]
            # The page was drawn before the document was read: the same polls, minus the
            # newest ones, and surely every poll that had started seconds before.
            settled = sum(1 for at in doc["history"]["at"] if at < opened - 3)
            where = f"{target['name']} {endpoint}"
            assert shown == expected[: len(shown)], where
            assert len(shown) >= settled, where
            checked += len(shown)
    assert checked > 0
    for name in (FLAPPING, OVERLOADED):
        labelled = accessible_names(browser, name, "health")
        assert labelled, name
        assert [accessible for accessible, _ in labelled] == [title for _, title in labelled]


def test_page_makes_no_request_beyond_the_watchdog(
    scenarios: Scenarios, browsers: Browsers
) -> None:
    """The page loads nothing from anywhere else (no font, script, style or image), so it
    works on an isolated network and tells no one what is being watched."""
    browser = browsers.get()
    for target in (None, *TARGETS):
        page = browser.open(scenarios.page_url(target))
        for element in page.iter():
            for name in URL_ATTRIBUTES:
                value = element.attrs.get(name)
                assert value is None or not ABSOLUTE.match(value), (element, name)
            assert "url(" not in element.attrs.get("style", ""), element
        for style in page.find_all("style"):
            assert "url(" not in style.text()
            assert "@import" not in style.text()
    requested = browser.record_requests()
    assert requested
    assert [url for url in requested if not url.startswith(scenarios.url + "/")] == []


def test_page_works_without_javascript(scenarios: Scenarios, browsers: Browsers) -> None:
    """With JavaScript off, the verdict, every target's verdict and strips are all there, and
    the page still refreshes itself."""
    browser = browsers.get(javascript=False)
    probe = browser.open("data:text/html,<title>off</title><script>document.title='on'</script>")
    assert probe.find("title").text() == "off", "JavaScript is not off in this browser"
    page = browser.open(scenarios.page_url())
    assert page.find(id="verdict").attrs["data-level"] in ("ok", "warning", "critical")
    for name in TARGETS:
        section = target_section(page, name)
        assert section.find(class_="verdict").attrs["data-level"] == section.attrs["data-level"]
        assert marks(section, "health"), name
    assert page.find("meta", http_equiv="refresh")


def test_page_fits_a_phone_screen(scenarios: Scenarios, browsers: Browsers) -> None:
    """At a phone's 360 px, nothing makes the page scroll sideways."""
    browser = browsers.get()
    assert browser.wider_than_a_phone([scenarios.page_url(), scenarios.page_url(OVERLOADED)]) == []


@pytest.mark.parametrize(("scheme", "dark"), [("dark", True), ("light", False)])
def test_page_follows_the_colour_scheme(
    scenarios: Scenarios, browsers: Browsers, scheme: str, dark: bool
) -> None:
    """A system in dark mode gets a dark page with light text, and a light one the reverse."""
    browser = browsers.get()
    feature = {"name": "prefers-color-scheme", "value": scheme}
    browser.cdp("Emulation.setEmulatedMedia", {"features": [feature]})
    try:
        browser.open(scenarios.page_url(HEALTHY))
        background = luminance(browser.background())
        text = luminance(browser.foreground())
    finally:
        browser.cdp("Emulation.setEmulatedMedia", {"features": []})
    assert (background < 0.1) if dark else (background > 0.8), background
    assert (text > 0.6) if dark else (text < 0.2), text
