"""ApiClient over httpx.MockTransport: auth modes, key files, bearer sessions, secrets."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from tests.unit.poll.fakes import (
    KEY,
    META,
    NEW_KEY,
    PASSWORD,
    USER,
    Api,
    Clock,
    client,
    error_body,
    events,
    health_body,
    php_time,
    poll_once,
    raising,
    target,
)
from watchdog.api.endpoints import Endpoint
from watchdog.base.redact import MASK, Redactor
from watchdog.base.targets import Target
from watchdog.poll.client import ApiClient
from watchdog.poll.credentials import BearerToken, parse_expires_after

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- polls never raise -------------------------------------------------------------------------


async def test_unexpected_exception_is_internal_and_logged() -> None:
    """poll never raises: a RuntimeError from the transport is an `internal` result, logged."""
    with capture_logs() as logs:
        result = await poll_once(raising(RuntimeError("boom")))
    assert result.reason == "internal"
    assert "RuntimeError" in result.detail
    [event] = events(logs, "poll_internal_error")
    assert event["log_level"] == "error"
    assert event["exc_info"] is True


async def test_closed_client_polls_as_internal() -> None:
    """Polling after aclose() gives a result, not an exception."""
    c = client(Api())
    await c.aclose()
    await c.aclose()  # idempotent
    result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "internal"


# -- API key and key file -----------------------------------------------------------------


def write_key(path: Path, key: str) -> None:
    path.write_text(f"{key}\n")


async def test_key_file_rotation_uses_new_key_on_next_poll(tmp_path: Path) -> None:
    """A new key written to the key file is used from the next poll on, and logged."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    api = Api()
    redactor = Redactor()
    async with client(api, tgt=target(api_key=None, api_key_file=key_file), redactor=redactor) as c:
        await c.poll(Endpoint.HEALTH)
        write_key(key_file, NEW_KEY)
        with capture_logs() as logs:
            await c.poll(Endpoint.HEALTH)
    assert api.auth_headers() == [f"Apikey {KEY}", f"Apikey {NEW_KEY}"]
    [event] = events(logs, "api_key_reloaded")
    assert event["target"] == "wa"
    assert redactor.redact_text(f"x {NEW_KEY} y") == f"x {MASK} y"


async def test_atomic_key_file_replacement_is_seen(tmp_path: Path) -> None:
    """A key file replaced by rename (as Kubernetes updates secrets) is re-read."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    api = Api()
    async with client(api, tgt=target(api_key=None, api_key_file=key_file)) as c:
        await c.poll(Endpoint.HEALTH)
        new = tmp_path / "key.new"
        write_key(new, "x" * len(KEY))
        os.replace(new, key_file)
        await c.poll(Endpoint.HEALTH)
    assert api.auth_headers()[-1] == f"Apikey {'x' * len(KEY)}"


async def test_bad_key_file_keeps_last_good_key_and_logs_once_per_change(tmp_path: Path) -> None:
    """An invalid key file keeps the previous key; the problem is logged once per file change."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    api = Api()
    async with client(api, tgt=target(api_key=None, api_key_file=key_file)) as c:
        await c.poll(Endpoint.HEALTH)
        with capture_logs() as logs:
            key_file.write_text("short\n")
            first = await c.poll(Endpoint.HEALTH)
            await c.poll(Endpoint.HEALTH)
            key_file.write_text("")
            await c.poll(Endpoint.HEALTH)
    assert first.ok
    assert api.auth_headers() == [f"Apikey {KEY}"] * 4
    warnings = events(logs, "api_key_file_unreadable")
    assert len(warnings) == 2
    assert all(w["error"].startswith("WA_API_KEY_FILE: ") for w in warnings)
    assert all("short" not in w["error"] for w in warnings)
    assert warnings[0]["keeping_previous"] is True


async def test_key_file_missing_without_previous_key_is_auth_config(tmp_path: Path) -> None:
    """No usable key at all (file gone before the first poll) is `auth_config`, no request."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    tgt = target(api_key=None, api_key_file=key_file)
    key_file.unlink()
    api = Api()
    async with client(api, tgt=tgt) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "auth_config"
    assert result.detail.startswith("WA_API_KEY_FILE: ")
    assert api.requests == []


async def test_no_key_configured_is_auth_config() -> None:
    """Apikey mode without any key is `auth_config` naming the variables to set."""
    result = await poll_once(lambda _: httpx.Response(200), tgt=target(api_key=None))
    assert result.reason == "auth_config"
    assert "WA_API_KEY" in result.detail


async def test_key_with_control_characters_is_not_sent(tmp_path: Path) -> None:
    """A key file whose key cannot travel in a header is refused, keeping no key."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    tgt = target(api_key=None, api_key_file=key_file)
    key_file.write_text("abcdefgh\x01ijklmnop")
    api = Api()
    async with client(api, tgt=tgt) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "auth_config"
    assert "printable ASCII" in result.detail
    assert api.requests == []


async def test_401_rereads_key_file_changed_within_mtime_resolution(tmp_path: Path) -> None:
    """A rewrite the stat check cannot see (same size, inode and mtime) is found on a 401."""
    key_file = tmp_path / "key"
    write_key(key_file, KEY)
    other = KEY[::-1]
    api = Api(
        lambda r: (
            httpx.Response(200, json=health_body())
            if r.headers["authorization"] == f"Apikey {other}"
            else httpx.Response(401, json=error_body(1005, "Access denied"))
        )
    )
    async with client(api, tgt=target(api_key=None, api_key_file=key_file)) as c:
        first = await c.poll(Endpoint.HEALTH)
        stat = key_file.stat()
        write_key(key_file, other)
        os.utime(key_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        second = await c.poll(Endpoint.HEALTH)
    assert first.reason == "http_401"
    assert second.ok
    assert api.auth_headers() == [f"Apikey {KEY}", f"Apikey {KEY}", f"Apikey {other}"]


# -- bearer ---------------------------------------------------------------------------------


class BearerApi(Api):
    """Logins hand out tok-1, tok-2, ...; `accept` decides which tokens endpoints take."""

    def __init__(self, clock: Clock, lifetime: float = 1000.0) -> None:
        super().__init__(self._answer)
        self.clock = clock
        self.lifetime = lifetime
        self.issued = 0
        self.accept: Callable[[str], bool] = lambda token: True
        self.login_answer: Callable[[], httpx.Response] | None = None
        self.key_refused_on: set[str] = set()

    def _answer(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization", "")
        if request.url.path == "/v1/users/login":
            if self.login_answer is not None:
                return self.login_answer()
            assert header.startswith("Basic ")
            self.issued += 1
            users = [
                {
                    "token": f"tok-{self.issued}-abcdefgh",
                    "expires_after": php_time(self.clock() + self.lifetime),
                }
            ]
            return httpx.Response(200, json={"users": users, "meta": META})
        if request.url.path == "/v1/users/logout":
            return httpx.Response(200, json={"meta": META})
        scheme, _, credential = header.partition(" ")
        if scheme == "Apikey":
            if request.url.path in self.key_refused_on:
                body = error_body(1005, "Access denied", "User doesn't have permission")
                return httpx.Response(403, json=body)
            return httpx.Response(200, json=health_body())
        if scheme == "Bearer" and self.accept(credential):
            return httpx.Response(200, json=health_body())
        return httpx.Response(401, json=error_body(1005, "Access denied"))


def bearer_target(**overrides: Any) -> Target:
    return target(username=USER, password=PASSWORD, **overrides)


async def test_bearer_logs_in_with_basic_auth_then_sends_bearer() -> None:
    """Bearer mode logs in with Basic user:password, then sends `Bearer <token>`, logged."""
    clock = Clock()
    api = BearerApi(clock)
    with capture_logs() as logs:
        async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
            result = await c.poll(Endpoint.METRICS)
    assert result.ok
    login, get, logout = api.requests
    assert login.method == "POST"
    assert login.url.path == "/v1/users/login"
    assert login.headers["authorization"] == httpx.BasicAuth(USER, PASSWORD)._auth_header
    assert get.headers["authorization"] == "Bearer tok-1-abcdefgh"
    assert logout.url.path == "/v1/users/logout"
    assert logout.headers["authorization"] == "Bearer tok-1-abcdefgh"
    [event] = events(logs, "bearer_login")
    assert event["lifetime"] == "16m40s"
    assert all("tok-1" not in json.dumps(e, default=str) for e in logs)


async def test_bearer_token_renewed_when_a_quarter_of_its_lifetime_remains() -> None:
    """The token is reused until less than a quarter of its lifetime remains, then renewed."""
    clock = Clock()
    api = BearerApi(clock, lifetime=1000.0)
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        await c.poll(Endpoint.HEALTH)
        clock.now += 740  # 260 s left: more than a quarter
        await c.poll(Endpoint.HEALTH)
        clock.now += 20  # 240 s left
        await c.poll(Endpoint.HEALTH)
    assert api.count("/v1/users/login") == 2
    assert api.auth_headers("/v1/health") == [
        "Bearer tok-1-abcdefgh",
        "Bearer tok-1-abcdefgh",
        "Bearer tok-2-abcdefgh",
    ]


async def test_concurrent_polls_share_one_login() -> None:
    """Concurrent polls of one target wait for one login instead of each logging in."""
    clock = Clock()
    api = BearerApi(clock)
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        results = await asyncio.gather(*(c.poll(e) for e in Endpoint))
    assert all(r.ok for r in results)
    assert api.count("/v1/users/login") == 1


async def test_bearer_401_logs_in_again_and_retries_once() -> None:
    """A refused token is dropped; one new login and one retry make the poll succeed."""
    clock = Clock()
    api = BearerApi(clock)
    api.accept = lambda token: not token.startswith("tok-1-")
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        result = await c.poll(Endpoint.STATS_APP)
        again = await c.poll(Endpoint.STATS_APP)
    assert result.ok
    assert again.ok
    assert api.auth_headers("/v1/stats/app") == [
        "Bearer tok-1-abcdefgh",
        "Bearer tok-2-abcdefgh",
        "Bearer tok-2-abcdefgh",
    ]


async def test_bearer_401_is_retried_once_not_in_a_loop() -> None:
    """When every token is refused, a poll makes one re-login and one retry, then fails 401."""
    clock = Clock()
    api = BearerApi(clock)
    api.accept = lambda token: False
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "http_401"
    assert api.count("/v1/health") == 2
    assert api.count("/v1/users/login") == 2


async def test_login_failure_is_the_poll_failure_and_backs_off() -> None:
    """A refused login fails the poll with its reason; logins then pause instead of hammering."""
    clock = Clock()
    api = BearerApi(clock)
    api.login_answer = lambda: httpx.Response(401, json=error_body(1005, "Access denied"))
    with capture_logs() as logs:
        async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
            first = await c.poll(Endpoint.HEALTH)
            second = await c.poll(Endpoint.METRICS)
            clock.now += 31
            third = await c.poll(Endpoint.HEALTH)
    assert (first.reason, first.status_code) == ("http_401", 401)
    assert first.detail == "login failed: HTTP 401 Access denied (1005)"
    assert first.api_error is not None
    assert first.api_error.code == 1005
    assert second.reason == "http_401"
    assert "next login attempt in 30s" in second.detail
    assert third.reason == "http_401"
    assert api.count("/v1/users/login") == 2
    assert api.count("/v1/health") == 0
    assert len(events(logs, "bearer_login_failed")) == 2


async def test_login_rate_limited_is_http_429() -> None:
    """A login answered 429/1015 (too many bad logins) fails the poll as `http_429`."""
    clock = Clock()
    api = BearerApi(clock)
    body = error_body(1015, "Too many requests", "Rate limiting exceeded on bad login attempts")
    api.login_answer = lambda: httpx.Response(429, json=body)
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "http_429"
    assert result.detail.startswith("login failed: HTTP 429 Too many requests (1015)")


async def test_login_answer_without_token_is_shape() -> None:
    """A 200 login answer without `users[0].token` fails the poll as `shape`."""
    clock = Clock()
    api = BearerApi(clock)
    api.login_answer = lambda: httpx.Response(200, json={"users": [], "meta": META})
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "shape"
    assert result.detail.startswith("login failed:")


async def test_failed_renewal_keeps_the_still_valid_token() -> None:
    """When renewal fails but the old token has not expired, polls go on with the old token."""
    clock = Clock()
    api = BearerApi(clock, lifetime=1000.0)
    async with client(api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        await c.poll(Endpoint.HEALTH)
        api.login_answer = lambda: httpx.Response(503, json=error_body(1016, "System overloaded"))
        clock.now += 900
        result = await c.poll(Endpoint.HEALTH)
    assert result.ok
    assert api.auth_headers("/v1/health") == ["Bearer tok-1-abcdefgh"] * 2


async def test_password_file_is_read_and_followed(tmp_path: Path) -> None:
    """The password may come from a file; a rewritten file is used for the next login."""
    password_file = tmp_path / "password"
    password_file.write_text(f"{PASSWORD}\n")
    clock = Clock()
    api = BearerApi(clock)
    tgt = target(username=USER, password_file=password_file)
    async with client(api, tgt=tgt, auth_mode="bearer", clock=clock) as c:
        await c.poll(Endpoint.HEALTH)
        password_file.write_text("An0ther!password\n")
        clock.now += 1000
        await c.poll(Endpoint.HEALTH)
    logins = [r for r in api.requests if r.url.path == "/v1/users/login"]
    assert logins[0].headers["authorization"] == httpx.BasicAuth(USER, PASSWORD)._auth_header
    assert (
        logins[1].headers["authorization"] == httpx.BasicAuth(USER, "An0ther!password")._auth_header
    )


async def test_bearer_without_username_is_auth_config() -> None:
    """Bearer mode without a user name is `auth_config` naming WA_WEB_USERNAME."""
    api = Api()
    async with client(api, tgt=target(password=PASSWORD), auth_mode="bearer") as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "auth_config"
    assert "WA_WEB_USERNAME" in result.detail
    assert api.requests == []


async def bearer_client_holding_a_token(
    logout: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
) -> tuple[ApiClient, BearerApi]:
    """A bearer client that holds tok-1; its logout request goes to `logout`."""
    clock = Clock()
    api = BearerApi(clock)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/users/logout":
            api.requests.append(request)
            return await logout(request)
        return await api(request)

    c = client(handler, tgt=bearer_target(), auth_mode="bearer", clock=clock)
    assert (await c.poll(Endpoint.HEALTH)).ok
    return c, api


async def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("gone")


async def hang(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("logout", [refuse, hang], ids=["refused", "hanging"])
async def test_aclose_logout_failure_does_not_raise(
    logout: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
) -> None:
    """Logging out at close is best effort: the token is offered back once, and a refused or
    hanging logout neither raises nor holds the close past the client's timeout (0.3 s); the
    client ends closed, and the log says the logout failed without showing the token."""
    c, api = await bearer_client_holding_a_token(logout)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with capture_logs() as logs:
        await asyncio.wait_for(c.aclose(), timeout=5)
    assert loop.time() - began < 2
    [sent] = [r for r in api.requests if r.url.path == "/v1/users/logout"]
    assert sent.headers["authorization"] == "Bearer tok-1-abcdefgh"
    [failed] = events(logs, "bearer_logout_failed")
    assert "tok-1-abcdefgh" not in json.dumps(failed, default=str)
    closed = await c.poll(Endpoint.HEALTH)
    assert (closed.reason, closed.detail) == ("internal", "the client is closed")
    assert api.count("/v1/health") == 1  # nothing more was sent once closed


# -- auto mode ------------------------------------------------------------------------------


async def test_auto_switches_an_endpoint_to_bearer_on_403_1005_once() -> None:
    """Auto: 403/1005 switches only that endpoint to bearer, for good, logged once."""
    clock = Clock()
    api = BearerApi(clock)
    api.key_refused_on = {"/metrics"}
    with capture_logs() as logs:
        async with client(api, tgt=bearer_target(), auth_mode="auto", clock=clock) as c:
            first = await c.poll(Endpoint.METRICS)
            second = await c.poll(Endpoint.METRICS)
            health = await c.poll(Endpoint.HEALTH)
    assert first.ok
    assert second.ok
    assert health.ok
    assert api.auth_headers("/metrics") == [
        f"Apikey {KEY}",
        "Bearer tok-1-abcdefgh",
        "Bearer tok-1-abcdefgh",
    ]
    assert api.auth_headers("/v1/health") == [f"Apikey {KEY}"]
    [event] = events(logs, "apikey_refused_using_bearer")
    assert (event["target"], event["endpoint"]) == ("wa", "metrics")


async def test_auto_without_login_credentials_fails_403_with_hint() -> None:
    """Auto mode without username/password: 403/1005 stays `http_403`, saying what to set."""
    clock = Clock()
    api = BearerApi(clock)
    api.key_refused_on = {"/v1/stats/app"}
    with capture_logs() as logs:
        async with client(api, auth_mode="auto", clock=clock) as c:
            first = await c.poll(Endpoint.STATS_APP)
            second = await c.poll(Endpoint.STATS_APP)
    assert first.reason == "http_403"
    assert "WA_WEB_USERNAME" in first.detail
    assert "WA_WEB_PASSWORD" in first.detail
    assert first.api_error is not None
    assert first.api_error.code == 1005
    assert second.reason == "http_403"
    assert api.count("/v1/users/login") == 0
    assert len(events(logs, "apikey_refused_no_login")) == 1


async def test_apikey_mode_does_not_fall_back() -> None:
    """Apikey mode reports 403/1005 as `http_403` and never logs in."""
    clock = Clock()
    api = BearerApi(clock)
    api.key_refused_on = {"/metrics"}
    async with client(api, tgt=bearer_target(), clock=clock) as c:
        result = await c.poll(Endpoint.METRICS)
    assert result.reason == "http_403"
    assert "WATCHDOG_AUTH_MODE=auto" in result.detail
    assert api.count("/v1/users/login") == 0


async def test_auto_does_not_fall_back_on_other_403() -> None:
    """Only 403 with code 1005 means "key refused here"; another 403 is reported as is."""
    body = error_body(1007, "Recipient blocked")
    api = Api(lambda _: httpx.Response(403, json=body))
    async with client(api, tgt=bearer_target(), auth_mode="auto") as c:
        result = await c.poll(Endpoint.METRICS)
    assert result.reason == "http_403"
    assert len(api.requests) == 1


# -- secrets --------------------------------------------------------------------------------


async def test_secrets_never_reach_detail() -> None:
    """Key, password and tokens echoed in error titles or exception messages are masked."""
    api = Api(
        lambda _: httpx.Response(401, json=error_body(1005, f"bad key {KEY} for {USER}:{PASSWORD}"))
    )
    async with client(api, tgt=bearer_target()) as c:
        echoed = await c.poll(Endpoint.HEALTH)
    assert KEY not in echoed.detail
    assert PASSWORD not in echoed.detail
    assert MASK in echoed.detail

    raised = await poll_once(raising(httpx.ConnectError(f"refused Apikey {KEY}")))
    assert KEY not in raised.detail

    clock = Clock()
    bearer_api = BearerApi(clock)
    async with client(bearer_api, tgt=bearer_target(), auth_mode="bearer", clock=clock) as c:
        await c.poll(Endpoint.HEALTH)
        bearer_api.answer = raising(httpx.ReadError("lost tok-1-abcdefgh"))
        lost = await c.poll(Endpoint.HEALTH)
    assert lost.reason == "protocol"
    assert "tok-1-abcdefgh" not in lost.detail


def pieces(secret: str, size: int = 12) -> list[str]:
    """Every run of `size` characters of `secret`: a piece of it left by a cut."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


async def test_secrets_never_reach_the_api_error_either() -> None:
    """The title and details of the API's error are shown as such (/api/v1/status): the key
    echoed in either is masked there too."""
    body = error_body(1005, f"bad key {KEY}", f"Apikey {KEY} refused")
    result = await poll_once(lambda _: httpx.Response(401, json=body))
    assert result.api_error is not None
    assert KEY not in f"{result.api_error.title} {result.api_error.details}"
    assert result.api_error.title == f"bad key {MASK}"


@pytest.mark.parametrize("offset", [95, 100, 105])
async def test_a_secret_at_the_cut_of_a_detail_leaves_no_piece(offset: int) -> None:
    """A detail longer than a line (240) is cut after it is scrubbed: a key straddling the
    cut would no longer be recognised, and its first half would show."""
    details = "y" * offset + f" key {KEY} end"
    body = error_body(1005, "T" * 100, details)
    # "HTTP 401 <title> (1005): <details>" puts the key across the 240th character.
    assert len(f"HTTP 401 {'T' * 100} (1005): ") + details.index(KEY) < 237
    assert len(f"HTTP 401 {'T' * 100} (1005): {details}") > 240
    result = await poll_once(lambda _: httpx.Response(401, json=body))
    assert [p for p in pieces(KEY, 8) if p in result.detail] == []
    assert MASK in result.detail


async def test_shared_redactor_learns_the_key() -> None:
    """The key in use is registered with the shared redactor, so logs mask it too."""
    redactor = Redactor()
    async with client(Api(), redactor=redactor) as c:
        await c.poll(Endpoint.HEALTH)
    assert KEY not in redactor.redact_text(f"key={KEY} and {KEY}")


# -- helpers --------------------------------------------------------------------------------


def test_expires_after_parses_the_php_format() -> None:
    """`expires_after` in the Webapp's `Y-m-d H:i:sP` format parses; junk does not."""
    assert parse_expires_after("2021-09-14 15:29:26+00:00") == 1631633366.0
    assert parse_expires_after("2021-09-14 17:29:26+02:00") == 1631633366.0
    assert parse_expires_after("2021-09-14 15:29:26") is None
    assert parse_expires_after("tomorrow") is None
    assert parse_expires_after(None) is None


def test_token_renewal_threshold_is_a_quarter_of_the_lifetime() -> None:
    """A token needs renewal once less than 25 % of its lifetime remains; unknown expiry never."""
    token = BearerToken("t", obtained_at=0.0, expires_at=100.0)
    assert not token.needs_renewal(75.0)
    assert token.needs_renewal(75.1)
    assert token.needs_renewal(200.0)
    assert not BearerToken("t", 0.0, None).needs_renewal(10**9)
