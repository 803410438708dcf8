"""The human status page at `/`: targets, nodes, gateway states, poll ages, errors.

Built from the same status document as `/api/v1/status`; every value is escaped, since node
names and error details come from the monitored API.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f4f4f4}.ok{color:#17752b}.warning{color:#a86400}.critical,.error{color:#b00020}
.unknown{color:#666}h2{margin-bottom:.2rem}small{color:#666}
"""


def _cell(value: Any) -> str:
    return "<td>" + ("" if value is None else escape(str(value))) + "</td>"


def _age(seconds: Any) -> str:
    return "never" if seconds is None else f"{seconds:.0f}s ago"


def _backoff(endpoint: dict[str, Any]) -> str:
    # After 429/503 answers the watchdog holds its polls back (it slows down as the API asks).
    if not endpoint.get("backoff_seconds"):
        return "none"
    extra, remaining = endpoint["backoff_seconds"], endpoint["backoff_remaining_seconds"]
    return f"+{extra:.0f}s, next poll in {remaining:.0f}s"


def render_page(status: dict[str, Any], *, refresh_seconds: int = 10) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{int(refresh_seconds)}'>",
        "<title>wa-watchdog</title><style>",
        _STYLE,
        "</style></head><body><h1>wa-watchdog</h1>",
        f"<p>Overall: <b class='{escape(status['level'])}'>{escape(status['level'])}</b>"
        " &middot; <a href='/metrics'>metrics</a> &middot; <a href='/api/v1/status'>status JSON</a>"
        " &middot; <a href='/api/v1/alerts'>alerts JSON</a></p>",
    ]
    if not status["targets"]:
        parts.append("<p>No targets configured for this replica.</p>")
    for target in status["targets"]:
        level = escape(target["level"])
        parts.append(
            f"<h2>{escape(target['name'])} <span class='{level}'>{level}</span></h2>"
            f"<small>{escape(target['summary'])} &middot; topology "
            f"{escape(str(target['topology'] or '?'))} &middot; version "
            f"{escape(str(target['version'] or '?'))} &middot; probe ready: "
            f"{'yes' if target['ready'] else 'no'}</small>"
        )
        if target["nodes"]:
            parts.append("<table><tr><th>node</th><th>role</th><th>gateway</th><th>error</th></tr>")
            for node in target["nodes"]:
                state = escape(node["gateway_status"])
                parts.append(
                    f"<tr>{_cell(node['node'])}{_cell(node['role'] or '')}"
                    f"<td class='{state}'>{state}</td>{_cell(node.get('error') or '')}</tr>"
                )
            parts.append("</table>")
        parts.append(
            "<table><tr><th>endpoint</th><th>result</th><th>last poll</th>"
            "<th>last success</th><th>backoff</th><th>polls</th><th>errors</th></tr>"
        )
        for name, ep in target["endpoints"].items():
            ok = ep["ok"]
            result = "pending" if ok is None else "ok" if ok else ep["detail"] or ep["reason"]
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(ep["errors"].items()))
            css = "unknown" if ok is None else "ok" if ok else "error"
            parts.append(
                f"<tr>{_cell(name)}<td class='{css}'>{escape(str(result))}</td>"
                f"{_cell(_age(ep['last_poll_age_seconds']))}"
                f"{_cell(_age(ep['last_success_age_seconds']))}{_cell(_backoff(ep))}"
                f"{_cell(ep['polls'])}"
                f"{_cell(errors)}</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
