"""HTTP exchanges over httpx.MockTransport: request shape, classification, body cap."""

from __future__ import annotations

import asyncio
import importlib.abc
import json
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from structlog.testing import capture_logs

from tests.unit.poll.fakes import (
    KEY,
    T0,
    URL,
    Api,
    caused,
    client,
    error_body,
    events,
    health_body,
    poll_once,
    raising,
    target,
)
from watchdog.api.endpoints import REASONS, Endpoint
from watchdog.base.version import user_agent
from watchdog.poll.client import ApiClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- success and request shape ----------------------------------------------------------------


async def test_json_answer_is_ok_with_decoded_body() -> None:
    """A 2xx JSON answer is a success carrying the decoded body, status, start time, duration."""
    result = await poll_once(lambda _: httpx.Response(200, json=health_body()))
    assert result.ok
    assert result.reason is None
    assert result.status_code == 200
    assert result.body == health_body()
    assert result.target == "wa"
    assert result.endpoint is Endpoint.HEALTH
    assert result.started_at == T0
    assert 0 <= result.duration < 1


@pytest.mark.parametrize("endpoint", [e for e in Endpoint if e.spec.kind == "onprem"])
async def test_sends_apikey_user_agent_to_endpoint_path(endpoint: Endpoint) -> None:
    """Each endpoint is a GET of its path with `Apikey <key>` and the watchdog's User-Agent."""
    api = Api()
    async with client(api) as c:
        await c.poll(endpoint)
    [request] = api.requests
    assert request.method == "GET"
    assert str(request.url) == f"{URL}{endpoint.path}"
    assert request.headers["authorization"] == f"Apikey {KEY}"
    assert request.headers["user-agent"] == user_agent()
    assert user_agent().startswith("wa-watchdog/")


async def test_url_path_prefix_is_kept() -> None:
    """A target URL with a path prefix (behind a proxy) is the base of every endpoint path."""
    api = Api()
    async with client(api, tgt=target(url="https://proxy.test/wa/")) as c:
        await c.poll(Endpoint.STATS_APP)
    assert str(api.requests[0].url) == "https://proxy.test/wa/v1/stats/app"


# -- HTTP statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "title", "reason"),
    [
        (401, 1005, "Access denied", "http_401"),
        (403, 1005, "Access denied", "http_403"),
        (404, 1006, "Resource not found", "http_404"),
        (429, 1015, "Too many requests", "http_429"),
        (503, 1016, "System overloaded", "http_503"),
        (400, 1025, "Request is not valid", "http_4xx"),
        (409, 1004, "Resource already exists", "http_4xx"),
        (500, 1014, "Internal error", "http_5xx"),
        (501, 1026, "Receiver incapable", "http_5xx"),
    ],
)
async def test_http_errors_map_to_reasons_with_api_error(
    status: int, code: int, title: str, reason: str
) -> None:
    """Error statuses map to their reason; the first `errors` entry becomes `api_error`."""
    body = error_body(code, title, "some details")
    body["errors"].append({"code": 1, "title": "second"})
    result = await poll_once(lambda _: httpx.Response(status, json=body))
    assert result.reason == reason
    assert reason in REASONS
    assert result.status_code == status
    assert result.api_error is not None
    assert (result.api_error.code, result.api_error.title) == (code, title)
    assert result.detail.startswith(f"HTTP {status} {title} ({code})")
    assert result.body is None


async def test_error_without_json_body_uses_reason_phrase() -> None:
    """A proxy's HTML error page: reason from the status, no api_error, the standard phrase."""
    result = await poll_once(lambda _: httpx.Response(502, text="<html>bad gateway</html>"))
    assert (result.reason, result.api_error) == ("http_5xx", None)
    assert result.detail == "HTTP 502 Bad Gateway (no API error in the answer)"


async def test_redirect_is_not_followed() -> None:
    """A redirect is not followed (it would carry the key elsewhere); it is a protocol failure."""
    api = Api(lambda _: httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    async with client(api) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "protocol"
    assert "redirect" in result.detail
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"<html>login page</html>", "not JSON"),
        (b'{"health": {"gateway_status": "conn', "not JSON"),
        (b"", "empty body"),
        (b"\xff\xfe\xfa", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
async def test_non_json_success_is_decode(content: bytes, problem: str) -> None:
    """A 2xx answer that is not JSON (HTML, cut off, empty, binary, absurd nesting) is `decode`."""
    result = await poll_once(lambda _: httpx.Response(200, content=content))
    assert result.reason == "decode"
    assert result.status_code == 200
    assert problem in result.detail
    assert result.body is None


# -- transport failures ---------------------------------------------------------------------


def _cert_error() -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify")
    err.verify_message = "self-signed certificate"
    return err


@pytest.mark.parametrize(
    ("exc", "reason", "detail"),
    [
        (
            caused(httpx.ConnectError("handshake"), _cert_error()),
            "tls",
            "TLS: certificate verify failed: self-signed certificate",
        ),
        (
            caused(httpx.ConnectError("tls"), ssl.SSLError(1, "[SSL] wrong version number")),
            "tls",
            "TLS: ",
        ),
        (
            caused(httpx.ConnectError("dns"), socket.gaierror(-2, "Name or service not known")),
            "dns",
            "DNS: cannot resolve wa.test (Name or service not known)",
        ),
        (
            caused(httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError()),
            "connect",
            "connection refused",
        ),
        (
            caused(httpx.ConnectError("failed"), OSError(113, "No route to host")),
            "connect",
            "cannot connect: No route to host",
        ),
        (httpx.ConnectError("All connection attempts failed"), "connect", "cannot connect"),
        (httpx.ConnectTimeout("slow"), "timeout", "timed out after 300ms while connecting"),
        (httpx.ReadTimeout("slow"), "timeout", "timed out after 300ms"),
        (httpx.WriteTimeout("slow"), "timeout", "timed out after 300ms"),
        (httpx.PoolTimeout("busy"), "timeout", "timed out after 300ms waiting"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "protocol",
            "protocol error: Server disconnected without sending a response",
        ),
        (httpx.ReadError("reset"), "protocol", "protocol error: reset"),
        (httpx.WriteError("broken pipe"), "protocol", "protocol error"),
    ],
)
async def test_transport_errors_map_to_reasons(exc: Exception, reason: str, detail: str) -> None:
    """Transport errors: ssl cause → tls, gaierror → dns, connect, timeout, else protocol."""
    result = await poll_once(raising(exc))
    assert result.reason == reason
    assert result.detail.startswith(detail)
    assert result.status_code is None


class Stalled(httpx.AsyncByteStream):
    """Sends the first byte of a body, then nothing, forever."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.Event().wait()


async def test_stalled_body_ends_as_timeout() -> None:
    """Headers then a stalled body end at the overall deadline as `timeout`."""
    result = await poll_once(lambda _: httpx.Response(200, stream=Stalled()))
    assert result.reason == "timeout"
    assert result.detail == "timed out after 300ms"
    assert result.duration < 2


async def test_invalid_ca_file_is_a_tls_failure(tmp_path: Path) -> None:
    """A CA file that is not a usable bundle makes polls fail `tls` instead of crashing."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    with capture_logs() as logs:
        c = ApiClient(target(tls_ca_file=ca))
    async with c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "tls"
    assert "CA file" in result.detail
    assert events(logs, "tls_ca_file_unusable")


# -- body cap -------------------------------------------------------------------------------


class Chunks(httpx.AsyncByteStream):
    """`count` chunks of `size` bytes (endless when None), counting what was sent."""

    def __init__(self, size: int, count: int | None = None) -> None:
        self.size = size
        self.count = count
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.count is None or self.sent < self.count:
            self.sent += 1
            yield b" " * self.size


async def test_body_over_cap_by_content_length_is_not_read() -> None:
    """An announced Content-Length over the cap is `too_large` before any byte is read."""
    stream = Chunks(1024, 100)
    headers = {"Content-Length": str(100 * 1024)}
    result = await poll_once(
        lambda _: httpx.Response(200, headers=headers, stream=stream), max_body_bytes=10 * 1024
    )
    assert result.reason == "too_large"
    assert result.detail == "answer larger than 10 KiB"
    assert stream.sent == 0


async def test_streamed_body_over_cap_stops_reading() -> None:
    """Without Content-Length the body is counted while read, and reading stops at the cap."""
    stream = Chunks(1024)
    result = await poll_once(lambda _: httpx.Response(200, stream=stream), max_body_bytes=10 * 1024)
    assert result.reason == "too_large"
    assert stream.sent <= 11


async def test_body_at_cap_is_read() -> None:
    """A body exactly at the cap is accepted."""
    content = json.dumps({"pad": "x" * 100}).encode()
    result = await poll_once(
        lambda _: httpx.Response(200, content=content), max_body_bytes=len(content)
    )
    assert result.ok


async def test_large_error_body_keeps_status_reason() -> None:
    """An error answer with a huge body keeps its status reason; the body is not parsed."""
    result = await poll_once(lambda _: httpx.Response(503, stream=Chunks(64 * 1024)))
    assert (result.reason, result.api_error) == ("http_503", None)


# -- the HTTP stack ---------------------------------------------------------------------------


def test_httpcore_finds_sniffio_without_searching_the_import_path() -> None:
    """httpcore imports sniffio for every connection lock; without it installed each attempt
    searched sys.path again (12 % of the CPU at 2,000 targets)."""
    searched: list[str] = []

    class Spy(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
            if fullname == "sniffio":
                searched.append(fullname)

    async def three_times() -> None:
        for _ in range(3):
            assert httpcore._synchronization.current_async_library() == "asyncio"

    spy = Spy()
    sys.meta_path.insert(0, spy)
    try:
        asyncio.run(three_times())
    finally:
        sys.meta_path.remove(spy)
    assert searched == []
