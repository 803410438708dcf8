"""The status page's part for a Cloud API target: the number, its messaging health and its
WABA's, the access token, the rate-limit usage and what went down.

Drawn from the target's `cloud` object of the status document (`web/cloud_status.py`). What
Meta says is shown in Meta's words: a BLOCKED entity with its error code, description and
possible solution, a LIMITED one with its additional information. A problem with calling only
(`can_receive_call_sip`) is information, not red: it says nothing about sending messages
(reference §1). Every value is escaped: all of it comes from Graph.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from watchdog.api.graph_usage import SLOW_AT
from watchdog.web.cloud_status import USAGE_DIMENSIONS
from watchdog.web.page_details import age, span, time_of
from watchdog.web.svg import usage_bar

__all__ = ["cloud_details"]

_AVAILABLE = "AVAILABLE"
# The colour the token's expiry turns at: WhatsAppTokenExpiring's default `within` (the alert,
# with the configured value, is what raises the target's level).
_EXPIRY_WARNING = 7 * 86400.0
_DAY = 86400.0
_NONE = "\u2013"  # an en dash: not in the answer


def _text(value: Any, missing: str = "?") -> str:
    return missing if value is None or value == "" else escape(str(value))


def _badge(value: Any, level: str, field: str) -> str:
    return f'<b class="lvl l-{level}" data-field="{field}">{_text(value)}</b>'


def _plain(value: Any, field: str) -> str:
    return f'<b data-field="{field}">{_text(value)}</b>'


def cloud_details(
    out: list[str], cloud: dict[str, Any], endpoints: dict[str, dict[str, Any]], now: float
) -> None:
    """The Cloud target's details, between its verdict and its heartbeat strips."""
    _number(out, cloud.get("phone"), cloud.get("drops") or [], now)
    messaging = cloud.get("messaging")
    if messaging:
        out.append(
            f"<h3>Messaging health</h3>{_health_said(messaging, 'the number')}"
            f"{_entities(messaging, 'number')}"
        )
    _waba(out, cloud)
    _token(out, cloud.get("token"), endpoints.get("token"), now)
    _usage(out, cloud.get("usage") or [], cloud.get("usage_age_seconds"))


def _number(out: list[str], phone: dict[str, Any] | None, drops: list[Any], now: float) -> None:
    out.append("<h3>Number</h3>")
    if phone is None:
        out.append('<p class="meta" data-cloud="number">No answer from the number yet.</p>')
        return
    status = phone.get("status")
    platform = phone.get("platform_type")
    quality = phone.get("quality_rating")
    # RED is a warning (reference §9); YELLOW only informs.
    quality_level = {"GREEN": "ok", "RED": "warning"}.get(str(quality), "unknown")
    name = _plain(phone.get("verified_name"), "verified_name")
    if phone.get("name_status"):
        name += f" ({_text(phone['name_status'])})"
    items = [
        f"number: {_plain(phone.get('display_phone_number'), 'display_phone_number')}",
        f"name: {name}",
        f"status: {_badge(status, 'ok' if status == 'CONNECTED' else 'critical', 'status')}",
        f"quality: {_badge(quality, quality_level, 'quality_rating')}",
        f"messaging limit: {_plain(phone.get('messaging_limit'), 'messaging_limit')}",
        f"throughput: {_plain(phone.get('throughput_level'), 'throughput_level')}",
        "platform: "
        + _badge(platform, "ok" if platform in (None, "CLOUD_API") else "critical", "platform"),
    ]
    if not phone.get("fresh"):
        items.append(
            f'<span class="lvl l-unknown">stale: answered {age(phone["age_seconds"])}</span>'
        )
    out.append(
        '<ul class="facts" data-cloud="number">'
        + "".join(f"<li>{item}</li>" for item in items)
        + "</ul>"
    )
    for drop in drops:
        at = float(drop.get("at") or now)
        out.append(
            f'<p class="notice l-warning" data-drop="{_text(drop.get("what"))}">'
            f"{_text(drop.get('what'))} went down: {_text(drop.get('before'))} → "
            f"{_text(drop.get('after'))} at {time_of(at, now)} ({span(now - at)} ago)</p>"
        )


def _health_said(health: dict[str, Any], whose: str) -> str:
    """Meta's verdict on sending messages, and its overall value when that differs (calling
    counted in: Meta's SIP example shows BLOCKED while every entity can send messages)."""
    messaging = health.get("messaging")
    level = _messages_level(messaging)
    said = (
        f'<p class="meta">Can {whose} send messages: '
        f'<b class="lvl l-{level}" data-messaging="{_text(messaging)}">{_text(messaging)}</b>'
    )
    overall = health.get("overall")
    if overall is not None and overall != messaging:
        said += (
            f" · Meta's overall value says {_text(overall)}, which counts calling too "
            f"(calls: {_text(health.get('calling'))})"
        )
    return said + "</p>"


def _messages_level(status: Any) -> str:
    if status in (None, _AVAILABLE):
        return "ok"
    return "critical" if status == "BLOCKED" else "warning"


def _row_level(entity: dict[str, Any]) -> str:
    """critical BLOCKED, warning LIMITED (or a value Meta has not documented), info for a
    problem with calling only, ok otherwise."""
    level = _messages_level(entity.get("can_send_message"))
    calling = entity.get("can_receive_call_sip")
    if level == "ok" and calling not in (None, _AVAILABLE):
        return "info"
    return level


def _entities(health: dict[str, Any], node: str) -> str:
    """A body per entity: its type and id, messages and calls, then what Meta says of it in a
    row of its own, full width, so that it stays in view on a phone."""
    rows = [
        f'<div class="scroll"><table class="entities" data-cloud="entities" data-node="{node}">'
        "<thead><tr><th>entity</th><th>messages</th><th>calls (SIP)</th></tr></thead>"
    ]
    for entity in health.get("entities") or ():
        level = _row_level(entity)
        messages, calling = entity.get("can_send_message"), entity.get("can_receive_call_sip")
        said = []
        if level == "info":
            said.append('<div class="muted">calling only: sending messages is not affected</div>')
        for error in entity.get("errors") or ():
            solution = error.get("possible_solution")
            said.append(
                f'<div class="meta-error" data-code="{_text(error.get("code"))}">'
                f"<b>error {_text(error.get('code'))}</b>: {_text(error.get('description'), '')}"
                + (f'<div class="solution">What to do: {_text(solution)}</div>' if solution else "")
                + "</div>"
            )
        said.extend(
            f'<div class="info">{_text(line, "")}</div>'
            for line in entity.get("additional_info") or ()
        )
        kind, ident = _text(entity.get("entity_type")), _text(entity.get("id"), "")
        rows.append(
            f'<tbody data-entity="{kind}" data-entity-id="{ident}" '
            f'data-messages="{_text(messages)}" data-level="{level}">'
            f"<tr><td>{kind}<br><small>{ident}</small></td>"
            f'<td class="r-{"ok" if level == "info" else level}">{_text(messages, _NONE)}</td>'
            f'<td class="r-{"ok" if calling == _AVAILABLE else "unknown"}">'
            f"{_text(calling, _NONE)}</td></tr>"
        )
        if said:
            rows.append(f'<tr class="said"><td colspan="3" class="wrap">{"".join(said)}</td></tr>')
        rows.append("</tbody>")
    rows.append("</table></div>")
    return "".join(rows)


def _waba(out: list[str], cloud: dict[str, Any]) -> None:
    waba_id = cloud.get("waba_id")
    if waba_id is None:
        return
    waba = cloud.get("waba")
    if waba is None:
        out.append(
            f'<h3>WABA health</h3><p class="meta" data-cloud="waba">WABA {_text(waba_id)}: '
            "no answer yet.</p>"
        )
        return
    when = f"answered {age(waba.get('age_seconds'))}"
    if not waba.get("fresh"):
        when = f'<span class="lvl l-unknown">stale: {when}</span>'
    out.append(
        f"<h3>WABA health <small>{_text(waba_id)} · {when}</small></h3>"
        f"{_health_said(waba, 'the WABA')}{_entities(waba, 'waba')}"
    )


def _token(
    out: list[str], token: dict[str, Any] | None, polled: dict[str, Any] | None, now: float
) -> None:
    level, said = _token_said(token, polled, now)
    out.append(
        f'<h3>Access token</h3><p class="notice l-{level}" data-cloud="token" '
        f'data-level="{level}">{said}</p>'
    )


def _token_said(
    token: dict[str, Any] | None, polled: dict[str, Any] | None, now: float
) -> tuple[str, str]:
    """The token's level and what to say of it: never expires, days left, expired, not valid,
    or why the watchdog cannot tell."""
    if token is None:
        if polled is not None and polled.get("ok") is False:
            why = _text(polled.get("detail") or polled.get("reason"))
            if polled.get("reason") == "graph_permission":
                return "unknown", (
                    f"Expiry unknown: debug_token was refused ({why}). Configure an app token "
                    "(WA_CLOUD_APP_TOKEN) to see it."
                )
            return "warning", f"Expiry unknown: the token check failed ({why})."
        return "unknown", "Not checked yet."
    kind = f"{_text(token.get('type'), 'access')} token"
    if token.get("is_valid") is False:
        error = token.get("error") or {}
        reason = f" (Graph error {_text(error.get('code'))}" if error.get("code") else ""
        if reason and error.get("message"):
            reason += f": {_text(error['message'])}"
        return "critical", f"{kind} is not valid{reason}{')' if reason else ''}."
    expires_at = token.get("expires_at")
    if expires_at is None:
        return "ok", f"{kind}, valid, never expires."
    left = float(expires_at) - now
    day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(expires_at)))
    if left <= 0:
        return "critical", f"{kind} expired {span(-left)} ago ({day})."
    whole, hours = int(left // _DAY), int(left % _DAY // 3600)
    days = f"{whole} day{'s' * (whole != 1)}, {hours} h" if whole else span(left)
    level = "warning" if left < _EXPIRY_WARNING else "ok"
    return level, (
        f'{kind}, valid, expires in <b data-days-left="{left / _DAY:.1f}">{days}</b> ({day}).'
    )


def _usage(out: list[str], usage: list[dict[str, Any]], age_seconds: Any) -> None:
    out.append("<h3>Rate limit usage</h3>")
    if not usage:
        out.append('<p class="meta" data-cloud="usage">No usage header from Meta yet.</p>')
        return
    out.append(
        f'<p class="meta">Share of the hourly allowance per business, from Meta\'s '
        f"X-Business-Use-Case-Usage header {age(age_seconds)}; the line marks "
        f"{SLOW_AT:g} %, from where the watchdog polls less often.</p>"
        '<div class="scroll"><table class="usage" data-cloud="usage"><tr><th>business, type</th>'
        + "".join(f"<th>{escape(d)}</th>" for d in USAGE_DIMENSIONS)
        + "<th>access back in</th></tr>"
    )
    for row in usage:
        business = _text(row.get("business_id"), "")
        out.append(
            f'<tr data-business="{business}" data-type="{_text(row.get("type"), "")}">'
            f"<td>{business}<br><small>{_text(row.get('type'), '')}</small></td>"
        )
        for dimension in USAGE_DIMENSIONS:
            value = row.get(dimension)
            shown = _NONE if value is None else f"{float(value):g} %"
            out.append(f'<td><span class="qv">{shown}</span>')
            usage_bar(out, dimension, value, SLOW_AT)
            out.append("</td>")
        regain = row.get("regain_minutes")
        out.append(f"<td>{_NONE if not regain else f'{float(regain):g} min'}</td></tr>")
    out.append("</table></div>")
