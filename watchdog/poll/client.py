"""Poll one target's monitoring endpoints over HTTP; every outcome becomes a `PollResult`.

One `ApiClient` per target wraps one `httpx.AsyncClient` (HTTP/1.1 keep-alive, a pool of a few
connections). `poll()` never raises: answers and failures alike are classified into a result
with a `reason` (see `watchdog.api.results.REASONS`) and a one-line `detail` that never carries a
secret. Authentication follows the target's credentials and the auth mode:

- ``apikey``: ``Authorization: Apikey <key>``; a key file is re-read when it changes.
- ``bearer``: log in with the web user's password, renew the token before it expires, log in
  again once when the API refuses the token.
- ``auto``: the key, and bearer for the endpoints that refuse it (403/1005 on the versions whose
  key only opened the health node, reference §2.1).
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import httpx

from watchdog.api.diagnosis import is_password_change
from watchdog.api.payloads import ApiErrorInfo, api_error
from watchdog.api.results import Endpoint, PollResult
from watchdog.config.durations import format_duration
from watchdog.config.settings import read_api_key_file, read_password_file
from watchdog.config.targets import Target
from watchdog.log import Redactor, get_logger
from watchdog.poll.credentials import (
    BearerSession,
    BearerToken,
    LoginRefused,
    SecretSource,
    parse_expires_after,
)
from watchdog.poll.tls import TlsContexts

__all__ = ["DEFAULT_MAX_BODY_BYTES", "KEEPALIVE_EXPIRY", "ApiClient", "AuthMode", "user_agent"]

log = get_logger(__name__)

AuthMode = Literal["apikey", "bearer", "auto"]
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# An error answer is an envelope of a few hundred bytes; more is not worth reading.
_MAX_ERROR_BODY = 64 * 1024
# Bodies larger than this are decoded off the event loop, so one poll cannot stall the others.
_THREAD_DECODE_BYTES = 256 * 1024
_MAX_DETAIL = 240
# Idle connections are dropped after this long, well before servers drop them (uvicorn 5 s,
# nginx 75 s). At httpx's default, also 5 s, a poll sent on a connection the server was closing
# at that moment failed with "Server disconnected": about 1 in 4,000 polls at 2,000 targets,
# each a false "unreachable". Polls of one target are seconds apart, so little reuse is lost.
KEEPALIVE_EXPIRY = 2.0
_LOGOUT_TIMEOUT = 2.0
_ACCESS_DENIED = 1005
_CREDENTIALS_HINT = "set WA_WEB_USERNAME and WA_WEB_PASSWORD (or WA_WEB_PASSWORD_FILE)"
_CHANGE_HINT = "log in once with a new_password and give the new one to WA_WEB_PASSWORD(_FILE)"
_TIMEOUT_PHASES: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: " while connecting",
    httpx.PoolTimeout: " waiting for a free connection",
}
# OpenSSL's reasons when the other side does not speak TLS at all.
_PLAIN_HTTP_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


@functools.cache
def user_agent() -> str:
    """`wa-watchdog/<version>` of the installed distribution (`dev` from a source tree)."""
    try:
        return f"wa-watchdog/{version('wa-watchdog')}"
    except PackageNotFoundError:
        return "wa-watchdog/dev"


@dataclass(frozen=True)
class _Outcome:
    """A poll's result before the target, endpoint and timing are attached."""

    reason: str | None
    detail: str = ""
    status_code: int | None = None
    api_error: ApiErrorInfo | None = None
    body: Any = None


class ApiClient:
    """The HTTP client of one target. Create it inside the event loop that polls with it."""

    def __init__(
        self,
        target: Target,
        *,
        auth_mode: AuthMode = "apikey",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tls_contexts: TlsContexts | None = None,
    ) -> None:
        self.target = target
        # Shared by the clients of one factory; a client made alone builds its own.
        self._tls_contexts = TlsContexts() if tls_contexts is None else tls_contexts
        self.auth_mode: AuthMode = auth_mode
        self._clock = clock
        # A private redactor when none is shared: details are scrubbed either way.
        self._redactor = Redactor() if redactor is None else redactor
        self._max_body = max_body_bytes
        # Settings refuse user:password@ in target URLs (httpx would send it as Basic auth).
        url = httpx.URL(target.url)
        self._base = str(url).rstrip("/")
        self._host = url.host
        self._timeout = target.timeout
        self._closed = False
        self._setup_failure: _Outcome | None = None
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
            login=self._login, clock=clock, target=target.name, redactor=self._redactor
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=self._tls_verify(),
            timeout=httpx.Timeout(target.timeout),
            limits=httpx.Limits(
                max_connections=4, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_EXPIRY
            ),
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            follow_redirects=False,
        )

    def _tls_verify(self) -> ssl.SSLContext:
        try:
            return self._tls_contexts.context(
                insecure=self.target.tls_insecure, ca_file=self.target.tls_ca_file
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            # The file was readable when the settings were validated; it may not be a usable
            # CA bundle. Polls report it (reason `tls`) instead of the process failing here.
            detail = _one_line(
                f"TLS: cannot use the CA file {self.target.tls_ca_file}: {_exc_text(exc)}"
            )
            self._setup_failure = _Outcome("tls", detail)
            log.error("tls_ca_file_unusable", target=self.target.name, error=detail)
            # Never used (every poll reports the failure), but the client needs a context.
            return self._tls_contexts.context(insecure=False, ca_file=None)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- polling --------------------------------------------------------------------------

    async def poll(self, endpoint: Endpoint) -> PollResult:
        """GET one monitoring endpoint and classify the outcome. Never raises."""
        started_at = self._clock()
        began = time.perf_counter()
        try:
            outcome = await self._poll(endpoint)
        except Exception as exc:
            log.exception("poll_internal_error", target=self.target.name, endpoint=endpoint.value)
            outcome = _Outcome("internal", f"internal error ({type(exc).__name__}); see the log")
        return PollResult(
            target=self.target.name,
            endpoint=endpoint,
            started_at=started_at,
            duration=time.perf_counter() - began,
            status_code=outcome.status_code,
            reason=outcome.reason,
            detail=self._scrub(outcome.detail),
            api_error=self._scrub_error(outcome.api_error),
            body=outcome.body,
        )

    async def _poll(self, endpoint: Endpoint) -> _Outcome:
        if self._closed:
            return _Outcome("internal", "the client is closed")
        if self._setup_failure is not None:
            return self._setup_failure
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

    async def _poll_apikey(self, endpoint: Endpoint) -> _Outcome:
        key = self._key.current()
        if key is None:
            return _Outcome(
                "auth_config",
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

    async def _fall_back_to_bearer(self, endpoint: Endpoint, refused: _Outcome) -> _Outcome:
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
            return _Outcome("http_403", detail, refused.status_code, refused.api_error)
        if endpoint not in self._bearer_endpoints:  # a concurrent poll may have switched it
            self._bearer_endpoints.add(endpoint)
            log.warning(
                "apikey_refused_using_bearer", target=self.target.name, endpoint=endpoint.value
            )
        return await self._poll_bearer(endpoint)

    async def _poll_bearer(self, endpoint: Endpoint) -> _Outcome:
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

    async def _bearer_token(self) -> str | _Outcome:
        if self.target.username is None:
            return _Outcome("auth_config", f"bearer login needs a user name: {_CREDENTIALS_HINT}")
        password = self._password.current()
        if password is None:
            return _Outcome(
                "auth_config",
                self._password.problem or f"bearer login needs a password: {_CREDENTIALS_HINT}",
            )
        if self._password.generation != self._password_generation:
            self._password_generation = self._password.generation
            self._session.reset_backoff()
        token = await self._session.token()
        if isinstance(token, LoginRefused):
            return _Outcome(token.reason, token.detail, token.status_code, token.api_error)
        return token

    async def _login(self) -> BearerToken | LoginRefused:
        username = self.target.username
        password = self._password.current()
        if username is None or password is None:  # checked by the caller; kept for safety
            return LoginRefused("auth_config", "login failed: no user name or password")
        obtained_at = self._clock()
        outcome = await self._exchange(
            "POST", "/v1/users/login", {}, auth=httpx.BasicAuth(username, password)
        )
        if outcome.reason is not None:
            if is_password_change(outcome.api_error):
                # A first login (or an expired password) must set a new password; trying the
                # same one again only counts towards the API's lock-out of bad logins.
                return LoginRefused(
                    "auth_config",
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
            return LoginRefused("shape", "login failed: the answer holds no token", 200)
        expires_at = parse_expires_after(expires_after)
        if expires_at is None:
            log.warning("bearer_expiry_unknown", target=self.target.name)
        return BearerToken(token, obtained_at, expires_at)

    async def aclose(self) -> None:
        """Log out a held bearer token (best effort, briefly) and close the connections."""
        if self._closed:
            return
        self._closed = True
        token = self._session.held
        try:
            if token is not None:
                try:
                    async with asyncio.timeout(min(_LOGOUT_TIMEOUT, self._timeout)):
                        response = await self._http.post(
                            f"{self._base}/v1/users/logout",
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    log.debug("bearer_logout", target=self.target.name, status=response.status_code)
                except Exception as exc:
                    log.debug(
                        "bearer_logout_failed", target=self.target.name, error=type(exc).__name__
                    )
        finally:
            await self._http.aclose()

    # -- one HTTP exchange ----------------------------------------------------------------

    async def _get(self, endpoint: Endpoint, authorization: str) -> _Outcome:
        return await self._exchange("GET", endpoint.path, {"Authorization": authorization})

    async def _exchange(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        auth: httpx.Auth | None = None,
    ) -> _Outcome:
        """One request under an overall deadline, its body read up to the cap, classified."""
        try:
            async with asyncio.timeout(self._timeout):
                request = self._http.build_request(method, f"{self._base}{path}", headers=headers)
                response = await self._http.send(request, auth=auth, stream=True)
                try:
                    return await self._read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            phase = _TIMEOUT_PHASES.get(type(exc), "")
            return _Outcome("timeout", f"timed out after {format_duration(self._timeout)}{phase}")
        except httpx.RequestError as exc:
            return self._transport_failure(exc)

    async def _read(self, response: httpx.Response) -> _Outcome:
        status = response.status_code
        success = 200 <= status < 300
        limit = self._max_body if success else min(self._max_body, _MAX_ERROR_BODY)
        raw = await _read_capped(response, limit)
        if success:
            if raw is None:
                return _Outcome("too_large", f"answer larger than {_size(limit)}", status)
            return await self._decode(status, raw)
        data = None if raw is None else _loads_or_none(raw)
        err = api_error(data)
        return _Outcome(_status_reason(status), _http_detail(status, err), status, err)

    async def _decode(self, status: int, raw: bytes) -> _Outcome:
        if not raw.strip():
            return _Outcome("decode", f"HTTP {status} with an empty body, expected JSON", status)
        try:
            if len(raw) > _THREAD_DECODE_BYTES:
                body = await asyncio.to_thread(json.loads, raw)
            else:
                body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            # ValueError covers JSONDecodeError and undecodable bytes; RecursionError a hostile
            # nesting depth.
            return _Outcome(
                "decode", f"HTTP {status} but the body is not JSON ({_json_problem(exc)})", status
            )
        return _Outcome(None, f"HTTP {status}", status, body=body)

    def _transport_failure(self, exc: httpx.RequestError) -> _Outcome:
        chain = list(_causes(exc))
        cert = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        tls = next(
            (
                e
                for e in chain
                if isinstance(e, ssl.SSLError)
                and (isinstance(exc, httpx.ConnectError) or not _tls_eof(e))
            ),
            None,
        )
        if cert is not None or tls is not None:
            return _Outcome("tls", _tls_detail(cert or tls))
        if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
            dns = next((e for e in chain if isinstance(e, socket.gaierror)), None)
            if dns is not None:
                why = f" ({dns.strerror})" if dns.strerror else ""
                return _Outcome("dns", f"DNS: cannot resolve {self._host}{why}")
            if any(isinstance(e, ConnectionRefusedError) for e in chain):
                return _Outcome("connect", "connection refused")
            return _Outcome("connect", f"cannot connect: {_os_problem(chain) or _exc_text(exc)}")
        if isinstance(exc, httpx.DecodingError):
            return _Outcome(
                "decode", f"cannot decode the answer's content encoding: {_exc_text(exc)}"
            )
        return _Outcome("protocol", f"protocol error: {_os_problem(chain) or _exc_text(exc)}")

    def _scrub(self, detail: str) -> str:
        return _one_line(self._redactor.redact_text(_one_line(detail)))

    def _scrub_error(self, error: ApiErrorInfo | None) -> ApiErrorInfo | None:
        # The API's details may echo what the watchdog sent (a header, a user name).
        if error is None or not error.details:
            return error
        return replace(error, details=self._redactor.redact_text(error.details))


# -- helpers ----------------------------------------------------------------------------------


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it proves larger than `limit` (announced or read)."""
    announced = response.headers.get("content-length", "")
    if announced.strip().isdigit() and int(announced) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    # Decoded bytes are counted, so a small compressed body cannot inflate past the cap.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _loads_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


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


def _key_refused(outcome: _Outcome) -> bool:
    """403/1005: this version's key does not open this endpoint (reference §2.1, §4.3)."""
    return (
        outcome.status_code == 403
        and outcome.api_error is not None
        and outcome.api_error.code == _ACCESS_DENIED
    )


def _status_reason(status: int) -> str:
    if status in (401, 403, 404, 429, 503):
        return f"http_{status}"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "protocol"  # a redirect (not followed) or a status outside HTTP's range


def _http_detail(status: int, err: ApiErrorInfo | None) -> str:
    """`HTTP 503 System overloaded (1016)`; the reason phrase when the API gave no error."""
    if 300 <= status < 400:
        return f"HTTP {status}: a redirect, not followed; check the target URL"
    title = err.title if err is not None and err.title else None
    text = f"HTTP {status} {title or httpx.codes.get_reason_phrase(status)}".rstrip()
    if err is not None and err.code is not None:
        text += f" ({err.code})"
    if err is not None and err.details:
        text += f": {err.details}"
    elif err is None:
        # Not the API's envelope: a proxy, a load balancer or the web server answered.
        text += " (no API error in the answer)"
    return text


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen or len(seen) > 50:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                stack.append(linked)


def _tls_eof(exc: ssl.SSLError) -> bool:
    # A connection cut mid-answer shows as a TLS EOF; that is a protocol problem, not TLS.
    return isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)


def _tls_detail(exc: BaseException | None) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = getattr(exc, "verify_message", None)
        return f"TLS: certificate verify failed: {why}" if why else "TLS: certificate verify failed"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        text = f"TLS: {reason.replace('_', ' ').lower()}"
        if reason in _PLAIN_HTTP_TLS_REASONS:
            text += " (does the target speak plain HTTP? then use http://)"
        return text
    return f"TLS: {_exc_text(exc)}" if exc is not None else "TLS handshake failed"


def _os_problem(chain: list[BaseException]) -> str | None:
    for exc in chain:
        if isinstance(exc, OSError) and exc.strerror:
            return str(exc.strerror)
    return None


def _json_problem(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        # The message may already end in "at"; the position reads right either way.
        return f"{exc.msg.removesuffix(' at')} at byte {exc.pos}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return _exc_text(exc)


def _exc_text(exc: BaseException | None) -> str:
    text = str(exc).strip().rstrip(".") if exc is not None else ""
    return text or (type(exc).__name__ if exc is not None else "unknown error")


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL else f"{line[: _MAX_DETAIL - 3]}..."
