"""A Cloud API target's card on the status page, drawn from the status document of a state
that recorded Graph answers: the verdict, the number, the entities in Meta's words, the WABA,
the token, the rate-limit usage and the strips; escaped, self-contained."""

from __future__ import annotations

import json
import re

from tests.html_tree import Element
from tests.html_tree import parse as parse_tree
from tests.unit.cloud_support import (
    BLOCKED,
    CALLING_BLOCKED,
    DISPLAY_NAME_PENDING,
    HEALTHY_PHONE,
    LIMITED,
    NAME,
    NUMBER,
    PAYMENT,
    SIP,
    T0,
    WABA,
    WABA_BLOCKED,
    cloud_state,
    entities,
    health,
    phone,
    polled,
    record,
    record_failed,
    token_body,
    usage_header,
)
from watchdog.api.endpoints import Endpoint
from watchdog.base.targets import Target
from watchdog.state import State
from watchdog.web.page import render_page
from watchdog.web.status import status

NOW = T0 + 5
HOSTILE = "\"'><script>alert(1)</script>"


def card(state: State, now: float = NOW, *, focus: str | None = None) -> Element:
    page = parse_tree(render_page(status(state, now), focus=focus), strict=True)
    return page.one("section", class_="target", data_target=NAME)


def entity_rows(section: Element, node: str) -> dict[str, Element]:
    table = section.one("table", data_cloud="entities", data_node=node)
    return {body.attrs["data-entity"]: body for body in table.all("tbody", data_entity=None)}


def test_a_blocked_number_shows_metas_error_and_what_to_do() -> None:
    section = card(polled(BLOCKED))
    assert (section.attrs["data-kind"], section.attrs["data-level"]) == ("cloud", "critical")
    verdict = section.one(class_="verdict")
    assert (verdict.attrs["data-level"], verdict.text()) == ("critical", "critical")
    assert section.one(class_="summary").text() == f"cannot send messages: WABA {WABA}"
    rows = entity_rows(section, "number")
    assert list(rows) == ["PHONE_NUMBER", "WABA", "BUSINESS", "APP"]
    blocked = rows["WABA"]
    assert (blocked.attrs["data-level"], blocked.attrs["data-messages"]) == ("critical", "BLOCKED")
    assert blocked.one("td", class_="r-critical").text() == "BLOCKED"
    error = blocked.one(class_="meta-error")
    assert error.attrs["data-code"] == "141006"
    assert error.words().startswith(f"error 141006: {PAYMENT['error_description']}")
    assert error.one(class_="solution").text() == f"What to do: {PAYMENT['possible_solution']}"
    assert {rows[e].attrs["data-level"] for e in ("PHONE_NUMBER", "BUSINESS", "APP")} == {"ok"}
    said = [b.attrs for b in section.all(data_messaging=None)]
    assert [(a["data-messaging"], a["class"]) for a in said] == [
        ("BLOCKED", "lvl l-critical"),  # the number's health status
        ("AVAILABLE", "lvl l-ok"),  # the WABA's, polled on its own
    ]


def test_the_card_reads_top_down_verdict_number_health_waba_token_usage_strips() -> None:
    section = card(polled(usage=usage_header(42)))
    headings = [h.text() for h in section.all("h3")]
    assert headings[:6] == [
        "Number",
        "Messaging health",
        f"WABA health {WABA} · answered 5s ago",
        "Access token",
        "Rate limit usage",
        "Last hour",
    ]
    number = section.one("ul", data_cloud="number")
    fields = {b.attrs["data-field"]: b.text() for b in number.all("b", data_field=None)}
    assert fields == {
        "display_phone_number": "15550783881",
        "verified_name": "Shop EU",
        "status": "CONNECTED",
        "quality_rating": "GREEN",
        "messaging_limit": "TIER_10K",
        "throughput_level": "STANDARD",
        "platform": "CLOUD_API",
    }
    assert "(APPROVED)" in number.text()
    assert "Cloud API, Graph v25.0" in section.all("ul", class_="facts")[0].text()
    # The heartbeat strips are the Cloud endpoints', the latency the number's polls'.
    strips = [s.attrs["data-strip"] for s in section.all("svg", data_strip=None)]
    assert strips == ["phone_number", "waba", "token"]
    assert section.one("svg", data_sparkline="phone_number")
    assert section.all("table", class_="queues") == []


def test_a_disconnected_number_and_a_red_quality_stand_out() -> None:
    number = card(polled(phone(status="DISCONNECTED", quality_rating="RED"))).one(
        "ul", data_cloud="number"
    )
    assert number.one(data_field="status").attrs["class"] == "lvl l-critical"
    assert number.one(data_field="quality_rating").attrs["class"] == "lvl l-warning"


def test_a_limited_entity_shows_metas_additional_info() -> None:
    section = card(polled(LIMITED))
    assert section.attrs["data-level"] == "warning"
    row = entity_rows(section, "number")["PHONE_NUMBER"]
    assert (row.attrs["data-level"], row.attrs["data-messages"]) == ("warning", "LIMITED")
    assert row.one("td", class_="r-warning").text() == "LIMITED"
    assert row.one(class_="info").text() == DISPLAY_NAME_PENDING
    assert "(PENDING_REVIEW)" in section.one("ul", data_cloud="number").text()


def test_a_calling_only_problem_is_information_not_red() -> None:
    """Meta's SIP example: the number can send messages, calls cannot reach it. Its errors are
    shown, as information: nothing on the card is red."""
    section = card(polled(CALLING_BLOCKED))
    assert section.attrs["data-level"] == "ok"
    row = entity_rows(section, "number")["PHONE_NUMBER"]
    assert row.attrs["data-level"] == "info"
    cells = row.all("td")
    assert (cells[0].content[0], cells[0].one("small").text()) == ("PHONE_NUMBER", NUMBER)
    assert (cells[1].text(), cells[1].attrs["class"]) == ("AVAILABLE", "r-ok")
    assert (cells[2].text(), cells[2].attrs["class"]) == ("BLOCKED", "r-unknown")
    assert "calling only: sending messages is not affected" in row.words()
    assert row.one(class_="meta-error").attrs["data-code"] == str(SIP["error_code"])
    assert section.all(class_="r-critical") == section.all(class_="l-critical") == []
    said = next(p for p in section.all("p") if p.all(data_messaging=None))
    assert said.one(data_messaging=None).attrs["data-messaging"] == "AVAILABLE"
    assert "Meta's overall value says BLOCKED, which counts calling too" in said.words()


def test_the_wabas_own_health() -> None:
    section = card(polled(waba=WABA_BLOCKED))
    assert section.attrs["data-level"] == "critical"
    rows = entity_rows(section, "waba")
    assert list(rows) == ["WABA", "BUSINESS", "APP"]
    assert rows["WABA"].attrs["data-level"] == "critical"
    assert PAYMENT["possible_solution"] in rows["WABA"].words()
    # Without a WABA configured there is no WABA section; not answered yet says so.
    plain = State([Target(name=NAME, url="https://g.example", kind="cloud",
                          phone_number_id="1")], clock=lambda: T0)  # fmt: skip
    record(plain, HEALTHY_PHONE)
    assert card(plain).all(data_node="waba") == card(plain).all(data_cloud="waba") == []
    waiting = cloud_state()
    record(waiting, HEALTHY_PHONE)
    assert "no answer yet" in card(waiting).one(data_cloud="waba").text()


def token_line(state: State) -> tuple[str, str]:
    line = card(state).one(data_cloud="token")
    return line.attrs["data-level"], line.words()


def test_the_tokens_expiry() -> None:
    assert token_line(polled()) == ("ok", "SYSTEM_USER token, valid, never expires.")
    level, said = token_line(polled(token=token_body(expires_at=int(T0) + 3 * 86400 + 3600)))
    assert level == "warning"
    assert said.startswith("SYSTEM_USER token, valid, expires in 3 days, 0 h (")
    level, said = token_line(polled(token=token_body(expires_at=int(T0) + 30 * 86400 + 7200)))
    assert (level, said.split(" (")[0]) == (
        "ok",
        "SYSTEM_USER token, valid, expires in 30 days, 1 h",
    )
    level, said = token_line(polled(token=token_body(expires_at=int(T0) - 3600)))
    assert (level, said.split(" (")[0]) == ("critical", "SYSTEM_USER token expired 1h0m ago")
    invalid = token_body(
        is_valid=False,
        error={"code": 190, "subcode": 463, "message": "Session has expired on Friday."},
    )
    assert token_line(polled(token=invalid)) == (
        "critical",
        "SYSTEM_USER token is not valid (Graph error 190: Session has expired on Friday.).",
    )


def test_a_token_that_cannot_be_checked() -> None:
    state = cloud_state()
    record(state, HEALTHY_PHONE)
    assert token_line(state) == ("unknown", "Not checked yet.")
    record_failed(state, "graph_permission", 403, Endpoint.TOKEN, detail="code 10")
    level, said = token_line(state)
    assert level == "unknown"
    assert said.startswith("Expiry unknown: debug_token was refused (code 10).")
    record_failed(state, "timeout", None, Endpoint.TOKEN, detail="timed out")
    assert token_line(state) == ("warning", "Expiry unknown: the token check failed (timed out).")


def test_usage_bars_per_dimension_with_the_80_percent_mark() -> None:
    state = polled(usage=usage_header(85))
    record_failed(state, "graph_throttled", 429, at=T0 + 1, usage=usage_header(100, regain=12))
    table = card(state).one("table", data_cloud="usage")
    (row,) = table.all("tr", data_business=None)
    assert row.attrs["data-type"] == "whatsapp_business_management"
    bars = {svg.attrs["data-usage"]: svg for svg in row.all("svg", class_="usage")}
    assert list(bars) == ["call_count", "total_cputime", "total_time"]
    assert [bars[d].attrs["data-level"] for d in bars] == ["critical", "ok", "ok"]
    assert bars["call_count"].attrs["aria-label"] == "call_count: 100 % of the hourly allowance"
    for svg in bars.values():
        assert svg.one("line", class_="limit").attrs["x1"] == "80"
    assert bars["total_time"].one("rect", class_="m-ok").attrs["width"] == "30"
    assert [c.text() for c in row.all("td")][1:] == ["100 %", "12 %", "30 %", "12 min"]
    # From 80 % on, a dimension warns.
    warned = card(polled(usage=usage_header(80))).one("svg", data_usage="call_count")
    assert warned.attrs["data-level"] == "warning"
    assert card(polled()).one(data_cloud="usage").text() == "No usage header from Meta yet."


def test_a_limit_that_went_down_is_told() -> None:
    state = cloud_state()
    record(state, HEALTHY_PHONE)
    record(state, phone(whatsapp_business_manager_messaging_limit="TIER_2K"), at=T0 + 60)
    drop = card(state, T0 + 65).one(data_drop="messaging limit")
    assert drop.words() == "messaging limit went down: TIER_10K → TIER_2K at 08:01:00 UTC (5s ago)"


def test_metas_words_are_escaped() -> None:
    hostile_entities = entities(
        PHONE_NUMBER={"can_send_message": "LIMITED", "additional_info": [HOSTILE]},
        WABA={
            "can_send_message": "BLOCKED",
            "errors": [
                {"error_code": 1, "error_description": HOSTILE, "possible_solution": HOSTILE}
            ],
        },
    )
    body = phone(
        verified_name=HOSTILE,
        display_phone_number=HOSTILE,
        status=HOSTILE,
        health_status=health("BLOCKED", hostile_entities),
    )
    header = usage_header(50).replace('"whatsapp_business_management"', json.dumps(HOSTILE))
    html = render_page(status(polled(body, usage=header), NOW))
    page = parse_tree(html, strict=True)
    assert page.all("script") == []
    assert "<script>" not in html
    text = page.text()
    # verified name, number, additional info, description, solution, the usage type.
    assert text.count(HOSTILE) >= 6
    assert text.count(HOSTILE.upper()) >= 1  # the status, upper-cased as an enum
    assert page.one("tr", data_business=None).attrs["data-type"] == HOSTILE
    assert page.one(data_field="verified_name").text() == HOSTILE


def test_the_cloud_page_is_self_contained() -> None:
    state = polled(BLOCKED, usage=usage_header(90))
    html = render_page(status(state, NOW), focus=NAME)
    page = parse_tree(html, strict=True)
    for element in page.all():
        for attribute in ("href", "src", "xlink:href", "action"):
            value = element.attrs.get(attribute, "")
            assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", value, re.I), value
        assert "style" not in element.attrs
    assert "http://" not in html
    assert "https://" not in html
    assert page.all("script") == page.all("link") == page.all("img") == []
    assert page.one(id="verdict").words().startswith(f"{NAME}: critical")
