"""Who may read the watchdog's endpoints: Basic auth (bcrypt hashes) and a bearer token.

`protect` wraps the ASGI app in `AccessControl` when `basic_auth_users` or `bearer_token_file`
is configured. Every path then needs a credential, except `/livez` and `/readyz`: the kubelet
probes those without credentials, and they tell nothing about the monitored API. Either kind
of credential is accepted when both are configured. A refusal is a 401 with a challenge per
configured scheme and a body that says nothing about what was wrong.

Timing: user names are compared as HMACs with `hmac.compare_digest`, and exactly one bcrypt
check runs per Basic attempt, against a dummy hash of the same cost when the user is unknown,
so an unknown user costs as much as a wrong password. bcrypt is slow on purpose (tenths of a
second), so it runs in worker threads (a few at most, so that a flood of bad passwords cannot
take the threads `/metrics` renders in), and successful checks are remembered in a small LRU
keyed by an HMAC of the credentials under a per-process random key: a Prometheus scraping
every 15 s pays bcrypt once, and the cache holds no password. Failures are never remembered.
Bearer tokens are compared as SHA-256 digests with `hmac.compare_digest`; the token file is
re-read when it changes.

Refusals are logged at most once a minute per client address, with the number left unlogged;
no log line holds a credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.to_thread
import bcrypt
from starlette.types import ASGIApp, Receive, Scope, Send

from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor
from watchdog.base.secrets import BEARER_TOKEN_FILE_VAR, bcrypt_cost, read_bearer_token_file
from watchdog.poll.credentials import SecretSource

if TYPE_CHECKING:
    from watchdog.config.settings import Settings

__all__ = [
    "CACHE_SIZE",
    "OPEN_PATHS",
    "REALM",
    "AccessControl",
    "TokenSource",
    "protect",
]

log = get_logger(__name__)

# The kubelet's probes; they say nothing about the monitored API.
OPEN_PATHS = frozenset({"/livez", "/readyz"})
REALM = "wa-watchdog"
# Successful Basic checks remembered; a handful of scrapers and people at most.
CACHE_SIZE = 64
# bcrypt checks running at once; more wait (anyio's default pool has 40 threads in all).
BCRYPT_THREADS = 4
# Refusals from one address are logged at most this often.
LOG_EVERY = 60.0
_MAX_LOGGED_CLIENTS = 1024
# bcrypt reads at most 72 bytes of a password; bcrypt 5 refuses longer ones instead.
_BCRYPT_MAX_PASSWORD = 72
# A valid bcrypt hash of nothing anyone knows; its cost is replaced by the users' cost.
_DUMMY_TAIL = "ue37QoXhPWVu0oLRA3hw6u5npE0ItM6daihTrEbCbFsg/Ez6ZZQwe"
_BODY = json.dumps({"error": "unauthorized"}).encode()

CheckPassword = Callable[[bytes, bytes], bool]


class TokenSource(Protocol):
    """Where the accepted bearer token comes from (`credentials.SecretSource`)."""

    def current(self, *, force: bool = False) -> str | None: ...


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class AccessControl:
    """ASGI middleware requiring Basic or bearer credentials outside `OPEN_PATHS`.

    `users` maps user names to bcrypt hashes; `token` gives the accepted bearer token. Either
    may be empty, not both. `checkpw` is bcrypt's, replaceable to count calls.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        users: Mapping[str, str] | None = None,
        token: TokenSource | None = None,
        checkpw: CheckPassword = bcrypt.checkpw,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        users = dict(users or {})
        if not users and token is None:
            raise ValueError("AccessControl needs users or a token")
        self._app = app
        self._token = token
        self._checkpw = checkpw
        self._clock = clock
        self._key = secrets.token_bytes(32)
        # (HMAC of the name, hash): names compared without their length showing in the time.
        self._users = [
            (self._mac(name.encode()), hashed.encode()) for name, hashed in users.items()
        ]
        cost = max((bcrypt_cost(hashed) for hashed in users.values()), default=12)
        self._dummy = f"$2b${cost:02d}${_DUMMY_TAIL}".encode()
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size
        self._limiter = anyio.CapacityLimiter(BCRYPT_THREADS)
        self._logged: OrderedDict[str, tuple[float, int]] = OrderedDict()
        challenges = []
        if users:
            challenges.append(f'Basic realm="{REALM}", charset="UTF-8"')
        if token is not None:
            challenges.append(f'Bearer realm="{REALM}"')
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BODY)).encode()),
            (b"cache-control", b"no-store"),
            *((b"www-authenticate", challenge.encode()) for challenge in challenges),
        ]

    @property
    def cached(self) -> tuple[bytes, ...]:
        """The remembered successes, oldest first: what the process holds of the credentials
        it accepted (keyed digests, never a name or a password), for auditing that."""
        return tuple(self._cache)

    def _mac(self, value: bytes) -> bytes:
        return hmac.new(self._key, value, hashlib.sha256).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        presented, allowed = await self._check(scope)
        if allowed:
            await self._app(scope, receive, send)
            return
        self._log_refusal(scope, presented)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401, "headers": self._headers})
        await send({"type": "http.response.body", "body": _BODY})

    async def _check(self, scope: Scope) -> tuple[str, bool]:
        """What kind of credential came (for the log), and whether it is accepted."""
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if not values:
            return "none", False
        if len(values) > 1:
            return "several", False
        scheme, _, credentials = values[0].strip().partition(b" ")
        scheme = scheme.lower()
        if scheme == b"basic":
            return "basic", await self._basic(credentials.strip())
        if scheme == b"bearer":
            return "bearer", self._bearer(credentials.strip())
        return "other", False

    async def _basic(self, credentials: bytes) -> bool:
        if not self._users:
            return False
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        if not colon:
            return False
        cache_key = self._mac(len(user).to_bytes(4, "big") + user + password)
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return True
        presented = self._mac(user)
        stored = None
        for name, hashed in self._users:  # every entry, whichever matches
            if hmac.compare_digest(name, presented):
                stored = hashed
        ok = await anyio.to_thread.run_sync(
            self._bcrypt, password, stored or self._dummy, limiter=self._limiter
        )
        if not (ok and stored is not None):
            return False
        self._cache[cache_key] = None
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return True

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool:
        try:
            return self._checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed)
        except ValueError:
            return False

    def _bearer(self, credentials: bytes) -> bool:
        if self._token is None:
            return False
        token = self._token.current()
        if not token or not credentials:
            return False
        return hmac.compare_digest(_digest(credentials), _digest(token.encode()))

    def _log_refusal(self, scope: Scope, presented: str) -> None:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        now = self._clock()
        last, unlogged = self._logged.pop(address, (None, 0))
        if last is not None and now - last < LOG_EVERY:
            self._logged[address] = (last, unlogged + 1)
            return
        self._logged[address] = (now, 0)
        while len(self._logged) > _MAX_LOGGED_CLIENTS:
            self._logged.popitem(last=False)
        log.warning(
            "access_denied",
            client=address,
            path=scope["path"],
            scheme=presented,
            suppressed=unlogged,
        )


def protect(app: ASGIApp, settings: Settings, *, redactor: Redactor) -> ASGIApp:
    """`app` behind the credentials the settings configure; `app` itself when there are none.

    The hashes and the token are registered with `redactor`, so no log line can show them.
    """
    users = {name: hashed.get_secret_value() for name, hashed in settings.basic_auth_users.items()}
    token = None
    if settings.bearer_token_file is not None:
        token = SecretSource(
            kind="bearer_token",
            target="watchdog",
            redactor=redactor,
            path=settings.bearer_token_file,
            read=read_bearer_token_file,
            variable=BEARER_TOKEN_FILE_VAR,
        )
        token.current()
    if not users and token is None:
        return app
    for hashed in users.values():
        redactor.add(hashed)
    log.info(
        "endpoints_protected",
        basic_auth_users=sorted(users),
        bearer=token is not None,
        https=settings.tls_cert_file is not None,
        open_paths=sorted(OPEN_PATHS),
    )
    return AccessControl(app, users=users, token=token)
