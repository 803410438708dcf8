"""Poll one target's monitoring endpoints with the right credentials; every outcome is a result.

One `ApiClient` per On-Prem target, a `watchdog.poll.polling_client.PollingClient`: `poll()`
never raises; answers and failures alike become a `PollResult` with a `reason`
(`watchdog.api.endpoints.REASONS`) and a one-line `detail` that never carries a secret; the
exchange itself and its classification are `watchdog.poll.transport`'s. Authentication follows
the target's credentials and the auth mode:

- ``apikey``: ``Authorization: Apikey <key>``; a key file is re-read when it changes.
- ``bearer``: log in with the web user's password, renew the token before it expires, log in
  again once when the API refuses the token.
- ``auto``: the key, and bearer for the endpoints that refuse it (403/1005 on the versions whose
  key only opened the health node, reference §2.1).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import replace
from typing import Any, Unpack

import httpx

from watchdog.api.diagnosis import ACCESS_DENIED_CODE, is_password_change
from watchdog.api.endpoints import AUTH_CONFIG, SHAPE, Endpoint
from watchdog.base.log import get_logger
from watchdog.base.secrets import read_api_key_file, read_password_file
from watchdog.base.targets import Target
from watchdog.base.values import AuthMode
from watchdog.poll.credentials import (
    BearerSession,
    BearerToken,
    LoginRefused,
    SecretSource,
    parse_expires_after,
)
from watchdog.poll.polling_client import ClientOptions, PollingClient
from watchdog.poll.transport import Outcome

__all__ = ["ApiClient", "AuthMode"]

log = get_logger(__name__)

_LOGOUT_TIMEOUT = 2.0
_CREDENTIALS_HINT = "set WA_WEB_USERNAME and WA_WEB_PASSWORD (or WA_WEB_PASSWORD_FILE)"
_CHANGE_HINT = "log in once with a new_password and give the new one to WA_WEB_PASSWORD(_FILE)"


class ApiClient(PollingClient):
    """The HTTP client of one On-Prem target. Create it inside the event loop that polls."""

    def __init__(
        self, target: Target, *, auth_mode: AuthMode = "apikey", **options: Unpack[ClientOptions]
    ) -> None:
        super().__init__(target, **options)
        self.auth_mode: AuthMode = auth_mode
        self._bearer_endpoints: set[Endpoint] = set()
        self._warned_no_credentials: set[Endpoint] = set()

        self._key = SecretSource(
            kind="api_key",
            target=target.name,
            redactor=self._redactor,
            value=target.api_key,
            path=target.api_key_file,
            read=read_api_key_file,
            variable="WA_API_KEY_FILE" if target.api_key_file else "WA_API_KEY",
        )
        self._password = SecretSource(
            kind="password",
            target=target.name,
            redactor=self._redactor,
            value=target.password,
            path=target.password_file,
            read=read_password_file,
            variable="WA_WEB_PASSWORD_FILE" if target.password_file else "WA_WEB_PASSWORD",
            check=lambda _: None,  # Basic auth base64-encodes it: any text travels
        )
        self._password_generation = 0
        self._session = BearerSession(
            login=self._login, clock=self._clock, target=target.name, redactor=self._redactor
        )

    @property
    def tls_context(self) -> ssl.SSLContext:
        """The context the connections verify the target's certificate with."""
        return self._http.tls_context

    # -- polling --------------------------------------------------------------------------

    async def _fetch(self, endpoint: Endpoint) -> Outcome:
        """GET one monitoring endpoint with the credentials the auth mode says."""
        if self.auth_mode == "bearer" or endpoint in self._bearer_endpoints:
            return await self._poll_bearer(endpoint)
        if self.auth_mode == "auto" and self._key.current() is None and self._has_login():
            return await self._poll_bearer(endpoint)
        outcome = await self._poll_apikey(endpoint)
        if not _key_refused(outcome):
            return outcome
        if self.auth_mode == "auto":
            return await self._fall_back_to_bearer(endpoint, outcome)
        hint = "this version refuses the API key here; set WATCHDOG_AUTH_MODE=auto or bearer"
        return replace(outcome, detail=f"{outcome.detail}: {hint}")

    async def _poll_apikey(self, endpoint: Endpoint) -> Outcome:
        key = self._key.current()
        if key is None:
            return Outcome(
                AUTH_CONFIG,
                self._key.problem or "no API key configured: set WA_API_KEY or WA_API_KEY_FILE",
            )
        outcome = await self._get(endpoint, f"Apikey {key}")
        if outcome.status_code == 401 and self._key.from_file:
            # The file may have been rewritten within the resolution of its mtime, unseen by
            # the stat check: read it once more, and retry at once if it holds a new key.
            fresh = self._key.current(force=True)
            if fresh is not None and fresh != key:
                outcome = await self._get(endpoint, f"Apikey {fresh}")
        return outcome

    async def _fall_back_to_bearer(self, endpoint: Endpoint, refused: Outcome) -> Outcome:
        if not self._has_login():
            if endpoint not in self._warned_no_credentials:
                self._warned_no_credentials.add(endpoint)
                log.warning(
                    "apikey_refused_no_login",
                    target=self.target.name,
                    endpoint=endpoint.value,
                    hint=_CREDENTIALS_HINT,
                )
            detail = f"{refused.detail}: this version refuses the API key here; {_CREDENTIALS_HINT}"
            return Outcome(refused.reason, detail, refused.status_code, refused.api_error)
        if endpoint not in self._bearer_endpoints:  # a concurrent poll may have switched it
            self._bearer_endpoints.add(endpoint)
            log.warning(
                "apikey_refused_using_bearer", target=self.target.name, endpoint=endpoint.value
            )
        return await self._poll_bearer(endpoint)

    async def _poll_bearer(self, endpoint: Endpoint) -> Outcome:
        token = await self._bearer_token()
        if not isinstance(token, str):
            return token
        outcome = await self._get(endpoint, f"Bearer {token}")
        if outcome.status_code != 401:
            return outcome
        # Revoked, expired early, or the server restarted its token store: log in again and
        # retry once. A second 401 is the answer; no loop.
        log.info("bearer_token_refused", target=self.target.name, endpoint=endpoint.value)
        self._session.invalidate(token)
        token = await self._bearer_token()
        if not isinstance(token, str):
            return token
        return await self._get(endpoint, f"Bearer {token}")

    def _has_login(self) -> bool:
        return self.target.username is not None and (
            self.target.password is not None or self.target.password_file is not None
        )

    async def _bearer_token(self) -> str | Outcome:
        if self.target.username is None:
            return Outcome(AUTH_CONFIG, f"bearer login needs a user name: {_CREDENTIALS_HINT}")
        password = self._password.current()
        if password is None:
            return Outcome(
                AUTH_CONFIG,
                self._password.problem or f"bearer login needs a password: {_CREDENTIALS_HINT}",
            )
        if self._password.generation != self._password_generation:
            self._password_generation = self._password.generation
            self._session.reset_backoff()
        token = await self._session.token()
        if isinstance(token, LoginRefused):
            return Outcome(token.reason, token.detail, token.status_code, token.api_error)
        return token

    async def _login(self) -> BearerToken | LoginRefused:
        username = self.target.username
        password = self._password.current()
        if username is None or password is None:  # checked by the caller; kept for safety
            return LoginRefused(AUTH_CONFIG, "login failed: no user name or password")
        obtained_at = self._clock()
        outcome = await self._http.request(
            "POST", "/v1/users/login", {}, auth=httpx.BasicAuth(username, password)
        )
        if outcome.reason is not None:
            if is_password_change(outcome.api_error):
                # A first login (or an expired password) must set a new password; trying the
                # same one again only counts towards the API's lock-out of bad logins.
                return LoginRefused(
                    AUTH_CONFIG,
                    f"login refused: {outcome.detail}. The web user's password must be changed "
                    f"before the watchdog can log in; {_CHANGE_HINT}",
                    outcome.status_code,
                    outcome.api_error,
                )
            return LoginRefused(
                outcome.reason,
                f"login failed: {outcome.detail}",
                outcome.status_code,
                outcome.api_error,
            )
        token, expires_after = _token_of(outcome.body)
        if token is None:
            return LoginRefused(SHAPE, "login failed: the answer holds no token", 200)
        expires_at = parse_expires_after(expires_after)
        if expires_at is None:
            log.warning("bearer_expiry_unknown", target=self.target.name)
        return BearerToken(token, obtained_at, expires_at)

    async def _release(self) -> None:
        """Log out a held bearer token (best effort, briefly)."""
        token = self._session.held
        if token is None:
            return
        try:
            async with asyncio.timeout(min(_LOGOUT_TIMEOUT, self._http.timeout)):
                status = await self._http.post(
                    "/v1/users/logout", {"Authorization": f"Bearer {token}"}
                )
            log.debug("bearer_logout", target=self.target.name, status=status)
        except Exception as exc:
            log.debug("bearer_logout_failed", target=self.target.name, error=type(exc).__name__)

    async def _get(self, endpoint: Endpoint, authorization: str) -> Outcome:
        return await self._http.request("GET", endpoint.path, {"Authorization": authorization})


# -- helpers ----------------------------------------------------------------------------------


def _token_of(body: Any) -> tuple[str | None, object]:
    """`users[0].token` and `users[0].expires_after` of a login answer (reference §4.1)."""
    users = body.get("users") if isinstance(body, dict) else None
    first = users[0] if isinstance(users, list) and users else None
    if not isinstance(first, dict):
        return None, None
    token = first.get("token")
    if not isinstance(token, str) or not token or not all(" " < c <= "~" for c in token):
        return None, None
    return token, first.get("expires_after")


def _key_refused(outcome: Outcome) -> bool:
    """403/1005: this version's key does not open this endpoint (reference §2.1, §4.3)."""
    return (
        outcome.status_code == 403
        and outcome.api_error is not None
        and outcome.api_error.code == ACCESS_DENIED_CODE
    )
