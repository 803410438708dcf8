"""Graph error envelopes and the failure reason of a Cloud API poll: every code group, every
HTTP fallback, and the line shown to people."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.api.endpoints import REASONS
from watchdog.api.graph_errors import (
    GRAPH_REASONS,
    OTHER,
    PERMISSION,
    THROTTLED,
    TOKEN,
    TRANSIENT,
    GraphError,
    describe,
    graph_reason,
    parse_graph_error,
)

# [G-ERR]'s shape of an expired token, as Graph sends it.
EXPIRED = {
    "error": {
        "message": "Error validating access token: Session has expired on Tuesday, 04-Nov-25.",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 463,
        "fbtrace_id": "AQm3xY_z-9Kq",
    }
}
# A WhatsApp error: the details carry what to do (reference §4).
THROTTLED_WABA = {
    "error": {
        "message": "(#80008) There have been too many calls to this WhatsApp Business account.",
        "type": "OAuthException",
        "code": 80008,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Wait and retry the operation, or reduce the frequency of calls.",
        },
        "fbtrace_id": "A1b2C3",
    }
}


def error(code: Any, subcode: Any = None) -> GraphError | None:
    return parse_graph_error({"error": {"code": code, "error_subcode": subcode, "message": "m"}})


def test_envelope_fields() -> None:
    """Every field of the envelope is read; details come from `error_data`."""
    assert parse_graph_error(THROTTLED_WABA) == GraphError(
        code=80008,
        subcode=None,
        type="OAuthException",
        message="(#80008) There have been too many calls to this WhatsApp Business account.",
        details="Wait and retry the operation, or reduce the frequency of calls.",
        fbtrace_id="A1b2C3",
    )


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [
        # Strings of digits, as some proxies and SDKs re-encode them.
        ("190", "463", (190, 463)),
        (" 131000 ", None, (131000, None)),
        (190.0, 467, (190, 467)),
        # Not codes: negative, fractional, boolean, words, absurdly long.
        (-190, None, (None, None)),
        (1.5, None, (None, None)),
        (True, None, (None, None)),
        ("190a", "x", (None, None)),
        ("9" * 5000, 10**400, (None, None)),
    ],
)
def test_codes(code: Any, subcode: Any, expected: tuple[int | None, int | None]) -> None:
    """Codes arrive as integers or strings of digits; anything else is no code."""
    parsed = error(code, subcode)
    assert parsed is not None
    assert (parsed.code, parsed.subcode) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        "<html><body>502 Bad Gateway</body></html>",
        [],
        {},
        {"error": "invalid_request"},
        {"error": {}},
        {"error": {"code": None, "fbtrace_id": "x"}},
        {"data": {"id": "1"}},
    ],
)
def test_not_an_envelope(body: Any) -> None:
    """Without an error object carrying a code, message or type there is no Graph error."""
    assert parse_graph_error(body) is None


def test_text_is_one_bounded_line() -> None:
    """Message and details are one line, clipped; an fbtrace_id that is not one is dropped."""
    parsed = parse_graph_error(
        {
            "error": {
                "code": 100,
                "message": "first\nsecond\t" + "m" * 5000,
                "error_data": {"details": "\ud800 d" * 2000},
                "fbtrace_id": "abc\ndef",
            }
        }
    )
    assert parsed is not None
    assert parsed.message is not None
    assert parsed.message.startswith("first second m")
    assert len(parsed.message) <= 300
    assert parsed.message.endswith("...")
    assert parsed.details is not None
    assert len(parsed.details) <= 300
    parsed.details.encode("utf-8")
    assert parsed.fbtrace_id is None


def test_error_data_as_a_string() -> None:
    """Older Graph versions send `error_data` as a string: it is the details."""
    parsed = parse_graph_error({"error": {"code": 100, "error_data": "bad param"}})
    assert parsed is not None
    assert parsed.details == "bad param"


@pytest.mark.parametrize(
    ("code", "subcode", "reason"),
    [
        # [G-ERR] the token: expired, invalid, or no subcode at all.
        (190, 463, TOKEN),
        (190, 467, TOKEN),
        (190, None, TOKEN),
        (190, 460, TOKEN),
        # An answer that lost its code still says "token" by these subcodes.
        (None, 463, TOKEN),
        (None, 467, TOKEN),
        # [G-ERR] [TOK] [PERM] permission and asset access.
        (10, None, PERMISSION),
        (200, None, PERMISSION),
        (250, None, PERMISSION),
        (299, None, PERMISSION),
        # [G-RL] [PYWA] [TP] throttling.
        (4, None, THROTTLED),
        (17, None, THROTTLED),
        (613, None, THROTTLED),
        (80007, None, THROTTLED),
        (80008, None, THROTTLED),
        (130429, None, THROTTLED),
        # [G-ERR] [PYWA] [BSP-ERR] transient.
        (1, None, TRANSIENT),
        (2, None, TRANSIENT),
        (131000, None, TRANSIENT),
        (131016, None, TRANSIENT),
    ],
)
def test_codes_decide_over_the_status(code: int | None, subcode: int | None, reason: str) -> None:
    """A known code gives its group whatever the HTTP status (Graph sends most errors as 400)."""
    parsed = error(code, subcode)
    for status in (400, 401, 403, 429, 500, 503, None):
        assert graph_reason(status, parsed) == reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, TOKEN),
        (403, PERMISSION),
        (429, THROTTLED),
        (500, TRANSIENT),
        (503, TRANSIENT),
        # Everything else as for the On-Premises API.
        (400, "http_4xx"),
        (404, "http_404"),
        (502, "http_5xx"),
        (504, "http_5xx"),
        (302, "protocol"),
        # No HTTP error to fall back on.
        (200, OTHER),
        (None, OTHER),
    ],
)
def test_status_decides_without_a_known_code(status: int | None, reason: str) -> None:
    """No envelope, or a code the table does not know (100, 368, 131031): the status decides,
    except for a 4xx whose envelope has a code (below)."""
    for parsed in (None, error(100), error(368, 1234), error(131031), error(None)):
        if parsed is None and status in (403, 500, 503):
            continue  # a proxy's page: below
        if parsed is not None and parsed.code is not None and status in (400, 403):
            continue  # Meta's own error: below
        assert graph_reason(status, parsed) == reason


@pytest.mark.parametrize("status", [400, 403, 405, 409])
def test_a_4xx_with_an_unknown_code_is_a_graph_error(status: int) -> None:
    """Meta's envelope with a code no group claims ((#100) "You must provide an app access
    token", 33 "Object with ID does not exist", 803): a Graph error said as such, not a
    permission problem (403) nor a proxy's page (400)."""
    for code in (100, 33, 803, 131031):
        assert graph_reason(status, error(code)) == OTHER
    assert graph_reason(403, error(None)) == PERMISSION


@pytest.mark.parametrize(
    ("status", "reason"), [(403, "http_403"), (500, "http_5xx"), (503, "http_503")]
)
def test_a_5xx_without_metas_envelope_is_not_metas_failure(status: int, reason: str) -> None:
    """An egress proxy's or gateway's error page says nothing about Meta."""
    assert graph_reason(status, None) == reason


def test_reasons_are_new_labels() -> None:
    """The Graph reasons are distinct and among the reasons a poll reports (the `reason` label),
    none of them an On-Premises status reason."""
    assert len(set(GRAPH_REASONS)) == len(GRAPH_REASONS) == 5
    assert set(GRAPH_REASONS) <= set(REASONS)
    assert not any(reason.startswith("http_") for reason in GRAPH_REASONS)
    assert {TOKEN, PERMISSION, THROTTLED, TRANSIENT, OTHER} == set(GRAPH_REASONS)


def test_describe_expired_token() -> None:
    """One line with code/subcode, type, message, what it means and the fbtrace_id."""
    parsed = parse_graph_error(EXPIRED)
    assert parsed is not None
    assert describe(parsed) == (
        "Graph error 190/463 (OAuthException): Error validating access token: Session has "
        "expired on Tuesday, 04-Nov-25.; meaning: the access token has expired; "
        "fbtrace_id: AQm3xY_z-9Kq"
    )


def test_describe_invalid_token_and_details() -> None:
    """467 reads as invalid; details shown when they add to the message."""
    parsed = error(190, 467)
    assert parsed is not None
    assert "meaning: the access token is invalid" in describe(parsed)
    throttled = parse_graph_error(THROTTLED_WABA)
    assert throttled is not None
    line = describe(throttled)
    assert "details: Wait and retry the operation" in line
    assert "meaning: rate limited by Meta" in line
    assert line.endswith("fbtrace_id: A1b2C3")
    assert "\n" not in line


def test_describe_unknown_code() -> None:
    """A code outside the table: no meaning made up, the code and message still there."""
    parsed = parse_graph_error({"error": {"code": 368, "message": "Temporarily blocked"}})
    assert parsed is not None
    assert describe(parsed) == "Graph error 368: Temporarily blocked"
    assert describe(GraphError(None, None, "OAuthException", None, None, None)) == (
        "Graph error ? (OAuthException): no message"
    )
