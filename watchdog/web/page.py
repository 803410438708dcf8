"""The human status page at `/`: one verdict, the alerts, and each target's last hour.

Built from the same status document as `/api/v1/status`, for someone woken at 3 a.m.: the
verdict and the alerts first, then per target what it says and why, the hour at a glance
(a heartbeat strip per endpoint, latency, queues), the last error in the API's own words.
A Cloud API target's card has its number,
messaging health, token and rate-limit usage instead of gateways and queues (`page_cloud.py`).
The page is self-contained (inline CSS and SVG, no script, no absolute URL) and refreshes
itself. Its links are relative (`./`, `metrics`), so it works behind a proxy's path prefix.
Every value from the document is escaped: node names, error details and alert descriptions
come from the monitored API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from html import escape
from typing import Any
from urllib.parse import quote

from watchdog.web.page_cloud import cloud_details
from watchdog.web.page_details import (
    SEVERITIES,
    endpoint_table,
    facts,
    level_class,
    nodes,
    notices,
    queues,
    span,
    time_of,
)
from watchdog.web.page_style import STYLE
from watchdog.web.svg import Hour, clock, latency, strip

__all__ = ["page_parts", "render_page"]


def _link(target: str) -> str:
    return f'<a href="?target={escape(quote(target, safe=""))}">{escape(target)}</a>'


def render_page(
    status: dict[str, Any], *, refresh_seconds: int = 10, focus: str | None = None
) -> str:
    """The page for *status*; with *focus* (`?target=`), only that target and every alert."""
    return "".join(page_parts(status, refresh_seconds=refresh_seconds, focus=focus))


def page_parts(
    status: dict[str, Any], *, refresh_seconds: int = 10, focus: str | None = None
) -> Iterator[str]:
    """`render_page` in parts: the head with the verdict and the alerts, then one part per
    target, then the foot. The server sends each part as it is made, so a page of a hundred
    targets (several MB) never exists whole in memory, and the event loop runs between parts."""
    now = float(status.get("generated_at") or time.time())
    hour = Hour(now)
    level = level_class(status.get("level"))
    targets: list[dict[str, Any]] = status.get("targets") or []
    shown = [t for t in targets if t["name"] == focus] if focus is not None else []
    focused = bool(shown)
    if not focused:
        shown = targets
    alerts: dict[str, list[dict[str, Any]]] = status.get("alerts") or {}
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
        f"<title>{level} · wa-watchdog</title><style>{STYLE}</style></head><body>"
        '<header><h1>wa-watchdog</h1><nav class="meta">'
    ]
    if focus is not None:
        out.append('<a href="./">← all targets</a> · ')
    out.append(
        '<a href="metrics">metrics</a> · <a href="api/v1/status">status JSON</a> · '
        '<a href="api/v1/alerts">alerts JSON</a></nav></header>'
    )
    if focused:
        _focus_verdict(out, status, shown[0], alerts)
    else:
        _verdict(out, status, level, alerts)
    if focus is not None and not focused:
        out.append(
            f'<p class="notice l-warning" id="no-target">No target named '
            f"“{escape(focus)}” on this replica; showing every target.</p>"
        )
    _alerts(out, alerts, now)
    if not focused and len(shown) > 1:
        _index(out, shown)
    if not targets:
        out.append("<p>No targets configured for this replica.</p>")
    yield "".join(out)
    for target in shown:
        out = []
        _target(out, target, hour)
        yield "".join(out)
    yield (
        f'<footer class="meta">Generated {time_of(now, now)}; refreshes every '
        f"{int(refresh_seconds)} s. Strips show the last hour, oldest left.</footer>"
        "</body></html>"
    )


def _counts(alerts: dict[str, list[dict[str, Any]]]) -> str:
    firing, pending = len(alerts.get("firing", ())), len(alerts.get("pending", ()))
    return f"{firing} alert{'s' * (firing != 1)} firing, {pending} pending"


def _focus_verdict(
    out: list[str],
    status: dict[str, Any],
    target: dict[str, Any],
    alerts: dict[str, list[dict[str, Any]]],
) -> None:
    """One target's page answers for that target first; every target's level comes second,
    so a healthy target is not shown under another's red banner."""
    level = level_class(target.get("level"))
    word = escape(str(target.get("level")))
    said = escape(str(target.get("summary") or ""))
    if target.get("level_alert"):
        said = f"{escape(str(target['level_alert']))} firing; {said}"
    overall = level_class(status.get("level"))
    out.append(
        f'<p id="verdict" class="l-{level}" data-level="{word}">{escape(target["name"])}: '
        f"{word} <span>— {said}</span></p>"
        f'<p class="meta" id="overall" data-level="{overall}">All targets: '
        f'<span class="lvl l-{overall}">{escape(str(status.get("level")))}</span> · '
        f'{_counts(alerts)} · <a href="./">every target</a></p>'
    )


def _verdict(
    out: list[str],
    status: dict[str, Any],
    level: str,
    alerts: dict[str, list[dict[str, Any]]],
) -> None:
    said = [_counts(alerts)]
    targets = status.get("targets") or []
    if targets:
        bad = sum(1 for t in targets if t.get("level") != "ok")
        said.insert(0, f"{bad} of {len(targets)} target{'s' * (len(targets) != 1)} not ok")
    if not status.get("polled_once", True):
        said.append("waiting for the first poll of every target")
    out.append(
        f'<p id="verdict" class="l-{level}" data-level="{escape(str(status.get("level")))}">'
        f"{escape(str(status.get('level')))} <span>— {'; '.join(said)}</span></p>"
    )


def _alerts(out: list[str], alerts: dict[str, list[dict[str, Any]]], now: float) -> None:
    active = [*alerts.get("firing", ()), *alerts.get("pending", ())]
    resolved = alerts.get("resolved", ())
    out.append('<section id="alerts"><h2>Alerts</h2>')
    if active:
        out.append("<ul>")
        for alert in active:
            _alert(out, alert, now)
        out.append("</ul>")
    else:
        out.append('<p class="calm l-ok">No alerts firing or pending.</p>')
    if resolved:
        out.append('<h3 class="muted">Resolved in the last 15 minutes</h3><ul>')
        for alert in resolved:
            _alert(out, alert, now)
        out.append("</ul>")
    out.append("</section>")


def _alert(out: list[str], alert: dict[str, Any], now: float) -> None:
    state, severity = str(alert.get("state")), str(alert.get("severity"))
    target, node = str(alert.get("target") or ""), alert.get("node")
    css = SEVERITIES.get(severity, "unknown")
    active_since = float(alert.get("active_since") or now)
    if state == "firing":
        since = alert.get("starts_at") or active_since
        when = f"firing since {time_of(since, now)}, for {span(now - since)}"
        left = alert.get("keep_firing_left_seconds")
        if left is not None:
            when += f" · resolves in {span(left)} unless it returns"
    elif state == "pending":
        when = f"pending since {time_of(active_since, now)}, for {span(now - active_since)}"
        left = alert.get("for_left_seconds")
        if left is not None:
            when += f" · fires in {span(left)} if it holds"
    else:
        ended = float(alert.get("ends_at") or now)
        when = (
            f"resolved at {time_of(ended, now)}, {span(now - ended)} ago, "
            f"after {span(ended - active_since)} active"
        )
    where = _link(target) if target else "no target"
    if node:
        where += f" · node {escape(str(node))}"
    text = " — ".join(escape(str(alert[k])) for k in ("summary", "description") if alert.get(k))
    desc = f'<div class="desc">{text}</div>' if text else ""
    out.append(
        f'<li class="alert s-{css}" data-alert="{escape(str(alert.get("alertname")))}" '
        f'data-state="{escape(state)}" data-target="{escape(target)}" '
        f'data-severity="{escape(severity)}"><span class="lvl l-{css}">{escape(severity)}</span> '
        f"<b>{escape(str(alert.get('alertname')))}</b> {escape(state)} on {where}"
        f'<div class="when">{when}</div>'
        f"{desc}</li>"
    )


def _index(out: list[str], targets: list[dict[str, Any]]) -> None:
    """Which targets need a look, so the one at fault is a click away among a hundred."""
    bad = [t for t in targets if t.get("level") != "ok"]
    items = [
        f'<a href="#target-{escape(quote(t["name"], safe=""))}">{escape(t["name"])}</a> '
        f'<span class="lvl l-{level_class(t.get("level"))}">{escape(str(t.get("level")))}</span>'
        for t in bad
    ]
    ok = len(targets) - len(bad)
    items.append(f"{ok} target{'s' * (ok != 1)} ok")
    out.append(f'<nav class="index"><p>Targets: {" · ".join(items)}</p></nav>')


def _target(out: list[str], target: dict[str, Any], hour: Hour) -> None:
    name = escape(target["name"])
    level = level_class(target.get("level"))
    word = escape(str(target.get("level")))
    kind = escape(str(target.get("kind") or "onprem"))
    out.append(
        f'<section class="target lv-{level}" id="target-{name}" data-target="{name}" '
        f'data-kind="{kind}" data-level="{word}"><h2>{_link(target["name"])}</h2>'
    )
    said = word
    if target.get("level_alert"):
        said += f" — {escape(str(target['level_alert']))} firing"
    summary = escape(str(target.get("summary") or ""))
    if target.get("level_alert") and target.get("poll_level") != target.get("level"):
        summary += f" (the polls alone say {escape(str(target.get('poll_level')))})"
    others = [a for a in target.get("alerts") or () if a != target.get("level_alert")]
    if others:
        summary += f"; also firing: {escape(', '.join(map(str, others)))}"
    out.append(
        f'<p><span class="verdict l-{level}" data-level="{word}">{said}</span> '
        f'<span class="summary">{summary}</span></p>'
    )
    facts(out, target)
    endpoints: dict[str, dict[str, Any]] = target.get("endpoints") or {}
    cloud = target.get("kind") == "cloud"
    notices(out, endpoints, cloud=cloud)
    if cloud:
        cloud_details(out, target.get("cloud") or {}, endpoints, hour.now)
    # The endpoint that says whether the target works gets its latency drawn too.
    main = "phone_number" if cloud else "health"
    out.append('<h3>Last hour</h3><div class="strips">')
    for endpoint, doc in endpoints.items():
        history = doc.get("history") or {}
        chunk: list[str] = []
        polls, counts = strip(chunk, endpoint, history, hour, doc.get("interval_seconds"))
        bad = polls - counts.get("ok", 0)
        out.append(
            f'<div class="label"><b>{escape(endpoint)}</b><br><small>{polls} polls, '
            f"{bad} not ok</small></div>"
        )
        out.extend(chunk)
        if endpoint == main:
            chunk = []
            caption = latency(chunk, history, hour, endpoint)
            out.append(f'<div class="label">latency<br><small>{caption}</small></div>')
            out.extend(chunk or ["<div></div>"])
    out.append(
        f'<div></div><div class="axis"><span>{clock(hour.start)}</span><span>30 min ago</span>'
        f"<span>now, {clock(hour.now)} UTC</span></div></div>"
    )
    queues(out, target.get("queues") or [], hour)
    nodes(out, target.get("nodes") or [], bool((target.get("gateways") or {}).get("up")))
    endpoint_table(out, endpoints)
    out.append("</section>")
