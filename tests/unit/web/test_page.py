"""The status page, rendered from status documents shaped as `/api/v1/status` serves them."""

from __future__ import annotations

import math
import re
from typing import Any

from tests.html_tree import Element
from tests.html_tree import parse as parse_tree
from watchdog.web.page import render_page

NOW = 1_800_000_000.25  # 2027-01-15 08:00:00.25 UTC
# Closes an attribute as well as opening a tag: escaping must hold in both places.
HOSTILE = "\"'><script>alert(1)</script>"


def _clock(epoch: float) -> str:
    second = int(epoch) % 86400
    return f"{second // 3600:02}:{second // 60 % 60:02}:{second % 60:02}"


def history(
    now: float, every: int, count: int, failures: dict[int, tuple[str, str, int | None]]
) -> dict[str, list[Any]]:
    """`count` polls every `every` s up to `now`; `failures` maps a poll's index (0 = oldest)
    to its (result, mark, status code)."""
    last = math.floor(now)
    at = [last - every * (count - 1 - i) for i in range(count)]
    result, mark, code, ms = [], [], [], []
    for i in range(count):
        r, m, c = failures.get(i, ("ok", "ok", 200))
        result.append(r)
        mark.append(m)
        code.append(c)
        ms.append(5000 if r == "timeout" else 20 + (i * 7) % 90)
    return {"at": at, "result": result, "mark": mark, "status_code": code, "duration_ms": ms}


def endpoint(
    hist: dict[str, list[Any]], interval: float, *, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    failed = hist["result"][-1] != "ok" if hist["result"] else False
    return {
        "ok": (not failed) if hist["result"] else None,
        "reason": hist["result"][-1] if failed else None,
        "diagnosis": "overloaded" if error else None,
        "detail": "HTTP 503" if failed else None,
        "status_code": hist["status_code"][-1] if hist["status_code"] else None,
        "api_error_code": error["code"] if error else None,
        "api_error": error,
        "last_poll_age_seconds": 3.0,
        "last_success_age_seconds": 3.0 if not failed else 63.0,
        "fresh": True,
        "interval_seconds": interval,
        "backoff_seconds": 30.0 if failed else 0.0,
        "backoff_remaining_seconds": 12.0 if failed else 0.0,
        "polls": len(hist["at"]),
        "errors": {"http_503": 4} if failed else {},
        "history": hist,
    }


def queue(gauge: str, node: str, now: float, base: float) -> dict[str, Any]:
    at = [math.floor(now) - 30 * (119 - i) for i in range(120)]
    values = [base + (i % 20) * 3.0 for i in range(120)]
    return {"gauge": gauge, "node": node, "value": values[-1], "at": at, "values": values}


def target_doc(
    name: str = "prod",
    now: float = NOW,
    *,
    api_status: str | None = "stable",
    node: str = "wa-core-1",
    level_alert: str | None = "WhatsAppOverloaded",
) -> dict[str, Any]:
    """A target after an hour of polls: 240 health polls with a flapping stretch, 120 metrics
    polls whose last one failed with the API's 1016 (and a backoff), 60 stats_app polls, two
    nodes' queues, and a critical alert firing that the polls alone no longer show."""
    health = history(
        now, 15, 240,
        {100: ("http_503", "critical", 503), 101: ("timeout", "critical", None),
         102: ("gateway down", "critical", 200), 150: ("http_429", "warning", 429),
         200: ("degraded", "warning", 200)},
    )  # fmt: skip
    metrics = history(now, 30, 120, {119: ("http_503", "critical", 503)})
    stats = history(now, 60, 60, {})
    overloaded = {
        "code": 1016,
        "title": "System overloaded",
        "details": "System overloaded. Please retry later",
        "text": "System overloaded (1016): System overloaded. Please retry later",
    }
    return {
        "name": name,
        "level": "critical" if level_alert else "warning",
        "poll_level": "warning",
        "level_alert": level_alert,
        "alerts": [level_alert] if level_alert else [],
        "summary": "2/2 gateways connected; metrics failed: HTTP 503",
        "ready": True,
        "ready_reason": "2/2 gateways connected",
        "topology": "ha",
        "gateways": {"up": True, "connected": 2, "expected": 2, "down": [], "degraded": []},
        "version": "v2.45.1",
        "api_status": api_status,
        "uptime_percent": {"1h": 99.58, "24h": None},
        "queues": [
            queue(gauge, n, now, base)
            for gauge, base in (("callback_queue_size", 2.0), ("pending_messages", 40.0))
            for n in (node, "wa-core-2")
        ],
        "nodes": [
            {
                "node": node,
                "role": "primary_master",
                "gateway_status": "connected",
                "error_code": None,
                "error": None,
            },
            {
                "node": "wa-core-2",
                "role": "secondary_master",
                "gateway_status": "connected",
                "error_code": None,
                "error": None,
            },
        ],
        "endpoints": {
            "health": endpoint(health, 15.0),
            "metrics": endpoint(metrics, 30.0, error=overloaded),
            "stats_app": endpoint(stats, 60.0),
        },
    }


def alert(
    name: str, state: str, target: str, *, severity: str = "critical", **times: Any
) -> dict[str, Any]:
    return {
        "alertname": name,
        "severity": severity,
        "target": target,
        "node": None,
        "state": state,
        "summary": f"{name} on {target}",
        "description": f"{name} is {state}",
        "labels": {"alertname": name, "severity": severity, "target": target},
        "fingerprint": f"{name}-{target}",
        "active_since": times.get("active_since", NOW - 300),
        "starts_at": times.get("starts_at"),
        "ends_at": times.get("ends_at"),
        "for_left_seconds": times.get("for_left"),
        "keep_firing_left_seconds": times.get("keep_firing_left"),
    }


def document(*targets: dict[str, Any], alerts: dict[str, Any] | None = None) -> dict[str, Any]:
    if alerts is None:
        name = targets[0]["name"] if targets else "prod"
        alerts = {
            "firing": [
                alert("WhatsAppOverloaded", "firing", name, starts_at=NOW - 192,
                      keep_firing_left=40.0)
            ],
            "pending": [
                alert("WhatsAppQueueBacklog", "pending", name, severity="warning",
                      active_since=NOW - 48, for_left=12.0)
            ],
            "resolved": [
                alert("WhatsAppHealthFailing", "resolved", name, active_since=NOW - 900,
                      starts_at=NOW - 840, ends_at=NOW - 240)
            ],
        }  # fmt: skip
    levels = [t["level"] for t in targets]
    order = ["ok", "unknown", "warning", "critical"]
    return {
        "level": max(levels, key=order.index) if levels else "unknown",
        "polled_once": bool(targets),
        "generated_at": NOW,
        "history_seconds": 3600.0,
        "alerts": alerts,
        "targets": list(targets),
    }


def parse(page: str) -> Element:
    return parse_tree(page, strict=True)


def points(svg: Element) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.split(r"[\s,]+", svg.one("polyline").attrs["points"].strip())]
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


def test_one_verdict_names_the_alert_that_set_it() -> None:
    """The polls say warning, WhatsAppOverloaded fires: the page says critical and why."""
    page = parse(render_page(document(target_doc())))
    overall = page.one(id="verdict")
    assert overall.attrs["data-level"] == "critical"
    assert "critical" in overall.text()
    section = page.one("section", class_="target")
    assert (section.attrs["id"], section.attrs["data-target"]) == ("target-prod", "prod")
    assert section.attrs["data-level"] == "critical"
    verdict = section.one(class_="verdict")
    assert verdict.attrs["data-level"] == "critical"
    assert verdict.text() == "critical — WhatsAppOverloaded firing"
    summary = section.one(class_="summary").text()
    assert "metrics failed: HTTP 503" in summary
    assert "polls alone say warning" in summary


def test_a_verdict_from_the_polls_names_no_alert() -> None:
    page = parse(render_page(document(target_doc(level_alert=None), alerts={})))
    verdict = page.one(class_="verdict")
    assert (verdict.attrs["data-level"], verdict.text()) == ("warning", "warning")


def test_alerts_at_the_top_with_links_and_what_comes_next() -> None:
    """Firing and pending first (since when, for how long, the next transition), then the
    recently resolved; each names its target as a link to that target's view."""
    page = parse(render_page(document(target_doc(name="eu west&1"))))
    alerts = page.one("section", id="alerts")
    rows = alerts.all(**{"data-alert": None})
    assert [(r.attrs["data-alert"], r.attrs["data-state"]) for r in rows] == [
        ("WhatsAppOverloaded", "firing"),
        ("WhatsAppQueueBacklog", "pending"),
        ("WhatsAppHealthFailing", "resolved"),
    ]
    for row in rows:
        assert row.attrs["data-target"] == "eu west&1"
        assert row.one("a").attrs["href"] == "?target=eu%20west%261"
    firing, pending, resolved = (r.text() for r in rows)
    assert f"since {_clock(NOW - 192)} UTC, for 3m12s" in firing
    assert "resolves in 40s unless it returns" in firing
    assert "WhatsAppOverloaded is firing" in firing  # the description
    assert f"pending since {_clock(NOW - 48)} UTC, for 48s" in pending
    assert "fires in 12s if it holds" in pending
    assert f"resolved at {_clock(NOW - 240)} UTC, 4m0s ago" in resolved
    # Alerts come before every target.
    order = [e.attrs.get("id") for e in page.all("section")]
    assert order[0] == "alerts"


def test_no_alerts_is_said_calmly() -> None:
    page = parse(render_page(document(target_doc(level_alert=None), alerts={})))
    alerts = page.one("section", id="alerts")
    assert alerts.all(**{"data-alert": None}) == []
    assert "No alerts firing or pending" in alerts.text()


def test_one_mark_per_poll_of_the_hour_with_its_tooltip() -> None:
    doc = target_doc()
    page = parse(render_page(document(doc)))
    start = NOW - 3600
    for name, expected in (("health", 240), ("metrics", 120), ("stats_app", 60)):
        svg = page.one("svg", **{"data-strip": name})
        assert svg.attrs["role"] == "group"
        assert svg.attrs["aria-label"].startswith(f"{name}: {expected} polls")
        marks = svg.all("rect", class_="mark")
        hist = doc["endpoints"][name]["history"]
        assert len(marks) == expected == len(hist["at"])
        for rect, at, result, mark in zip(
            marks, hist["at"], hist["result"], hist["mark"], strict=True
        ):
            assert rect.attrs["class"] == f"mark m-{mark}"
            assert rect.attrs["data-result"] == result
            assert rect.attrs["role"] == "img"
            # x in seconds from the hour's start, within the viewBox's shift of a second.
            origin = float(svg.attrs["viewbox"].split()[0])  # the parser lowers names
            assert abs(float(rect.attrs["x"]) - origin - (at - start)) < 1e-3
    marks = page.one("svg", **{"data-strip": "health"}).all("rect", class_="mark")
    at, ms = (doc["endpoints"]["health"]["history"][k] for k in ("at", "duration_ms"))
    assert (
        marks[100].one("title").text() == f"{_clock(at[100])} UTC · http_503 · 503 · {ms[100]} ms"
    )
    assert (
        marks[101].one("title").text() == f"{_clock(at[101])} UTC · timeout · no answer · 5000 ms"
    )
    assert marks[101].attrs["class"] == "mark m-critical"
    assert marks[150].attrs["class"] == "mark m-warning"


def test_a_poll_older_than_the_hour_is_not_drawn() -> None:
    doc = target_doc()
    hist = doc["endpoints"]["stats_app"]["history"]
    for column, value in (
        ("at", math.floor(NOW) - 3601),
        ("result", "timeout"),
        ("mark", "critical"),
        ("status_code", None),
        ("duration_ms", 5000),
    ):
        hist[column].insert(0, value)
    page = parse(render_page(document(doc)))
    marks = page.one("svg", **{"data-strip": "stats_app"}).all("rect", class_="mark")
    assert len(marks) == 60
    assert {m.attrs["data-result"] for m in marks} == {"ok"}


def test_text_from_the_api_is_escaped() -> None:
    doc = target_doc(node=HOSTILE)
    doc["endpoints"]["metrics"]["api_error"]["details"] = HOSTILE
    doc["summary"] = HOSTILE
    alerts = {"firing": [alert(HOSTILE, "firing", "prod", starts_at=NOW - 60)]}
    alerts["firing"][0]["description"] = HOSTILE
    html = render_page(document(doc, alerts=alerts))
    page = parse(html)
    assert page.all("script") == []
    assert "<script>" not in html
    text = page.text()
    assert text.count(HOSTILE) >= 6  # node table, 2 queue captions, details, summary, alert
    assert page.one(**{"data-alert": HOSTILE}).attrs["data-state"] == "firing"
    assert page.all("svg", **{"data-node": HOSTILE})


def test_no_absolute_url_and_nothing_to_load() -> None:
    html = render_page(document(target_doc(), target_doc("b")), focus="b")
    page = parse(html)
    for element in page.all():
        for attribute in ("href", "src", "xlink:href", "action"):
            value = element.attrs.get(attribute, "")
            assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", value, re.I), value
        assert "url(" not in element.attrs.get("style", "")
    style = "".join(e.text() for e in page.all("style"))
    assert "url(" not in style
    assert "@import" not in style
    assert "@media (prefers-color-scheme: dark)" in style
    assert "http://" not in html
    assert "https://" not in html
    assert page.all("script") == []
    assert page.all("link") == []
    assert page.one("meta", **{"http-equiv": "refresh"}).attrs["content"] == "10"
    assert "width=device-width" in page.one("meta", name="viewport").attrs["content"]


def test_a_deprecated_api_version_stands_out() -> None:
    def badges(api_status: str | None) -> list[Element]:
        return parse(render_page(document(target_doc(api_status=api_status)))).all(
            class_="deprecated"
        )

    (badge,) = badges("deprecated")
    assert "deprecated" in badge.text()
    assert badges("stable") == []
    assert badges(None) == []


def test_uptime_per_window() -> None:
    page = parse(render_page(document(target_doc())))
    assert page.one(**{"data-uptime": "1h"}).text() == "99.58%"
    assert page.one(**{"data-uptime": "24h"}).text() == "\u2013"  # an en dash: not known yet


def test_latency_queues_backoff_and_the_api_error() -> None:
    page = parse(render_page(document(target_doc())))
    spark = page.one("svg", **{"data-sparkline": "health"})
    line = points(spark)
    assert len(line) == 240
    # The slowest poll (the timeout, the 102nd) is the highest point: SVG's y grows downwards.
    assert min(line, key=lambda p: p[1]) == line[101]
    assert "min 20 ms · max 5000 ms" in page.text()
    queues = page.all("svg", **{"data-queue": None})
    assert {(q.attrs["data-queue"], q.attrs["data-node"]) for q in queues} == {
        (g, n)
        for g in ("pending_messages", "callback_queue_size")
        for n in ("wa-core-1", "wa-core-2")
    }
    # An hour of 120 points is drawn as every 4th, the newest among them, at the right end.
    for svg in queues:
        drawn = points(svg)
        assert len(drawn) == 30
        assert drawn[-1][0] == float(svg.attrs["viewbox"].split()[2])
    # A row per node, a column per gauge: the latest value beside its trend.
    rows = [row for row in page.one("table", class_="queues").all("tr") if row.all("td")]
    assert [row.all("td")[0].text() for row in rows] == ["wa-core-1", "wa-core-2"]
    assert rows[1].all("td")[1].text().startswith("97")  # pending_messages, the first column
    (spark,) = page.all("svg", **{"data-queue": "pending_messages", "data-node": "wa-core-2"})
    assert spark.attrs["aria-label"].startswith("pending_messages on wa-core-2: 97 now")
    backoff = page.one(**{"data-backoff": "metrics"}).text()
    assert "metrics slowed down: +30s, next poll in 12s" in backoff
    error = page.one(**{"data-error": "metrics"}).text()
    assert "API error 1016 System overloaded: System overloaded. Please retry later" in error
    assert "HTTP 503" in error
    assert page.all(**{"data-backoff": "health"}) == page.all(**{"data-error": "health"}) == []


def test_an_error_shared_by_endpoints_is_told_once_naming_each() -> None:
    """An overloaded API answers every endpoint the same: one line names them all, so the
    strips stay in view; a different error gets its own line."""
    target = target_doc()
    overloaded = target["endpoints"]["metrics"]
    target["endpoints"]["stats_app"] = dict(overloaded)
    target["endpoints"]["health"] = {**overloaded, "detail": "timed out", "api_error": None,
                                     "status_code": None, "diagnosis": None}  # fmt: skip
    page = parse(render_page(document(target)))
    shared = page.one(**{"data-error": "metrics stats_app"}).text()
    assert shared.startswith("metrics, stats_app failed: HTTP 503")
    assert "API error 1016" in shared
    timeout = page.one(**{"data-error": "health"}).text()
    assert timeout == "health failed: timed out (no answer)"
    (backoff,) = page.all(**{"data-backoff": "health metrics stats_app"})
    assert backoff.text().count("slowed down") == 3


def test_the_endpoint_table_judges_a_health_answer_by_its_gateways() -> None:
    """A 200 whose gateway is down is not "ok" beside a critical verdict."""
    target = target_doc()
    health = target["endpoints"]["health"]["history"]
    health["result"][-1], health["mark"][-1] = "gateway down", "critical"
    page = parse(render_page(document(target)))
    rows = {row.all("td")[0].text(): row.all("td")[1] for row in page.all("tr") if row.all("td")}
    assert rows["health"].text() == "gateway down"
    assert "r-critical" in rows["health"].attrs["class"].split()
    assert rows["stats_app"].text() == "ok"


def test_focus_shows_one_target_and_every_alert() -> None:
    doc = document(
        target_doc("a"),
        target_doc("b", level_alert=None),
        alerts={"firing": [alert("WhatsAppOverloaded", "firing", "a", starts_at=NOW - 10)]},
    )
    page = parse(render_page(doc, focus="b"))
    assert [s.attrs["data-target"] for s in page.all("section", class_="target")] == ["b"]
    # The banner answers for the target shown; every target's level comes second.
    assert page.one(id="verdict").attrs["data-level"] == "warning"
    assert page.one(id="verdict").text().startswith("b: warning")
    assert page.one(id="overall").attrs["data-level"] == "critical"
    assert page.all(**{"data-alert": "WhatsAppOverloaded"})
    # Relative, so a proxy's path prefix (where alerts link to) is kept.
    assert any(a.attrs["href"] == "./" for a in page.all("a"))
    assert not [a for a in page.all("a") if a.attrs["href"].startswith("/")]

    unknown = parse(render_page(doc, focus="<gone>"))
    assert "No target named “<gone>”" in unknown.text()
    assert [s.attrs["data-target"] for s in unknown.all("section", class_="target")] == ["a", "b"]


def test_an_empty_document() -> None:
    page = parse(render_page(document(alerts={})))
    assert page.one(id="verdict").attrs["data-level"] == "unknown"
    assert "No targets configured" in page.text()
    assert "No alerts firing or pending" in page.text()
    assert page.all("section", class_="target") == []
