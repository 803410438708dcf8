"""What a client presents to the API: the key, the web user's password, and bearer tokens.

Nothing here speaks HTTP. A `SecretSource` is one secret given inline or kept in a file that is
re-read when it changes (key rotation without a restart); a `BearerSession` holds the token a
login produced, decides when to renew it, and makes concurrent polls of one target share one
login. Every secret that passes through is registered with the redactor, so no log line, detail
or page can show it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from watchdog.api.endpoints import LOGIN_BACKS_OFF
from watchdog.api.payloads import ApiErrorInfo
from watchdog.base.durations import format_duration
from watchdog.base.errors import ConfigError
from watchdog.base.files import Signature, signature
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor

__all__ = [
    "BearerSession",
    "BearerToken",
    "LoginRefused",
    "SecretSource",
    "header_problem",
    "parse_expires_after",
]

log = get_logger(__name__)

# After logins the API refused (bad credentials, rate limited), wait this long before the next
# attempt, doubling up to the cap: the API locks an address out after 30 bad logins an hour
# (reference §4.1), and polls of every endpoint would otherwise each try again.
LOGIN_BACKOFF_FIRST = 30.0
LOGIN_BACKOFF_MAX = 600.0
# Renew a token once less than this share of the lifetime seen at login remains.
RENEW_AT_REMAINING = 0.25


def header_problem(value: str) -> str | None:
    """Why `value` cannot travel in an HTTP header, or None. Never quotes the value."""
    if all(" " <= char <= "~" for char in value):
        return None
    return "holds characters that cannot be sent in an HTTP header (use printable ASCII)"


class SecretSource:
    """One secret: fixed, or read from a file again whenever the file changes.

    The file is checked with `os.stat` (device, inode, size, mtime) on each `current()` call,
    which is cheap enough to do before every poll. A file that cannot be read, or holds an
    invalid value, keeps the last good value in use; the problem is logged once per change of
    the file and kept in `problem` for the caller's message.
    """

    def __init__(
        self,
        *,
        kind: str,
        target: str,
        redactor: Redactor,
        value: SecretStr | None = None,
        path: Path | None = None,
        read: Callable[[Path], SecretStr] | None = None,
        variable: str,
        check: Callable[[str], str | None] = header_problem,
    ) -> None:
        self._kind = kind
        self._target = target
        self._redactor = redactor
        self._path = path
        self._read = read
        self._variable = variable
        self._check = check
        self._signature: Signature | None = None
        self._checked = False
        self._value: str | None = None
        self._logged: tuple[str, Signature | None] | None = None
        # Bumped whenever a different value is taken into use.
        self.generation = 0
        self.problem: str | None = None
        if path is None and value is not None:
            self._take(value.get_secret_value(), initial=True)

    @property
    def from_file(self) -> bool:
        return self._path is not None

    def current(self, *, force: bool = False) -> str | None:
        """The secret to use now; `force` re-reads the file even if it looks unchanged."""
        if self._path is not None:
            seen = signature(self._path)
            if force or not self._checked or seen != self._signature:
                self._checked = True
                self._signature = seen
                self._load(self._path)
        return self._value

    def _load(self, path: Path) -> None:
        assert self._read is not None
        try:
            value = self._read(path).get_secret_value()
        except ConfigError as exc:
            self._reject(str(exc))
            return
        self._take(value, initial=self._value is None)

    def _take(self, value: str, *, initial: bool) -> None:
        problem = self._check(value)
        if problem is not None:
            where = f"{self._variable}: {self._path}" if self._path else self._variable
            self._reject(f"{where} {problem}")
            return
        self._redactor.add(value)
        self.problem = None
        if value == self._value:
            return
        self._value = value
        self.generation += 1
        if not initial:
            log.info(f"{self._kind}_reloaded", target=self._target, path=str(self._path))

    def _reject(self, message: str) -> None:
        # Once per change of the file (or of the message), not once per poll.
        logged = (message, self._signature)
        if logged != self._logged:
            self._logged = logged
            log.warning(
                f"{self._kind}_file_unreadable" if self._path else f"{self._kind}_invalid",
                target=self._target,
                error=message,
                keeping_previous=self._value is not None,
            )
        self.problem = message


def parse_expires_after(text: object) -> float | None:
    """`expires_after` (`YYYY-MM-DD HH:MM:SS+00:00`, reference §4.1) as epoch seconds."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # the API always gives an offset; without one the instant is unknown
    return moment.timestamp()


@dataclass(frozen=True)
class BearerToken:
    """A token from `POST /v1/users/login`, with the expiry the answer announced."""

    value: str
    obtained_at: float
    expires_at: float | None  # None: unknown; then the token is used until refused

    def needs_renewal(self, now: float) -> bool:
        if self.expires_at is None:
            return False
        lifetime = self.expires_at - self.obtained_at
        return self.expires_at - now < lifetime * RENEW_AT_REMAINING

    def valid_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class LoginRefused:
    """Why a login gave no token, in the terms a poll reports its failure in."""

    reason: str
    detail: str
    status_code: int | None = None
    api_error: ApiErrorInfo | None = None

    @property
    def backs_off(self) -> bool:
        """The API refused the credentials, asks for a password change, or rate limited
        logins (`LOGIN_BACKS_OFF`). A new password (a changed file) resets the backoff."""
        return self.reason in LOGIN_BACKS_OFF


Login = Callable[[], Awaitable["BearerToken | LoginRefused"]]


class BearerSession:
    """The bearer token of one target: one login at a time, renewal before expiry.

    `token()` returns a usable token, logging in when there is none or it is due for renewal.
    Concurrent callers wait on one lock and share the outcome of one login attempt. When a
    renewal fails while the old token has not yet expired, the old token goes on being used.
    """

    def __init__(
        self, *, login: Login, clock: Callable[[], float], target: str, redactor: Redactor
    ) -> None:
        self._login = login
        self._clock = clock
        self._target = target
        self._redactor = redactor
        self._lock = asyncio.Lock()
        self._token: BearerToken | None = None
        self._attempts = 0
        self._last_refusal: LoginRefused | None = None
        self._refusals = 0
        self._retry_at = 0.0

    @property
    def held(self) -> str | None:
        """The token currently held, if any (for logout)."""
        return None if self._token is None else self._token.value

    def invalidate(self, value: str) -> None:
        """Drop `value` after the API refused it; a newer token is kept."""
        if self._token is not None and self._token.value == value:
            self._token = None

    def reset_backoff(self) -> None:
        """The credentials changed: the next call may log in at once."""
        self._retry_at = 0.0
        self._refusals = 0

    async def token(self) -> str | LoginRefused:
        fresh = self._usable()
        if fresh is not None:
            return fresh
        attempts_seen = self._attempts
        async with self._lock:
            fresh = self._usable()
            if fresh is not None:
                return fresh
            now = self._clock()
            refusal = self._last_refusal
            if refusal is not None and (self._attempts != attempts_seen or now < self._retry_at):
                # A login failed while this caller waited (share its outcome rather than try
                # again at once), or logins are backing off.
                return self._fallback(refusal, now)
            return await self._renew()

    def _usable(self) -> str | None:
        token = self._token
        if token is not None and not token.needs_renewal(self._clock()):
            return token.value
        return None

    def _fallback(self, refusal: LoginRefused, now: float) -> str | LoginRefused:
        old = self._token
        if old is not None and old.valid_at(now):
            return old.value  # renewal failed, but the old token still works for a while
        self._token = None
        if now < self._retry_at:
            wait = format_duration(math.ceil(self._retry_at - now))
            return replace(refusal, detail=f"{refusal.detail} (next login attempt in {wait})")
        return refusal

    async def _renew(self) -> str | LoginRefused:
        self._attempts += 1
        outcome = await self._login()
        now = self._clock()
        if isinstance(outcome, BearerToken):
            return self._accept(outcome, now)
        self._last_refusal = outcome
        if outcome.backs_off:
            self._refusals += 1
            delay = min(LOGIN_BACKOFF_MAX, LOGIN_BACKOFF_FIRST * 2 ** (self._refusals - 1))
            self._retry_at = now + delay
        else:
            self._retry_at = 0.0
        log.warning(
            "bearer_login_failed",
            target=self._target,
            reason=outcome.reason,
            detail=outcome.detail,
            retry_in=format_duration(self._retry_at - now) if self._retry_at else None,
        )
        old = self._token
        if old is not None and old.valid_at(now):
            return old.value
        self._token = None
        return outcome

    def _accept(self, token: BearerToken, now: float) -> str:
        self._redactor.add(token.value)
        if token.expires_at is not None and token.expires_at <= token.obtained_at:
            # Clocks apart by more than the lifetime: the expiry cannot guide renewal, so the
            # token is used until the API refuses it.
            log.warning("bearer_expiry_unusable", target=self._target)
            token = replace(token, expires_at=None)
        self._token = token
        self._last_refusal = None
        self._refusals = 0
        self._retry_at = 0.0
        lifetime = None if token.expires_at is None else token.expires_at - now
        log.info(
            "bearer_login",
            target=self._target,
            lifetime=None if lifetime is None else format_duration(round(lifetime)),
        )
        return token.value
