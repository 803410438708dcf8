"""What a failed Cloud poll means: Graph's reasons, and the advice a Cloud target needs (never
the On-Premises advice about Webapps and Coreapps)."""

from __future__ import annotations

import pytest

from watchdog.api.diagnosis import Failure, diagnose
from watchdog.api.endpoints import REASONS, Endpoint
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult


def result(reason: str, status: int | None, error: ApiErrorInfo | None = None) -> PollResult:
    return PollResult("shop", Endpoint.PHONE_NUMBER, 0.0, 0.1, status, reason, "x", error)


@pytest.mark.parametrize(
    ("reason", "status", "failure", "what"),
    [
        ("graph_token", 401, Failure.AUTH, "refuses the access token"),
        ("graph_permission", 403, Failure.AUTH, "denies the access token this node"),
        ("graph_throttled", 429, Failure.RATE_LIMITED, "rate limits the watchdog"),
        ("graph_transient", 503, Failure.TRANSIENT, "has a temporary failure at Meta"),
        ("graph_error", 200, Failure.API_ERROR, "answers a Graph error"),
        ("timeout", None, Failure.UNREACHABLE, "cannot reach the Graph API (timeout)"),
        ("decode", 200, Failure.UNUSABLE, "gives an unusable answer (decode)"),
        ("auth_config", None, Failure.AUTH, "cannot be polled: access token not usable"),
        ("http_404", 404, Failure.NOT_FOUND, "answers 404 Not Found"),
        ("http_5xx", 502, Failure.PROXY, "answers HTTP 502"),
    ],
)
def test_cloud_failures(reason: str, status: int | None, failure: Failure, what: str) -> None:
    diagnosis = diagnose(result(reason, status))
    assert diagnosis is not None
    assert diagnosis.failure is failure
    assert diagnosis.what.startswith(what)


def test_an_error_with_a_code_names_it() -> None:
    diagnosis = diagnose(result("http_4xx", 400, ApiErrorInfo(100, "Unsupported get request")))
    assert diagnosis is not None
    assert (diagnosis.failure, diagnosis.what) == (Failure.API_ERROR, "answers HTTP 400, code 100")


@pytest.mark.parametrize("reason", REASONS)
def test_no_cloud_advice_speaks_of_webapps(reason: str) -> None:
    diagnosis = diagnose(result(reason, 500))
    assert diagnosis is not None
    text = f"{diagnosis.what} {diagnosis.advice}".lower()
    assert "webapp" not in text
    assert "coreapp" not in text
