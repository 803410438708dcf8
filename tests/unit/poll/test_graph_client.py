"""GraphClient over httpx.MockTransport: Graph paths and tokens, errors as reasons, the usage
header, token files, and no token in anything a result shows."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.poll.fakes import Api, Clock, raising
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph import PHONE_NUMBER_FIELDS
from watchdog.api.results import PollResult, observe
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.poll.graph_client import GraphClient

pytestmark = pytest.mark.anyio

TOKEN = "EAAunitGraphToken-7f3a9c1e5b2d4086"
NEW_TOKEN = "EAAunitGraphToken-rotated-0c4e8a2f"
APP_TOKEN = "634974688087057|unit-app-secret-91d2"
NUMBER = "106540352242922"
WABA = "102290129340398"
BUSINESS = "506914307656634"
URL = "https://graph.test"
TRACE = "AbCdEf123_-xyz"

Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def cloud_target(**overrides: Any) -> Target:
    fields: dict[str, Any] = {
        "name": "shop",
        "kind": "cloud",
        "url": URL,
        "phone_number_id": NUMBER,
        "waba_id": WABA,
        "access_token": TOKEN,
        "timeout": 0.3,
    }
    fields.update(overrides)
    return Target(**{k: v for k, v in fields.items() if v is not None})


def graph_client(api: Api, tgt: Target | None = None, **kwargs: Any) -> GraphClient:
    return GraphClient(
        tgt or cloud_target(), transport=httpx.MockTransport(api), clock=Clock(), **kwargs
    )


async def poll_once(
    answer: Answer, endpoint: Endpoint = Endpoint.PHONE_NUMBER, **kwargs: Any
) -> PollResult:
    async with graph_client(Api(answer), **kwargs) as client:
        return await client.poll(endpoint)


def usage_header(call_count: int, regain: int = 0) -> dict[str, str]:
    value = {
        BUSINESS: [
            {
                "type": "whatsapp_business_management",
                "call_count": call_count,
                "total_cputime": call_count // 4,
                "total_time": call_count // 2,
                "estimated_time_to_regain_access": regain,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(value)}


def phone_body() -> dict[str, Any]:
    entity = {"entity_type": "PHONE_NUMBER", "id": NUMBER, "can_send_message": "AVAILABLE"}
    return {
        "status": "CONNECTED",
        "quality_rating": "GREEN",
        "whatsapp_business_manager_messaging_limit": "TIER_10K",
        "throughput": {"level": "HIGH"},
        "platform_type": "CLOUD_API",
        "health_status": {"can_send_message": "AVAILABLE", "entities": [entity]},
        "id": NUMBER,
    }


def ok(request: httpx.Request) -> httpx.Response:
    """Graph's answer to each of the three nodes."""
    if request.url.path.endswith("/debug_token"):
        body: dict[str, Any] = {
            "data": {"app_id": "634974688087057", "type": "SYSTEM_USER", "is_valid": True,
                     "expires_at": 0, "scopes": ["whatsapp_business_management"]}
        }  # fmt: skip
    elif request.url.path.endswith(WABA):
        body = {"health_status": {"can_send_message": "AVAILABLE", "entities": []}, "id": WABA}
    else:
        body = phone_body()
    return httpx.Response(200, json=body, headers=usage_header(10))


def graph_error(
    status: int,
    code: int | None,
    subcode: int | None = None,
    *,
    message: str = "Something about the call",
    details: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "fbtrace_id": TRACE}
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return lambda _: httpx.Response(status, json={"error": error}, headers=headers or {})


def texts(result: PollResult) -> str:
    """Everything of a result a person or a page may see."""
    error = result.api_error
    parts = [result.detail, repr(result)]
    if error is not None:
        parts += [str(error.code), error.title or "", error.details or ""]
    return "\n".join(parts)


# -- requests -------------------------------------------------------------------------------


async def test_phone_number_request_path_fields_and_bearer() -> None:
    """One GET of the number's node with the fields §9 lists, the token as Bearer."""
    api = Api(ok)
    async with graph_client(api) as client:
        result = await client.poll(Endpoint.PHONE_NUMBER)
    [request] = api.requests
    assert request.method == "GET"
    assert request.url.path == f"/v25.0/{NUMBER}"
    assert dict(request.url.params) == {"fields": PHONE_NUMBER_FIELDS}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert result.ok, result.detail
    assert result.status_code == 200
    observation = observe(result)
    assert observation.phone is not None
    assert observation.phone.status == "CONNECTED"
    assert observation.phone.health is not None
    assert observation.phone.health.messaging == "AVAILABLE"


async def test_graph_version_is_honoured() -> None:
    api = Api(ok)
    async with graph_client(api, cloud_target(graph_version="v23.0")) as client:
        await client.poll(Endpoint.PHONE_NUMBER)
        await client.poll(Endpoint.WABA)
        await client.poll(Endpoint.TOKEN)
    assert [r.url.path for r in api.requests] == [
        f"/v23.0/{NUMBER}",
        f"/v23.0/{WABA}",
        "/v23.0/debug_token",
    ]


async def test_waba_asks_for_its_health_status() -> None:
    api = Api(ok)
    async with graph_client(api) as client:
        result = await client.poll(Endpoint.WABA)
    [request] = api.requests
    assert request.url.path == f"/v25.0/{WABA}"
    assert dict(request.url.params) == {"fields": "health_status"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert observe(result).waba is not None


async def test_debug_token_inspects_the_token_with_itself_without_an_app_token() -> None:
    api = Api(ok)
    async with graph_client(api) as client:
        result = await client.poll(Endpoint.TOKEN)
    [request] = api.requests
    assert request.url.path == "/v25.0/debug_token"
    assert dict(request.url.params) == {"input_token": TOKEN}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    token = observe(result).token
    assert token is not None
    assert token.is_valid is True
    assert token.expires_at is None  # 0: never expires


@pytest.mark.parametrize("as_file", [False, True])
async def test_debug_token_is_called_with_the_app_token_when_configured(
    tmp_path: Path, as_file: bool
) -> None:
    """The app token is the caller, the access token the token inspected (reference §3)."""
    if as_file:
        app_file = tmp_path / "app-token"
        app_file.write_text(APP_TOKEN + "\n")
        tgt = cloud_target(app_token_file=app_file)
    else:
        tgt = cloud_target(app_token=APP_TOKEN)
    api = Api(ok)
    async with graph_client(api, tgt) as client:
        await client.poll(Endpoint.TOKEN)
        await client.poll(Endpoint.PHONE_NUMBER)  # the number's node: the access token
    debug, phone = api.requests
    assert debug.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert dict(debug.url.params) == {"input_token": TOKEN}
    assert phone.headers["authorization"] == f"Bearer {TOKEN}"


async def test_the_target_url_prefix_is_kept() -> None:
    """A proxy or the simulator under a path: the Graph path goes after it."""
    api = Api(ok)
    async with graph_client(api, cloud_target(url=f"{URL}/graph-proxy")) as client:
        await client.poll(Endpoint.PHONE_NUMBER)
    assert api.requests[0].url.path == f"/graph-proxy/v25.0/{NUMBER}"


# -- Graph errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "subcode", "reason"),
    [
        (401, 190, 463, "graph_token"),
        (401, 190, 467, "graph_token"),
        (400, 190, None, "graph_token"),  # Graph's own status for most errors is 400
        (403, 10, None, "graph_permission"),
        (403, 200, None, "graph_permission"),
        (400, 4, None, "graph_throttled"),
        (400, 80007, None, "graph_throttled"),
        (429, 80008, None, "graph_throttled"),
        (400, 80008, None, "graph_throttled"),
        (400, 130429, None, "graph_throttled"),
        (500, 1, None, "graph_transient"),
        (503, 2, None, "graph_transient"),
        (500, 131000, None, "graph_transient"),
        (503, 131016, None, "graph_transient"),
        (400, 12345, None, "graph_error"),  # unknown code: Meta's error all the same
        (404, 803, None, "http_404"),
        (502, 12345, None, "http_5xx"),
        (401, 12345, None, "graph_token"),
        (429, 12345, None, "graph_throttled"),
    ],
)
async def test_graph_error_codes_become_reasons(
    status: int, code: int, subcode: int | None, reason: str
) -> None:
    result = await poll_once(graph_error(status, code, subcode))
    assert result.reason == reason
    assert result.status_code == status
    assert result.api_error is not None
    assert result.api_error.code == code
    assert result.body is None
    assert f"Graph error {code}" in result.detail


async def test_an_expired_token_carries_subcode_details_and_fbtrace_id() -> None:
    """190/463: the reason, Meta's message, subcode, details and the fbtrace_id for support."""
    result = await poll_once(
        graph_error(
            401,
            190,
            463,
            message="Error validating access token: Session has expired on Friday.",
            details="Token expired",
        )
    )
    assert result.reason == "graph_token"
    assert result.api_error is not None
    assert result.api_error.title is not None
    # ("token: Session" reads as a key-value pair to the redactor, which masks "Session".)
    assert result.api_error.title.startswith("Error validating access token: ")
    assert result.api_error.title.endswith(" has expired on Friday.")
    assert result.api_error.details is not None
    assert "Token expired" in result.api_error.details
    assert "subcode 463" in result.api_error.details
    assert f"fbtrace_id {TRACE}" in result.api_error.details
    assert "Graph error 190/463" in result.detail
    assert "expired" in result.detail


async def test_a_200_with_an_error_envelope_is_a_failure() -> None:
    """Graph may answer 200 with `{"error": ...}`: the code decides, not the status."""
    result = await poll_once(graph_error(200, 190, 460))
    assert result.reason == "graph_token"
    assert result.status_code == 200
    assert result.body is None
    unknown = await poll_once(graph_error(200, 98765))
    assert unknown.reason == "graph_error"
    assert unknown.api_error is not None
    assert unknown.api_error.code == 98765


@pytest.mark.parametrize(("status", "reason"), [(502, "http_5xx"), (504, "http_5xx")])
async def test_html_from_a_proxy_is_not_a_graph_error(status: int, reason: str) -> None:
    """A proxy's HTML page: no envelope, no api_error; the detail says so."""
    html = f"<html><body><h1>{status} Bad Gateway</h1>nginx</body></html>"
    result = await poll_once(
        lambda _: httpx.Response(status, text=html, headers={"content-type": "text/html"})
    )
    assert result.reason == reason
    assert result.status_code == status
    assert result.api_error is None
    assert "no API error in the answer" in result.detail
    assert "<html>" not in result.detail


async def test_html_503_from_a_proxy_is_not_metas_failure() -> None:
    """A 503 page without Graph's envelope: something in the way answered, not Meta, and
    nothing pretends Meta did."""
    result = await poll_once(lambda _: httpx.Response(503, text="<html>Service Unavailable</html>"))
    assert result.reason == "http_503"
    assert result.api_error is None
    assert "no API error in the answer" in result.detail


async def test_a_200_that_is_not_json_is_decode() -> None:
    result = await poll_once(lambda _: httpx.Response(200, text="<html>captive portal</html>"))
    assert result.reason == "decode"
    assert result.status_code == 200


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connect"),
    ],
)
async def test_nothing_came_back(exc: Exception, reason: str) -> None:
    result = await poll_once(raising(exc))
    assert result.reason == reason
    assert result.status_code is None
    assert result.api_error is None


async def test_a_hanging_graph_times_out_at_the_target_timeout() -> None:
    async def hang(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async with GraphClient(
        cloud_target(timeout=0.1), transport=httpx.MockTransport(hang), clock=Clock()
    ) as client:
        result = await client.poll(Endpoint.PHONE_NUMBER)
    assert result.reason == "timeout"


# -- usage ----------------------------------------------------------------------------------


async def test_usage_header_is_kept_on_success_and_on_failure() -> None:
    """The usage of a good answer, and of a throttled one (with its regain time)."""
    good = await poll_once(
        lambda r: httpx.Response(200, json=phone_body(), headers=usage_header(85))
    )
    assert good.ok
    [usage] = good.usage
    assert (usage.business_id, usage.type) == (BUSINESS, "whatsapp_business_management")
    assert (usage.call_count, usage.total_cputime, usage.total_time) == (85, 21, 42)
    assert usage.regain_minutes == 0

    throttled = await poll_once(graph_error(429, 80008, headers=usage_header(100, regain=17)))
    assert throttled.reason == "graph_throttled"
    [usage] = throttled.usage
    assert usage.call_count == 100
    assert usage.regain_minutes == 17

    token = await poll_once(graph_error(401, 190, 463, headers=usage_header(30)))
    assert [u.call_count for u in token.usage] == [30]
    html = await poll_once(lambda _: httpx.Response(502, text="<html/>", headers=usage_header(5)))
    assert [u.call_count for u in html.usage] == [5]


async def test_no_or_a_broken_usage_header_is_no_usage() -> None:
    assert (await poll_once(lambda _: httpx.Response(200, json=phone_body()))).usage == ()
    broken = {"X-Business-Use-Case-Usage": "{not json"}
    result = await poll_once(lambda _: httpx.Response(200, json=phone_body(), headers=broken))
    assert result.ok
    assert result.usage == ()


# -- the token file -------------------------------------------------------------------------


def keep_signature(path: Path, text: str) -> None:
    """Rewrite `path` in place with `text` (same length) and its old mtime: a change the
    stat check cannot see, as a rewrite within the mtime's resolution."""
    stat = path.stat()
    assert len(text) == len(path.read_text())
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def token_file(tmp_path: Path, token: str = TOKEN) -> Path:
    path = tmp_path / "wa-cloud-token"
    path.write_text(token + "\n")
    return path


def accepting(token: str) -> Answer:
    """Graph accepting only `token`, refusing others with 401/190/467."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == f"Bearer {token}":
            return ok(request)
        return graph_error(401, 190, 467, message="Invalid OAuth access token.")(request)

    return answer


async def test_a_rewritten_token_file_is_used_from_the_next_poll_on(tmp_path: Path) -> None:
    path = token_file(tmp_path)
    api = Api(accepting(TOKEN))
    async with graph_client(api, cloud_target(access_token=None, access_token_file=path)) as c:
        assert (await c.poll(Endpoint.PHONE_NUMBER)).ok
        path.write_text(f"{NEW_TOKEN}x\n")  # another length: the stat check sees it
        api.answer = accepting(f"{NEW_TOKEN}x")
        assert (await c.poll(Endpoint.PHONE_NUMBER)).ok
        assert (await c.poll(Endpoint.TOKEN)).ok
    assert api.auth_headers() == [
        f"Bearer {TOKEN}",
        f"Bearer {NEW_TOKEN}x",
        f"Bearer {NEW_TOKEN}x",
    ]
    assert dict(api.requests[-1].url.params) == {"input_token": f"{NEW_TOKEN}x"}


@pytest.mark.parametrize("status", [401, 400])
async def test_a_refused_token_rereads_an_unseen_rewrite_and_retries_once(
    tmp_path: Path, status: int
) -> None:
    """A rotation the stat check missed must not fail a poll: 190 (as 401 or 400) re-reads
    the file and retries at once with the new token."""
    path = token_file(tmp_path)
    api = Api(accepting(TOKEN))
    async with graph_client(api, cloud_target(access_token=None, access_token_file=path)) as c:
        assert (await c.poll(Endpoint.PHONE_NUMBER)).ok
        keep_signature(path, NEW_TOKEN + "\n")

        def answer(request: httpx.Request) -> httpx.Response:
            if request.headers.get("authorization") == f"Bearer {NEW_TOKEN}":
                return ok(request)
            return graph_error(status, 190, 467)(request)

        api.answer = answer
        result = await c.poll(Endpoint.PHONE_NUMBER)
    assert result.ok, result.detail
    assert api.auth_headers() == [f"Bearer {TOKEN}", f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


async def test_a_refused_token_with_an_unchanged_file_is_not_retried(tmp_path: Path) -> None:
    path = token_file(tmp_path)
    api = Api(graph_error(401, 190, 463))
    async with graph_client(api, cloud_target(access_token=None, access_token_file=path)) as c:
        result = await c.poll(Endpoint.PHONE_NUMBER)
    assert result.reason == "graph_token"
    assert len(api.requests) == 1


async def test_an_inline_token_refused_is_not_retried() -> None:
    api = Api(graph_error(401, 190, 467))
    async with graph_client(api) as c:
        assert (await c.poll(Endpoint.PHONE_NUMBER)).reason == "graph_token"
    assert len(api.requests) == 1


async def test_no_token_is_auth_config_naming_the_variables() -> None:
    api = Api(ok)
    async with graph_client(api, cloud_target(access_token=None)) as c:
        result = await c.poll(Endpoint.PHONE_NUMBER)
    assert result.reason == "auth_config"
    assert "WA_CLOUD_ACCESS_TOKEN" in result.detail
    assert "WA_CLOUD_ACCESS_TOKEN_FILE" in result.detail
    assert api.requests == []  # nothing sent without a token


@pytest.mark.parametrize(
    "content",
    [
        "",
        "EAAshort",
        f"{TOKEN} with spaces",  # a token that cannot travel in a header
    ],
)
async def test_an_unusable_token_file_is_auth_config_without_the_token(
    tmp_path: Path, content: str
) -> None:
    """The file was fine at start and is unusable at the first poll: the poll names the
    variable and the file, never what the file holds."""
    path = token_file(tmp_path)
    tgt = cloud_target(access_token=None, access_token_file=path)
    path.write_text(content + "\n")
    api = Api(ok)
    async with graph_client(api, tgt) as c:
        result = await c.poll(Endpoint.PHONE_NUMBER)
    assert result.reason == "auth_config"
    assert "WA_CLOUD_ACCESS_TOKEN_FILE" in result.detail
    assert str(path) in result.detail
    assert TOKEN not in texts(result)
    assert api.requests == []


async def test_a_deleted_token_file_is_auth_config(tmp_path: Path) -> None:
    path = token_file(tmp_path)
    tgt = cloud_target(access_token=None, access_token_file=path)
    path.unlink()
    async with graph_client(Api(ok), tgt) as c:
        result = await c.poll(Endpoint.PHONE_NUMBER)
    assert result.reason == "auth_config"
    assert "WA_CLOUD_ACCESS_TOKEN_FILE" in result.detail


async def test_a_file_turned_unusable_later_keeps_the_last_good_token(tmp_path: Path) -> None:
    """A half-written rotation does not stop polling."""
    path = token_file(tmp_path)
    api = Api(ok)
    async with graph_client(api, cloud_target(access_token=None, access_token_file=path)) as c:
        assert (await c.poll(Endpoint.PHONE_NUMBER)).ok
        path.write_text("")
        assert (await c.poll(Endpoint.PHONE_NUMBER)).ok
    assert api.auth_headers() == [f"Bearer {TOKEN}"] * 2


# -- the token in error answers -------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [Endpoint.PHONE_NUMBER, Endpoint.TOKEN])
async def test_the_token_never_shows_even_when_graph_echoes_it(endpoint: Endpoint) -> None:
    """An error that quotes the token (and the app token) in its message and details."""
    echo = graph_error(
        400,
        190,
        467,
        message=f"Invalid OAuth access token: {TOKEN} (caller {APP_TOKEN})",
        details=f"input_token={TOKEN}; Authorization: Bearer {TOKEN}",
    )
    redactor = Redactor()
    api = Api(echo)
    async with graph_client(api, cloud_target(app_token=APP_TOKEN), redactor=redactor) as c:
        result = await c.poll(endpoint)
    assert result.reason == "graph_token"
    shown = texts(result)
    for secret in (TOKEN, APP_TOKEN, TOKEN.split("-", 1)[1], APP_TOKEN.split("|", 1)[1]):
        assert secret not in shown
    assert "Invalid OAuth access token" in shown  # the rest of Meta's words are kept


def pieces(secret: str, size: int = 12) -> list[str]:
    """Every run of `size` characters of `secret`: a piece of it left by a cut."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


# The token where the detail is cut (240 characters, after "HTTP 400 Graph error ...: ") and
# where Meta's message is clipped (300).
@pytest.mark.parametrize("pad", [170, 180, 190, 260, 265, 270])
async def test_a_token_cut_by_the_length_limits_leaves_no_piece(pad: int) -> None:
    echo = graph_error(400, 190, 467, message="x" * pad + f" cannot parse {TOKEN} at all")
    result = await poll_once(echo)
    shown = texts(result)
    assert [p for p in pieces(TOKEN) if p in shown] == []


async def test_a_proxy_page_quoting_the_token_does_not_leak_it() -> None:
    """Also text that is not Graph's: the detail never carries the body, and no field does."""
    page = f"<html>denied for Authorization: Bearer {TOKEN}</html>"
    result = await poll_once(lambda _: httpx.Response(403, text=page))
    assert TOKEN not in texts(result)
