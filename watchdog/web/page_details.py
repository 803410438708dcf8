"""The status page's details of one target: facts, notices, queues, nodes and endpoints.

The text helpers here (levels as CSS classes, durations, ages) serve `watchdog.web.page` too.
Every value from the status document is escaped: it comes from the monitored API.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from watchdog.web.svg import Hour, clock, queue

LEVELS = ("ok", "warning", "critical", "unknown")
SEVERITIES = {"critical": "critical", "warning": "warning"}


def level_class(value: Any) -> str:
    """A level as a CSS class: one of the four, whatever the document holds."""
    return value if value in LEVELS else "unknown"


def span(seconds: float) -> str:
    """A duration as on-call reads it: 45s, 3m12s, 2h5m, 3d4h."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60}m"
    return f"{whole // 86400}d{whole % 86400 // 3600}h"


def time_of(epoch: float, now: float) -> str:
    """A UTC time of day, with the date when it is not today's."""
    day = time.strftime("%Y-%m-%d ", time.gmtime(epoch))
    today = day == time.strftime("%Y-%m-%d ", time.gmtime(now))
    return f"{'' if today else day}{clock(epoch)} UTC"


def _uptime(value: Any) -> str:
    return "\u2013" if value is None else f"{float(value):.2f}%"


def age(seconds: Any) -> str:
    return "never" if seconds is None else f"{span(float(seconds))} ago"


def _backoff(endpoint: dict[str, Any]) -> str | None:
    # After 429/503 answers the watchdog holds its polls back, as the API asks.
    extra = endpoint.get("backoff_seconds") or 0
    if extra <= 0:
        return None
    remaining = endpoint.get("backoff_remaining_seconds") or 0
    return f"slowed down: +{extra:.0f}s, next poll in {remaining:.0f}s"


def facts(out: list[str], target: dict[str, Any]) -> None:
    ready = "yes" if target.get("ready") else "no"
    if not target.get("ready") and target.get("ready_reason"):
        ready += f" ({escape(str(target['ready_reason']))})"
    version = escape(str(target.get("version") or "?"))
    api_status = target.get("api_status")
    if api_status == "deprecated":
        version += ' <span class="badge deprecated">⚠ deprecated</span>'
    elif api_status:
        version += f" ({escape(str(api_status))})"
    uptime = target.get("uptime_percent") or {}
    if target.get("kind") == "cloud":
        # A Cloud number has no topology or Webapp version: the API it is on, and which one.
        cloud = target.get("cloud") or {}
        what = f"<li>Cloud API, Graph {escape(str(cloud.get('graph_version') or '?'))}</li>"
    else:
        what = (
            f"<li>topology: {escape(str(target.get('topology') or '?'))}</li>"
            f"<li>version: {version}</li>"
        )
    out.append(
        f'<ul class="facts"><li>uptime 1h: <b data-uptime="1h">{_uptime(uptime.get("1h"))}</b>'
        f'</li><li>24h: <b data-uptime="24h">{_uptime(uptime.get("24h"))}</b></li>'
        f"<li>probe ready: {ready}</li>{what}</ul>"
    )


def notices(out: list[str], endpoints: dict[str, dict[str, Any]], *, cloud: bool = False) -> None:
    """Backoff, and the last error of the failing endpoints in the API's own words: one line
    per distinct error, naming every endpoint that got it (an overloaded API answers all four
    the same), so the strips stay in view."""
    slowed = [(name, _backoff(doc)) for name, doc in endpoints.items()]
    slowed = [(name, said) for name, said in slowed if said]
    if slowed:
        names = " ".join(escape(name) for name, _ in slowed)
        parts = " · ".join(f"<b>{escape(name)}</b> {said}" for name, said in slowed)
        # A Cloud target's polls also slow down as Meta's usage header nears the allowance.
        why = (
            "As Meta's usage nears its limit, or after it throttled"
            if cloud
            else ("After 429 or 503 answers")
        )
        out.append(
            f'<p class="notice l-warning" data-backoff="{names}">{why} '
            f"the watchdog polls less often, as the API asks: {parts}</p>"
        )
    errors: dict[str, tuple[list[str], str]] = {}
    for name, doc in endpoints.items():
        if doc.get("ok") is not False:
            continue
        text = _error_text(doc)
        marks = (doc.get("history") or {}).get("mark") or ["critical"]
        errors.setdefault(text, ([], level_class(marks[-1])))[0].append(name)
    for said, (failing, level) in errors.items():
        who = ", ".join(f"<b>{escape(name)}</b>" for name in failing)
        out.append(
            f'<p class="notice l-{level}" data-error="{escape(" ".join(failing))}">'
            f"{who} failed: {said}</p>"
        )


def _error_text(doc: dict[str, Any]) -> str:
    """What an endpoint's last poll said, escaped: detail, diagnosis and the API's error."""
    code, what = doc.get("status_code"), str(doc.get("detail") or doc.get("reason"))
    if code is None:
        what += " (no answer)"
    elif str(code) not in what:
        what += f" (HTTP {code})"
    said = [escape(what)]
    if doc.get("diagnosis"):
        said.append(f"diagnosis: {escape(str(doc['diagnosis']))}")
    error = doc.get("api_error")
    if error:
        said.append(
            f'API error <b class="api-code">{escape(str(error.get("code")))}</b> '
            f"{escape(str(error.get('title') or ''))}"
            f"{': ' + escape(str(error['details'])) if error.get('details') else ''}"
        )
    return " · ".join(said)


def queues(out: list[str], queues: list[dict[str, Any]], hour: Hour) -> None:
    """Queue depth per node: a row per node, a column per gauge, each a value and its trend."""
    if not queues:
        return
    gauges = sorted({str(doc["gauge"]) for doc in queues}, reverse=True)
    by_node: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in queues:
        by_node.setdefault(str(doc["node"]), {})[str(doc["gauge"])] = doc
    out.append('<h3>Queues</h3><div class="scroll"><table class="queues"><tr><th>node</th>')
    out.extend(f"<th>{escape(gauge)}</th>" for gauge in gauges)
    out.append("</tr>")
    for node, docs in sorted(by_node.items()):
        out.append(f"<tr><td>{escape(node) if node else '(single instance)'}</td>")
        for gauge in gauges:
            out.append("<td>")
            if gauge in docs:
                queue(out, docs[gauge], hour)
            out.append("</td>")
        out.append("</tr>")
    out.append("</table></div>")


def nodes(out: list[str], nodes: list[dict[str, Any]], up: bool) -> None:
    """The health answer's nodes. While enough gateways are connected (*up*), a disconnected
    one is a standby (HA keeps one coreapp connected), not a fault, and is not shown red."""
    if not nodes:
        return
    out.append(
        '<div class="scroll"><table><tr><th>node</th><th>role</th><th>gateway</th>'
        "<th>error</th></tr>"
    )
    for node in nodes:
        state = str(node.get("gateway_status"))
        css = {"connected": "ok", "error": "critical", "disconnected": "critical"}.get(
            state, "warning"
        )
        if state == "disconnected" and up:
            css, state = "unknown", "disconnected (standby)"
        out.append(
            f"<tr><td>{escape(str(node.get('node')))}</td>"
            f"<td>{escape(str(node.get('role') or ''))}</td>"
            f'<td class="r-{css}">{escape(state)}</td>'
            f"<td>{escape(str(node.get('error') or ''))}</td></tr>"
        )
    out.append("</table></div>")


def endpoint_table(out: list[str], endpoints: dict[str, dict[str, Any]]) -> None:
    out.append(
        '<div class="scroll"><table><tr><th>endpoint</th><th>result</th><th>last poll</th>'
        "<th>last success</th><th>backoff</th><th>polls</th><th>errors</th></tr>"
    )
    for name, doc in endpoints.items():
        ok = doc.get("ok")
        result = "pending" if ok is None else "ok" if ok else doc.get("detail") or doc.get("reason")
        css = "unknown" if ok is None else "ok" if ok else "critical"
        history = doc.get("history") or {}
        if ok and history.get("result"):
            # A health answer is judged by its gateways: "ok" beside "gateway down" would
            # contradict the verdict above it.
            result, css = history["result"][-1], level_class(history["mark"][-1])
        errors = ", ".join(f"{k}: {v}" for k, v in sorted((doc.get("errors") or {}).items()))
        out.append(
            f'<tr><td>{escape(name)}</td><td class="r-{css} wrap">{escape(str(result))}</td>'
            f"<td>{age(doc.get('last_poll_age_seconds'))}</td>"
            f"<td>{age(doc.get('last_success_age_seconds'))}</td>"
            f"<td>{escape(_backoff(doc) or 'none')}</td><td>{escape(str(doc.get('polls')))}</td>"
            f"<td>{escape(errors)}</td></tr>"
        )
    out.append("</table></div>")
