"""A scripted API behind `httpx.MockTransport`, and clients of it, for the poll tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, MutableMapping
from datetime import UTC, datetime
from typing import Any

import httpx

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.base.values import AuthMode
from watchdog.poll.client import ApiClient

KEY = "unit-test-key-0123456789"
NEW_KEY = "rotated-unit-test-key-0123456789"
USER = "monitor"
PASSWORD = "Un1t!passw0rd-x"
URL = "https://wa.test"
T0 = 1_700_000_000.0
META = {"version": "v2.45.1", "api_status": "stable"}

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def php_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def error_body(code: int, title: str, details: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"code": code, "title": title}
    if details:
        entry["details"] = details
    return {"meta": META, "errors": [entry]}


def health_body() -> dict[str, Any]:
    return {"health": {"gateway_status": "connected"}, "meta": META}


def target(**overrides: Any) -> Target:
    fields: dict[str, Any] = {"name": "wa", "url": URL, "api_key": KEY, "timeout": 0.3}
    fields.update(overrides)
    return Target(**{k: v for k, v in fields.items() if v is not None})


class Api:
    """A scripted API: records every request; `answer` decides the response."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda _: httpx.Response(200, json=health_body()))

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # let concurrent polls interleave, as on a real socket
        return self.answer(request)

    def auth_headers(self, path: str | None = None) -> list[str]:
        return [
            r.headers.get("authorization", "")
            for r in self.requests
            if path is None or r.url.path == path
        ]

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)


def client(
    handler: Handler,
    *,
    tgt: Target | None = None,
    auth_mode: AuthMode = "apikey",
    clock: Callable[[], float] | None = None,
    redactor: Redactor | None = None,
    max_body_bytes: int = 16 * 1024 * 1024,
) -> ApiClient:
    return ApiClient(
        tgt or target(),
        auth_mode=auth_mode,
        transport=httpx.MockTransport(handler),
        clock=clock or Clock(),
        redactor=redactor,
        max_body_bytes=max_body_bytes,
    )


async def poll_once(
    answer: Callable[[httpx.Request], httpx.Response],
    endpoint: Endpoint = Endpoint.HEALTH,
    **kwargs: Any,
) -> PollResult:
    async with client(Api(answer), **kwargs) as c:
        return await c.poll(endpoint)


def raising(exc: BaseException) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_: httpx.Request) -> httpx.Response:
        raise exc

    return answer


def caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]
