"""The simulator's limits and login over real sockets: health budget, request rate,
concurrency, bearer tokens, logout and bad-login blocking, all driven by a fake clock."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from tests.integration.conftest import (
    USER,
    MakeSim,
    SharedSim,
    apikey,
    assert_error,
    bearer,
    php_utc,
)
from watchdog.simulator import Scenario, Topology
from watchdog.simulator.auth import KeyScope

EXPIRES_AFTER = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+00:00$")
ENDPOINTS = ["/v1/health", "/metrics", "/v1/stats/app", "/v1/stats/db"]


# -- health budget --------------------------------------------------------------------------


def test_health_budget_ten_per_minute(make_sim: MakeSim) -> None:
    """10 health calls in 60 s succeed, the 11th is 429/1015; 60 s later it succeeds again."""
    sim = make_sim()
    for _ in range(10):
        assert sim.get("/v1/health").status_code == 200
    assert_error(sim.get("/v1/health"), 429, 1015, "Rate limiting exceeded on health check")
    sim.clock.advance(59)
    assert_error(sim.get("/v1/health"), 429, 1015, "Rate limiting exceeded on health check")
    sim.clock.advance(1)
    assert sim.get("/v1/health").status_code == 200


def test_health_budget_not_used_by_401(make_sim: MakeSim) -> None:
    """Unauthenticated health calls get 401 and leave the budget untouched."""
    sim = make_sim()
    for _ in range(5):
        assert_error(sim.get("/v1/health", headers={}), 401, 1005)
        assert_error(sim.get("/v1/health", headers=apikey("wrong-key-wrong-key")), 401, 1005)
    for _ in range(10):
        assert sim.get("/v1/health").status_code == 200
    assert_error(sim.get("/v1/health"), 429, 1015)


def test_health_budget_is_global(make_sim: MakeSim) -> None:
    """The health budget is shared by every caller, whatever credentials they use."""
    sim = make_sim()
    for _ in range(5):
        assert sim.get("/v1/health").status_code == 200
        assert sim.get("/v1/health", headers=bearer(sim.token)).status_code == 200
    assert_error(sim.get("/v1/health", headers=bearer(sim.token)), 429, 1015)
    assert_error(sim.get("/v1/health"), 429, 1015)


def test_health_budget_does_not_limit_other_endpoints(make_sim: MakeSim) -> None:
    """With the health budget used up, /metrics and stats still answer."""
    sim = make_sim()
    for _ in range(11):
        sim.get("/v1/health")
    for path in ENDPOINTS[1:]:
        assert sim.get(path).status_code == 200


# -- request rate ---------------------------------------------------------------------------


def test_metrics_request_rate_burst_and_refill(make_sim: MakeSim) -> None:
    """/metrics allows a burst of 60, then 429/1015, refilling at 20 requests per second."""
    sim = make_sim()
    for _ in range(60):
        assert sim.get("/metrics").status_code == 200
    assert_error(sim.get("/metrics"), 429, 1015)
    sim.clock.advance(1)
    statuses = [sim.get("/metrics").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    sim.clock.advance(0.5)
    statuses = [sim.get("/metrics").status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    sim.clock.advance(3600)
    statuses = [sim.get("/metrics").status_code for _ in range(61)]
    assert statuses == [200] * 60 + [429]


def test_request_rate_is_per_endpoint(make_sim: MakeSim) -> None:
    """Using up /metrics' request budget leaves the stats endpoints' budgets alone."""
    sim = make_sim()
    for _ in range(61):
        sim.get("/metrics")
    assert_error(sim.get("/metrics"), 429, 1015)
    assert sim.get("/v1/stats/app").status_code == 200
    assert sim.get("/v1/stats/db").status_code == 200


# -- concurrency ----------------------------------------------------------------------------


def test_concurrency_limit_answers_503(make_sim: MakeSim) -> None:
    """With one request in flight allowed, a concurrent second request gets 503/1016."""
    sim = make_sim(max_concurrency=1, scenario=Scenario.SLOW, slow_delay=0.4)
    barrier = threading.Barrier(2)
    responses: list[httpx.Response] = []

    def call(delay: float) -> None:
        with httpx.Client(base_url=sim.server.url, timeout=10) as client:
            barrier.wait()
            time.sleep(delay)
            responses.append(client.get("/metrics", headers=apikey()))

    threads = [threading.Thread(target=call, args=(d,)) for d in (0.0, 0.1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in responses) == [200, 503]
    [refused] = [r for r in responses if r.status_code == 503]
    assert_error(refused, 503, 1016)
    # The gate is free again once the slow request is done.
    assert sim.get("/metrics").status_code == 200


# -- login, tokens, logout ------------------------------------------------------------------


def test_login_returns_token_and_expiry(make_sim: MakeSim) -> None:
    """Basic-auth login answers 200 with a token and `expires_after` = now + token lifetime."""
    sim = make_sim()
    response = sim.login()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"users", "meta"}
    [user] = body["users"]
    assert isinstance(user["token"], str)
    assert user["token"]
    assert EXPIRES_AFTER.match(user["expires_after"])
    lifetime = sim.deployment.config.token_lifetime
    assert lifetime == 7 * 24 * 3600
    assert user["expires_after"] == php_utc(sim.clock() + lifetime)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("topology", list(Topology))
def test_bearer_token_works(shared: SharedSim, topology: Topology, path: str) -> None:
    """A token from login is accepted as Bearer on every monitoring endpoint."""
    sim = shared(topology)
    token = sim.login().json()["users"][0]["token"]
    assert sim.get(path, headers=bearer(token)).status_code == 200


def test_bearer_works_when_key_is_health_only(shared: SharedSim) -> None:
    """Key scope `health_only` restricts the API key, not users' bearer tokens."""
    sim = shared(Topology.SINGLE)
    sim.deployment.key_scope = KeyScope.HEALTH_ONLY
    assert_error(sim.get("/metrics"), 403, 1005, "User doesn't have permission")
    assert sim.get("/metrics", headers=bearer(sim.token)).status_code == 200


def test_token_expires_without_leeway(make_sim: MakeSim) -> None:
    """With no leeway a token works up to its expiry and gets 401/1005 right after it."""
    sim = make_sim(token_lifetime=60, token_leeway=0)
    token = sim.login().json()["users"][0]["token"]
    sim.clock.advance(60)
    assert sim.get("/metrics", headers=bearer(token)).status_code == 200
    sim.clock.advance(1)
    assert_error(sim.get("/metrics", headers=bearer(token)), 401, 1005)
    assert_error(sim.get("/v1/health", headers=bearer(token)), 401, 1005)


def test_token_default_leeway_600s(make_sim: MakeSim) -> None:
    """By default an expired token is still accepted for 600 s of clock skew, then refused."""
    sim = make_sim(token_lifetime=60)
    token = sim.login().json()["users"][0]["token"]
    sim.clock.advance(60 + 599)
    assert sim.get("/metrics", headers=bearer(token)).status_code == 200
    sim.clock.advance(2)
    assert_error(sim.get("/metrics", headers=bearer(token)), 401, 1005)


def test_login_after_expiry_gives_working_token(make_sim: MakeSim) -> None:
    """Logging in again after expiry yields a fresh token that works."""
    sim = make_sim(token_lifetime=60, token_leeway=0)
    old = sim.login().json()["users"][0]["token"]
    sim.clock.advance(120)
    new = sim.login().json()["users"][0]["token"]
    assert new != old
    assert_error(sim.get("/metrics", headers=bearer(old)), 401, 1005)
    assert sim.get("/metrics", headers=bearer(new)).status_code == 200


def test_logout_revokes_only_that_token(make_sim: MakeSim) -> None:
    """Logout revokes the token it was called with; the user's other tokens keep working."""
    sim = make_sim()
    first = sim.login().json()["users"][0]["token"]
    second = sim.login().json()["users"][0]["token"]
    assert first != second
    response = sim.client.post("/v1/users/logout", headers=bearer(first))
    assert response.status_code == 200
    assert set(response.json()) == {"meta"}
    assert_error(sim.get("/metrics", headers=bearer(first)), 401, 1005)
    assert sim.get("/metrics", headers=bearer(second)).status_code == 200
    assert_error(sim.client.post("/v1/users/logout", headers=bearer(first)), 401, 1005)


def test_logout_without_token_is_401(shared: SharedSim) -> None:
    """Logout without a bearer token answers 401/1005."""
    sim = shared(Topology.SINGLE)
    assert_error(sim.client.post("/v1/users/logout"), 401, 1005)


@pytest.mark.parametrize(
    ("user", "password"), [(USER, "wrong-password"), ("nobody", "S3cret!passw0rd"), (USER, "")]
)
def test_login_wrong_credentials_401(make_sim: MakeSim, user: str, password: str) -> None:
    """A wrong user or password on login answers 401 in the error envelope."""
    sim = make_sim()
    assert_error(sim.login(user, password), 401, 1005)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic !!!not-base64"}, {"Authorization": "Bearer x"}]
)
def test_login_without_basic_credentials_401(make_sim: MakeSim, headers: dict[str, str]) -> None:
    """Login without usable Basic credentials answers 401/1005."""
    sim = make_sim()
    assert_error(sim.client.post("/v1/users/login", headers=headers), 401, 1005)


def test_bad_logins_are_rate_limited(make_sim: MakeSim) -> None:
    """30 bad logins from one client are 401; the 31st is 429/1015; an hour later it recovers."""
    sim = make_sim()
    for _ in range(30):
        assert_error(sim.login(password="wrong-password"), 401, 1005)
    assert_error(
        sim.login(password="wrong-password"),
        429,
        1015,
        "Rate limiting exceeded on bad login attempts",
    )
    sim.clock.advance(3600)
    assert sim.login().status_code == 200
