"""One target's HTTP exchanges with the API, every answer or failure classified as an `Outcome`.

`HttpExchange` wraps one `httpx.AsyncClient` (HTTP/1.1 keep-alive, a pool of a few connections)
and sends one request at a time under an overall deadline, reads the body up to a cap, and
turns what happened into a reason (`watchdog.api.endpoints.REASONS`) and a one-line detail:
HTTP errors with the API's error envelope, undecodable bodies, timeouts, refused connections,
DNS and TLS failures. Which credentials a request carries is `watchdog.poll.client`'s business.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx

from watchdog.api.endpoints import status_reason
from watchdog.api.graph_usage import HEADER as USAGE_HEADER
from watchdog.api.payloads import ApiErrorInfo, api_error
from watchdog.base.durations import format_duration
from watchdog.base.log import get_logger
from watchdog.base.targets import Target
from watchdog.base.version import user_agent
from watchdog.poll.tls import TlsContexts

__all__ = ["DEFAULT_MAX_BODY_BYTES", "KEEPALIVE_EXPIRY", "HttpExchange", "Outcome", "one_line"]

log = get_logger(__name__)

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
_TIMEOUT_PHASES: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: " while connecting",
    httpx.PoolTimeout: " waiting for a free connection",
}
# OpenSSL's reasons when the other side does not speak TLS at all.
_PLAIN_HTTP_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


@dataclass(frozen=True)
class Outcome:
    """A poll's result before the target, endpoint and timing are attached."""

    reason: str | None
    detail: str = ""
    status_code: int | None = None
    api_error: ApiErrorInfo | None = None
    # The decoded body: a success's answer, or an error's JSON (up to 64 KiB) for a caller that
    # reads another envelope than the On-Premises one (Graph's `{"error": ...}`).
    body: Any = None
    # Graph's `X-Business-Use-Case-Usage` header, when the answer had one.
    usage: str | None = None


class HttpExchange:
    """The connections to one target. Create it inside the event loop that uses it."""

    def __init__(
        self,
        target: Target,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tls_contexts: TlsContexts | None = None,
    ) -> None:
        self._target = target
        # Shared by the clients of one factory; a client made alone builds its own.
        self._tls_contexts = TlsContexts() if tls_contexts is None else tls_contexts
        self._max_body = max_body_bytes
        # Settings refuse user:password@ in target URLs (httpx would send it as Basic auth).
        url = httpx.URL(target.url)
        self._base = str(url).rstrip("/")
        self._host = url.host
        self.timeout = target.timeout
        # Why no request can be sent at all; every poll reports it.
        self.setup_failure: Outcome | None = None
        self.tls_context = self._tls_verify()
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=self.tls_context,
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
                insecure=self._target.tls_insecure, ca_file=self._target.tls_ca_file
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            # The file was readable when the settings were validated; it may not be a usable
            # CA bundle. Polls report it (reason `tls`) instead of the process failing here.
            detail = one_line(
                f"TLS: cannot use the CA file {self._target.tls_ca_file}: {_exc_text(exc)}"
            )
            self.setup_failure = Outcome("tls", detail)
            log.error("tls_ca_file_unusable", target=self._target.name, error=detail)
            # Never used (every poll reports the failure), but the client needs a context.
            return self._tls_contexts.context(insecure=False, ca_file=None)

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        auth: httpx.Auth | None = None,
    ) -> Outcome:
        """One request under an overall deadline, its body read up to the cap, classified."""
        try:
            async with asyncio.timeout(self.timeout):
                request = self._http.build_request(method, f"{self._base}{path}", headers=headers)
                response = await self._http.send(request, auth=auth, stream=True)
                try:
                    return await self._read(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            phase = _TIMEOUT_PHASES.get(type(exc), "")
            return Outcome("timeout", f"timed out after {format_duration(self.timeout)}{phase}")
        except httpx.RequestError as exc:
            return self._transport_failure(exc)

    async def post(self, path: str, headers: dict[str, str]) -> int:
        """POST without a body and return the status; raises on failure. For calls whose
        answer does not matter (a logout), so the body is not read."""
        response = await self._http.post(f"{self._base}{path}", headers=headers)
        return response.status_code

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _read(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        success = 200 <= status < 300
        limit = self._max_body if success else min(self._max_body, _MAX_ERROR_BODY)
        raw = await _read_capped(response, limit)
        usage = response.headers.get(USAGE_HEADER)
        if success:
            if raw is None:
                too_large = f"answer larger than {_size(limit)}"
                return Outcome("too_large", too_large, status, usage=usage)
            return replace(await _decode(status, raw), usage=usage)
        data = None if raw is None else _loads_or_none(raw)
        err = api_error(data)
        return Outcome(
            status_reason(status), _http_detail(status, err), status, err, body=data, usage=usage
        )

    def _transport_failure(self, exc: httpx.RequestError) -> Outcome:
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
            return Outcome("tls", _tls_detail(cert or tls))
        if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
            dns = next((e for e in chain if isinstance(e, socket.gaierror)), None)
            if dns is not None:
                why = f" ({dns.strerror})" if dns.strerror else ""
                return Outcome("dns", f"DNS: cannot resolve {self._host}{why}")
            if any(isinstance(e, ConnectionRefusedError) for e in chain):
                return Outcome("connect", "connection refused")
            return Outcome("connect", f"cannot connect: {_os_problem(chain) or _exc_text(exc)}")
        if isinstance(exc, httpx.DecodingError):
            return Outcome(
                "decode", f"cannot decode the answer's content encoding: {_exc_text(exc)}"
            )
        return Outcome("protocol", f"protocol error: {_os_problem(chain) or _exc_text(exc)}")


def one_line(text: str) -> str:
    """`text` on one line, cut to the length of a detail."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL else f"{line[: _MAX_DETAIL - 3]}..."


# -- helpers ----------------------------------------------------------------------------------


async def _decode(status: int, raw: bytes) -> Outcome:
    if not raw.strip():
        return Outcome("decode", f"HTTP {status} with an empty body, expected JSON", status)
    try:
        if len(raw) > _THREAD_DECODE_BYTES:
            body = await asyncio.to_thread(json.loads, raw)
        else:
            body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and undecodable bytes; RecursionError a hostile
        # nesting depth.
        return Outcome(
            "decode", f"HTTP {status} but the body is not JSON ({_json_problem(exc)})", status
        )
    return Outcome(None, f"HTTP {status}", status, body=body)


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
