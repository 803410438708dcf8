"""Graph API errors: the error envelope, and the failure reason a Cloud API poll gets from it.

Graph answers a failed call with `{"error": {"message", "type", "code", "error_subcode",
"error_data": {"messaging_product", "details"}, "fbtrace_id"}}` (reference §4). Meta says to key
on `code` (and `details`), not on titles or messages [ERR]; the reasons below are those codes
grouped by what the watchdog does about them, with the HTTP status as the fallback when the
answer carries no code the table knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from watchdog.api import graph_fields as field
from watchdog.api.endpoints import (
    GRAPH_OTHER,
    GRAPH_PERMISSION,
    GRAPH_THROTTLED,
    GRAPH_TOKEN,
    GRAPH_TRANSIENT,
    status_reason,
)

__all__ = [
    "GRAPH_REASONS",
    "OTHER",
    "PERMISSION",
    "THROTTLED",
    "TOKEN",
    "TRANSIENT",
    "GraphError",
    "describe",
    "graph_reason",
    "parse_graph_error",
    "read_error",
]

TOKEN: Final = GRAPH_TOKEN
PERMISSION: Final = GRAPH_PERMISSION
THROTTLED: Final = GRAPH_THROTTLED
TRANSIENT: Final = GRAPH_TRANSIENT
OTHER: Final = GRAPH_OTHER
GRAPH_REASONS: Final = (TOKEN, PERMISSION, THROTTLED, TRANSIENT, OTHER)


@dataclass(frozen=True)
class _Group:
    reason: str
    codes: frozenset[int]
    meaning: str


# The error codes the watchdog acts on, all in one place; the tags are the sources of reference
# §3-§4 (`whatsapp-cloud-api-monitoring.md`).
_GROUPS: Final = (
    # [G-ERR] 190: the access token is not usable (subcodes below say why).
    _Group(TOKEN, frozenset({190}), "the access token is not usable"),
    # [G-ERR] 10 and 200-299: permission; [TOK] [PERM] 200 also when the system user has no
    # access to the WABA, or the app lacks Advanced access to another business's WABA.
    _Group(
        PERMISSION,
        frozenset({10, *range(200, 300)}),
        "the token lacks a permission or access to this WhatsApp Business Account",
    ),
    # [G-RL] 4 application, 17 user, 613 call rate; 80008 business use case per [G-RL], 80007
    # per WhatsApp's error list [PYWA] (the same limit); [TP] 130429 throughput.
    _Group(
        THROTTLED,
        frozenset({4, 17, 613, 80007, 80008, 130429}),
        "rate limited by Meta; polls slow down until it lifts",
    ),
    # [G-ERR] 1 unknown, 2 service; [PYWA] [BSP-ERR] 131000 something went wrong (HTTP 500),
    # 131016 service unavailable (HTTP 503).
    _Group(TRANSIENT, frozenset({1, 2, 131000, 131016}), "a temporary failure at Meta"),
)
_BY_CODE: Final = {code: group for group in _GROUPS for code in group.codes}
_TOKEN_GROUP: Final = _GROUPS[0]
# [G-ERR] the subcodes of 190 worth telling people apart.
_SUBCODES: Final = {463: "the access token has expired", 467: "the access token is invalid"}
# When the answer has no code the table knows: what the status alone says. Per the BSPs'
# tables [BSP-ERR] 190 comes as 401, 10/200 as 403, 2 as 503; 429 is throttling everywhere.
_BY_STATUS: Final = {401: TOKEN, 403: PERMISSION, 429: THROTTLED, 500: TRANSIENT, 503: TRANSIENT}
_FBTRACE: Final = re.compile(r"[A-Za-z0-9_+/=-]{1,64}")


@dataclass(frozen=True)
class GraphError:
    """What Graph said went wrong. `message` and `details` are one line each, clipped; callers
    that show them pass them through the redactor first, as for any API text."""

    code: int | None
    subcode: int | None
    type: str | None
    message: str | None
    details: str | None
    # Meta support asks for it to find the request in their logs.
    fbtrace_id: str | None


def parse_graph_error(body: Any) -> GraphError | None:
    """The error of a Graph error envelope; None when `body` is not one. Never raises."""
    if not isinstance(body, Mapping):
        return None
    return read_error(body.get("error"))


def read_error(value: Any) -> GraphError | None:
    """The inner error object (also found as `data.error` in a `debug_token` answer, where the
    subcode is named `subcode`); None when it has no usable code, message or type."""
    if not isinstance(value, Mapping):
        return None
    data = value.get("error_data")
    # Older Graph versions sent `error_data` as a string; its text is the best details there is.
    details = data.get("details") if isinstance(data, Mapping) else data
    subcode = value.get("error_subcode")
    error = GraphError(
        code=field.code(value.get("code")),
        subcode=field.code(subcode if subcode is not None else value.get("subcode")),
        type=field.sentence(value.get("type"), field.MAX_ENUM),
        message=field.sentence(value.get("message")),
        details=field.sentence(details),
        fbtrace_id=_fbtrace(value.get("fbtrace_id")),
    )
    if error.code is None and error.subcode is None and not (error.message or error.type):
        return None
    return error


def _fbtrace(value: Any) -> str | None:
    raw = field.text(value, 65)
    return raw if raw is not None and _FBTRACE.fullmatch(raw) else None


def _group(error: GraphError) -> _Group | None:
    if error.code is not None:
        return _BY_CODE.get(error.code)
    # Only 190 has these subcodes [G-ERR]: an answer that lost its code still says "token".
    return _TOKEN_GROUP if error.subcode in _SUBCODES else None


def graph_reason(status_code: int | None, error: GraphError | None) -> str:
    """The failure reason of a Graph call answered with `status_code` and `error`.

    The error code decides when the table knows it (a 400 with code 190 is a token problem);
    otherwise, when Meta's envelope is there, 401, 429, 500 and 503 map to the groups (403
    too when the envelope has no code), 404 is `http_404`, and any other 4xx with a code is
    `graph_error`; without the envelope only 401 and 429 map to the groups, and the
    statuses get the On-Premises reasons (`http_403`, `http_404`, `http_4xx`, `http_503`,
    `http_5xx`, `protocol` for a redirect).
    """
    group = _group(error) if error is not None else None
    if group is not None:
        return group.reason
    if status_code is None or 200 <= status_code < 300:
        return OTHER
    if error is None and status_code not in (401, 429):
        # No Graph envelope: whatever stands between the watchdog and Meta (an egress proxy,
        # a gateway, a WAF) answered, not Meta, which wraps every error in one; its 5xx says
        # nothing about Meta's state, its 403 (a WAF's "forbidden") nothing about the token,
        # as for an On-Premises target. A bare 401 still speaks of the credentials sent (a
        # proxy wanting its own says 407), and a 429 holds the watchdog back whoever says it.
        return status_reason(status_code)
    if status_code in (401, 404, 429):
        return _BY_STATUS.get(status_code) or status_reason(status_code)
    if error is not None and error.code is not None and 400 <= status_code < 500:
        # Meta's own error with a code no group claims (100 "Unsupported get request", 33,
        # 803, ...): a Graph error, said as such; a 403 is a permission problem only when its
        # code says so.
        return OTHER
    return _BY_STATUS.get(status_code) or status_reason(status_code)


def describe(error: GraphError) -> str:
    """One line for people: code/subcode and type, message, details, what it means, and the
    fbtrace_id to give Meta support."""
    code = "?" if error.code is None else str(error.code)
    head = f"Graph error {code}" if error.subcode is None else f"Graph error {code}/{error.subcode}"
    if error.type:
        head += f" ({error.type})"
    parts = [f"{head}: {error.message or 'no message'}"]
    if error.details and error.details != error.message:
        parts.append(f"details: {error.details}")
    group = _group(error)
    if group is not None:
        meaning = group.meaning
        if group is _TOKEN_GROUP and error.subcode is not None:
            meaning = _SUBCODES.get(error.subcode, meaning)
        parts.append(f"meaning: {meaning}")
    if error.fbtrace_id:
        parts.append(f"fbtrace_id: {error.fbtrace_id}")
    return "; ".join(parts)
