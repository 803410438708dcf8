"""The polled endpoints and the failure reasons: one list, groups drawn from it."""

from __future__ import annotations

import pytest

from watchdog.api.endpoints import (
    AUTH_CONFIG,
    INTERNAL,
    LOGIN_BACKS_OFF,
    RATE_LIMITED,
    REASONS,
    SHAPE,
    UNREACHABLE,
    UNUSABLE_BODY,
    Endpoint,
    status_reason,
)
from watchdog.poll.credentials import LoginRefused


def test_endpoints_poll_the_monitoring_paths() -> None:
    """The `endpoint` label values and the paths they poll (reference §3)."""
    assert {e.value: e.path for e in Endpoint} == {
        "health": "/v1/health",
        "metrics": "/metrics",
        "stats_app": "/v1/stats/app",
        "stats_db": "/v1/stats/db",
        # Graph nodes: the client fills in the version and the ids.
        "phone_number": "/{version}/{phone_number_id}",
        "waba": "/{version}/{waba_id}",
        "token": "/{version}/debug_token",
    }


def test_every_group_is_drawn_from_the_reasons() -> None:
    """A reason read by the diagnosis, the status or the login backoff is one a poll reports."""
    named = {RATE_LIMITED, AUTH_CONFIG, INTERNAL, SHAPE}
    assert {*UNREACHABLE, *UNUSABLE_BODY, *LOGIN_BACKS_OFF, *named} <= set(REASONS)
    assert not set(UNREACHABLE) & set(UNUSABLE_BODY)
    assert len(set(REASONS)) == len(REASONS)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "http_401"), (403, "http_403"), (404, "http_404"), (429, "http_429"),
     (503, "http_503"), (400, "http_4xx"), (418, "http_4xx"), (500, "http_5xx"),
     (504, "http_5xx"), (302, "protocol"), (199, "protocol"), (600, "protocol")],
)  # fmt: skip
def test_http_statuses_map_to_reasons(status: int, reason: str) -> None:
    assert status_reason(status) == reason


def test_every_status_maps_to_a_known_reason() -> None:
    assert {status_reason(status) for status in range(100, 700)} <= set(REASONS)


@pytest.mark.parametrize("reason", REASONS)
def test_logins_back_off_after_refused_credentials_and_rate_limits(reason: str) -> None:
    """401, 403, 429 and unusable credentials hold logins back (the API locks out an address
    after 30 bad logins an hour); a timeout or a 5xx is tried again at the next poll."""
    expected = reason in {"http_401", "http_403", "http_429", "auth_config"}
    assert LoginRefused(reason, "login failed").backs_off is expected
