"""A Cloud API target's verdict and probes: what its number's answer says, as Meta documents
it, with the same rules as an On-Prem target's health (a throttled poll leaves the last good
answer standing while it is fresh, other endpoints only warn, firing alerts raise the level)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from tests.unit.cloud_support import (
    BLOCKED,
    CALLING_BLOCKED,
    DISCONNECTED,
    HEALTHY_PHONE,
    INTERVAL,
    LIMITED,
    NAME,
    QUALITY_RED,
    T0,
    WABA_BLOCKED,
    cloud_state,
    cloud_target,
    phone,
    polled,
    record,
    record_failed,
    token_body,
    usage_header,
)
from tests.unit.web.status_support import alert, target_doc, views
from watchdog.api.endpoints import Endpoint
from watchdog.state import State
from watchdog.web.status import Level, probe_live, probe_ready, status, verdict

NOW = T0 + 5
THROTTLED_DETAIL = "HTTP 429 Graph error 80008 (OAuthException): too many calls"


def judged(state: State, now: float = NOW) -> tuple[Level, str]:
    found = verdict(state, NAME, now)
    return found.level, found.summary


@pytest.mark.parametrize(
    ("body", "level", "said"),
    [
        (HEALTHY_PHONE, Level.OK, "CONNECTED, can send messages, quality GREEN, TIER_10K"),
        (BLOCKED, Level.CRITICAL, "cannot send messages: WABA 102290129340398"),
        # Meta's SIP example: overall BLOCKED, yet every entity can send messages.
        (CALLING_BLOCKED, Level.OK, "can send messages"),
        (DISCONNECTED, Level.CRITICAL, "status DISCONNECTED (not CONNECTED)"),
        (phone(platform_type="ON_PREMISE"), Level.CRITICAL, "platform ON_PREMISE"),
        (LIMITED, Level.WARNING, "messaging limited: PHONE_NUMBER 106540352242922"),
        (QUALITY_RED, Level.WARNING, "quality rating RED"),
    ],
    ids=["healthy", "blocked", "calling-only", "disconnected", "on-premise", "limited", "red"],
)
def test_the_numbers_answer_decides(body: Any, level: Level, said: str) -> None:
    state = polled(body)
    found, summary = judged(state)
    assert found is level
    assert said in summary
    # The status document says the same, and a Cloud target is no On-Prem one.
    target = target_doc(status(state, NOW), NAME)
    assert (target["level"], target["poll_level"], target["summary"]) == (
        level.name.lower(),
        level.name.lower(),
        summary,
    )


def test_a_number_not_polled_yet_is_unknown_and_a_stale_answer_no_longer_counts() -> None:
    state = cloud_state()
    assert judged(state) == (Level.UNKNOWN, "phone_number not polled yet")
    record(state, HEALTHY_PHONE)
    assert judged(state, T0 + 3 * INTERVAL)[0] is Level.OK
    assert judged(state, T0 + 3 * INTERVAL + 1) == (Level.UNKNOWN, "no fresh phone_number answer")


def test_a_blocked_waba_in_its_own_answer_is_critical() -> None:
    """The WABA's health, polled on its own, counts while fresh: the number's answer may
    leave its WABA entity out (or be older)."""
    state = polled(waba=WABA_BLOCKED)
    level, summary = judged(state)
    assert level is Level.CRITICAL
    assert "cannot send messages: WABA 102290129340398" in summary


@pytest.mark.parametrize(
    ("reason", "status_code"),
    [
        ("graph_token", 401),
        ("graph_permission", 403),
        ("graph_error", 400),
        ("http_404", 404),
    ],
)
def test_the_numbers_poll_failing_is_critical(reason: str, status_code: int | None) -> None:
    """However fresh the last good answer: the number cannot be asked, and no retry helps."""
    state = polled()
    record_failed(state, reason, status_code, at=T0 + 1, detail=f"the {reason} detail")
    level, summary = judged(state)
    assert level is Level.CRITICAL
    assert summary.startswith("phone_number ")
    assert f"the {reason} detail" in summary


@pytest.mark.parametrize(
    ("reason", "status_code"),
    [
        ("graph_transient", 503),
        ("timeout", None),
        ("http_5xx", 502),
        ("http_403", 403),
        ("decode", 200),  # a captive portal's page
    ],
)
def test_a_blip_while_the_last_answer_is_fresh_is_a_warning(
    reason: str, status_code: int | None
) -> None:
    """A transient Graph error, a timeout or a proxy's page pages only from the third in a row
    (the alert then raises the level): until then `check` and the page warn, with the last
    answer, instead of paging on one blip; once that answer is stale, critical."""
    state = polled()
    record_failed(state, reason, status_code, at=T0 + 1, detail=f"the {reason} detail")
    level, summary = judged(state)
    assert level is Level.WARNING
    assert f"the {reason} detail" in summary
    assert "last answer: CONNECTED, can send messages" in summary
    assert judged(state, T0 + 3 * INTERVAL + 1)[0] is Level.CRITICAL

    blocked = polled(BLOCKED)
    record_failed(blocked, reason, status_code, at=T0 + 1)
    assert judged(blocked)[0] is Level.CRITICAL


@pytest.mark.parametrize("reason", ["graph_throttled", "http_429"])
def test_throttled_while_the_last_answer_is_fresh_is_a_warning(reason: str) -> None:
    """Meta throttling the watchdog's calls says nothing about the number: the last good
    answer stands while it is fresh, and the verdict says both."""
    state = polled(usage=usage_header(100, regain=12))
    record_failed(state, reason, 429, at=T0 + 1, detail=THROTTLED_DETAIL)
    level, summary = judged(state)
    assert level is Level.WARNING
    assert THROTTLED_DETAIL in summary
    assert "last answer: CONNECTED, can send messages" in summary
    # Once the last good answer is stale, the watchdog is blind: critical.
    assert judged(state, T0 + 3 * INTERVAL + 1)[0] is Level.CRITICAL


def test_throttled_does_not_hide_what_the_last_answer_said() -> None:
    state = polled(BLOCKED)
    record_failed(state, "graph_throttled", 429, at=T0 + 1, detail=THROTTLED_DETAIL)
    level, summary = judged(state)
    assert level is Level.CRITICAL
    assert "last answer: cannot send messages" in summary


def test_throttled_without_a_good_answer_is_critical() -> None:
    state = cloud_state()
    record_failed(state, "graph_throttled", 429, detail=THROTTLED_DETAIL)
    assert judged(state)[0] is Level.CRITICAL


def test_the_waba_and_token_polls_failing_only_warn() -> None:
    state = polled()
    record_failed(state, "graph_transient", 503, Endpoint.WABA, at=T0 + 1, detail="waba 503")
    level, summary = judged(state)
    assert level is Level.WARNING
    assert summary.startswith("CONNECTED, can send messages, quality GREEN, TIER_10K; waba ")
    assert summary.endswith(": waba 503")

    state = polled()
    record_failed(state, "graph_transient", 503, Endpoint.TOKEN, at=T0 + 1, detail="token 503")
    assert judged(state)[0] is Level.WARNING


@pytest.mark.parametrize(
    ("reason", "status_code"),
    [("graph_permission", 403), ("graph_token", 400), ("graph_error", 400)],
)
def test_debug_token_refused_for_want_of_an_app_token_is_no_warning(
    reason: str, status_code: int
) -> None:
    """Without an app token, Graph may refuse `debug_token` in any of its words (100 for a
    missing app token, 190, 10/200): only the token's expiry is unknown, which the
    configuration allows; the number is fine. With an app token, the same refusal warns."""
    state = polled()
    record_failed(state, reason, status_code, Endpoint.TOKEN, at=T0 + 1)
    assert judged(state)[0] is Level.OK

    state = cloud_state(cloud_target(app_token=SecretStr("634974688087057|0123456789abcdef")))
    record(state, HEALTHY_PHONE)
    record_failed(state, reason, status_code, Endpoint.TOKEN, at=T0 + 1)
    assert judged(state)[0] is Level.WARNING


def test_a_firing_alert_raises_a_cloud_targets_level() -> None:
    """The polls say ok (the token expires in 3 days: the verdict does not judge expiry),
    WhatsAppTokenExpiring fires: the target is a warning and names it."""
    state = polled(token=token_body(expires_at=int(T0 + 3 * 86400)))
    fired = views(alert("WhatsAppTokenExpiring", "warning", target=NAME))
    target = target_doc(status(state, NOW, alerts=fired), NAME)
    assert (target["level"], target["poll_level"], target["level_alert"]) == (
        "warning",
        "ok",
        "WhatsAppTokenExpiring",
    )
    # Never milder than the most severe alert, never milder than the polls either.
    state = polled(BLOCKED)
    target = target_doc(status(state, NOW, alerts=fired), NAME)
    assert (target["level"], target["level_alert"]) == ("critical", None)


# --- probes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ready"),
    [(HEALTHY_PHONE, True), (LIMITED, True), (CALLING_BLOCKED, True), (BLOCKED, False),
     (DISCONNECTED, False)],
    ids=["healthy", "limited", "calling-only", "blocked", "disconnected"],
)  # fmt: skip
def test_ready_when_the_number_can_send_messages(body: Any, ready: bool) -> None:
    state = polled(body)
    found, reason = probe_ready(state, NAME, NOW)
    assert found is ready
    assert reason == verdict(state, NAME, NOW).summary


def test_not_ready_before_an_answer_after_a_failure_or_when_stale() -> None:
    state = cloud_state()
    assert probe_ready(state, NAME, NOW) == (False, "phone_number not polled yet")
    record(state, HEALTHY_PHONE)
    assert probe_ready(state, NAME, T0 + 3 * INTERVAL + 1) == (
        False,
        "no fresh phone_number answer",
    )
    record_failed(state, "graph_token", 401, at=T0 + 1, detail="token expired")
    ready, reason = probe_ready(state, NAME, NOW)
    assert not ready
    assert "token expired" in reason


@pytest.mark.parametrize(
    ("reason", "status_code"),
    [("graph_throttled", 429), ("graph_transient", 503), ("timeout", None), ("http_5xx", 502)],
)
def test_ready_stays_while_throttled_or_after_a_blip_with_a_fresh_answer(
    reason: str, status_code: int | None
) -> None:
    """As on the page: throttling and a blip leave the last answer standing while fresh."""
    state = polled()
    record_failed(state, reason, status_code, at=T0 + 1, detail=THROTTLED_DETAIL)
    assert probe_ready(state, NAME, NOW)[0] is True
    assert probe_ready(state, NAME, T0 + 3 * INTERVAL + 1)[0] is False


def test_live_when_graph_answered_anything_recently() -> None:
    state = cloud_state()
    assert probe_live(state, NAME, NOW) == (False, "no answer from Graph recently")
    record_failed(state, "timeout", None)
    assert probe_live(state, NAME, NOW)[0] is False  # no answer is not an answer
    record_failed(state, "graph_token", 401, at=T0 + 1)
    assert probe_live(state, NAME, NOW) == (True, "answered phone_number recently")
    assert probe_live(state, NAME, T0 + 1 + 3 * INTERVAL + 1)[0] is False
