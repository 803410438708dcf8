"""Access control of the watchdog's own endpoints: Basic auth, bearer token, open probe paths."""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import bcrypt
import httpx
import pytest
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.testing import capture_logs

from watchdog.base.errors import ConfigError
from watchdog.base.redact import MASK, Redactor
from watchdog.base.secrets import read_bearer_token_file
from watchdog.config.settings import Settings, load_settings
from watchdog.poll.credentials import SecretSource
from watchdog.web.access import OPEN_PATHS, AccessControl, protect

PASSWORD = "correct horse"
# bcrypt.hashpw(PASSWORD, gensalt(10)), made once: each hash costs a tenth of a second.
HASH = "$2b$10$.BssQQzifYYZU08AzWa2TuMLsqybiXjDYKKolIyWkopPDUY5ZJ4J2"
TOKEN = "tok-0123456789abcdef-ABCDEF"
PROTECTED = [
    "/metrics",
    "/api/v1/status",
    "/api/v1/alerts",
    "/probe/prod/ready",
    "/probe/prod/live",
    "/",
    "/livez/",
    "/nowhere",
]
BASE_ENV = {"WA_API_KEY": "k3y-0123456789abcdef", "WATCHDOG_TARGETS": "prod=https://wa.example"}


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Requests:
    """Requests to an ASGI app on one event loop in a thread, as a server would run it."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: httpx.AsyncClient):
        self._portal = portal
        self._client = client

    def get(
        self, path: str, headers: dict[str, str] | list[tuple[str, str]] | None = None
    ) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.get, path, headers=headers))


@contextmanager
def serving(app: ASGIApp) -> Iterator[Requests]:
    transport = httpx.ASGITransport(app=app, client=("testclient", 50000))
    with anyio.from_thread.start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        try:
            yield Requests(portal, client)
        finally:
            portal.call(client.aclose)


class Inner:
    """The protected app: 200 on every path; remembers the thread it ran on."""

    def __init__(self) -> None:
        self.thread: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.thread = threading.get_ident()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Spy:
    """bcrypt.checkpw, counting calls and remembering the hashes and threads they used."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.threads: list[int] = []

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.hashes.append(hashed)
        self.threads.append(threading.get_ident())
        return bcrypt.checkpw(password, hashed)

    @property
    def calls(self) -> int:
        return len(self.hashes)


class Token:
    """A token source whose value the test sets."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def current(self, *, force: bool = False) -> str | None:
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inner() -> Inner:
    return Inner()


@pytest.fixture
def client(inner: Inner, spy: Spy, clock: Clock) -> Iterator[Requests]:
    app = AccessControl(inner, users={"alice": HASH}, token=Token(TOKEN), checkpw=spy, clock=clock)
    with serving(app) as test_client:
        yield test_client


@pytest.mark.parametrize("path", sorted(OPEN_PATHS))
def test_probe_paths_stay_open(client: Requests, spy: Spy, path: str) -> None:
    """/livez and /readyz answer without credentials, and without a bcrypt check."""
    assert client.get(path).status_code == 200
    assert client.get(path, headers=basic("alice", "wrong")).status_code == 200
    assert spy.calls == 0


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("alice", "wrong"),
        basic("mallory", PASSWORD),
        basic("alice", ""),
        bearer("tok-wrong-0123456789abcdef"),
        bearer(TOKEN[:-1]),
        bearer(""),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": f"Apikey {TOKEN}"},
        {"Authorization": TOKEN},
    ],
    ids=[
        "none",
        "wrong-password",
        "unknown-user",
        "empty-password",
        "wrong-token",
        "token-prefix",
        "empty-token",
        "basic-not-base64",
        "basic-without-colon",
        "other-scheme",
        "token-without-scheme",
    ],
)
def test_protected_paths_refuse_missing_or_wrong_credentials(
    client: Requests, path: str, headers: dict[str, str]
) -> None:
    """Every path but the probes answers 401 without, or with wrong, credentials."""
    assert client.get(path, headers=headers).status_code == 401


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_paths_accept_basic_or_bearer(client: Requests, path: str) -> None:
    """The right user and password, or the right token, reach the app."""
    assert client.get(path, headers=basic("alice", PASSWORD)).text == "ok"
    assert client.get(path, headers=bearer(TOKEN)).text == "ok"
    assert client.get(path, headers={"authorization": f"bearer  {TOKEN} "}).text == "ok"


def test_unknown_user_and_wrong_password_each_cost_one_bcrypt_check(
    client: Requests, spy: Spy
) -> None:
    """An unknown user runs exactly one bcrypt check, of the same cost, like a wrong password."""
    assert client.get("/metrics", headers=basic("alice", "wrong")).status_code == 401
    assert spy.calls == 1
    assert client.get("/metrics", headers=basic("mallory", "wrong")).status_code == 401
    assert spy.calls == 2
    wrong_password, unknown_user = spy.hashes
    assert wrong_password == HASH.encode()
    assert unknown_user != HASH.encode()
    assert unknown_user[:7] == wrong_password[:7] == b"$2b$10$"


def test_bcrypt_runs_off_the_event_loop(client: Requests, spy: Spy, inner: Inner) -> None:
    """The bcrypt check runs in a worker thread, not on the thread serving requests."""
    assert client.get("/metrics", headers=basic("alice", PASSWORD)).status_code == 200
    assert inner.thread is not None
    assert spy.threads == [spy.threads[0]]
    assert spy.threads[0] != inner.thread


def test_success_is_cached_and_failure_is_not(client: Requests, spy: Spy) -> None:
    """Repeated right credentials cost one bcrypt check in all; every wrong attempt costs one."""
    for _ in range(5):
        assert client.get("/metrics", headers=basic("alice", PASSWORD)).status_code == 200
    assert spy.calls == 1
    for _ in range(3):
        assert client.get("/metrics", headers=basic("alice", "wrong")).status_code == 401
    assert spy.calls == 4
    # A cached success says nothing about a different password.
    assert client.get("/metrics", headers=basic("alice", PASSWORD + "x")).status_code == 401
    assert spy.calls == 5


def test_cache_is_bounded_and_holds_no_password(inner: Inner, spy: Spy) -> None:
    """The cache keeps the most recent successes only, as digests of the credentials."""
    hash_b = bcrypt.hashpw(b"second password", bcrypt.gensalt(10)).decode()
    app = AccessControl(inner, users={"alice": HASH, "bob": hash_b}, checkpw=spy, cache_size=1)
    with serving(app) as client:
        for _ in range(2):
            assert client.get("/", headers=basic("alice", PASSWORD)).status_code == 200
            assert client.get("/", headers=basic("bob", "second password")).status_code == 200
    assert spy.calls == 4
    cached = b"".join(app.cached)
    assert len(cached) == 32
    assert b"second password" not in cached
    assert b"bob" not in cached


def test_cache_key_cannot_be_shifted_between_user_and_password(inner: Inner, spy: Spy) -> None:
    """Moving characters from the password into the user name does not hit a cached success."""
    app = AccessControl(inner, users={"alice": HASH}, checkpw=spy)
    with serving(app) as client:
        assert client.get("/", headers=basic("alice", PASSWORD)).status_code == 200
        shifted = basic("alice" + PASSWORD[:3], PASSWORD[3:])
        assert client.get("/", headers=shifted).status_code == 401
    assert spy.calls == 2


def test_long_passwords_are_checked_not_crashed(inner: Inner, spy: Spy) -> None:
    """A password over bcrypt's 72 bytes is one bcrypt check on its first 72 bytes, not a 500."""
    long_password = "p" * 100
    hashed = bcrypt.hashpw(long_password[:72].encode(), bcrypt.gensalt(10)).decode()
    app = AccessControl(inner, users={"alice": hashed}, checkpw=spy)
    with serving(app) as client:
        assert client.get("/", headers=basic("alice", long_password)).status_code == 200
        assert client.get("/", headers=basic("alice", "q" * 100)).status_code == 401
    assert spy.calls == 2


def test_refusal_reveals_nothing(client: Requests) -> None:
    """Every refusal is the same 401: a challenge per scheme, a fixed body, no echo of input."""
    answers = [
        client.get("/metrics"),
        client.get("/metrics", headers=basic("alice", "wrong-password")),
        client.get("/metrics", headers=basic("mallory", PASSWORD)),
        client.get("/api/v1/status", headers=bearer("tok-wrong-0123456789abcdef")),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized"}
        assert answer.headers.get_list("www-authenticate") == [
            'Basic realm="wa-watchdog", charset="UTF-8"',
            'Bearer realm="wa-watchdog"',
        ]
        assert answer.headers["cache-control"] == "no-store"
        shown = answer.text + repr(answer.headers)
        for secret in ("alice", "mallory", "wrong", PASSWORD, TOKEN, "tok-wrong", HASH):
            assert secret not in shown
    assert len({(a.content, tuple(a.headers.items())) for a in answers[:3]}) == 1


def test_only_configured_schemes_are_offered_and_checked(inner: Inner, spy: Spy) -> None:
    """With users only, the challenge is Basic and a bearer attempt is refused at once."""
    with serving(AccessControl(inner, users={"alice": HASH}, checkpw=spy)) as client:
        answer = client.get("/metrics", headers=bearer(TOKEN))
        assert answer.headers.get_list("www-authenticate") == [
            'Basic realm="wa-watchdog", charset="UTF-8"'
        ]
    with serving(AccessControl(inner, token=Token(TOKEN), checkpw=spy)) as client:
        answer = client.get("/metrics", headers=basic("alice", PASSWORD))
        assert answer.status_code == 401
        assert answer.headers.get_list("www-authenticate") == ['Bearer realm="wa-watchdog"']
    assert spy.calls == 0


def test_unreadable_token_refuses_every_token(inner: Inner) -> None:
    """When no token is available (the file vanished before the first read), none is accepted."""
    with serving(AccessControl(inner, token=Token(None))) as client:
        assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer"}).status_code == 401


def test_several_authorization_headers_are_refused(client: Requests) -> None:
    """Two Authorization headers are refused, even when one of them is right."""
    answer = client.get(
        "/metrics",
        headers=[("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer nope")],
    )
    assert answer.status_code == 401


def test_refusals_are_logged_once_a_minute_per_client(client: Requests, clock: Clock) -> None:
    """Refusals log one line per client address per minute, counting the rest, no credentials."""
    with capture_logs() as logs:
        for _ in range(3):
            client.get("/metrics", headers=basic("alice", "wrong-password"))
        clock.now += 30
        client.get("/api/v1/status", headers=bearer("tok-wrong-0123456789abcdef"))
        clock.now += 31
        client.get("/", headers=basic("mallory", PASSWORD))
    denied = [entry for entry in logs if entry["event"] == "access_denied"]
    assert [(e["client"], e["path"], e["scheme"], e["suppressed"]) for e in denied] == [
        ("testclient", "/metrics", "basic", 0),
        ("testclient", "/", "basic", 3),
    ]
    text = repr(logs)
    for secret in ("alice", "mallory", "wrong-password", PASSWORD, TOKEN, "tok-wrong", HASH):
        assert secret not in text


def test_lifespan_passes_through() -> None:
    """The lifespan reaches the app unchecked, so the poller starts behind the middleware."""
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "lifespan.startup.complete"})

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        seen.append(message["type"])

    asyncio.run(AccessControl(app, token=Token(TOKEN))({"type": "lifespan"}, receive, send))
    assert seen == ["lifespan", "lifespan.startup.complete"]


# --- wiring from the settings ----------------------------------------------------------------


def _token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "token"
    path.write_text(token + "\n", encoding="utf-8")
    return path


def test_protect_leaves_app_alone_without_credentials(inner: Inner) -> None:
    """Without users or a token, the app is served as it is."""
    assert protect(inner, Settings(), redactor=Redactor()) is inner


def test_protect_registers_secrets_with_the_redactor(inner: Inner, tmp_path: Path) -> None:
    """The hashes and the token are masked in every log line from the start."""
    redactor = Redactor()
    settings = Settings(
        basic_auth_users={"alice": HASH}, bearer_token_file=_token_file(tmp_path, TOKEN)
    )
    protect(inner, settings, redactor=redactor)
    assert redactor.redact_text(f"x {HASH} y {TOKEN} z") == f"x {MASK} y {MASK} z"


def test_rotated_token_file_is_used_without_restart(inner: Inner, tmp_path: Path) -> None:
    """A new token written to the file replaces the old one at the next request."""
    path = _token_file(tmp_path, TOKEN)
    app = protect(inner, Settings(bearer_token_file=path), redactor=Redactor())
    new = "tok-rotated-9876543210-zyxwvu"
    with serving(app) as client:
        assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200
        path.write_text(new + "\n", encoding="utf-8")
        assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 401
        assert client.get("/metrics", headers=bearer(new)).status_code == 200
        # An invalid file keeps the last good token in use.
        path.write_text("short\n", encoding="utf-8")
        assert client.get("/metrics", headers=bearer(new)).status_code == 200


def test_token_file_problems_name_the_variable_without_content(tmp_path: Path) -> None:
    """A token file turned unusable is reported naming the variable, never quoting the file."""
    path = _token_file(tmp_path, TOKEN)
    source = SecretSource(
        kind="bearer_token",
        target="watchdog",
        redactor=Redactor(),
        path=path,
        read=read_bearer_token_file,
        variable="WATCHDOG_BEARER_TOKEN_FILE",
    )
    assert source.current() == TOKEN
    path.write_text("tok with spaces inside it\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    assert source.current() == TOKEN
    assert source.problem is not None
    assert source.problem.startswith("WATCHDOG_BEARER_TOKEN_FILE: the token in ")
    assert "tok with spaces" not in source.problem


def test_basic_auth_users_from_env_and_yaml_agree(tmp_path: Path) -> None:
    """``user:hash,user:hash`` in the environment and a YAML mapping give the same users."""
    hash_b = "$2y$12$" + HASH[7:]
    from_env = load_settings(
        {**BASE_ENV, "WATCHDOG_BASIC_AUTH_USERS": f" alice:{HASH} ,bob:{hash_b},"}
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"basic_auth_users": {"alice": HASH, "bob": hash_b}}))
    from_yaml = load_settings({**BASE_ENV, "WATCHDOG_CONFIG_FILE": str(config)})
    for settings in (from_env, from_yaml):
        users = {
            name: value.get_secret_value() for name, value in settings.basic_auth_users.items()
        }
        assert users == {"alice": HASH, "bob": hash_b}


def test_empty_basic_auth_users_means_unset() -> None:
    """An empty WATCHDOG_BASIC_AUTH_USERS (a chart templating it) configures nobody."""
    assert load_settings({**BASE_ENV, "WATCHDOG_BASIC_AUTH_USERS": " "}).basic_auth_users == {}


def test_effective_config_and_repr_mask_hashes(tmp_path: Path) -> None:
    """`watchdog config` and the settings' repr show user names and paths, never hashes."""
    path = _token_file(tmp_path, TOKEN)
    settings = load_settings(
        {
            **BASE_ENV,
            "WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH}",
            "WATCHDOG_BEARER_TOKEN_FILE": str(path),
        }
    )
    effective: dict[str, Any] = settings.effective()
    assert effective["basic_auth_users"] == {"alice": MASK}
    assert effective["bearer_token_file"] == str(path)
    shown = yaml.safe_dump(effective) + repr(settings) + str(settings)
    assert HASH not in shown
    assert HASH[7:20] not in shown
    assert TOKEN not in shown


def test_config_errors_never_quote_passwords_or_hashes(tmp_path: Path) -> None:
    """Messages about bad users name the user, never the password or hash given."""
    bad = "hunter2-plaintext"
    weak = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    with pytest.raises(ConfigError) as info:
        load_settings(
            {**BASE_ENV, "WATCHDOG_BASIC_AUTH_USERS": f"alice:{bad},bob:{weak},carol:{HASH}x"}
        )
    text = str(info.value)
    assert [line.split(":")[1].strip() for line in info.value.messages] == [
        "user 'alice'",
        "user 'bob'",
        "user 'carol'",
    ]
    for secret in (bad, weak, weak[7:], HASH[7:]):
        assert secret not in text
